"""Unknown deliveries listed with who and why, and resent only on request: back in the
queue as never tried, the run reopened, nobody who left or clicked messaged, refusals."""

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.messenger import Unknown
from broadcasts.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.pacing import RateBudget
from broadcasts.planner import Plan, plan_run
from broadcasts.runs import cancel, mark_interrupted_unknown, pause
from broadcasts.sender import BatchResult, Sender, SenderSettings
from broadcasts.unknowns import (
    CSV_COLUMNS,
    NoSuchRunError,
    ResendChangedError,
    ResendRefusedError,
    resend_unknown,
    summarize,
    unknown_counts,
    unknowns,
    unknowns_csv,
)
from core.models import Event, EventType, Subscriber, SubscriberStatus
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.broadcasts.fake_messenger import FakeMessenger

CAMPAIGN = "name: sale\ndefault:\n  text: 'Hi {{ first_name }}, see https://shop.example/sale'\n"
LATER = NOW + timedelta(hours=1)


def sender(sessionmaker: async_sessionmaker[AsyncSession], messenger: FakeMessenger) -> Sender:
    settings = SenderSettings(public_url="http://bot.test", secret="s", backoff_seconds=0.001)
    return Sender(sessionmaker, messenger, RateBudget(1000, chat_spacing=0), settings)


async def delivery_of(session: AsyncSession, run_id: int, chat_id: int) -> Delivery:
    delivery = await session.scalar(
        select(Delivery)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.run_id == run_id, Subscriber.chat_id == chat_id)
        .execution_options(populate_existing=True)
    )
    assert delivery is not None
    return delivery


async def with_unknowns(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    messenger: FakeMessenger,
    *,
    text: str = CAMPAIGN,
    people: int = 6,
) -> Plan:
    """A finished run to `people` subscribers (chats 1..N): chats 2 and 3 got no answer
    (`no_answer`), chat 6 was claimed by a sender that died (`interrupted`)."""
    await add_subscribers(session, people, first_id=1)
    campaign = await campaign_from(session, text)
    plan = await plan_run(session, campaign=campaign, now=NOW)
    abandoned = await delivery_of(session, plan.run.id, 6)
    abandoned.status, abandoned.claimed_at = DeliveryStatus.SENDING, NOW
    abandoned.claimed_by, abandoned.attempted_at = "a-sender-that-died", NOW
    await session.commit()
    messenger.script = {2: [Unknown("timeout")], 3: [Unknown("timeout")]}
    the_sender = sender(sessionmaker, messenger)
    assert await the_sender.deliver(plan.run.id) is BatchResult.WAITING  # chat 6 is claimed
    assert await mark_interrupted_unknown(session) == 1
    assert await the_sender.deliver(plan.run.id) is BatchResult.FINISHED
    return plan


async def status_of(session: AsyncSession, plan: Plan) -> tuple[RunStatus, CampaignStatus]:
    run = await session.get(Run, plan.run.id, populate_existing=True)
    campaign = await session.get(Campaign, plan.run.campaign_id, populate_existing=True)
    assert run is not None
    assert campaign is not None
    return run.status, campaign.status


