"""`segbot campaign send-now`: start a campaign's run and see it sent, never waiting
without a word.

Who sends depends on whether a sender is running: one whose heartbeat in
`broadcast_senders` is fresh (broadcasts/claims.py), i.e. a `segbot run`.

- A sender is running: the run is left to it, said so, and followed with a progress bar
  (unless --no-wait). If that sender stops meanwhile, following ends saying so (exit 1).
- None is: this process sends the run at SEGBOT_RATE_LIMIT, with a progress bar, as a
  sender of its own (it beats, so a sender starting meanwhile leaves its claims alone).
  Ctrl-C stops it as stopping `segbot run` does: a message on its way may become
  `unknown`, the rest stay queued. With --no-wait it only queues the run, and says that
  nothing sends it until `segbot run` starts.
- A run of the campaign that is still sending (stopped midway, or started by its
  schedule) is carried on, never started again beside it: that would message everyone
  twice.

Messages due later (quiet hours, local-time schedules) are left to `segbot run`, with
their count. A run that sent nothing, having someone to send to, exits 1 with the reasons.
"""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.messenger import TelegramMessenger
from broadcasts.campaigns import get_campaign
from broadcasts.claims import BEAT_SECONDS, STALE_AFTER, beat, forget, live_senders
from broadcasts.config import BroadcastsConfig
from broadcasts.models import Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.pacing import RateBudget
from broadcasts.planner import start_run
from broadcasts.runs import Progress as RunProgress
from broadcasts.runs import RunStateError, latest_run, progress
from broadcasts.sender import Sender, SenderSettings
from cli.execution import EXIT_FAILURE, fail
from core.clock import utcnow
from core.errors import ConfigError
from core.settings import Settings

POLL_SECONDS = 0.5  # how often the progress bar reads the run
SHOWN = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BLOCKED, DeliveryStatus.UNKNOWN)
# A failed delivery's reason (broadcasts/recorder.py), in words.
FAILED_BECAUSE = {
    "chat_not_found": "chat not found (never started the bot)",
    "rejected": "refused by Telegram (the message or photo, or SEGBOT_BOT_TOKEN)",
    "server_error": "Telegram unreachable or failing (SEGBOT_TELEGRAM_API_BASE, the network)",
    "template": "the template could not be filled in for them",
}
Show = Callable[[RunProgress], None]  # draws the progress bar


@dataclass(frozen=True, slots=True)
class SendNow:
    """What send-now needs besides the database."""

    settings: Settings
    broadcasts: BroadcastsConfig
    rfm_segments: tuple[str, ...]
    wait: bool  # follow the run (or send it from here), not only queue it
    out: Console
    err: Console  # the progress bar


async def send_now(
    sessionmaker: async_sessionmaker[AsyncSession], *, ref: str, how: SendNow
) -> None:
    async with sessionmaker() as session:
        campaign = await get_campaign(session, ref=ref)
        run = await latest_run(session, campaign_id=campaign.id)
        running_sender = await live_senders(session, now=utcnow()) > 0
    if run is not None and run.status is RunStatus.PAUSED:
        raise _paused(run.id, campaign.name)
    here = None if running_sender or not how.wait else _sender_settings(how)
    run_id = await _run_to_send(sessionmaker, campaign.id, campaign.name, how)
    if running_sender:
        how.out.print(f"run {run_id} is queued for the sender that is running (segbot run)")
        if how.wait:
            await _follow(sessionmaker, run_id, campaign.name, how)
    elif here is None:
        how.out.print(
            f"no sender is running: run {run_id} waits in the queue until `segbot run` "
            f"starts (or send it from here: segbot campaign send-now {campaign.name})"
        )
    else:
        await _send_here(sessionmaker, run_id, here, how)


def _sender_settings(how: SendNow) -> SenderSettings:
    """How this process sends when no sender runs; a missing setting fails before a run
    is started."""
    settings = how.settings
    token, key = settings.bot_token, settings.secret_key
    if token is None or key is None:
        needed = {"SEGBOT_BOT_TOKEN": token, "SEGBOT_SECRET_KEY": key}
        missing = " and ".join(name for name, value in needed.items() if value is None)
        raise ConfigError(
            "no sender is running (segbot run), and sending from here needs "
            f"{missing} (the key signs the tracked links)"
        )
    return SenderSettings(
        public_url=settings.public_url,
        secret=key.get_secret_value(),
        paid_broadcasts=how.broadcasts.paid_broadcasts.enabled,
        send_timeout=settings.send_timeout,
    )


def _paused(run_id: int, name: str) -> RunStateError:
    return RunStateError(
        f"run {run_id} of {name} is paused: segbot campaign resume {name} sends the rest"
    )


async def _run_to_send(
    sessionmaker: async_sessionmaker[AsyncSession], campaign_id: int, name: str, how: SendNow
) -> int:
    """The campaign's run that is still sending, carried on; else a new one, planned
    (broadcasts.planner.start_run: two send-nows at once, or one and the scheduler, start
    one run)."""
    async with sessionmaker() as session:
        plan = await start_run(
            session, campaign_id=campaign_id, now=utcnow(), rfm_segments=how.rfm_segments,
            best_hour=how.broadcasts.best_hour,
        )  # fmt: skip
    if isinstance(plan, Run):  # under way already: nothing planned
        if plan.status is RunStatus.PAUSED:
            raise _paused(plan.id, name)
        how.out.print(f"run {plan.id} of {name} is still sending: carrying it on")
        return plan.id
    excluded = ", ".join(f"{reason} {n}" for reason, n in plan.excluded.items()) or "none"
    how.out.print(
        f"run {plan.run.id}: {plan.queued} to send ({plan.postponed} later); excluded: {excluded}"
    )
    for label, best in plan.best_hours.items():
        why = "too little engagement: fallback" if best.fallback else f"{best.events} events"
        how.out.print(f"{label}: best hour {best.hour:02d}:00 local ({why})")
    return plan.run.id


