"""The sender against a scripted messenger: exactly once, every answer handled."""

import asyncio
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.campaigns import PaidBroadcastsDisabledError, save_campaign
from broadcasts.links import read_token
from broadcasts.messenger import (
    Blocked,
    ChatNotFound,
    OutgoingMessage,
    RetryAfter,
    TransientError,
    Unknown,
)
from broadcasts.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.pacing import RateBudget
from broadcasts.planner import Plan, plan_run
from broadcasts.runs import cancel, mark_interrupted_unknown, pause, progress, resume
from broadcasts.sender import BatchResult, Sender, SenderSettings
from broadcasts.spec import parse_campaign
from broadcasts.worker import DeliveryWorker
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


def sender(
    sessionmaker: async_sessionmaker[AsyncSession], messenger: FakeMessenger, rate: float = 1000
) -> Sender:
    settings = SenderSettings(
        public_url=PUBLIC_URL, secret=SECRET, backoff_seconds=0.001, batch_seconds=0.25
    )
    return Sender(sessionmaker, messenger, RateBudget(rate, chat_spacing=0), settings)


async def planned(session: AsyncSession, subscribers: int, text: str = CAMPAIGN) -> Plan:
    await add_subscribers(session, subscribers, first_id=1)
    campaign = await campaign_from(session, text)
    return await plan_run(session, campaign=campaign, now=NOW)


async def statuses(session: AsyncSession, run_id: int) -> Counter[DeliveryStatus]:
    progress_now = await progress(session, run_id=run_id)
    return Counter(progress_now.counts)


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


async def test_a_delivery_is_committed_as_sending_before_the_call(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 5)
    messenger = FakeMessenger()
    seen: list[DeliveryStatus] = []

    async def look(message: OutgoingMessage) -> None:
        async with sessionmaker() as other:  # another connection sees only what is committed
            status = await other.scalar(
                select(Delivery.status)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Subscriber.chat_id == message.chat_id)
            )
        assert status is not None
        seen.append(status)

    messenger.before_answer = look
    await sender(sessionmaker, messenger).deliver(plan.run.id)
    assert seen == [DeliveryStatus.SENDING] * 5


async def test_every_answer_ends_in_a_final_state(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 8)
    messenger = FakeMessenger()
    messenger.script = {
        1: [Blocked()],
        2: [Blocked(deactivated=True)],
        3: [ChatNotFound()],
        4: [Unknown("timeout")],
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


async def test_after_a_crash_claimed_rows_are_unknown_and_queued_ones_resume(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 20)
    messenger = FakeMessenger()

    class CrashError(Exception):
        pass

    async def crash(message: OutgoingMessage) -> None:
        if len(messenger.calls) == 7:
            raise CrashError

    messenger.before_answer = crash
    first = Sender(
        sessionmaker,
        messenger,
        RateBudget(20, chat_spacing=0),  # one claim covers 5 deliveries
        SenderSettings(public_url=PUBLIC_URL, secret=SECRET, batch_seconds=0.25),
    )
    with pytest.raises(CrashError):
        await first.deliver(plan.run.id)
    async with sessionmaker() as restarted:
        assert await mark_interrupted_unknown(restarted) == 5
    messenger.before_answer = None
    await sender(sessionmaker, messenger).deliver(plan.run.id)
    counts = await statuses(session, plan.run.id)
    assert counts == {DeliveryStatus.SENT: 15, DeliveryStatus.UNKNOWN: 5}
    chats = Counter(message.chat_id for message in messenger.sent)
    assert set(chats.values()) == {1}  # nobody twice


async def test_pause_resume_and_cancel(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await planned(session, 40)
    messenger = FakeMessenger()
    the_sender = Sender(
        sessionmaker,
        messenger,
        RateBudget(40, chat_spacing=0),  # 10 a batch
        SenderSettings(public_url=PUBLIC_URL, secret=SECRET, batch_seconds=0.25),
    )
    campaign = await session.get(Campaign, plan.run.campaign_id)
    assert campaign is not None
    assert await the_sender.send_batch(plan.run.id) is BatchResult.SENT
    await pause(session, campaign=campaign, now=NOW)
    assert await the_sender.deliver(plan.run.id) is BatchResult.STOPPED
    assert len(messenger.sent) == 10
    await resume(session, campaign=campaign, now=NOW)
    assert await the_sender.send_batch(plan.run.id) is BatchResult.SENT
    assert await cancel(session, campaign=campaign, now=NOW) == 20
    assert await the_sender.deliver(plan.run.id) is BatchResult.STOPPED
    assert len(messenger.sent) == 20
    final = await progress(session, run_id=plan.run.id)
    assert final.status is RunStatus.CANCELLED
    assert final.counts == {DeliveryStatus.SENT: 20, DeliveryStatus.CANCELLED: 20}


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
    settings = SenderSettings(public_url=PUBLIC_URL, secret=SECRET, paid_broadcasts=True)
    budget = RateBudget(1000, paid_per_second=1000, chat_spacing=0)
    paid_sender = Sender(sessionmaker, messenger, budget, settings)

    assert await paid_sender.deliver(plan.run.id) is BatchResult.FINISHED

    assert [message.paid for message in messenger.sent] == [True] * 20 + [False] * 5
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
    assert counts[DeliveryStatus.UNKNOWN] == 1  # the batch the crash interrupted
    assert counts[DeliveryStatus.SENT] == 5