async def test_unknowns_are_listed_with_who_they_are_and_why(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await with_unknowns(session, sessionmaker, FakeMessenger())
    await session.execute(
        update(Subscriber)
        .where(Subscriber.chat_id == 2)
        .values(username="ana", last_name="Ruiz", phone="+34600111222", email="a@example.com")
    )
    await session.execute(
        update(Subscriber).where(Subscriber.chat_id == 3).values(first_name="=HYPERLINK(1)")
    )
    await session.commit()

    assert await unknown_counts(session, run_id=plan.run.id) == {"no_answer": 2, "interrupted": 1}
    found = await unknowns(session, run_id=plan.run.id)
    assert (found.campaign_name, found.run_status, found.complete) == ("sale", RunStatus.DONE, True)
    assert found.summary.by_reason == {"no_answer": 2, "interrupted": 1}
    assert (found.summary.total, found.summary.resendable, found.summary.skipped) == (3, 3, {})
    listed = [(d.telegram_id, d.reason) for d in found.deliveries]
    assert listed[0] == (6, "interrupted")  # claimed first, by the sender that died
    assert sorted(listed[1:]) == [(2, "no_answer"), (3, "no_answer")]
    (ana,) = [d for d in found.deliveries if d.telegram_id == 2]
    assert ana.name == "@ana User2 Ruiz"
    assert (ana.target, ana.variant, ana.subscriber_status) == ("default", "a", "active")
    assert ana.claimed_at is not None
    assert ana.skip is None
    first = await unknowns(session, run_id=plan.run.id, limit=1)
    assert len(first.deliveries) == 1
    assert not first.complete

    text = unknowns_csv(found.deliveries)
    assert "+34600111222" not in text
    assert "a@example.com" not in text
    rows = {row["telegram_id"]: row for row in csv.DictReader(io.StringIO(text))}
    assert tuple(rows["2"]) == CSV_COLUMNS
    assert sorted(rows) == ["2", "3", "6"]
    assert (rows["2"]["username"], rows["2"]["resend"]) == ("ana", "yes")
    assert rows["3"]["first_name"] == "'=HYPERLINK(1)"  # no formula in a spreadsheet


async def test_a_run_without_unknowns_lists_none(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 2)
    plan = await plan_run(session, campaign=await campaign_from(session, CAMPAIGN), now=NOW)
    assert await unknown_counts(session, run_id=plan.run.id) == {}
    found = await unknowns(session, run_id=plan.run.id)
    assert (found.summary.total, found.deliveries) == (0, [])
    with pytest.raises(NoSuchRunError, match=f"no run {plan.run.id + 1}"):
        await unknowns(session, run_id=plan.run.id + 1)


async def test_resend_queues_them_as_never_tried_and_reopens_the_run(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    messenger = FakeMessenger()
    plan = await with_unknowns(session, sessionmaker, messenger)
    assert await status_of(session, plan) == (RunStatus.DONE, CampaignStatus.DONE)
    tried = await delivery_of(session, plan.run.id, 2)
    assert (tried.claimed_by, tried.attempted_at) != (None, None)  # what a resend clears
    first_round = len(messenger.calls)

    resent = await resend_unknown(session, run_id=plan.run.id, now=LATER, expected=3)
    assert (resent.requeued, resent.skipped, resent.reopened) == (3, {}, True)
    assert resent.run_status is RunStatus.SENDING
    assert await status_of(session, plan) == (RunStatus.SENDING, CampaignStatus.RUNNING)
    run = await session.get(Run, plan.run.id)
    assert run is not None
    assert run.finished_at is None
    for chat in (2, 3, 6):
        delivery = await delivery_of(session, plan.run.id, chat)
        assert delivery.status is DeliveryStatus.QUEUED
        assert (delivery.claimed_by, delivery.attempted_at) == (None, None)
        assert (delivery.reason, delivery.claimed_at, delivery.sent_at) == (None, None, None)
        assert (delivery.message_id, delivery.attempts, delivery.not_before) == (None, 0, None)

    assert await sender(sessionmaker, messenger).deliver(plan.run.id) is BatchResult.FINISHED
    again = sorted(m.chat_id for m in messenger.calls[first_round:])
    assert again == [2, 3, 6]  # only the unknowns, each once
    assert await status_of(session, plan) == (RunStatus.DONE, CampaignStatus.DONE)
    assert await unknown_counts(session, run_id=plan.run.id) == {}
    with pytest.raises(ResendRefusedError, match="has no unknown deliveries"):
        await resend_unknown(session, run_id=plan.run.id, now=LATER)


async def test_who_left_or_clicked_is_skipped_and_never_messaged(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    messenger = FakeMessenger()
    plan = await with_unknowns(session, sessionmaker, messenger, people=8)
    # Chats 4 and 5 go unknown too; then 2 blocks the bot, 3 unsubscribes, 4 is deleted.
    await session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id.in_(select(Subscriber.id).where(Subscriber.chat_id < 6)))
        .where(Delivery.status == DeliveryStatus.SENT)
        .values(status=DeliveryStatus.UNKNOWN, reason="no_answer")
    )
    for chat, status in (
        (2, SubscriberStatus.BLOCKED),
        (3, SubscriberStatus.UNSUBSCRIBED),
        (4, SubscriberStatus.DEACTIVATED),
    ):
        await session.execute(
            update(Subscriber).where(Subscriber.chat_id == chat).values(status=status)
        )
    clicked = await delivery_of(session, plan.run.id, 5)  # followed the message's link
    session.add(
        Event(
            subscriber_id=clicked.subscriber_id, type=EventType.LINK_CLICK.value,
            occurred_at=NOW, delivery_id=clicked.id, payload={},
        )
    )  # fmt: skip
    await session.commit()

    summary = await summarize(session, run_id=plan.run.id)
    assert summary.total == 6  # chats 1-6
    assert summary.skipped == {"blocked": 1, "unsubscribed": 1, "deactivated": 1, "clicked": 1}
    assert summary.resendable == 2  # chats 1 and 6
    listed = {
        d.telegram_id: d.skip for d in (await unknowns(session, run_id=plan.run.id)).deliveries
    }
    assert listed == {
        1: None,
        2: "blocked",
        3: "unsubscribed",
        4: "deactivated",
        5: "clicked",
        6: None,
    }
    clicks = {
        d.telegram_id: d.clicked_at
        for d in (await unknowns(session, run_id=plan.run.id)).deliveries
    }
    assert clicks[5] == NOW

    first_round = len(messenger.calls)
    resent = await resend_unknown(session, run_id=plan.run.id, now=LATER)
    assert resent.requeued == 2
    assert resent.skipped == summary.skipped
    await sender(sessionmaker, messenger).deliver(plan.run.id)
    assert sorted(m.chat_id for m in messenger.calls[first_round:]) == [1, 6]
    assert await summarize(session, run_id=plan.run.id) == type(summary)(
        plan.run.id, {"no_answer": 4}, summary.skipped
    )
    with pytest.raises(
        ResendRefusedError, match=r"none of run \d+.s 4 unknown deliveries can be resent"
    ):
        await resend_unknown(session, run_id=plan.run.id, now=LATER)


async def test_refused_for_no_run_an_older_run_a_cancelled_run_and_a_changed_count(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await with_unknowns(session, sessionmaker, FakeMessenger())
    run_id, campaign_id = plan.run.id, plan.run.campaign_id  # a refusal rolls back: expired
    with pytest.raises(NoSuchRunError, match=f"no run {run_id + 1000}"):
        await resend_unknown(session, run_id=run_id + 1000, now=LATER)
    changed = "now has 3 unknown deliveries to resend, not the 2 confirmed"
    with pytest.raises(ResendChangedError, match=changed):
        await resend_unknown(session, run_id=run_id, now=LATER, expected=2)

    campaign = await session.get(Campaign, campaign_id)
    assert campaign is not None
    campaign.status = CampaignStatus.SCHEDULED  # as a recurring campaign's would be
    await session.commit()
    newer = (await plan_run(session, campaign=campaign, now=LATER)).run.id
    older = f"run {run_id} is not the latest run of 'sale' \\(run {newer} is\\)"
    with pytest.raises(ResendRefusedError, match=older):
        await resend_unknown(session, run_id=run_id, now=LATER)

    campaign = await session.get(Campaign, campaign_id)
    assert campaign is not None
    await cancel(session, campaign=campaign, now=LATER)
    await session.execute(
        update(Delivery)
        .where(Delivery.run_id == newer)
        .values(status=DeliveryStatus.UNKNOWN, reason="interrupted")
    )
    await session.commit()
    with pytest.raises(ResendRefusedError, match="of 'sale' was cancelled"):
        await resend_unknown(session, run_id=newer, now=LATER)
    assert await unknown_counts(session, run_id=newer) == {"interrupted": 6}  # still unknown


async def test_a_paused_run_keeps_them_queued_until_it_resumes(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 3)
    campaign = await campaign_from(session, CAMPAIGN)
    plan = await plan_run(session, campaign=campaign, now=NOW)
    await session.execute(
        update(Delivery)
        .where(Delivery.run_id == plan.run.id)
        .values(status=DeliveryStatus.UNKNOWN, reason="no_answer", claimed_at=NOW)
    )
    await session.commit()
    await pause(session, campaign=campaign, now=NOW)
    resent = await resend_unknown(session, run_id=plan.run.id, now=LATER)
    assert (resent.requeued, resent.reopened, resent.run_status) == (3, False, RunStatus.PAUSED)
    assert await status_of(session, plan) == (RunStatus.PAUSED, CampaignStatus.PAUSED)


async def test_quiet_hours_hold_on_each_subscribers_clock(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 1, first_id=1, timezone="Asia/Tokyo")  # 21:00 at NOW
    await add_subscribers(session, 1, first_id=2, timezone="Europe/London")  # 12:00
    await add_subscribers(session, 1, first_id=3)  # the campaign's timezone, UTC: 12:00
    quiet = CAMPAIGN + 'quiet_hours: {start: "20:00", end: "09:00"}\n'
    plan = await plan_run(session, campaign=await campaign_from(session, quiet), now=NOW)
    await session.execute(
        update(Delivery)
        .where(Delivery.run_id == plan.run.id)
        .values(status=DeliveryStatus.UNKNOWN, reason="no_answer", claimed_at=NOW)
    )
    await session.commit()
    assert (await resend_unknown(session, run_id=plan.run.id, now=NOW)).requeued == 3
    tokyo = await delivery_of(session, plan.run.id, 1)
    assert tokyo.not_before == datetime(2026, 11, 3, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert (await delivery_of(session, plan.run.id, 2)).not_before is None
    assert (await delivery_of(session, plan.run.id, 3)).not_before is None


async def test_a_finished_run_left_with_queued_deliveries_is_reopened(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A resend that met the sender finishing the run leaves it done with deliveries
    queued; resending again sends them."""
    await add_subscribers(session, 2)
    plan = await plan_run(session, campaign=await campaign_from(session, CAMPAIGN), now=NOW)
    await session.execute(update(Run).where(Run.id == plan.run.id).values(status=RunStatus.DONE))
    await session.commit()
    resent = await resend_unknown(session, run_id=plan.run.id, now=LATER)
    assert (resent.requeued, resent.reopened, resent.run_status) == (0, True, RunStatus.SENDING)


async def test_two_resends_at_once_queue_each_delivery_once(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plan = await with_unknowns(session, sessionmaker, FakeMessenger())

    async def resend() -> int | str:
        async with sessionmaker() as own:
            try:
                return (await resend_unknown(own, run_id=plan.run.id, now=LATER)).requeued
            except ResendRefusedError as error:
                return str(error)

    outcomes = await asyncio.gather(resend(), resend())
    assert sorted(outcomes, key=str) == [3, f"run {plan.run.id} has no unknown deliveries"]
