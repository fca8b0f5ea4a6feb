"""A journey version's messages as a hidden campaign, so the outbox and the sender send
them exactly as they send a broadcast's (rate limit, unsubscribes, blocks, crash safety).

The campaign (`CampaignKind.JOURNEY`, a draft sent by hand: never listed, scheduled or
planned) holds every send step's targets and variants in step order: a step's targets are
the consecutive positions `step_targets` gives, labelled `STEP/LABEL` (in utm_content).
Its name, `journey:NAME:vVERSION`, cannot be a campaign's (campaign names have no colon).
"""

from datetime import datetime

from broadcasts.campaigns import campaign_targets
from broadcasts.message_content import MessageContent
from broadcasts.message_spec import VariantSpec
from broadcasts.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    CampaignTarget,
    Goal,
    ScheduleKind,
)
from broadcasts.templates.check import TemplateDraft
from journeys.happenings import Kind
from journeys.spec import JourneySpec, SourceLines

LABEL_LENGTH = 64


def campaign_name(journey: str, version: int) -> str:
    return f"journey:{journey}:v{version}"


def step_targets(spec: JourneySpec) -> dict[str, range]:
    """Each send step's target positions in the hidden campaign, in order, default last."""
    positions, start = {}, 0
    for step in spec.steps:
        if step.send is not None:
            count = len(step.send.audience) + (step.send.default is not None)
            positions[step.id] = range(start, start + count)
            start += count
    return positions


def hidden_campaign(spec: JourneySpec, *, version: int, now: datetime) -> Campaign:
    """The campaign that holds the version's messages (the caller adds and commits it)."""
    purchase_goal = spec.goal is not None and spec.goal.kind is Kind.PURCHASED
    cap = spec.frequency_cap
    campaign = Campaign(
        name=campaign_name(spec.name, version),
        kind=CampaignKind.JOURNEY,
        goal=Goal.CONVERSIONS if purchase_goal else Goal.CLICKS,
        status=CampaignStatus.DRAFT,
        holdout_percent=0,  # the journey keeps its holdout out at entry
        cap_messages=cap.messages if cap else 0,
        cap_hours=cap.hours if cap else 0,
        quiet_start=spec.quiet_hours.start if spec.quiet_hours else None,
        quiet_end=spec.quiet_hours.end if spec.quiet_hours else None,
        timezone=spec.timezone,
        language=spec.language,
        unsubscribe_button=spec.unsubscribe_button,
        paid_broadcast=False,
        schedule_kind=ScheduleKind.MANUAL,
        created_at=now,
        updated_at=now,
    )
    targets: list[CampaignTarget] = []
    for step in spec.steps:
        if step.send is None:
            continue
        send = step.send
        for target in campaign_targets(send.audience, send.default, language=spec.language):
            target.position = len(targets)
            target.label = f"{step.id}/{target.label}"[:LABEL_LENGTH]
            targets.append(target)
    campaign.targets = targets
    return campaign


def template_drafts(spec: JourneySpec, lines: SourceLines) -> list[TemplateDraft]:
    """Every template the journey holds, in every language, with its place and its line
    in the journey's YAML (`lines`): what saving checks (broadcasts.templates.check)."""
    drafts = []
    for number, step in enumerate(spec.steps):
        if step.notify is not None:
            place = lines.at(f"step {step.id}, notify", ("steps", number, "notify"))
            drafts.append(TemplateDraft(step.notify, caption=False, place=place))
        if step.send is None:
            continue
        send = ("steps", number, "send")
        targets: list[tuple[str, tuple[str | int, ...], list[VariantSpec]]] = [
            (target.name, ("audience", position), target.variants)
            for position, target in enumerate(step.send.audience)
        ]
        if step.send.default is not None:
            targets.append(("default", ("default",), step.send.default.variants))
        for label, where, variants in targets:
            for index, variant in enumerate(variants):
                content = MessageContent.of_spec(variant, language=spec.language)
                field = "text" if variant.text is not None else "caption"
                place = lines.at(
                    f"step {step.id}, {label}, variant {variant.name}",
                    (*send, *where, "variants", index, field),
                    (*send, field),  # one message, written inline
                )
                drafts += [
                    TemplateDraft(
                        content.template(language),
                        caption=content.caption,
                        place=place if len(content.languages) == 1 else f"{place} ({language})",
                    )
                    for language in content.languages
                ]
    return drafts
