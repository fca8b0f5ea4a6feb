"""Saving campaigns and finding them again: the service functions the CLI and chat call
(cloning one: broadcasts.cloning).

Saving checks everything that can be checked before a send: each template, in every
language it is given in (syntax, variables, Telegram HTML, length rendered for the sample
subscriber, the render limits; in a child process, see broadcasts.templates.check), each
segment name and one-off rule; the media were checked when the file was read
(broadcasts.media). A problem saves nothing. A campaign that never ran may be saved again
under its name (replacing it).
"""

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.message_content import MessageContent
from broadcasts.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    CampaignTarget,
    Run,
    ScheduleKind,
    Variant,
)
from broadcasts.personas import with_persona_targets
from broadcasts.spec import DEFAULT_LABEL, CampaignSpec, DefaultSpec, ScheduleSpec, TargetSpec
from broadcasts.templates import SAMPLE_TRACKED_URL
from broadcasts.templates.check import TemplateDraft, check_templates
from core.errors import NotPossibleError, SegbotError
from core.ids import as_id
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import RuleError, parse
from segments.rules.compiler import condition
from segments.saved import UnknownSegmentError, saved_rules


class UnknownCampaignError(SegbotError):
    """No campaign has that id or name."""


class CampaignStateError(NotPossibleError):
    """The campaign is not in a state that allows this (e.g. editing one that already ran)."""


class AudienceRuleError(SegbotError):
    """A target's own rule cannot be used: which target, then why."""


class PaidBroadcastsDisabledError(SegbotError):
    """The campaign asks for paid broadcasts, which this bot has not enabled."""


async def save_campaign(
    session: AsyncSession,
    *,
    spec: CampaignSpec,
    now: datetime,
    public_url: str | None = None,
    rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
    paid_broadcasts: bool = False,
    replace: bool = True,
) -> Campaign:
    """Check and save the campaign (draft without a schedule, else scheduled); commits.
    A campaign with `paid_broadcast` is refused unless `paid_broadcasts` is enabled, one
    whose time has passed (the scheduler would mark it missed) always. One of the same
    name that has not run is replaced, unless not to `replace` (the wizard, whose admin
    names a new campaign): then, as when it has run, the name is refused, also when
    another save takes it meanwhile."""
    if spec.paid_broadcast is not None and not paid_broadcasts:
        raise PaidBroadcastsDisabledError(
            "paid_broadcast: paid broadcasts are off for this bot "
            "(set broadcasts.paid_broadcasts.enabled: true in segbot.yaml)"
        )
    if spec.schedule is not None:
        spec.schedule.refuse_missed(now)
    spec = await with_persona_targets(session, spec)
    link = SAMPLE_TRACKED_URL if public_url is None else f"{public_url}/r/{'x' * 40}"
    drafts = [
        TemplateDraft(
            content.template(language),
            caption=content.caption,
            place=place if len(content.languages) == 1 else f"{place} ({language})",
        )
        for place, content in _contents(spec)
        for language in content.languages
    ]
    await check_templates(drafts, link=link)
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    for target in spec.audience:
        if target.segment is not None and target.segment not in rules:
            raise UnknownSegmentError(
                f"audience {target.name}: no segment named {target.segment!r}"
            )
        if target.query is not None:
            try:
                rule = parse(target.query, rfm_segments=rfm_segments)
                condition(rule, now=now, segments=rules)
            except (RuleError, UnknownSegmentError) as error:
                raise AudienceRuleError(f"audience {target.name}, query: {error}") from None
    existing = await session.scalar(select(Campaign).where(Campaign.name == spec.name))
    if existing is not None:
        if await session.scalar(select(exists().where(Run.campaign_id == existing.id))):
            raise CampaignStateError(
                f"campaign {spec.name!r} has already run; save the new one under a new name"
            )
        if not replace:
            raise _taken(spec.name)
        # Its targets and variants go with it (ON DELETE CASCADE). A statement, not the
        # ORM's delete: a second save replacing it at the same moment finds it gone.
        session.expunge(existing)
        await session.execute(delete(Campaign).where(Campaign.id == existing.id))
    campaign = _campaign(spec, now)
    session.add(campaign)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        if await session.scalar(select(exists().where(Campaign.name == spec.name))):
            if not replace:  # another save took the name meanwhile
                raise _taken(spec.name) from None
            raise CampaignStateError(
                f"campaign {spec.name!r} was saved by another request at the same moment "
                "(a second press?): that one is kept"
            ) from None
        raise
    return campaign


