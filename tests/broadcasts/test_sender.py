"""The sender against a scripted messenger: exactly once, every answer handled, a crash
costing only what was in flight, a hung request holding up nobody else."""

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from broadcasts.campaigns import PaidBroadcastsDisabledError, save_campaign
from broadcasts.claims import Settled, of_stopped_senders, settle
from broadcasts.fault_log import FaultLog
from broadcasts.links import read_token
from broadcasts.messenger import (
    Blocked,
    ChatNotFound,
    Outcome,
    OutgoingMessage,
    RetryAfter,
    TransientError,
    Unknown,
)
from broadcasts.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Run,
    RunStatus,
    SenderBeat,
)
from broadcasts.pacing import LocalSlots, RateBudget
from broadcasts.planner import Plan, plan_run
from broadcasts.runs import cancel, mark_interrupted_unknown, pause, progress, resume
from broadcasts.sender import CLAIM_CAP, BatchResult, Sender, SenderSettings
from broadcasts.spec import parse_campaign
from broadcasts.worker import DeliveryWorker
from core.clock import utcnow
from core.models import Event, Subscriber, SubscriberStatus
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.broadcasts.fake_messenger import FakeMessenger
from tests.polling import until

SECRET = "test-secret"
PUBLIC_URL = "http://bot.test"
CAMPAIGN = """
name: sale
default:
  text: 'Hi {{ first_name }}, see https://shop.example/sale'
  buttons: [{text: Shop, url: "https://shop.example/"}]
"""
SETTINGS = SenderSettings(public_url=PUBLIC_URL, secret=SECRET, backoff_seconds=0.001)


def budget(rate: float = 1000, paid: float | None = None) -> RateBudget:
    """Nothing sent in the second before: the first slot is now."""
    return RateBudget(rate, paid_per_second=paid, chat_spacing=0, slots=LocalSlots(start_after=0))


def sender(
    sessionmaker: async_sessionmaker[AsyncSession],
    messenger: FakeMessenger,
    rate: float = 1000,
    **settings: Any,
) -> Sender:
    return Sender(sessionmaker, messenger, budget(rate), replace(SETTINGS, **settings))


async def planned(session: AsyncSession, subscribers: int, text: str = CAMPAIGN) -> Plan:
    await add_subscribers(session, subscribers, first_id=1)
    campaign = await campaign_from(session, text)
    return await plan_run(session, campaign=campaign, now=NOW)


async def statuses(session: AsyncSession, run_id: int) -> Counter[DeliveryStatus]:
    progress_now = await progress(session, run_id=run_id)
    return Counter(progress_now.counts)


async def status_by_chat(
    session: AsyncSession, run_id: int
) -> dict[int, tuple[DeliveryStatus, str | None]]:
    rows = await session.execute(
        select(Subscriber.chat_id, Delivery.status, Delivery.reason)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.run_id == run_id)
        .execution_options(populate_existing=True)
    )
    return {chat: (status, reason) for chat, status, reason in rows.all()}


def hang_after(messenger: FakeMessenger, answered: int) -> asyncio.Event:
    """From call `answered + 1` on, requests go out and wait for the returned event."""
    released = asyncio.Event()

    async def hang(message: OutgoingMessage) -> None:
        if len(messenger.calls) > answered:
            await released.wait()

    messenger.before_answer = hang
    return released


async def test_each_subscriber_gets_one_personal_tracked_message(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 30)
    messenger = FakeMessenger()
    assert await sender(sessionmaker, messenger).deliver(plan.run.id) is BatchResult.FINISHED
    assert sorted(m.chat_id for m in messenger.sent) == list(range(1, 31))
    message = messenger.to(7)[0]
    assert message.text.startswith("Hi User7, see http://bot.test/r/")
    token = message.text.split("/r/")[1]
    ref = read_token(token, secret=SECRET)
    assert ref is not None
    delivery = await session.get(Delivery, ref.delivery_id, populate_existing=True)
    assert delivery is not None
    assert (delivery.status, delivery.message_id) == (
        DeliveryStatus.SENT,
        1 + messenger.sent.index(message),
    )
    [shop, unsubscribe] = message.buttons
    assert shop.url is not None
    assert shop.url.startswith("http://bot.test/r/")
    assert unsubscribe.data == "unsubscribe"
    assert await statuses(session, plan.run.id) == {DeliveryStatus.SENT: 30}
    campaign = await session.get(Campaign, plan.run.campaign_id, populate_existing=True)
    assert campaign is not None
    assert campaign.status is CampaignStatus.DONE


