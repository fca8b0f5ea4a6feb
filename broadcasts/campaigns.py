"""Saving campaigns and finding them again: the service functions the CLI and chat call.

Saving checks everything that can be checked before a send: each template (syntax,
variables, Telegram HTML, length, the render limits; in a child process, see
broadcasts.templates.check), each segment name and one-off rule. A problem saves
nothing. A campaign that never ran may be saved again under its name (replacing it).
"""

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import (
    Campaign,
    CampaignStatus,
    CampaignTarget,
    Run,
    ScheduleKind,
    Variant,
)
from broadcasts.spec import CampaignSpec, ScheduleSpec, VariantSpec
from broadcasts.templates import SAMPLE_TRACKED_URL
from broadcasts.templates.check import TemplateDraft, check_templates
from core.errors import SegbotError
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import parse
from segments.rules.compiler import condition
from segments.saved import UnknownSegmentError, saved_rules

DEFAULT_LABEL = "default"


class UnknownCampaignError(SegbotError):
    """No campaign has that id or name."""


class CampaignStateError(SegbotError):
    """The campaign is not in a state that allows this (e.g. editing one that already ran)."""


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
) -> Campaign:
    """Check and save the campaign (draft without a schedule, else scheduled); commits.
    A campaign with `paid_broadcast` is refused unless `paid_broadcasts` is enabled."""
    if spec.paid_broadcast is not None and not paid_broadcasts:
        raise PaidBroadcastsDisabledError(
            "paid_broadcast: paid broadcasts are off for this bot "
            "(set broadcasts.paid_broadcasts.enabled: true in segbot.yaml)"
        )
    link = SAMPLE_TRACKED_URL if public_url is None else f"{public_url}/r/{'x' * 40}"
    drafts = [
        TemplateDraft(variant.body, caption=variant.photo is not None, place=place)
        for place, variant in _variants(spec)
    ]
    await check_templates(drafts, link=link)
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    for target in spec.audience:
        if target.segment is not None and target.segment not in rules:
            raise UnknownSegmentError(
                f"audience {target.name}: no segment named {target.segment!r}"
            )
        if target.query is not None:
            condition(parse(target.query, rfm_segments=rfm_segments), now=now, segments=rules)
    existing = await session.scalar(select(Campaign).where(Campaign.name == spec.name))
    if existing is not None:
        if await session.scalar(select(exists().where(Run.campaign_id == existing.id))):
            raise CampaignStateError(
                f"campaign {spec.name!r} has already run; save the new one under a new name"
            )
        await session.delete(existing)
        await session.flush()
    campaign = _campaign(spec, now)
    session.add(campaign)
    await session.commit()
    return campaign


def _variants(spec: CampaignSpec) -> list[tuple[str, VariantSpec]]:
    found = [
        (f"audience {target.name}, variant {variant.name}", variant)
        for target in spec.audience
        for variant in target.variants
    ]
    if spec.default is not None:
        found += [(f"default, variant {v.name}", v) for v in spec.default.variants]
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
    targets = [
        (target.name, target.segment, target.query, target.variants) for target in spec.audience
    ]
    if spec.default is not None:
        targets.append((DEFAULT_LABEL, None, None, spec.default.variants))
    campaign.targets = [
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
                    body=variant.body,
                    photo=variant.photo,
                    buttons=[button.model_dump(exclude_none=True) for button in variant.buttons],
                )
                for index, variant in enumerate(variants)
            ],
        )
        for position, (label, segment, query, variants) in enumerate(targets)
    ]
    return campaign


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
    """The campaign with this id (a number) or name."""
    text = str(ref)
    where = Campaign.id == int(text) if text.isdigit() else Campaign.name == text
    campaign = await session.scalar(select(Campaign).where(where))
    if campaign is None:
        raise UnknownCampaignError(f"no campaign {text!r}: give its id or name")
    return campaign


async def list_campaigns(session: AsyncSession) -> list[Campaign]:
    return list((await session.scalars(select(Campaign).order_by(Campaign.id))).all())
