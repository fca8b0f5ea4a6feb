"""Runs while and after they send: progress, pause, resume, cancel and finishing. The
sender reads the status of each run it sends every half second, so a pause or cancel
from any process takes effect within a second: its claimed messages not yet on their way
go back to the queue (what a crash leaves claimed is settled by broadcasts/claims.py)."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.claims import settle
from broadcasts.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Run,
    RunStatus,
    ScheduleKind,
)
from core.errors import NotPossibleError

_PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
_OVER = (CampaignStatus.DONE, CampaignStatus.CANCELLED, CampaignStatus.MISSED)


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What a cancel left unsent."""

    dropped: int  # queued: never sent
    under_way: int  # claimed by a sender: those already on their way may still arrive

    def __str__(self) -> str:
        said = f"{self.dropped:,} queued message{'' if self.dropped == 1 else 's'} will not be sent"
        if self.under_way:
            said += (
                f"; of {self.under_way:,} being sent, those already out may arrive, the rest not"
            )
        return said


class RunStateError(NotPossibleError):
    """The campaign has no run in a state that allows this (e.g. resume what is not paused)."""


class SentOnceError(RunStateError):
    """A campaign sent (or cancelled) already is not sent again. Its message gives the
    command line's way to a copy; `refused` is the refusal alone, for a face whose way to
    a copy is another (the admin chat's is the card's Duplicate)."""

    def __init__(self, campaign: Campaign) -> None:
        self.refused = f"{campaign.name} is {campaign.status.value}: a campaign is sent once"
        super().__init__(
            f"{self.refused}; segbot campaign clone {campaign.name} NEW_NAME makes a copy to send"
        )


def check_not_sent(campaign: Campaign) -> None:
    """A campaign is sent once (a recurring one once per occurrence): SentOnceError if a
    run of it is done, or was cancelled (its audience may have had it in part). One its
    time passed by (missed) reached nobody, and may still be sent."""
    if campaign.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
        raise SentOnceError(campaign)


@dataclass(frozen=True, slots=True)
class Progress:
    run_id: int
    status: RunStatus
    counts: dict[DeliveryStatus, int]
    excluded: dict[str, int] = field(default_factory=dict)  # by reason
    per_second: float | None = None  # sending rate so far
    eta_seconds: float | None = None

    def count(self, status: DeliveryStatus) -> int:
        return self.counts.get(status, 0)

    @property
    def to_send(self) -> int:
        """Everyone the run will message (not the excluded)."""
        return sum(n for status, n in self.counts.items() if status is not DeliveryStatus.EXCLUDED)

    @property
    def pending(self) -> int:
        return sum(self.count(status) for status in _PENDING)


async def progress(session: AsyncSession, *, run_id: int) -> Progress:
    run = await session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise RunStateError(f"no run {run_id}")
    rows = await session.execute(
        select(Delivery.status, Delivery.reason, func.count())
        .where(Delivery.run_id == run_id)
        .group_by(Delivery.status, Delivery.reason)
    )
    counts: dict[DeliveryStatus, int] = {}
    excluded: dict[str, int] = {}
    for status, reason, count in rows.all():
        counts[status] = counts.get(status, 0) + count
        if status is DeliveryStatus.EXCLUDED:
            excluded[reason or ""] = count
    span = await session.execute(
        select(func.min(Delivery.claimed_at), func.max(Delivery.sent_at)).where(
            Delivery.run_id == run_id, Delivery.status == DeliveryStatus.SENT
        )
    )
    first, last = span.one()
    sent = counts.get(DeliveryStatus.SENT, 0)
    rate = eta = None
    # The counts and the span are read a moment apart: a batch may finish in between.
    if sent and first is not None and last is not None and last > first:
        rate = sent / (last - first).total_seconds()
        pending = sum(counts.get(status, 0) for status in _PENDING)
        eta = pending / rate
    return Progress(run.id, run.status, counts, excluded, rate, eta)


