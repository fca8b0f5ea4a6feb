"""Broadcasts through the real bot and the emulator, with Telegram's flood limits on."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Campaign, Delivery, DeliveryStatus, RunStatus
from broadcasts.planner import plan_run
from broadcasts.runs import Progress, progress
from core.models import Subscriber, SubscriberStatus
from core.settings import Settings, load_settings
from segments.saved import save_segment
from telegram_emulator import Emulator
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.e2e.conftest import BOT_TOKEN, SECRET_KEY, free_port
from tests.polling import until

pytestmark = [pytest.mark.e2e]

# Faster than Telegram's 30/s so 2,000 messages take seconds, still under the emulator's.
EMULATOR_PER_SECOND = 200
RATE_LIMIT = 180
SEGMENTED = """
name: autumn
audience:
  - segment: spanish
    text: "Hola <b>{{ first_name }}</b>: https://shop.example/es"
  - segment: russian
    text: "Привет, {{ first_name }}"
default:
  text: "Hello {{ first_name }}"
  buttons: [{text: Shop, url: "https://shop.example/"}]
"""


@pytest.fixture
def bot_settings(database_url: str, emulator: Emulator) -> Settings:
    emulator.limits.global_per_second = EMULATOR_PER_SECOND
    port = free_port()
    return load_settings(
        bot_token=BOT_TOKEN,
        secret_key=SECRET_KEY,
        database_url=database_url,
        telegram_api_base=emulator.base_url,
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
        rate_limit=RATE_LIMIT,
    )


async def audience(
    session: AsyncSession, emulator: Emulator, *, spanish: int, russian: int, other: int
) -> None:
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    await save_segment(session, name="russian", rule_text="lang = ru", now=NOW)
    first = 1
    for language, count in (("es", spanish), ("ru", russian), ("en", other)):
        await add_subscribers(session, count, first_id=first, language=language)
        first += count
    for user_id in range(1, first):
        emulator.add_user(user_id, first_name=f"User{user_id}")


async def sent_out(sessionmaker: async_sessionmaker[AsyncSession], run_id: int) -> Progress:
    """Wait until the run has nothing queued or in flight and the sender has closed it
    (it marks the run and the campaign done in a transaction of its own, just after)."""
    seen: list[Progress] = []

    async def closed() -> bool:
        async with sessionmaker() as session:
            seen.append(now := await progress(session, run_id=run_id))
        return now.pending == 0 and now.status is not RunStatus.SENDING

    await until(closed, within=90, every=0.2, what=f"run {run_id} to be sent out and closed")
    return seen[-1]


async def test_a_segmented_campaign_reaches_everyone_once_with_their_variant(
    emulator: Emulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    running_bot: None,
) -> None:
    await audience(session, emulator, spanish=500, russian=700, other=800)
    emulator.user(1500).blocked = True  # blocked while the bot was not looking
    emulator.deactivate(1501)
    campaign = await campaign_from(session, SEGMENTED)
    plan = await plan_run(session, campaign=campaign, now=NOW)
    assert plan.queued == 2000

    done = await sent_out(sessionmaker, plan.run.id)
    assert done.counts == {DeliveryStatus.SENT: 1998, DeliveryStatus.BLOCKED: 2}
    received = Counter(r.params["chat_id"] for r in emulator.requests_for("sendMessage") if r.ok)
    assert set(received.values()) == {1}
    assert len(received) == 1998
    floods = [r for r in emulator.requests if r.status == 429]
    assert floods == []
    sends = [r.at for r in emulator.requests_for("sendMessage")]
    achieved = (len(sends) - 1) / (sends[-1] - sends[0])
    assert achieved >= 0.9 * RATE_LIMIT
    assert emulator.messages_to(7)[-1].plain_text.startswith("Hola User7: http://127.0.0.1:")
    assert emulator.messages_to(900)[-1].plain_text == "Привет, User900"
    english = emulator.messages_to(1900)[-1]
    assert english.plain_text == "Hello User1900"
    assert [text for text, _ in english.callback_buttons()] == ["Unsubscribe"]
    statuses = await session.execute(
        select(Subscriber.telegram_id, Subscriber.status)
        .where(Subscriber.telegram_id.in_([1500, 1501]))
        .execution_options(populate_existing=True)
    )
    assert dict(statuses.all()) == {
        1500: SubscriberStatus.BLOCKED,
        1501: SubscriberStatus.DEACTIVATED,
    }
    reloaded = await session.get(Campaign, campaign.id, populate_existing=True)
    assert reloaded is not None
    assert reloaded.status.value == "done"


async def test_a_429_storm_and_server_errors_end_in_final_states(
    emulator: Emulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    running_bot: None,
) -> None:
    await audience(session, emulator, spanish=50, russian=50, other=100)
    emulator.force_retry_after(1, n=10)
    emulator.fail_next(5, status=502, method="sendMessage")
    emulator.limits.error_rate = 0.05
    campaign = await campaign_from(session, SEGMENTED)
    plan = await plan_run(session, campaign=campaign, now=NOW)

    done = await sent_out(sessionmaker, plan.run.id)
    final = {DeliveryStatus.SENT, DeliveryStatus.FAILED}
    assert set(done.counts) <= final
    assert done.count(DeliveryStatus.SENT) >= 190
    received = Counter(r.params["chat_id"] for r in emulator.requests_for("sendMessage") if r.ok)
    assert set(received.values()) == {1}


def received_texts(emulator: Emulator, prefix: str) -> set[int]:
    """The chats that got a message starting with `prefix`."""
    return {
        message.chat_id
        for request in emulator.requests_for("sendMessage")
        if request.ok
        for message in emulator.messages_to(int(str(request.params["chat_id"])))
        if message.plain_text.startswith(prefix)
    }


async def test_holdout_frequency_cap_and_quiet_hours_are_honoured(
    emulator: Emulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    running_bot: None,
) -> None:
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    first = 1
    # Half in UTC, half at UTC+12: when it is night for one it is midday for the other.
    for language, zone, count in (
        ("es", "UTC", 20),
        ("es", "Etc/GMT-12", 20),
        ("en", "UTC", 30),
        ("en", "Etc/GMT-12", 30),
    ):
        await add_subscribers(session, count, first_id=first, language=language, timezone=zone)
        first += count
    for user_id in range(1, first):
        emulator.add_user(user_id, first_name=f"User{user_id}")
    now = datetime.now(UTC)  # the running bot's own clock decides what is due
    earlier = await campaign_from(
        session, "name: earlier\naudience: [{segment: spanish, text: Earlier}]\n"
    )
    await sent_out(sessionmaker, (await plan_run(session, campaign=earlier, now=now)).run.id)

    quiet_start = (now - timedelta(hours=1)).strftime("%H:00")
    quiet_end_at = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    later = await campaign_from(
        session,
        "name: later\ndefault: {text: Later}\nholdout: 20\n"
        f"quiet_hours: {{start: '{quiet_start}', end: '{quiet_end_at:%H:00}'}}\n",
    )
    plan = await plan_run(session, campaign=later, now=now)
    rows = await session.execute(
        select(Subscriber.chat_id, Subscriber.timezone, Delivery.status, Delivery.reason)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.run_id == plan.run.id)
    )
    planned = rows.all()
    holdout = {chat for chat, _, _, reason in planned if reason == "holdout"}
    capped = {chat for chat, _, _, reason in planned if reason == "capped"}
    to_send = {
        (chat, zone) for chat, zone, status, _ in planned if status is not DeliveryStatus.EXCLUDED
    }
    assert 5 <= len(holdout) <= 35
    assert capped == set(range(1, 41)) - holdout  # messaged by `earlier` within 24 h
    assert plan.postponed == sum(1 for _, zone in to_send if zone == "UTC")

    async def awake_sent() -> bool:
        async with sessionmaker() as reading:
            current = await progress(reading, run_id=plan.run.id)
        return current.count(DeliveryStatus.SENT) == plan.queued - plan.postponed

    await until(awake_sent, within=30, every=0.1, what="every delivery not postponed sent")
    awake = {chat for chat, zone in to_send if zone != "UTC"}
    assert received_texts(emulator, "Later") == awake
    assert received_texts(emulator, "Earlier") == set(range(1, 41))
    waiting = await session.scalars(
        select(Delivery.not_before).where(
            Delivery.run_id == plan.run.id, Delivery.status == DeliveryStatus.QUEUED
        )
    )
    assert set(waiting.all()) == {quiet_end_at}
