"""Broadcasts through the real bot and the emulator, with Telegram's flood limits on,
enforced exactly at the configured rate: every delivery ends final, nobody gets one twice,
and a hung answer costs its own message only."""

import asyncio
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from broadcasts.models import Campaign, Delivery, DeliveryStatus, RunStatus
from broadcasts.planner import plan_run
from broadcasts.runs import Progress, progress
from core.models import Subscriber, SubscriberStatus
from core.settings import Settings, load_settings
from segments.saved import save_segment
from telegram_emulator import Emulator, EmulatorClient
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.e2e.conftest import BOT_TOKEN, SECRET_KEY
from tests.emulator_process import emulator_process
from tests.polling import until
from tests.ports import free_port
from tests.stopping import stop

pytestmark = [pytest.mark.e2e]

# Faster than Telegram's 30/s so 2,000 messages take seconds; the emulator allows exactly it.
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
    emulator.limits.global_per_second = RATE_LIMIT
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


async def segmented_audience(
    session: AsyncSession, *, spanish: int, russian: int, other: int
) -> list[int]:
    """The subscribers (es, then ru, then en; chat ids from 1) and the two segments; the
    chat ids."""
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    await save_segment(session, name="russian", rule_text="lang = ru", now=NOW)
    first = 1
    for language, count in (("es", spanish), ("ru", russian), ("en", other)):
        await add_subscribers(session, count, first_id=first, language=language)
        first += count
    return list(range(1, first))


async def audience(
    session: AsyncSession, emulator: Emulator, *, spanish: int, russian: int, other: int
) -> None:
    chats = await segmented_audience(session, spanish=spanish, russian=russian, other=other)
    for user_id in chats:
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


SEND_TIMEOUT = 2.0  # SEGBOT_SEND_TIMEOUT for the test below
HOLD_SECONDS = 3.0  # answers the emulator holds back are later still


@pytest.fixture
async def standalone_emulator() -> AsyncIterator[tuple[str, EmulatorClient]]:
    """`python -m telegram_emulator` in a process of its own: its base URL and a client."""
    async with emulator_process() as started:
        yield started


