"""Journeys through the real bot, over HTTP through the emulator, on a clock the test moves:
a welcome series that branches on a click, a segment entered by a button press starting a
journey, a CRM purchase converting, /stop ending every journey, quiet hours and the shared
frequency cap holding a message back."""

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from bot import runtime
from broadcasts.planner import plan_run
from cli.app import app as cli_app
from core.models import Subscriber
from core.settings import Settings
from journeys.models import Enrolment, ExitReason
from journeys.spec import parse_journey
from journeys.store import CLI_ACTOR, save_journey
from segments.membership import refresh_memberships
from segments.saved import save_segment
from telegram_emulator import Emulator, SentMessage
from tests.broadcasts.audience import campaign_from
from tests.cli.conftest import invoke
from tests.e2e.conftest import SETTLES_WITHIN
from tests.journeys.harness import FakeClock
from tests.journeys.test_welcome_series import WELCOME
from tests.polling import until
from tests.stopping import stop

pytestmark = pytest.mark.e2e

ANA, BOB = 7101, 7102
BROWSER = "Mozilla/5.0 (Android 14; Mobile) Firefox/130.0"
START = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def bot_on_clock(
    bot_settings: Settings, clock: FakeClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[None]:
    """`segbot run` in this process, on the test's clock."""
    task = asyncio.create_task(runtime.run(bot_settings, handle_signals=False, clock=clock))
    yield
    if task.done():
        task.result()
    await stop(task)


async def saved(
    sessionmaker: async_sessionmaker[AsyncSession], text: str, clock: FakeClock
) -> None:
    async with sessionmaker() as session:
        await save_journey(
            session, spec=parse_journey(text), source=text, now=clock(), actor=CLI_ACTOR
        )


def texts(emulator: Emulator, user: int) -> list[str]:
    return [message.text or "" for message in emulator.messages_to(user)]


async def message_with(emulator: Emulator, user: int, words: str) -> SentMessage:
    await until(
        lambda: any(words in text for text in texts(emulator, user)),
        within=SETTLES_WITHIN * 3,
        what=f"a message with {words!r} to {user}",
    )
    return next(m for m in emulator.messages_to(user) if words in (m.text or ""))


async def subscriber_id(sessionmaker: async_sessionmaker[AsyncSession], user: int) -> int:
    async with sessionmaker() as session:
        found = await session.scalar(select(Subscriber.id).where(Subscriber.telegram_id == user))
    assert found is not None
    return found


async def ended(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str | None]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(Enrolment.exit_reason))).all())