async def _send_here(
    sessionmaker: async_sessionmaker[AsyncSession],
    run_id: int,
    sender_settings: SenderSettings,
    how: SendNow,
) -> None:
    settings, paid = how.settings, how.broadcasts.paid_broadcasts
    budget = RateBudget(
        settings.rate_limit, paid_per_second=paid.per_second if paid.enabled else None
    )
    how.out.print(
        f"no sender is running: sending run {run_id} from here at {settings.rate_limit:g}/s "
        "(Ctrl-C stops; send-now again carries on). Tracked links lead through "
        "SEGBOT_PUBLIC_URL, which `segbot run` serves."
    )
    async with TelegramMessenger.from_settings(settings) as messenger:
        sender = Sender(sessionmaker, messenger, budget, sender_settings)
        async with sessionmaker() as session:
            await beat(session, sender=sender.id, clock=utcnow)
        beating = asyncio.create_task(_keep_beating(sessionmaker, sender.id))
        try:
            with _progress_bar(how.err, "sending") as show:
                watching = asyncio.create_task(_watch(sessionmaker, run_id, show))
                try:
                    await sender.deliver(run_id)
                finally:
                    watching.cancel()
                    with suppress(asyncio.CancelledError):
                        await watching
                show(await _read(sessionmaker, run_id))
        except asyncio.CancelledError:  # Ctrl-C
            how.err.print(f"stopped: run {run_id} keeps what it has not sent (send-now again)")
            raise
        finally:
            beating.cancel()
            with suppress(asyncio.CancelledError):
                await beating
            await sender.close()
            async with sessionmaker() as session:
                await forget(session, sender=sender.id)
    await _report(sessionmaker, run_id, how)


async def _keep_beating(sessionmaker: async_sessionmaker[AsyncSession], sender: str) -> None:
    while True:
        await asyncio.sleep(BEAT_SECONDS)
        async with sessionmaker() as session:
            await beat(session, sender=sender, clock=utcnow)


async def _watch(sessionmaker: async_sessionmaker[AsyncSession], run_id: int, show: Show) -> None:
    while True:
        show(await _read(sessionmaker, run_id))
        await asyncio.sleep(POLL_SECONDS)


async def _follow(
    sessionmaker: async_sessionmaker[AsyncSession], run_id: int, name: str, how: SendNow
) -> None:
    """Follow the run another process sends until it has nothing due left, or that
    process stops."""
    with _progress_bar(how.err, "sent by segbot run") as show:
        while True:
            async with sessionmaker() as session:
                now = utcnow()
                state = await progress(session, run_id=run_id)
                later = await _due_later(session, run_id)
                alive = await live_senders(session, now=now)
            show(state)
            if state.status is not RunStatus.SENDING or 0 < state.pending <= later:
                break  # finished (the sender marks the run done), or the rest is due later
            if not alive:
                fail(
                    f"the sender stopped (no heartbeat for {STALE_AFTER.seconds} s) with "
                    f"{state.pending} messages of run {run_id} left: start `segbot run`, or "
                    f"send them from here: segbot campaign send-now {name}",
                    EXIT_FAILURE,
                )
            await asyncio.sleep(POLL_SECONDS)
    await _report(sessionmaker, run_id, how)


async def _report(
    sessionmaker: async_sessionmaker[AsyncSession], run_id: int, how: SendNow
) -> None:
    """How the run went, each failure reason in words; exit 1 if it sent nothing while it
    had someone to send to."""
    async with sessionmaker() as session:
        state = await progress(session, run_id=run_id)
        later = await _due_later(session, run_id)
        failed = await session.execute(
            select(Delivery.reason, func.count())
            .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.FAILED)
            .group_by(Delivery.reason)
        )
    counts = ", ".join(f"{status.value} {state.count(status)}" for status in SHOWN)
    how.out.print(f"run {run_id} {state.status.value}: {counts}")
    for reason, count in failed.all():
        how.out.print(f"  failed {count}: {FAILED_BECAUSE.get(reason or '', reason)}")
    if state.count(DeliveryStatus.BLOCKED):
        how.out.print("  blocked: they blocked the bot (or deleted their account); not sent again")
    if later:
        how.out.print(
            f"{later} wait for quiet hours or their local time: `segbot run` sends them then"
        )
    if state.status is RunStatus.DONE and state.to_send and not state.count(DeliveryStatus.SENT):
        fail(f"run {run_id} sent none of its {state.to_send} messages (why: above)", EXIT_FAILURE)


async def _read(sessionmaker: async_sessionmaker[AsyncSession], run_id: int) -> RunProgress:
    async with sessionmaker() as session:
        return await progress(session, run_id=run_id)


async def _due_later(session: AsyncSession, run_id: int) -> int:
    """The run's queued messages that wait for their time (quiet hours, local time)."""
    count = await session.scalar(
        select(func.count()).where(
            Delivery.run_id == run_id,
            Delivery.status == DeliveryStatus.QUEUED,
            Delivery.not_before > utcnow(),
        )
    )
    return int(count or 0)


@contextmanager
def _progress_bar(console: Console, description: str) -> Iterator[Show]:
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=None, rate="")

        def show(state: RunProgress) -> None:
            rate = f"{state.per_second:.1f}/s" if state.per_second else ""
            bar.update(
                task, total=state.to_send, completed=state.to_send - state.pending, rate=rate
            )

        yield show
