"""A sender process killed with SIGKILL mid-broadcast, then started again: nobody gets
the message twice, the messages in flight become `unknown`, the rest are delivered."""

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Delivery, DeliveryStatus
from broadcasts.planner import plan_run
from core.models import Subscriber
from telegram_emulator import Emulator
from tests.broadcasts.audience import NOW, campaign_from
from tests.e2e.test_broadcast import SEGMENTED, audience, sent_out
from tests.polling import until

pytestmark = pytest.mark.e2e

SEGBOT = str(Path(sys.executable).parent / "segbot")
AUDIENCE = 300
KILL_AFTER = 60  # messages delivered before the sender is made to hang, then killed
HANG_SECONDS = 5.0  # the emulator holds its answers this long: requests out, unanswered


def delivered(emulator: Emulator) -> Counter[int]:
    """How many times each chat got a broadcast message, by the emulator's own record."""
    return Counter(
        int(str(r.params["chat_id"])) for r in emulator.requests_for("sendMessage") if r.ok
    )


async def until_delivered(emulator: Emulator, count: int) -> None:
    await until(
        lambda: sum(delivered(emulator).values()) >= count,
        within=60,
        every=0.01,
        what=f"{count} messages delivered",
    )


async def start_sender(emulator: Emulator, database_url: str) -> asyncio.subprocess.Process:
    environment = os.environ | {
        "SEGBOT_BOT_TOKEN": "123456:CRASH-TEST",
        "SEGBOT_SECRET_KEY": "test-secret",
        "SEGBOT_DATABASE_URL": database_url,
        "SEGBOT_TELEGRAM_API_BASE": emulator.base_url,
        "SEGBOT_WEB_PORT": "0",
        "SEGBOT_RATE_LIMIT": "100",
    }
    return await asyncio.create_subprocess_exec(
        SEGBOT,
        "run",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_a_sender_killed_mid_run_never_sends_twice_and_finishes_after_restart(
    emulator: Emulator,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
) -> None:
    emulator.limits.global_per_second = 200
    await audience(session, emulator, spanish=100, russian=100, other=AUDIENCE - 200)
    campaign = await campaign_from(session, SEGMENTED)
    plan = await plan_run(session, campaign=campaign, now=NOW)
    assert plan.queued == AUDIENCE

    first = await start_sender(emulator, database_url)
    try:
        await until_delivered(emulator, KILL_AFTER)
        emulator.limits.delay_seconds = HANG_SECONDS  # the next sends arrive, unanswered
        await until_delivered(emulator, KILL_AFTER + 3)
        first.kill()  # SIGKILL: no cleanup, no chance to record anything
        await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    emulator.limits.delay_seconds = 0
    before_restart = delivered(emulator)

    second = await start_sender(emulator, database_url)
    try:
        done = await sent_out(sessionmaker, plan.run.id)
    finally:
        second.terminate()
        output, _ = await asyncio.wait_for(second.communicate(), timeout=30)
    assert b"interrupted by a stop: marked unknown" in output

    received = delivered(emulator)
    assert set(received.values()) == {1}  # nobody twice
    rows = await session.execute(
        select(Subscriber.chat_id, Delivery.status, Delivery.reason)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.run_id == plan.run.id)
        .execution_options(populate_existing=True)
    )
    status_of = {chat: (status, reason) for chat, status, reason in rows.all()}
    unknown = {chat for chat, (status, _) in status_of.items() if status is DeliveryStatus.UNKNOWN}
    sent = {chat for chat, (status, _) in status_of.items() if status is DeliveryStatus.SENT}
    assert done.counts.keys() == {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN}
    assert len(sent) + len(unknown) == AUDIENCE
    # The messages in flight at the kill arrived, unanswered: unknown, and never resent.
    in_flight = set(before_restart) - (sent & set(before_restart))
    assert len(in_flight) >= 3
    assert in_flight <= unknown
    assert {status_of[chat][1] for chat in unknown} == {"interrupted"}
    # Every delivery still queued at the kill went out after the restart, exactly once.
    assert sent == set(received) - in_flight
    assert set(received) - set(before_restart) <= sent
