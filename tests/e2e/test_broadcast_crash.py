"""A sender process killed with SIGKILL mid-broadcast, three times, and started again each
time: nobody gets the message twice, only the requests in flight at each kill become
`unknown`, and everyone else (the claimed batch included) gets it after a restart."""

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import DeliveryStatus
from broadcasts.pacing import RateBudget
from broadcasts.planner import plan_run
from broadcasts.sender import SenderSettings, bounds
from telegram_emulator import Emulator
from tests.broadcasts.audience import NOW, campaign_from
from tests.e2e.test_broadcast import SEGMENTED, audience, sent_out, statuses_by_chat
from tests.polling import until

pytestmark = pytest.mark.e2e

SEGBOT = str(Path(sys.executable).parent / "segbot")
AUDIENCE = 500
RATE_LIMIT = 50
KILLS = 3
PROGRESS = 40  # messages delivered after each start before the answers are held back
# The requests a sender has out at once (waiting for a slot, or unanswered) at this rate
# and the default send timeout: with every answer held back, it ends up with that many out.
IN_FLIGHT = bounds(
    RateBudget(RATE_LIMIT), SenderSettings(public_url="", secret="", send_timeout=10.0)
).in_flight


def delivered(emulator: Emulator) -> Counter[int]:
    """How many times each chat got a broadcast message, by the emulator's own record."""
    return Counter(
        int(str(r.params["chat_id"])) for r in emulator.requests_for("sendMessage") if r.ok
    )


async def start_sender(
    emulator: Emulator, database_url: str, log: Path
) -> asyncio.subprocess.Process:
    environment = os.environ | {
        "SEGBOT_BOT_TOKEN": "123456:CRASH-TEST",
        "SEGBOT_SECRET_KEY": "test-secret",
        "SEGBOT_DATABASE_URL": database_url,
        "SEGBOT_TELEGRAM_API_BASE": emulator.base_url,
        "SEGBOT_WEB_PORT": "0",
        "SEGBOT_RATE_LIMIT": str(RATE_LIMIT),
    }
    with log.open("wb") as output:
        return await asyncio.create_subprocess_exec(
            SEGBOT, "run", env=environment, stdout=output, stderr=output
        )


@pytest.mark.timeout(400)  # four sender processes start one after another: slow when busy
async def test_a_sender_killed_three_times_loses_only_what_was_in_flight(
    emulator: Emulator,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
) -> None:
    emulator.limits.global_per_second = RATE_LIMIT
    await audience(session, emulator, spanish=100, russian=100, other=AUDIENCE - 200)
    campaign = await campaign_from(session, SEGMENTED)
    plan = await plan_run(session, campaign=campaign, now=NOW)
    assert plan.queued == AUDIENCE

    in_flight_at_kills: list[set[int]] = []
    for kill in range(KILLS):
        sender = await start_sender(emulator, database_url, tmp_path / f"sender-{kill}.log")
        try:
            so_far = sum(delivered(emulator).values())
            await until(
                lambda: sum(delivered(emulator).values()) >= so_far + PROGRESS,  # noqa: B023
                within=60,
                what=f"{PROGRESS} more messages delivered",
            )
            held_from = len(emulator.requests)
            emulator.limits.delay_seconds = 120  # from now on requests arrive, unanswered
            await until(
                lambda: len(emulator.requests) - held_from >= IN_FLIGHT,  # noqa: B023
                within=60,
                what="the sender's every permit held by a request out",
            )
            sender.kill()  # SIGKILL: no cleanup, no chance to record anything
            await sender.wait()
        finally:
            if sender.returncode is None:
                sender.kill()
                await sender.wait()
        emulator.limits.delay_seconds = 0
        out = emulator.requests[held_from:]
        assert len(out) == IN_FLIGHT  # all it had out; nothing more could leave
        in_flight_at_kills.append({int(str(r.params["chat_id"])) for r in out})

    last = await start_sender(emulator, database_url, tmp_path / "sender-last.log")
    try:
        done = await sent_out(sessionmaker, plan.run.id)
    finally:
        last.terminate()
        await asyncio.wait_for(last.wait(), timeout=30)

    received = delivered(emulator)
    assert set(received.values()) == {1}  # nobody twice
    by_chat = await statuses_by_chat(session, plan.run.id)
    unknown = {chat for chat, (status, _) in by_chat.items() if status is DeliveryStatus.UNKNOWN}
    sent = {chat for chat, (status, _) in by_chat.items() if status is DeliveryStatus.SENT}
    assert done.counts.keys() == {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN}
    # Only the requests out at each kill are unknown (they arrived: never resent)...
    assert unknown == set().union(*in_flight_at_kills)
    assert len(unknown) == KILLS * IN_FLIGHT
    assert {by_chat[chat][1] for chat in unknown} == {"interrupted"}
    # ...and everyone else got it once, the claimed but unsent among them.
    assert sent == set(received) - unknown
    assert len(sent) == AUDIENCE - len(unknown)
    for restart in [*range(1, KILLS), "last"]:
        log = (tmp_path / f"sender-{restart}.log").read_text(errors="replace")
        assert f"left by a stop: {IN_FLIGHT} unknown" in log
        assert "back in the queue" in log