async def test_everyone_gets_their_variant_once_while_one_answer_in_a_hundred_hangs(
    standalone_emulator: tuple[str, EmulatorClient],
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base_url, emulator = standalone_emulator
    chats = await segmented_audience(session, spanish=500, russian=700, other=800)
    for first in range(0, len(chats), 100):
        await asyncio.gather(
            *(emulator.add_user(chat, first_name=f"User{chat}") for chat in chats[first:][:100])
        )
    await emulator.deactivate(1500)  # deleted their account while the bot was not looking
    await emulator.deactivate(1501)
    # Exactly Telegram's kind of limit, at exactly the configured rate; one answer in a
    # hundred held back past the send timeout (the request itself is handled: delivered).
    await emulator.set_limits(
        global_per_second=RATE_LIMIT, hold_rate=0.01, hold_seconds=HOLD_SECONDS
    )
    campaign = await campaign_from(session, SEGMENTED)
    plan = await plan_run(session, campaign=campaign, now=NOW)
    assert plan.queued == 2000
    port = free_port()
    settings = load_settings(
        bot_token=BOT_TOKEN,
        secret_key=SECRET_KEY,
        database_url=database_url,
        telegram_api_base=base_url,
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
        rate_limit=RATE_LIMIT,
        send_timeout=SEND_TIMEOUT,
    )

    bot = asyncio.create_task(runtime.run(settings, handle_signals=False))
    try:
        with caplog.at_level(logging.INFO, logger="broadcasts"):
            done = await sent_out(sessionmaker, plan.run.id)
            # The sender logs the run's summary just after it closes the run.
            await until(lambda: " finished: " in caplog.text, what="the run's summary logged")
    finally:
        await stop(bot)

    sends = await emulator.requests("sendMessage")
    assert [r for r in sends if r["status"] == 429] == []
    received = Counter(_chat(r) for r in sends if r["ok"])
    assert set(received.values()) == {1}  # nobody twice
    by_chat = await statuses_by_chat(session, plan.run.id)
    unknown = {chat for chat, (status, _) in by_chat.items() if status is DeliveryStatus.UNKNOWN}
    sent = {chat for chat, (status, _) in by_chat.items() if status is DeliveryStatus.SENT}
    blocked = {chat for chat, (status, _) in by_chat.items() if status is DeliveryStatus.BLOCKED}
    # The deleted accounts end blocked, unless the answer saying so was one of those held
    # back: then nobody told the sender, and it is unknown like any other held answer.
    deleted = {1500, 1501}
    unanswered = deleted - blocked
    assert blocked <= deleted
    assert {by_chat[chat] for chat in blocked} <= {(DeliveryStatus.BLOCKED, "deactivated")}
    # Every delivery is final: the held answers ended unknown (their message did arrive,
    # and is never resent), the 99% around them were all sent.
    assert set(done.counts) == {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN} | (
        {DeliveryStatus.BLOCKED} if blocked else set()
    )
    assert {by_chat[chat][1] for chat in unknown} == {"timeout"}
    assert 0 < len(unknown) <= 60
    assert unknown - unanswered <= set(received)
    assert sent == set(received) - unknown
    assert len(sent) + len(unknown) + len(blocked) == 2000
    [hola] = await emulator.messages_to(7)
    assert str(hola["plain_text"]).startswith("Hola User7: http://127.0.0.1:")
    [privet] = await emulator.messages_to(900)
    assert privet["plain_text"] == "Привет, User900"
    [hello] = await emulator.messages_to(1900)
    assert hello["plain_text"] == "Hello User1900"
    people = await session.execute(
        select(Subscriber.telegram_id, Subscriber.status)
        .where(Subscriber.telegram_id.in_([1500, 1501]))
        .execution_options(populate_existing=True)
    )
    assert dict(people.all()) == {
        chat: SubscriberStatus.ACTIVE if chat in unanswered else SubscriberStatus.DEACTIVATED
        for chat in deleted
    }
    reloaded = await session.get(Campaign, campaign.id, populate_existing=True)
    assert reloaded is not None
    assert reloaded.status.value == "done"
    # The log says what happened, ids only, bursts summarised.
    assert f"no answer within {SEND_TIMEOUT:g} s: unknown" in caplog.text
    finished = f"run {plan.run.id} finished: {len(sent)} sent, {len(blocked)} blocked, 0 failed"
    assert finished in caplog.text


def _chat(request: object) -> int:
    assert isinstance(request, dict)
    params = request["params"]
    assert isinstance(params, dict)
    return int(str(params["chat_id"]))


async def statuses_by_chat(
    session: AsyncSession, run_id: int
) -> dict[int, tuple[DeliveryStatus, str | None]]:
    rows = await session.execute(
        select(Subscriber.chat_id, Delivery.status, Delivery.reason)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.run_id == run_id)
        .execution_options(populate_existing=True)
    )
    return {chat: (status, reason) for chat, status, reason in rows.all()}


async def test_a_429_storm_and_server_errors_end_in_final_states(
    emulator: Emulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    running_bot: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await audience(session, emulator, spanish=50, russian=50, other=100)
    emulator.user(150).blocked = True  # blocked while the bot was not looking
    emulator.force_retry_after(1, n=10)
    emulator.fail_next(5, status=502, method="sendMessage")
    emulator.limits.error_rate = 0.05
    campaign = await campaign_from(session, SEGMENTED)
    plan = await plan_run(session, campaign=campaign, now=NOW)

    with caplog.at_level(logging.INFO, logger="broadcasts"):
        done = await sent_out(sessionmaker, plan.run.id)
        # The sender logs the run's summary just after it closes the run.
        await until(lambda: " finished: " in caplog.text, what="the run's summary logged")
    final = {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BLOCKED}
    assert set(done.counts) <= final
    assert done.count(DeliveryStatus.BLOCKED) == 1
    assert done.count(DeliveryStatus.SENT) >= 190
    received = Counter(r.params["chat_id"] for r in emulator.requests_for("sendMessage") if r.ok)
    assert set(received.values()) == {1}
    # Ten 429s, each in the log with its retry_after (those within a second of another
    # counted in a summary line).
    floods = [line for line in caplog.messages if line.startswith("429 for delivery")]
    assert floods[0].endswith("every send paused for 1 s (retry_after)")
    summarised = re.findall(r"(\d+) more 429s", caplog.text)
    assert len(floods) + sum(map(int, summarised)) == 10
    assert f"run {plan.run.id} finished: {done.count(DeliveryStatus.SENT)} sent, 1 blocked" in (
        caplog.text
    )


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
