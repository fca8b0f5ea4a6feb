"""Journeys killed with SIGKILL while they step people on and send: `segbot run` killed
three times and started again (SQLite and PostgreSQL), and two scheduler processes on
PostgreSQL whose leader is killed (the standby takes over). Nobody gets a message twice,
no step happens twice, and every enrolment goes on to the end after the restarts."""

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Delivery, DeliveryStatus
from journeys.manual import enroll_segment
from journeys.models import Enrolment, EnrolmentStatus, JourneyStep
from journeys.spec import parse_journey
from journeys.store import CLI_ACTOR, save_journey
from segments.saved import save_segment
from telegram_emulator import Emulator
from tests.broadcasts.audience import NOW, add_subscribers
from tests.e2e.test_scale_out import Processes
from tests.polling import until

pytestmark = pytest.mark.e2e

SEGBOT = str(Path(sys.executable).parent / "segbot")
AUDIENCE = 150
RATE_LIMIT = 50
DRIP = """
name: drip
trigger: manual
steps:
  - id: one
    send: {text: "one for {{ first_name }}"}
  - id: pause
    wait: 2s
  - id: two
    send: {text: "two"}
  - id: mark
    add_tag: dripped
  - id: three
    send: {text: "three"}
"""
STEPS = ("one", "pause", "two", "mark", "three")
WORDS = ("one for", "two", "three")


def received(emulator: Emulator) -> Counter[tuple[int, str]]:
    """How many times each chat got each of the journey's messages (the emulator's record)."""
    got: Counter[tuple[int, str]] = Counter()
    for message in emulator.sent_messages():
        for word in WORDS:
            if (message.text or "").startswith(word):
                got[(message.chat_id, word)] += 1
    return got


async def audience(session: AsyncSession, emulator: Emulator) -> None:
    """The journey and everyone to enrol in it."""
    await add_subscribers(session, AUDIENCE, first_id=1)  # chats 1..AUDIENCE
    for chat in range(1, AUDIENCE + 1):
        emulator.add_user(chat, first_name=f"User{chat}")
    await save_segment(session, name="everyone", rule_text="status = active", now=NOW)
    await save_journey(session, spec=parse_journey(DRIP), source=DRIP, now=NOW, actor=CLI_ACTOR)


async def enrolled(session: AsyncSession) -> None:
    entered = await enroll_segment(
        session, name="drip", segment="everyone", now=NOW, actor=CLI_ACTOR
    )
    assert entered.entered == AUDIENCE


def processes(emulator: Emulator, database_url: str, logs: Path) -> Processes:
    """`segbot run` processes against the emulator, each logging to a file of its own."""
    environment = os.environ | {
        "SEGBOT_BOT_TOKEN": "123456:JOURNEY-CRASH",
        "SEGBOT_SECRET_KEY": "test-secret",
        "SEGBOT_DATABASE_URL": database_url,
        "SEGBOT_TELEGRAM_API_BASE": emulator.base_url,
        "SEGBOT_RATE_LIMIT": str(RATE_LIMIT),
    }
    return Processes(environment, logs)


async def kill(process: asyncio.subprocess.Process) -> None:
    process.kill()  # SIGKILL: no cleanup, no chance to record anything
    await process.wait()


async def all_ended(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    async with sessionmaker() as session:
        inside = await session.scalar(
            select(func.count()).where(Enrolment.status == EnrolmentStatus.ACTIVE)
        )
        pending = await session.scalar(
            select(func.count()).where(
                Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING])
            )
        )
    return inside == 0 and pending == 0


async def assert_once_and_through(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    got = received(emulator)
    assert set(got.values()) == {1}  # nobody got a message twice
    async with sessionmaker() as session:
        steps = Counter(
            (await session.execute(select(JourneyStep.enrolment_id, JourneyStep.step))).all()
        )
        statuses = Counter((await session.scalars(select(Enrolment.exit_reason))).all())
        deliveries = Counter((await session.scalars(select(Delivery.status))).all())
    assert set(steps.values()) == {1}  # no step twice
    assert Counter(step for _, step in steps) == dict.fromkeys(STEPS, AUDIENCE)  # all went on
    assert statuses == {"completed": AUDIENCE}
    # One message per person per send step, each final: sent, or in flight at a kill
    # (unknown: it may have arrived, and is never resent).
    assert deliveries.keys() <= {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN}
    assert deliveries.total() == AUDIENCE * len(WORDS)
    assert deliveries[DeliveryStatus.SENT] <= len(got) <= deliveries.total()


@pytest.mark.timeout(400)  # four processes start one after another: slow when busy
async def test_a_runner_killed_three_times_does_no_step_and_sends_no_message_twice(
    emulator: Emulator,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
) -> None:
    emulator.limits.global_per_second = RATE_LIMIT
    await audience(session, emulator)
    await enrolled(session)
    running = processes(emulator, database_url, tmp_path)
    try:
        for kill_at in (20, 160, 300):  # messages delivered: while stepping on, and sending
            process = await running.start(f"run-{kill_at}")
            await until(
                lambda: sum(received(emulator).values()) >= kill_at,  # noqa: B023
                within=120,
                what=f"{kill_at} messages delivered",
            )
            await kill(process)
        await running.start("run-last")
        await until(lambda: all_ended(sessionmaker), within=120, what="every enrolment ended")
    finally:
        await running.stop_all()
    await assert_once_and_through(emulator, sessionmaker)


@pytest.mark.timeout(400)
async def test_two_schedulers_on_postgresql_one_leads_and_the_standby_carries_on(
    emulator: Emulator,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several scheduler processes need PostgreSQL (SQLite is one process)")
    emulator.limits.global_per_second = RATE_LIMIT
    await audience(session, emulator)
    running = processes(emulator, database_url, tmp_path)

    def logged(name: str, words: str) -> bool:
        return words in running.log(name)

    try:
        await running.start("sender", "--role", "sender")
        schedulers = {
            name: await running.start(name, "--role", "scheduler")
            for name in ("scheduler-1", "scheduler-2")
        }
        for name in ("sender", *schedulers):
            await until(
                lambda: logged(name, "segbot running"),  # noqa: B023
                within=60,
                what=f"{name} running",
            )
        # Running first, then one wins the election: on a busy machine, some time after.
        await until(
            lambda: any(logged(name, "now the leader") for name in schedulers),
            within=60,
            what="a leader",
        )
        (leader,) = [name for name in schedulers if logged(name, "now the leader")]
        (standby,) = set(schedulers) - {leader}
        await enrolled(session)
        await until(
            lambda: sum(received(emulator).values()) >= 100, within=120, what="100 messages sent"
        )
        await kill(schedulers[leader])
        await until(lambda: all_ended(sessionmaker), within=120, what="every enrolment ended")
        assert logged(standby, "now the leader")
    finally:
        await running.stop_all()
    await assert_once_and_through(emulator, sessionmaker)
