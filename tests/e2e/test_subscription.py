"""A subscriber's first steps, through the real bot over HTTP."""

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Event, Subscriber, SubscriberStatus
from telegram_emulator import Emulator

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_bot")]

WELCOME = "Welcome! You are subscribed. Send /stop at any time to unsubscribe."
WELCOME_BACK = "Welcome back! You are subscribed again. Send /stop to unsubscribe."
STOPPED = "You are unsubscribed and will get no more messages. Send /start to come back."

USER = 4242
MEMBERSHIP = ("subscribed", "unsubscribed", "start")


async def stored(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[Subscriber, list[str]]:
    async with sessionmaker() as session:
        subscriber = await session.scalar(select(Subscriber).where(Subscriber.telegram_id == USER))
        assert subscriber is not None
        kinds = await session.scalars(
            select(Event.type)
            .where(Event.subscriber_id == subscriber.id, Event.type.in_(MEMBERSHIP))
            .order_by(Event.id)
        )
        return subscriber, list(kinds)


async def test_start_with_a_source_then_stop_then_start_again(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    emulator.add_user(USER, first_name="Ann", username="ann", language_code="en")

    await emulator.send_text(USER, "/start promo_spring")
    welcome, _first_question = await emulator.wait_for_messages(USER, count=2)
    assert welcome.text == WELCOME
    subscriber, events = await stored(sessionmaker)
    assert subscriber.source == "promo_spring"
    assert (subscriber.first_name, subscriber.username) == ("Ann", "ann")
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert events == ["subscribed"]

    await emulator.send_text(USER, "/stop")
    replies = await emulator.wait_for_messages(USER, count=3)
    assert replies[-1].text == STOPPED
    subscriber, events = await stored(sessionmaker)
    assert subscriber.status is SubscriberStatus.UNSUBSCRIBED
    assert subscriber.unsubscribed_at is not None
    assert events == ["subscribed", "unsubscribed"]

    await emulator.send_text(USER, "/start")
    replies = await emulator.wait_for_messages(USER, count=4)
    assert replies[-1].text == WELCOME_BACK
    subscriber, events = await stored(sessionmaker)
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert subscriber.source == "promo_spring"  # first touch stays
    assert events == ["subscribed", "unsubscribed", "subscribed"]


async def test_a_malformed_payload_subscribes_without_a_source(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await emulator.send_text(USER, "/start <b>not a payload</b>")
    welcome, _first_question = await emulator.wait_for_messages(USER, count=2)
    assert welcome.text == WELCOME
    subscriber, _ = await stored(sessionmaker)
    assert subscriber.source is None


async def test_the_bot_asks_for_the_updates_it_handles(emulator: Emulator) -> None:
    await emulator.send_text(USER, "/start")
    await emulator.wait_for_messages(USER, count=1)
    polls = [request for request in emulator.requests if request.method == "getUpdates"]
    assert polls, "the bot never polled"
    assert "message_reaction" in str(polls[0].params.get("allowed_updates"))