async def test_a_message_is_committed_as_attempted_before_its_request(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 5)
    messenger = FakeMessenger()
    the_sender = sender(sessionmaker, messenger)
    seen: list[tuple[DeliveryStatus, str | None, bool]] = []

    async def look(message: OutgoingMessage) -> None:
        async with sessionmaker() as other:  # another connection sees only what is committed
            row = await other.execute(
                select(Delivery.status, Delivery.claimed_by, Delivery.attempted_at)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Subscriber.chat_id == message.chat_id)
            )
        status, claimed_by, attempted_at = row.one()
        seen.append((status, claimed_by, attempted_at is not None))

    messenger.before_answer = look
    await the_sender.deliver(plan.run.id)
    assert seen == [(DeliveryStatus.SENDING, the_sender.id, True)] * 5


async def test_every_answer_ends_in_a_final_state(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 8)
    messenger = FakeMessenger()
    messenger.script = {
        1: [Blocked()],
        2: [Blocked(deactivated=True)],
        3: [ChatNotFound()],
        4: [Unknown("no answer: ServerDisconnectedError")],
        5: [TransientError("502"), TransientError("502")],  # the third attempt goes through
        6: [TransientError("500")] * 3,  # gives up
        7: [RetryAfter(0.01), RetryAfter(0.01)],  # waits, then goes through
    }
    await sender(sessionmaker, messenger).deliver(plan.run.id)
    assert await statuses(session, plan.run.id) == {
        DeliveryStatus.SENT: 3,
        DeliveryStatus.BLOCKED: 2,
        DeliveryStatus.FAILED: 2,
        DeliveryStatus.UNKNOWN: 1,
    }
    by_chat = await status_by_chat(session, plan.run.id)
    assert by_chat[4] == (DeliveryStatus.UNKNOWN, "no_answer")
    assert by_chat[6] == (DeliveryStatus.FAILED, "server_error")
    assert sorted(m.chat_id for m in messenger.sent) == [5, 7, 8]
    assert len([m for m in messenger.calls if m.chat_id == 4]) == 1  # unknown: never resent
    people = await session.execute(
        select(Subscriber.chat_id, Subscriber.status)
        .where(Subscriber.chat_id.in_([1, 2, 3]))
        .execution_options(populate_existing=True)
    )
    assert dict(people.all()) == {
        1: SubscriberStatus.BLOCKED,
        2: SubscriberStatus.DEACTIVATED,
        3: SubscriberStatus.ACTIVE,
    }
    events = await session.scalars(select(Event.type).order_by(Event.type))
    assert list(events.all()) == ["blocked", "deactivated"]


async def test_a_template_that_fails_for_one_subscriber_fails_only_them(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 2, first_id=50, attributes={"income": "high"})
    plan = await planned(session, 3, "name: x\ndefault: {text: 'Income {{ attr.income }}'}\n")
    messenger = FakeMessenger()
    await sender(sessionmaker, messenger).deliver(plan.run.id)
    assert await statuses(session, plan.run.id) == {
        DeliveryStatus.SENT: 2,
        DeliveryStatus.FAILED: 3,
    }


async def test_who_left_after_the_run_was_planned_is_never_messaged(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 6)
    for chat, status in ((2, SubscriberStatus.UNSUBSCRIBED), (3, SubscriberStatus.BLOCKED)):
        await session.execute(
            update(Subscriber).where(Subscriber.chat_id == chat).values(status=status)
        )
    await session.commit()
    messenger = FakeMessenger()
    assert await sender(sessionmaker, messenger, rate=2).deliver(plan.run.id) is (
        BatchResult.FINISHED
    )  # rate 2: claims of one, so a claim may find nobody left
    assert sorted(m.chat_id for m in messenger.calls) == [1, 4, 5, 6]
    by_chat = await status_by_chat(session, plan.run.id)
    assert (by_chat[2], by_chat[3]) == (
        (DeliveryStatus.EXCLUDED, "unsubscribed"),
        (DeliveryStatus.EXCLUDED, "blocked"),
    )