def _taken(name: str) -> CampaignStateError:
    return CampaignStateError(f"a campaign named {name!r} exists already: save under another name")


def _contents(spec: CampaignSpec) -> list[tuple[str, MessageContent]]:
    """Each message with where it is: "line 7, audience vip, variant a"."""
    targets = [(f"audience {target.name}", target.variants) for target in spec.audience]
    if spec.default is not None:
        targets.append(("default", spec.default.variants))
    found = []
    for number, (where, variants) in enumerate(targets):
        for index, variant in enumerate(variants):
            line = spec.message_line(number, index)
            place = f"{where}, variant {variant.name}"
            place = place if line is None else f"line {line}, {place}"
            found.append((place, MessageContent.of_spec(variant, language=spec.language)))
    return found


def _campaign(spec: CampaignSpec, now: datetime) -> Campaign:
    schedule = spec.schedule
    kind, status = _kind(schedule)
    campaign = Campaign(
        name=spec.name,
        goal=spec.goal,
        status=status,
        holdout_percent=spec.holdout,
        cap_messages=spec.frequency_cap.messages,
        cap_hours=spec.frequency_cap.hours,
        quiet_start=spec.quiet_hours.start if spec.quiet_hours else None,
        quiet_end=spec.quiet_hours.end if spec.quiet_hours else None,
        timezone=spec.timezone,
        language=spec.language,
        unsubscribe_button=spec.unsubscribe_button,
        paid_broadcast=spec.paid_broadcast is not None,
        stars_budget=spec.paid_broadcast.stars_budget if spec.paid_broadcast else None,
        schedule_kind=kind,
        schedule_timezone=schedule.timezone if schedule else "UTC",
        run_at=schedule.moment() if schedule else None,
        cron=schedule.cron if schedule else None,
        local_time=schedule.local if schedule else None,
        grace_minutes=schedule.grace_minutes if schedule else 60,
        created_at=now,
        updated_at=now,
    )
    campaign.targets = campaign_targets(spec.audience, spec.default, language=spec.language)
    return campaign


def campaign_targets(
    audience: Sequence[TargetSpec], default: DefaultSpec | None, *, language: str
) -> list[CampaignTarget]:
    """The rows of targets in order (the default last) with their variants, whose default
    language is `language` (the campaign's)."""
    targets = [(target.name, target.segment, target.query, target.variants) for target in audience]
    if default is not None:
        targets.append((DEFAULT_LABEL, None, None, default.variants))
    return [
        CampaignTarget(
            position=position,
            label=label,
            segment=segment,
            rule_text=query,
            variants=[
                Variant(
                    position=index,
                    name=variant.name,
                    split_percent=variant.split,
                    **MessageContent.of_spec(variant, language=language).columns(),
                )
                for index, variant in enumerate(variants)
            ],
        )
        for position, (label, segment, query, variants) in enumerate(targets)
    ]


def _kind(schedule: ScheduleSpec | None) -> tuple[ScheduleKind, CampaignStatus]:
    if schedule is None:
        return ScheduleKind.MANUAL, CampaignStatus.DRAFT
    if schedule.now:
        kind = ScheduleKind.NOW
    elif schedule.at is not None:
        kind = ScheduleKind.AT
    elif schedule.cron is not None:
        kind = ScheduleKind.CRON
    elif schedule.best_hour:
        kind = ScheduleKind.BEST_HOUR
    else:
        kind = ScheduleKind.LOCAL
    return kind, CampaignStatus.SCHEDULED


async def get_campaign(session: AsyncSession, *, ref: str | int) -> Campaign:
    """The campaign with this id (a number) or name (not a journey's hidden campaign)."""
    text = str(ref)
    campaign_id = as_id(text)
    where = Campaign.name == text if campaign_id is None else Campaign.id == campaign_id
    broadcast = Campaign.kind == CampaignKind.BROADCAST
    campaign = await session.scalar(select(Campaign).where(where, broadcast))
    if campaign is None:
        raise UnknownCampaignError(f"no campaign {text!r}: give its id or name")
    return campaign


async def list_campaigns(session: AsyncSession) -> list[Campaign]:
    """Every campaign (journeys' hidden campaigns are not campaigns to list)."""
    broadcasts = select(Campaign).where(Campaign.kind == CampaignKind.BROADCAST)
    return list((await session.scalars(broadcasts.order_by(Campaign.id))).all())
