"""A send step: its message queued in the outbox, as a broadcast's are, so the sender sends
it with every guarantee a broadcast has (rate limit, unsubscribes and blocks at claim
time, exactly once or not at all).

Before anything is queued, the step waits (the enrolment's `next_due_at` moves on, nothing
is logged) while the subscriber is in the journey's quiet hours, and while the journey's
frequency cap is reached: the cap counts every message the person was sent (or is about
to be) in the window, broadcasts and every journey's alike, as broadcasts count journey
messages toward theirs. Then the person's target is the first of the step's whose segment
or rule they match (the default takes anyone), their variant is picked by the same
hash of subscriber and campaign the planner splits broadcasts with, and the delivery goes
into the run of this step for their n-th entry (journeys.models.JourneyRun), reopened if
its earlier messages were all sent (and by `reopen_runs`, if the sender closed it while
the step was queuing into it).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    bindparam,
    case,
    exists,
    false,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import CampaignTarget, Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.planner import counts_toward_cap
from core.id_lists import among
from core.models import Subscriber
from journeys.models import ENROLMENTS, Enrolment, EnrolmentStatus, JourneyRun
from journeys.moves import Moved, StepContext, log, move, note_sent
from journeys.timing import quiet_end
from segments.rules import parse
from segments.rules.compiler import condition

logger = logging.getLogger(__name__)

_VARIANT_PRIME = 10009  # as broadcasts.planner splits variants


@dataclass(frozen=True, slots=True)
class Sent:
    moved: int
    queued: int
    postponed: int


async def send(context: StepContext) -> Sent:
    """Hold back whom quiet hours or the cap hold back; queue the others' messages."""
    postponed = await _quiet_hours(context) + await _capped(context)
    moved = await move(context, true(), to=context.version.spec.after(context.step.id))
    deliveries = await _queue(context, await log(context, moved, "skipped"))
    await note_sent(context, deliveries)
    return Sent(len(moved), len(deliveries), postponed)


async def _quiet_hours(context: StepContext) -> int:
    ends = quiet_end(context.version.spec, context.now, await context.zones())
    if ends is None:
        return 0
    held = await context.session.execute(
        update(Enrolment)
        .where(context.guard(), ends > context.now)
        .values(next_due_at=ends)
        .execution_options(synchronize_session=False)
    )
    return int(held.rowcount)  # type: ignore[attr-defined]


async def _capped(context: StepContext) -> int:
    """Hold back the subscribers the cap is reached for until enough of their messages
    have left the window."""
    cap, now = context.version.spec.frequency_cap, context.now
    if cap is None:
        return 0
    span = timedelta(hours=cap.hours)
    whose = select(Enrolment.subscriber_id).where(context.guard())
    counted = counts_toward_cap(
        Delivery.status, Delivery.claimed_at, Delivery.run_id, since=now - span
    )
    rows = await context.session.execute(
        select(Delivery.subscriber_id, Delivery.claimed_at).where(
            Delivery.subscriber_id.in_(whose), counted
        )
    )
    times: dict[int, list[datetime]] = defaultdict(list)
    for subscriber_id, claimed_at in rows.all():
        times[subscriber_id].append(claimed_at or now)
    held = []
    for subscriber_id, sent in times.items():
        if len(sent) >= cap.messages:
            release = sorted(sent)[len(sent) - cap.messages] + span
            held.append({"subscriber": subscriber_id, "release": max(release, now)})
    if held:
        table = ENROLMENTS
        await context.session.execute(
            update(table)
            .where(
                table.c.subscriber_id == bindparam("subscriber"),
                table.c.version_id == context.version.id,
                table.c.step == context.step.id,
                table.c.status == EnrolmentStatus.ACTIVE.value,
                table.c.next_due_at <= context.now,
            )
            .values(next_due_at=bindparam("release")),
            held,
        )
    return len(held)