async def latest_run(session: AsyncSession, *, campaign_id: int) -> Run | None:
    return await session.scalar(
        select(Run)
        .where(Run.campaign_id == campaign_id)
        .order_by(Run.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def pause(session: AsyncSession, *, campaign: Campaign, now: datetime) -> Run:
    """Stop sending the campaign's current run (queued deliveries wait); commits. A pause
    that comes after the run's last message was answered, before the sender finished the
    run, is refused as one that came after: the run is finished here (a paused run with
    nothing left to send would say "paused" until someone resumed it). A run with unknown
    messages may still be paused, to hold them while they are resent."""
    return await _switch(
        session, campaign, now, RunStatus.SENDING, to=(RunStatus.PAUSED, CampaignStatus.PAUSED),
        not_so="is not sending", finish_if_sent=True,
    )  # fmt: skip


async def resume(session: AsyncSession, *, campaign: Campaign, now: datetime) -> Run:
    return await _switch(
        session, campaign, now, RunStatus.PAUSED, to=(RunStatus.SENDING, CampaignStatus.RUNNING),
        not_so="is not paused",
    )  # fmt: skip


async def cancel(session: AsyncSession, *, campaign: Campaign, now: datetime) -> Cancelled:
    """Cancel the campaign: its schedule, and its run's queued deliveries; commits. The
    sender puts back what it claimed and has not sent within a second, as cancelled."""
    campaign, run = await take_campaign(session, campaign.id)
    if campaign.status in _OVER:
        await _let_go(session)
        raise RunStateError(f"campaign {campaign.name!r} is already {campaign.status.value}")
    dropped = under_way = 0
    if run is not None and run.status in (RunStatus.SENDING, RunStatus.PAUSED):
        # The deliveries before the run: the order a sender's claim locks them in.
        result = await session.execute(
            update(Delivery)
            .where(Delivery.run_id == run.id, Delivery.status == DeliveryStatus.QUEUED)
            .values(status=DeliveryStatus.CANCELLED)
        )
        dropped = result.rowcount  # type: ignore[attr-defined]
        under_way = await _count(session, run.id, DeliveryStatus.SENDING)
        run.status, run.finished_at = RunStatus.CANCELLED, now
    campaign.status, campaign.updated_at = CampaignStatus.CANCELLED, now
    await session.commit()
    return Cancelled(dropped, under_way)


async def finish_if_complete(session: AsyncSession, *, run: Run, now: datetime) -> bool:
    """Mark the run done once nothing is queued or being sent, unless it was paused or
    cancelled meanwhile; commits if it was."""
    if await _pending(session, run.id):  # the common answer, without taking the campaign
        return False
    campaign, _ = await take_campaign(session, run.campaign_id)
    current = await session.get(Run, run.id, populate_existing=True)
    if (
        current is None
        or current.status is not RunStatus.SENDING
        or await _pending(session, run.id)
    ):
        await _let_go(session)
        return False
    _finish(campaign, current, now)
    await session.commit()
    return True


def _finish(campaign: Campaign, run: Run, now: datetime) -> None:
    """The run is done; a campaign running it is done, or, recurring, goes back to waiting
    for its next occurrence."""
    run.status, run.finished_at = RunStatus.DONE, now
    if campaign.status is CampaignStatus.RUNNING:
        recurring = campaign.schedule_kind is ScheduleKind.CRON
        campaign.status = CampaignStatus.SCHEDULED if recurring else CampaignStatus.DONE
        campaign.updated_at = now


async def mark_interrupted_unknown(session: AsyncSession) -> int:
    """What a sender alone settles as it starts: every claim left by a stop (attempted:
    `unknown`, never resent; the rest back in the queue); commits. How many became
    unknown. (A sender among several settles less: broadcasts/worker.py.)"""
    return (await settle(session, true())).unknown


async def _switch(
    session: AsyncSession,
    campaign: Campaign,
    now: datetime,
    run_was: RunStatus,
    *,
    to: tuple[RunStatus, CampaignStatus],
    not_so: str,
    finish_if_sent: bool = False,
) -> Run:
    """Move the campaign's latest run from `run_was`, and the campaign, to `to`; commits.
    With `finish_if_sent`, a run with nothing left to send and no unknown message is
    finished instead, and the move refused as too late."""
    campaign, run = await take_campaign(session, campaign.id)
    if run is None or run.status is not run_was:
        await _let_go(session)
        done = campaign.status is CampaignStatus.DONE
        over = ": it is already done" if done else ""
        raise RunStateError(f"campaign {campaign.name!r} {not_so}{over}")
    if finish_if_sent and not await _open(session, run.id):
        _finish(campaign, run, now)
        await session.commit()
        raise RunStateError(f"campaign {campaign.name!r} {not_so}: {_sent_out(campaign)}")
    run.status, campaign.status = to
    campaign.updated_at = now
    await session.commit()
    return run


def _sent_out(campaign: Campaign) -> str:
    """What a campaign whose run just sent its last message is."""
    if campaign.status is CampaignStatus.SCHEDULED:
        return "its run has sent everything; it waits for its next time"
    return f"it is already {campaign.status.value}"


async def take_campaign(session: AsyncSession, campaign_id: int) -> tuple[Campaign, Run | None]:
    """Take the campaign for this transaction, then read it and its latest run afresh
    (into the session's objects, if it has them).

    Every change to the status of a campaign or its runs takes the campaign first: pause,
    resume, cancel and finishing here, a resend of unknown deliveries, a run started by
    hand (broadcasts.planner.start_run) and the scheduler starting one (which takes it by
    the same kind of write); so does a Duplicate press (broadcasts.cloning.copy_once). So
    no two interleave: each reads what the one before it wrote, never what another is
    about to overwrite (a cancel racing a run's last message is either too late, the
    campaign done, or in time, the run cancelled; never both). PostgreSQL keeps the
    campaign's row locked until the transaction ends; SQLite, which has one writer at a
    time, the whole database."""
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(updated_at=Campaign.updated_at)  # a write that changes nothing: the lock
        .execution_options(synchronize_session=False)
    )
    campaign = await session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None:
        await _let_go(session)
        raise RunStateError(f"no campaign {campaign_id}")
    return campaign, await latest_run(session, campaign_id=campaign_id)


async def _let_go(session: AsyncSession) -> None:
    """End a transaction that took a campaign and changed nothing."""
    await session.commit()  # not a rollback: that would leave the caller's objects unloaded


async def _open(session: AsyncSession, run_id: int) -> bool:
    """Whether the run has a message to send or one whose fate is unknown (which a pause
    may hold while it is resent: broadcasts/unknowns.py)."""
    statuses = (*_PENDING, DeliveryStatus.UNKNOWN)
    found = select(Delivery.id).where(Delivery.run_id == run_id, Delivery.status.in_(statuses))
    return await session.scalar(select(found.exists())) is True


async def _pending(session: AsyncSession, run_id: int) -> int:
    return await _count(session, run_id, *_PENDING)


async def _count(session: AsyncSession, run_id: int, *statuses: DeliveryStatus) -> int:
    count = await session.scalar(
        select(func.count()).where(Delivery.run_id == run_id, Delivery.status.in_(statuses))
    )
    return count or 0