async def test_a_hung_request_holds_only_its_own_permit_and_ends_unknown(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = await planned(session, 20)
    messenger = FakeMessenger()
    never = asyncio.Event()

    async def hang_for_chat_3(message: OutgoingMessage) -> None:
        if message.chat_id == 3:
            await never.wait()

    messenger.before_answer = hang_for_chat_3
    the_sender = sender(sessionmaker, messenger, in_flight=2, send_timeout=0.5)
    with caplog.at_level(logging.INFO, logger="broadcasts"):
        assert await the_sender.deliver(plan.run.id) is BatchResult.FINISHED
    by_chat = await status_by_chat(session, plan.run.id)
    assert by_chat.pop(3) == (DeliveryStatus.UNKNOWN, "timeout")
    assert set(by_chat.values()) == {(DeliveryStatus.SENT, None)}
    assert [m.chat_id for m in messenger.calls].count(3) == 1  # it went out: never again
    delivery_3 = await session.scalar(
        select(Delivery.id).join(Subscriber).where(Subscriber.chat_id == 3)
    )
    assert f"delivery {delivery_3}: no answer within 0.5 s" in caplog.text
    assert f"run {plan.run.id} finished: 19 sent, 0 blocked, 0 failed, 1 unknown" in caplog.text


async def test_a_run_going_on_into_quiet_hours_waits_until_they_end(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Planned at 20:30 in Madrid, before the quiet hours: the planner lets it go at once.
    Still going at midnight (it was paused and resumed, or it is long), its messages go
    back in the queue until 09:00 there."""
    quiet = CAMPAIGN + 'timezone: Europe/Madrid\nquiet_hours: {start: "21:00", end: "09:00"}\n'
    await add_subscribers(session, 5, first_id=1)
    campaign = await campaign_from(session, quiet)
    plan = await plan_run(session, campaign=campaign, now=datetime(2026, 11, 2, 19, 30, tzinfo=UTC))
    assert plan.postponed == 0  # 20:30 in Madrid: nobody waits
    now = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # midnight in Madrid
    messenger = FakeMessenger()
    the_sender = Sender(sessionmaker, messenger, budget(), SETTINGS, clock=lambda: now)
    assert await the_sender.deliver(plan.run.id) is BatchResult.WAITING
    assert messenger.calls == []
    waiting = await session.scalars(
        select(Delivery.not_before)
        .where(Delivery.run_id == plan.run.id)
        .execution_options(populate_existing=True)
    )
    assert set(waiting.all()) == {datetime(2026, 11, 3, 8, 0, tzinfo=UTC)}  # 09:00 there
    assert await statuses(session, plan.run.id) == {DeliveryStatus.QUEUED: 5}
    now = datetime(2026, 11, 3, 8, 1, tzinfo=UTC)
    assert await the_sender.deliver(plan.run.id) is BatchResult.FINISHED
    assert await statuses(session, plan.run.id) == {DeliveryStatus.SENT: 5}


class SlowToWrite(FakeMessenger):
    """Chat 3's first request waits past the send timeout before it is written (for a
    connection, or for its file's first upload); every other request goes at once."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[int] = []

    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        if message.chat_id == 3 and not self.held:
            self.held.append(message.chat_id)
            await asyncio.sleep(60)  # cut short by the send timeout: nothing was written
        return await super().send(message, on_written=on_written)


async def test_a_request_never_written_within_the_timeout_goes_again_not_unknown(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 20)
    messenger = SlowToWrite()
    the_sender = sender(sessionmaker, messenger, send_timeout=0.5, transient_attempts=1)
    assert await the_sender.deliver(plan.run.id) is BatchResult.FINISHED
    assert messenger.held == [3]
    assert await statuses(session, plan.run.id) == {DeliveryStatus.SENT: 20}
    assert len(messenger.to(3)) == 1


async def test_requests_in_flight_and_claims_are_bounded_whatever_the_rate(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 1000)
    messenger = FakeMessenger()
    the_sender = sender(sessionmaker, messenger, rate=1_000_000, in_flight=4)
    out = most_out = 0

    async def count(message: OutgoingMessage) -> None:
        nonlocal out, most_out
        out += 1
        most_out = max(most_out, out)
        await asyncio.sleep(0)
        out -= 1

    messenger.before_answer = count
    assert await the_sender.deliver(plan.run.id) is BatchResult.FINISHED
    assert most_out == 4
    claims = await session.execute(  # one claim, one claimed_at
        select(func.count()).where(Delivery.run_id == plan.run.id).group_by(Delivery.claimed_at)
    )
    assert max(claims.scalars().all()) == CLAIM_CAP  # never the 1,000 the rate would allow
    assert await statuses(session, plan.run.id) == {DeliveryStatus.SENT: 1000}


@contextmanager
def commits_counted(engine: AsyncEngine) -> Iterator[list[int]]:
    counted = [0]

    def one_more(connection: object) -> None:
        counted[0] += 1

    event.listen(engine.sync_engine, "commit", one_more)
    try:
        yield counted
    finally:
        event.remove(engine.sync_engine, "commit", one_more)


async def test_marks_and_results_are_written_in_group_commits(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    plan = await planned(session, 400)
    the_sender = sender(sessionmaker, FakeMessenger(), rate=1_000_000)
    with commits_counted(engine) as commits:
        assert await the_sender.deliver(plan.run.id) is BatchResult.FINISHED
    # Two writes a message (its mark, its result) would be 800 commits.
    assert commits[0] < 400 / 4


async def test_a_crash_makes_unknown_only_the_requests_out_and_the_rest_are_sent_once(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 20)
    messenger = FakeMessenger()
    released = hang_after(messenger, answered=5)
    first = sender(sessionmaker, messenger, in_flight=3, stop_grace=0)
    delivering = asyncio.create_task(first.deliver(plan.run.id))
    await until(lambda: len(messenger.calls) == 8, what="three requests out, unanswered")
    delivering.cancel()
    settled = await first.close()  # what the worker does when it stops
    released.set()
    assert (settled.unknown, settled.requeued) == (3, 12)
    out = {m.chat_id for m in messenger.calls[5:]}
    assert await statuses(session, plan.run.id) == {
        DeliveryStatus.SENT: 5,
        DeliveryStatus.UNKNOWN: 3,
        DeliveryStatus.QUEUED: 12,
    }

    messenger.before_answer = None
    assert await sender(sessionmaker, messenger).deliver(plan.run.id) is BatchResult.FINISHED
    by_chat = await status_by_chat(session, plan.run.id)
    assert {
        chat for chat, (status, _) in by_chat.items() if status is DeliveryStatus.UNKNOWN
    } == out
    assert {reason for status, reason in by_chat.values() if status is DeliveryStatus.UNKNOWN} == {
        "interrupted"
    }
    assert set(Counter(m.chat_id for m in messenger.calls).values()) == {1}  # nobody twice


async def test_a_sender_taken_for_dead_cannot_send_what_was_given_to_another(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 20)
    messenger = FakeMessenger()
    released = hang_after(messenger, answered=5)
    stalled = sender(sessionmaker, messenger, in_flight=3)
    delivering = asyncio.create_task(stalled.deliver(plan.run.id))
    await until(lambda: len(messenger.calls) == 8, what="three requests out, unanswered")

    async def answered_written() -> bool:
        async with sessionmaker() as reading:
            return (await statuses(reading, plan.run.id))[DeliveryStatus.SENT] == 5

    await until(answered_written, what="the five answers written")
    # It never beat: to any other sender its claims are a stopped sender's.
    async with sessionmaker() as other:
        settled = await settle(other, of_stopped_senders(utcnow(), but="another"))
    assert (settled.unknown, settled.requeued) == (3, 12)

    messenger.before_answer = None
    other_sender = sender(sessionmaker, messenger)
    assert await other_sender.deliver(plan.run.id) is BatchResult.FINISHED
    released.set()  # the stalled sender wakes up: its answers arrive, its pool goes on
    assert await delivering is BatchResult.STOPPED  # the run was done meanwhile
    assert set(Counter(m.chat_id for m in messenger.calls).values()) == {1}  # nobody twice
    assert await statuses(session, plan.run.id) == {DeliveryStatus.SENT: 20}


async def test_pause_resume_and_cancel(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 40)
    messenger = FakeMessenger()
    released = hang_after(messenger, answered=10)
    the_sender = sender(sessionmaker, messenger, in_flight=2)
    campaign = await session.get(Campaign, plan.run.campaign_id)
    assert campaign is not None

    async def only_two_out() -> bool:
        """The sender read the run's new status: of what it claimed, only the two requests
        out are left sending."""
        async with sessionmaker() as reading:
            return (await statuses(reading, plan.run.id))[DeliveryStatus.SENDING] == 2

    delivering = asyncio.create_task(the_sender.deliver(plan.run.id))
    await until(lambda: len(messenger.calls) == 12, what="two requests out, unanswered")
    await pause(session, campaign=campaign, now=NOW)
    await until(only_two_out, what="the sender to put back what it had not sent")
    released.set()  # the two out are answered; nothing else went after the pause
    assert await delivering is BatchResult.STOPPED
    assert len(messenger.calls) == 12
    assert await statuses(session, plan.run.id) == {
        DeliveryStatus.SENT: 12,
        DeliveryStatus.QUEUED: 28,
    }

    await resume(session, campaign=campaign, now=NOW)
    released = hang_after(messenger, answered=20)
    delivering = asyncio.create_task(the_sender.deliver(plan.run.id))
    await until(lambda: len(messenger.calls) == 22, what="two more requests out")
    cancelled = await cancel(session, campaign=campaign, now=NOW)
    # All 28 were claimed, none is queued; 8 are sent, 2 are out, 18 wait in the sender.
    assert (cancelled.dropped, cancelled.under_way) == (0, 20)
    assert str(cancelled) == (
        "0 queued messages will not be sent; of 20 being sent, those already out may arrive,"
        " the rest not"
    )
    await until(only_two_out, what="the sender to let go of what it had not sent")
    released.set()
    assert await delivering is BatchResult.STOPPED
    final = await progress(session, run_id=plan.run.id)
    assert final.status is RunStatus.CANCELLED
    # Claimed when the run was cancelled, not yet on their way: cancelled, never sent.
    assert final.counts == {DeliveryStatus.SENT: 22, DeliveryStatus.CANCELLED: 18}
    assert len(messenger.calls) == 22


async def test_paid_mode_stops_when_the_stars_budget_is_spent(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 25)
    text = CAMPAIGN + "paid_broadcast: {stars_budget: 2}\n"
    with pytest.raises(PaidBroadcastsDisabledError, match="paid broadcasts are off"):
        await save_campaign(session, spec=parse_campaign(text), now=NOW)
    campaign = await save_campaign(
        session, spec=parse_campaign(text), now=NOW, paid_broadcasts=True
    )
    plan = await plan_run(session, campaign=campaign, now=NOW)
    messenger = FakeMessenger()
    settings = replace(SETTINGS, paid_broadcasts=True)
    paid_sender = Sender(sessionmaker, messenger, budget(1000, paid=1000), settings)

    assert await paid_sender.deliver(plan.run.id) is BatchResult.FINISHED

    assert Counter(message.paid for message in messenger.sent) == {True: 20, False: 5}
    run = await session.get(Run, plan.run.id, populate_existing=True)
    assert run is not None
    assert run.stars_spent == 2
    with pytest.raises(ValueError, match="paid lane"):
        Sender(sessionmaker, messenger, RateBudget(10), settings)


async def test_the_worker_restarts_after_a_crash_and_finishes_the_run(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 6)
    messenger = FakeMessenger()
    crashed = False

    async def crash_once(message: OutgoingMessage) -> None:
        nonlocal crashed
        if not crashed:
            crashed = True
            raise RuntimeError("the database went away")

    messenger.before_answer = crash_once
    worker = DeliveryWorker(
        sender(sessionmaker, messenger, rate=4), sessionmaker, idle_seconds=0.01, restart_seconds=0
    )

    # Until the run is closed, not only empty: from then on the worker only reads,
    # so stopping it cannot cut a write short and leave SQLite locked.
    async def closed() -> bool:
        now = await progress(session, run_id=plan.run.id)
        return not now.pending and now.status is not RunStatus.SENDING

    running = asyncio.create_task(worker.keep_running())
    try:
        await until(closed, within=20, every=0.02, what="the run to be sent out and closed")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert worker.crashes == 1
    counts = await statuses(session, plan.run.id)
    assert counts[DeliveryStatus.UNKNOWN] == 1  # the request the crash interrupted
    assert counts[DeliveryStatus.SENT] == 5  # the others, claimed too, went after the restart


async def test_a_worker_that_fails_while_stopping_still_stops(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Settling the claims in flight fails (the database locked): the stop goes on, and
    the worker does not start again as after a crash."""
    await planned(session, 3)
    messenger = FakeMessenger()
    failing = sender(sessionmaker, messenger, rate=4)
    closing = failing.close

    async def close() -> Settled:
        await closing()  # what was in flight is abandoned; then settling it fails
        raise RuntimeError("database is locked")

    failing.close = close  # type: ignore[method-assign]
    worker = DeliveryWorker(failing, sessionmaker, idle_seconds=0.01, restart_seconds=60)

    async def sending() -> bool:
        return bool(messenger.sent)

    running = asyncio.create_task(worker.keep_running())
    await until(sending, within=20, what="the worker to send")
    with caplog.at_level(logging.ERROR, logger="broadcasts.worker"):
        running.cancel()
        done, _ = await asyncio.wait({running}, timeout=20)

    assert done
    assert running.cancelled()
    assert worker.crashes == 0
    assert "the delivery worker failed while stopping" in caplog.text


async def claimed_by(
    session: AsyncSession, run_id: int, sender_id: str, *, attempted: int, claimed: int
) -> None:
    """Chats `attempted` (its request out) and `claimed` (not yet) are `sender_id`'s."""
    for chat, when in ((attempted, NOW), (claimed, None)):
        whose = select(Subscriber.id).where(Subscriber.chat_id == chat)
        await session.execute(
            update(Delivery)
            .where(Delivery.run_id == run_id, Delivery.subscriber_id.in_(whose))
            .values(
                status=DeliveryStatus.SENDING,
                claimed_at=NOW,
                claimed_by=sender_id,
                attempted_at=when,
            )
        )
    await session.commit()


async def test_a_sender_starting_settles_only_stopped_senders_claims_unless_alone(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 6)
    now = utcnow()
    session.add_all(
        [
            SenderBeat(id="alive", beat_at=now),
            SenderBeat(id="dead", beat_at=now - timedelta(seconds=31)),
        ]
    )
    await claimed_by(session, plan.run.id, "alive", attempted=1, claimed=2)
    await claimed_by(session, plan.run.id, "dead", attempted=3, claimed=4)
    messenger = FakeMessenger()
    worker = DeliveryWorker(sender(sessionmaker, messenger), sessionmaker, idle_seconds=0.01)

    async def others_sent() -> bool:
        async with sessionmaker() as reading:
            return (await statuses(reading, plan.run.id))[DeliveryStatus.SENT] == 3

    running = asyncio.create_task(worker.keep_running())
    try:
        await until(others_sent, what="the dead sender's unsent claim and the queue sent")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert sorted(m.chat_id for m in messenger.calls) == [4, 5, 6]
    by_chat = await status_by_chat(session, plan.run.id)
    assert by_chat[3] == (DeliveryStatus.UNKNOWN, "interrupted")
    assert by_chat[1] == by_chat[2] == (DeliveryStatus.SENDING, None)  # a live sender's
    # A sender alone (SQLite, --role all) settles every claim as it starts.
    assert await mark_interrupted_unknown(session) == 1
    by_chat = await status_by_chat(session, plan.run.id)
    assert (by_chat[1], by_chat[2]) == (
        (DeliveryStatus.UNKNOWN, "interrupted"),
        (DeliveryStatus.QUEUED, None),
    )


def test_faults_are_logged_at_most_once_a_second_each_kind_with_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    faults = FaultLog(logging.getLogger("broadcasts.test"), monotonic=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="broadcasts.test"):
        for number in range(1, 6):
            faults.note("timeouts", logging.WARNING, f"delivery {number}: no answer")
            now[0] += 0.1
        faults.note("429s", logging.WARNING, "429 for delivery 9")
        faults.flush()  # the second is not over yet
        now[0] = 1.2
        faults.flush()
        faults.note("timeouts", logging.WARNING, "delivery 7: no answer")  # held: 0.0 s later
        now[0] = 2.5
        faults.note("timeouts", logging.WARNING, "delivery 8: no answer")
    assert caplog.messages == [
        "delivery 1: no answer",
        "429 for delivery 9",
        "4 more timeouts in 1.2 s; the last: delivery 5: no answer",
        "delivery 8: no answer (1 more timeouts before it)",
    ]