async def _queue(context: StepContext, new: list[Moved]) -> dict[int, int]:
    """Queue the message of each of `new` who has a target; {enrolment: delivery}."""
    if not new:
        return {}
    targets = context.version.targets[context.step.id]
    chosen = case(
        *((_audience(context, target), literal(target.id)) for target in targets),
        else_=literal(None),
    )
    rows = await context.session.execute(
        select(Subscriber.id, chosen).where(
            among(Subscriber.id, [each.subscriber_id for each in new])
        )
    )
    target_of = {subscriber: target for subscriber, target in rows.all() if target is not None}
    by_id = {target.id: target for target in targets}
    runs = await _runs(context, {each.entry for each in new})
    campaign_id = context.version.campaign.id
    wanted = [
        {
            "run_id": runs[each.entry],
            "subscriber_id": each.subscriber_id,
            "target_id": target_of[each.subscriber_id],
            "variant_id": _variant(
                by_id[target_of[each.subscriber_id]], each.subscriber_id, campaign_id
            ),
            "status": DeliveryStatus.QUEUED,
            "attempts": 0,
        }
        for each in new
        if each.subscriber_id in target_of
    ]
    if not wanted:
        return {}
    made = await context.session.execute(
        insert(Delivery).returning(Delivery.id, Delivery.subscriber_id, Delivery.run_id), wanted
    )
    delivery_of = {(subscriber, run): delivery for delivery, subscriber, run in made.all()}
    return {
        each.enrolment_id: delivery_of[(each.subscriber_id, runs[each.entry])]
        for each in new
        if (each.subscriber_id, runs.get(each.entry)) in delivery_of
    }


def _audience(context: StepContext, target: CampaignTarget) -> ColumnElement[bool]:
    """Whether a subscriber is in the target's audience (the default: everyone)."""
    if target.segment is not None:
        rule = context.rules.get(target.segment)
        if rule is None:
            logger.warning(
                "journey step %s: segment %r is gone; its target is skipped",
                context.step.id,
                target.segment,
            )
            return false()
        return condition(rule, now=context.now, segments=context.rules)
    if target.rule_text is not None:
        rule = parse(target.rule_text, rfm_segments=context.rfm_segments)
        return condition(rule, now=context.now, segments=context.rules)
    return true()


def _variant(target: CampaignTarget, subscriber_id: int, campaign_id: int) -> int:
    """The variant the subscriber's bucket (0-99) falls in, by the variants' splits."""
    bucket = (subscriber_id * 7919 + campaign_id) % _VARIANT_PRIME % 100
    cumulative = 0
    for variant in target.variants[:-1]:
        cumulative += variant.split_percent
        if bucket < cumulative:
            return variant.id
    return target.variants[-1].id


async def _runs(context: StepContext, entries: set[int]) -> dict[int, int]:
    """The run of this step for each entry number, made when missing, reopened when its
    earlier messages were all sent (the sender closes a run with nothing left to send)."""
    session, version, step = context.session, context.version, context.step.id
    rows = await session.execute(
        select(JourneyRun.entry, JourneyRun.run_id).where(
            JourneyRun.version_id == version.id,
            JourneyRun.step == step,
            JourneyRun.entry.in_(entries),
        )
    )
    runs = dict(rows.all())
    for entry in sorted(entries - runs.keys()):
        runs[entry] = await _new_run(session, version.campaign.id, context.now)
        session.add(JourneyRun(version_id=version.id, step=step, entry=entry, run_id=runs[entry]))
    await _reopen(session, Run.id.in_(runs.values()))
    return runs


async def reopen_runs(session: AsyncSession) -> int:
    """Journey runs the sender closed while a step was queuing into them (it found
    nothing left to send just before that step committed) go on sending; how many.
    Rare, and harmless once this has run: the runner calls it every round. Commits."""
    queued = exists().where(Delivery.run_id == Run.id, Delivery.status == DeliveryStatus.QUEUED)
    reopened = await _reopen(session, Run.id.in_(select(JourneyRun.run_id)) & queued)
    await session.commit()
    return reopened


async def _reopen(session: AsyncSession, runs: ColumnElement[bool]) -> int:
    result = await session.execute(
        update(Run)
        .where(runs, Run.status == RunStatus.DONE)
        .values(status=RunStatus.SENDING, finished_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _new_run(session: AsyncSession, campaign_id: int, now: datetime) -> int:
    run = Run(campaign_id=campaign_id, status=RunStatus.SENDING, scheduled_for=now, started_at=now)
    session.add(run)
    await session.flush()
    return run.id
