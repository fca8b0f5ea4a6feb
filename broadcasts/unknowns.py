"""Deliveries that ended `unknown`: who they are, why, and resending to them on request.

A delivery is `unknown` when its request may have reached Telegram but no answer came
(its `reason`: `no_answer`, `timeout`), or it was in flight when a sender stopped
(`interrupted`). The sender never resends those: a missed message is better than a
duplicate. Here a person decides to, knowing that some of them may get it twice.

A resend puts the run's unknown deliveries back in the queue as if never tried, and
reopens the run if it had finished, so the delivery worker sends them within a second.
Only the campaign's latest run can be resent (its pause and cancel act on that run), never
a cancelled one. Left out, and counted: subscribers who have since unsubscribed, blocked
the bot or deleted their account, and those who clicked the message's tracked link (it
did arrive). Quiet hours still hold: a resend during them waits for their end, on each
subscriber's clock.

Nothing here shows or exports phones or emails.
"""

import io
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, ScalarSelect, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.local_time import after_quiet_hours, clock_time, zone
from broadcasts.models import (
    Campaign,
    CampaignStatus,
    CampaignTarget,
    Delivery,
    DeliveryStatus,
    Run,
    RunStatus,
    Variant,
)
from broadcasts.runs import take_campaign
from core.errors import SegbotError
from core.models import Event, EventType, Subscriber, SubscriberStatus
from core.safe_csv import SafeCsvWriter

logger = logging.getLogger(__name__)

CLICKED = "clicked"  # why a resend leaves one out: they clicked its link, so it arrived
CSV_COLUMNS = (
    "delivery_id", "subscriber_id", "telegram_id", "username", "first_name", "last_name",
    "subscriber_status", "target", "variant", "reason", "claimed_at", "clicked_at", "resend",
)  # fmt: skip


# A delivery as planned, never tried: every column a claim or an attempt sets, cleared
# (with no `claimed_by`, no sender's late write can touch it: broadcasts/claims.py).
_UNTRIED: dict[str, object] = {
    "status": DeliveryStatus.QUEUED,
    "reason": None,
    "claimed_at": None,
    "claimed_by": None,
    "attempted_at": None,
    "sent_at": None,
    "message_id": None,
    "attempts": 0,
}


class NoSuchRunError(SegbotError):
    """No run has that id."""


class ResendRefusedError(SegbotError):
    """The run's unknowns cannot be resent; the message says why."""


class ResendChangedError(ResendRefusedError):
    """What would be resent is no longer what the person confirmed."""


@dataclass(frozen=True, slots=True)
class UnknownDelivery:
    """One unknown delivery and who it was for (no phone, no email)."""

    delivery_id: int
    subscriber_id: int
    telegram_id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    subscriber_status: SubscriberStatus  # now, not when the run was planned
    target: str  # the target's label
    variant: str
    reason: str  # why unknown: no_answer, interrupted, ...
    claimed_at: datetime | None  # when the sender took it, right before the request
    clicked_at: datetime | None  # the first click on this message's tracked link

    @property
    def name(self) -> str:
        """@username and the name, as far as known ("-" when nothing is)."""
        full = " ".join(part for part in (self.first_name, self.last_name) if part)
        handle = f"@{self.username}" if self.username else ""
        return " ".join(part for part in (handle, full) if part) or "-"

    @property
    def skip(self) -> str | None:
        """Why a resend leaves this one out (None: it would be resent)."""
        if self.subscriber_status is not SubscriberStatus.ACTIVE:
            return self.subscriber_status.value
        return CLICKED if self.clicked_at is not None else None


@dataclass(frozen=True, slots=True)
class UnknownSummary:
    """A run's unknown deliveries counted: why they are unknown, and how many a resend
    would leave out (by why) and take."""

    run_id: int
    by_reason: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    @property
    def resendable(self) -> int:
        return self.total - sum(self.skipped.values())


@dataclass(frozen=True, slots=True)
class Unknowns:
    """A run's unknown deliveries: counted, and listed (up to a limit), oldest claim first."""

    run_id: int
    run_status: RunStatus
    campaign_id: int
    campaign_name: str
    summary: UnknownSummary
    deliveries: list[UnknownDelivery]

    @property
    def complete(self) -> bool:
        """Whether `deliveries` lists every unknown delivery of the run."""
        return len(self.deliveries) == self.summary.total


@dataclass(frozen=True, slots=True)
class Resend:
    """What a resend did."""

    run_id: int
    requeued: int  # back in the queue
    skipped: dict[str, int]  # left unknown, by why
    run_status: RunStatus  # after: sending, or paused (they go when it resumes)
    reopened: bool  # the run had finished and is sending again