@pytest.mark.usefixtures("bot_on_clock")
async def test_a_welcome_series_sends_each_person_the_right_messages_at_the_right_times(
    emulator: Emulator, clock: FakeClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await saved(sessionmaker, WELCOME, clock)
    for user in (ANA, BOB):
        emulator.add_user(user, first_name=f"User{user}")
        await emulator.send_text(user, "/start")
    hello = await message_with(emulator, ANA, "Hello User7101")
    await message_with(emulator, BOB, "Hello User7102")

    link = re.search(r"http://\S+/r/[A-Za-z0-9_-]+", hello.text or "")
    assert link is not None
    clock.advance(hours=2)
    async with (
        aiohttp.ClientSession() as http,
        http.get(link.group(0), allow_redirects=False, headers={"User-Agent": BROWSER}) as click,
    ):
        assert click.status == 302
    await message_with(emulator, ANA, "Glad you liked it")  # at once, not after a day

    clock.advance(hours=21)
    await asyncio.sleep(2)  # a few of the runner's rounds: nothing is due for Bob yet
    assert not any("Did you see" in text for text in texts(emulator, BOB))

    clock.advance(hours=1, minutes=1)
    await message_with(emulator, BOB, "Did you see our new things?")
    assert not any("Did you see" in text for text in texts(emulator, ANA))
    assert not any("Glad" in text for text in texts(emulator, BOB))

    async def both_completed() -> bool:
        return await ended(sessionmaker) == [ExitReason.COMPLETED] * 2

    await until(both_completed, what="both enrolments completed")


TALK = """
name: talk
trigger: {entered_segment: talkers}
steps:
  - id: thanks
    send: {text: "Thanks for writing to us"}
"""


@pytest.mark.usefixtures("bot_on_clock")
async def test_a_message_that_puts_someone_in_a_segment_starts_its_journey(
    emulator: Emulator, clock: FakeClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    emulator.add_user(ANA, first_name="Ana")
    await emulator.send_text(ANA, "/start")
    await emulator.wait_for_messages(ANA, count=2)
    async with sessionmaker() as session:
        await save_segment(session, name="talkers", rule_text="replied", now=clock())
    await refresh_memberships(sessionmaker, now=clock(), names=["talkers"])  # Ana: not yet
    await saved(sessionmaker, TALK, clock)

    await emulator.send_text(ANA, "hi, is the shop open on Sunday?")
    await message_with(emulator, ANA, "Thanks for writing to us")
    async with sessionmaker() as session:
        (enrolment,) = (await session.scalars(select(Enrolment))).all()
    assert enrolment.trigger_key.startswith("event:")


BUYERS = """
name: buyers
trigger: subscribed
goal: purchased
steps:
  - id: hello
    send: {text: "Welcome: 10% off your first order"}
  - id: later
    wait: 3d
  - id: reminder
    send: {text: "Your 10% ends tomorrow"}
"""


@pytest.mark.usefixtures("bot_on_clock")
async def test_a_purchase_from_a_crm_import_ends_the_journey_as_converted(
    emulator: Emulator,
    clock: FakeClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    runner: CliRunner,
    tmp_path: Path,
) -> None:
    await saved(sessionmaker, BUYERS, clock)
    emulator.add_user(ANA, first_name="Ana")
    await emulator.send_text(ANA, "/start")
    await message_with(emulator, ANA, "Welcome: 10% off")
    async with sessionmaker() as session:
        ana = await session.get(Subscriber, await subscriber_id(sessionmaker, ANA))
        assert ana is not None
        ana.phone = "+34600000001"
        await session.commit()

    clock.advance(hours=5)
    (tmp_path / "customers.csv").write_text("customer_id,name,phone\nc1,Ana,+34600000001\n")
    (tmp_path / "orders.csv").write_text(
        "order_id,customer_id,date,amount\no1,c1,2026-11-02T16:00:00+00:00,40\n"
    )
    imported = await invoke(
        runner, cli_app, "crm", "import", "--customers", str(tmp_path / "customers.csv"),
        "--orders", str(tmp_path / "orders.csv"),
    )  # fmt: skip
    assert imported.exit_code == 0, imported.output

    async def converted() -> bool:
        return await ended(sessionmaker) == [ExitReason.GOAL]

    await until(converted, within=SETTLES_WITHIN * 3, what="the enrolment converted")
    clock.advance(days=3, hours=1)
    await asyncio.sleep(2)  # the runner's rounds: the reminder is no longer anyone's
    assert not any("ends tomorrow" in text for text in texts(emulator, ANA))


LATER = ("Did you see", "Another tip")  # what the two journeys send a day on
SECOND = """
name: tips
trigger: subscribed
steps:
  - id: tip
    send: {text: "Tip: reply with any question"}
  - id: pause
    wait: 1d
  - id: more
    send: {text: "Another tip"}
"""


@pytest.mark.usefixtures("bot_on_clock")
async def test_stop_ends_every_journey(
    emulator: Emulator, clock: FakeClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await saved(sessionmaker, WELCOME, clock)
    await saved(sessionmaker, SECOND, clock)
    emulator.add_user(ANA, first_name="Ana")
    await emulator.send_text(ANA, "/start")
    await message_with(emulator, ANA, "Hello Ana")
    await message_with(emulator, ANA, "Tip: reply")

    await emulator.send_text(ANA, "/stop")

    async def both_ended() -> bool:
        return sorted(map(str, await ended(sessionmaker))) == ["unsubscribed", "unsubscribed"]

    await until(both_ended, within=SETTLES_WITHIN * 3, what="both journeys ended by /stop")
    clock.advance(days=2)
    await asyncio.sleep(2)  # the runner's rounds: their later steps are nobody's now
    assert not any(words in text for text in texts(emulator, ANA) for words in LATER)


ANSWER = """
name: answer
trigger: replied
quiet_hours: {start: "22:00", end: "08:00"}
frequency_cap: {messages: 1, hours: 24}
steps:
  - id: reply
    send: {text: "We read every message"}
"""


@pytest.mark.usefixtures("bot_on_clock")
async def test_quiet_hours_and_the_shared_frequency_cap_hold_a_journey_message_back(
    emulator: Emulator, clock: FakeClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    clock.now = START.replace(hour=20)
    emulator.add_user(ANA, first_name="Ana")
    await emulator.send_text(ANA, "/start")
    await emulator.wait_for_messages(ANA, count=2)
    async with sessionmaker() as session:
        promo = await campaign_from(session, "name: promo\ndefault: {text: Big sale tonight}\n")
        await plan_run(session, campaign=promo, now=clock())
    await message_with(emulator, ANA, "Big sale tonight")  # a broadcast, at 20:00
    await saved(sessionmaker, ANSWER, clock)

    clock.now = START.replace(hour=23)  # quiet hours
    await emulator.send_text(ANA, "when does the sale end?")
    clock.advance(hours=9, minutes=30)  # 08:30: quiet hours over, but 1 message in 24 h
    await asyncio.sleep(2)
    assert not any("We read" in text for text in texts(emulator, ANA))

    clock.now = START.replace(day=3, hour=20, minute=5)  # 24 h after the broadcast
    await message_with(emulator, ANA, "We read every message")


VERSION_1 = """
name: series
trigger: subscribed
steps:
  - id: hello
    send: {text: "Hello (first version)"}
  - id: pause
    wait: 1d
  - id: bye
    send: {text: "Bye (first version)"}
"""


@pytest.mark.usefixtures("bot_on_clock")
async def test_a_live_edit_keeps_the_people_inside_on_their_version(
    emulator: Emulator, clock: FakeClock, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await saved(sessionmaker, VERSION_1, clock)
    emulator.add_user(ANA, first_name="Ana")
    await emulator.send_text(ANA, "/start")
    await message_with(emulator, ANA, "Hello (first version)")

    await saved(sessionmaker, VERSION_1.replace("first", "second"), clock)
    emulator.add_user(BOB, first_name="Bob")
    await emulator.send_text(BOB, "/start")
    await message_with(emulator, BOB, "Hello (second version)")

    clock.advance(days=1, minutes=1)
    await message_with(emulator, ANA, "Bye (first version)")
    await message_with(emulator, BOB, "Bye (second version)")
    assert not any("second" in text for text in texts(emulator, ANA))