def counted(counts: dict[str, int]) -> str:
    """`{"no_answer": 2, "interrupted": 1}` as "no_answer 2, interrupted 1"."""
    return ", ".join(f"{key} {count:,}" for key, count in counts.items())


async def unknown_counts(session: AsyncSession, *, run_id: int) -> dict[str, int]:
    """The run's unknown deliveries by reason, most first (empty when there are none)."""
    rows = await session.execute(
        select(Delivery.reason, func.count())
        .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.UNKNOWN)
        .group_by(Delivery.reason)
    )
    counts = Counter[str]()
    for reason, count in rows.all():
        counts[reason or "unknown"] += count
    return _most_first(counts)


async def summarize(session: AsyncSession, *, run_id: int) -> UnknownSummary:
    """The run's unknowns by reason, and what a resend would leave out and take."""
    facts = (
        select(
            Delivery.reason.label("reason"),
            Subscriber.status.label("status"),
            _clicked().label("clicked"),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(_unknown_of(run_id))
        .subquery()
    )
    rows = await session.execute(
        select(facts.c.reason, facts.c.status, facts.c.clicked, func.count()).group_by(
            facts.c.reason, facts.c.status, facts.c.clicked
        )
    )
    by_reason, skipped = Counter[str](), Counter[str]()
    for reason, status, clicked, count in rows.all():
        by_reason[reason or "unknown"] += count
        if status != SubscriberStatus.ACTIVE.value:
            skipped[SubscriberStatus(status).value] += count
        elif clicked:
            skipped[CLICKED] += count
    return UnknownSummary(run_id, _most_first(by_reason), _most_first(skipped))


async def unknowns(session: AsyncSession, *, run_id: int, limit: int | None = None) -> Unknowns:
    """The run's unknown deliveries with who they are for, in the order they were claimed
    (the first `limit` of them), and their summary."""
    run = await session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise NoSuchRunError(f"no run {run_id}")
    campaign = await session.get(Campaign, run.campaign_id)
    if campaign is None:
        raise NoSuchRunError(f"run {run_id} has no campaign")
    deliveries = await _listed(session, run_id, limit)
    summary = await summarize(session, run_id=run_id)
    return Unknowns(run.id, run.status, campaign.id, campaign.name, summary, deliveries)


def unknowns_csv(deliveries: Iterable[UnknownDelivery]) -> str:
    """The deliveries as CSV with a header (`resend`: "yes", or why a resend skips it),
    safe to open in a spreadsheet (`core.safe_csv`: a name like "=1+1" stays text)."""
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in deliveries:
        writer.writerow(
            [
                row.delivery_id, row.subscriber_id, row.telegram_id, row.username,
                row.first_name, row.last_name, row.subscriber_status.value, row.target,
                row.variant, row.reason, _when(row.claimed_at), _when(row.clicked_at),
                row.skip or "yes",
            ]
        )  # fmt: skip
    return buffer.getvalue()


async def resend_unknown(
    session: AsyncSession, *, run_id: int, now: datetime, expected: int | None = None
) -> Resend:
    """Put the run's unknown deliveries back in the queue, skipping those who have since
    left or who clicked (see the module); reopen the run if it had finished. Commits.

    `expected`: how many the person confirmed resending; a different count now (someone
    resent meanwhile, someone blocked the bot) refuses rather than resend something else.
    """
    try:
        return await _resend(session, run_id, now, expected)
    except SegbotError:
        await session.rollback()  # lets the campaign go at once (broadcasts.runs.take_campaign)
        raise


async def _resend(
    session: AsyncSession, run_id: int, now: datetime, expected: int | None
) -> Resend:
    found = await session.get(Run, run_id, populate_existing=True)
    if found is None:
        raise NoSuchRunError(f"no run {run_id}")
    campaign, latest = await take_campaign(session, found.campaign_id)
    run = await session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise NoSuchRunError(f"no run {run_id}")
    _refuse_unless_resendable(run, campaign)
    if latest is not None and latest.id != run.id:
        raise ResendRefusedError(
            f"run {run.id} is not the latest run of {campaign.name!r} (run {latest.id} is): "
            "only the latest run's unknown deliveries can be resent"
        )
    summary = await summarize(session, run_id=run.id)
    stranded = run.status is RunStatus.DONE and await _has_queued(session, run.id)
    if not stranded:
        _refuse_unless_any(summary)
    if expected is not None and summary.resendable != expected:
        raise ResendChangedError(
            f"run {run.id} now has {summary.resendable:,} unknown deliveries to resend, "
            f"not the {expected:,} confirmed: look at them again"
        )
    requeued = await _requeue(session, run, campaign, now)
    reopened = run.status is RunStatus.DONE and bool(requeued or stranded)
    if reopened:
        run.status, run.finished_at = RunStatus.SENDING, None
        if campaign.status in (CampaignStatus.DONE, CampaignStatus.SCHEDULED):
            campaign.status = CampaignStatus.RUNNING  # finishing sets it back (cron: scheduled)
        campaign.updated_at = now
    await session.commit()
    logger.info(
        "run %s: %d unknown deliveries queued again on request (skipped: %s)",
        run.id, requeued, counted(summary.skipped) or "none",
    )  # fmt: skip
    return Resend(run.id, requeued, summary.skipped, run.status, reopened)


def _refuse_unless_resendable(run: Run, campaign: Campaign) -> None:
    if run.status is RunStatus.CANCELLED or campaign.status is CampaignStatus.CANCELLED:
        raise ResendRefusedError(
            f"run {run.id} of {campaign.name!r} was cancelled: its unknown deliveries stay unsent"
        )


def _refuse_unless_any(summary: UnknownSummary) -> None:
    if summary.total == 0:
        raise ResendRefusedError(f"run {summary.run_id} has no unknown deliveries")
    if summary.resendable == 0:
        raise ResendRefusedError(
            f"none of run {summary.run_id}'s {summary.total:,} unknown deliveries can be "
            f"resent: {counted(summary.skipped)}"
        )


async def _requeue(session: AsyncSession, run: Run, campaign: Campaign, now: datetime) -> int:
    """Queue the resendable unknowns again, each not before its quiet hours end; how many.

    One UPDATE per distinct wait (few: most timezones are not in quiet hours at once),
    each guarded by `status = unknown`, so two resends at once queue a delivery once."""
    zones = await session.scalars(
        select(Subscriber.timezone)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(_unknown_of(run.id))
        .distinct()
    )
    waits: dict[datetime | None, list[str | None]] = {}
    for name in zones.all():
        waits.setdefault(_allowed_from(campaign, name, now), []).append(name)
    requeued = 0
    for not_before, names in waits.items():
        named = [name for name in names if name is not None]
        in_zones: ColumnElement[bool] = Subscriber.timezone.in_(named)
        if None in names:
            in_zones |= Subscriber.timezone.is_(None)
        whose = select(Subscriber.id).where(Subscriber.status == SubscriberStatus.ACTIVE, in_zones)
        result = await session.scalars(
            update(Delivery)
            .where(_unknown_of(run.id), Delivery.subscriber_id.in_(whose), ~_clicked())
            .values(**_UNTRIED, not_before=not_before)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        requeued += len(result.all())
    return requeued


def _allowed_from(campaign: Campaign, zone_name: str | None, now: datetime) -> datetime | None:
    """When a subscriber in `zone_name` may get the message: None (at once), or the end
    of the campaign's quiet hours on their clock if it is within them now."""
    if campaign.quiet_start is None or campaign.quiet_end is None:
        return None
    tz = zone(zone_name, campaign.timezone)
    start, end = clock_time(campaign.quiet_start), clock_time(campaign.quiet_end)
    moment = after_quiet_hours(now, tz, start, end)
    return moment if moment > now else None


async def _has_queued(session: AsyncSession, run_id: int) -> bool:
    """A finished run with queued deliveries: a resend that met the run finishing."""
    queued = await session.scalar(
        select(Delivery.id)
        .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.QUEUED)
        .limit(1)
    )
    return queued is not None


async def _listed(session: AsyncSession, run_id: int, limit: int | None) -> list[UnknownDelivery]:
    rows = await session.execute(
        select(
            Delivery.id,
            Delivery.subscriber_id,
            Subscriber.telegram_id,
            Subscriber.username,
            Subscriber.first_name,
            Subscriber.last_name,
            Subscriber.status,
            CampaignTarget.label,
            Variant.name,
            func.coalesce(Delivery.reason, "unknown"),
            Delivery.claimed_at,
            _first_click(),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .join(CampaignTarget, CampaignTarget.id == Delivery.target_id)
        .join(Variant, Variant.id == Delivery.variant_id)
        .where(_unknown_of(run_id))
        .order_by(Delivery.claimed_at, Delivery.id)
        .limit(limit)
    )
    return [UnknownDelivery(*cast("tuple[Any, ...]", row)) for row in rows.all()]


def _unknown_of(run_id: int) -> ColumnElement[bool]:
    return (Delivery.run_id == run_id) & (Delivery.status == DeliveryStatus.UNKNOWN)


def _clicks() -> ColumnElement[bool]:
    """Events that prove the delivery arrived: clicks on its own tracked link."""
    return (Event.delivery_id == Delivery.id) & (Event.type == EventType.LINK_CLICK.value)


def _clicked() -> ColumnElement[bool]:
    return exists().where(_clicks())


def _first_click() -> ScalarSelect[datetime]:
    return select(func.min(Event.occurred_at)).where(_clicks()).scalar_subquery()


def _most_first(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat(timespec="seconds")
