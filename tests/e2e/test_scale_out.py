"""Scale-out with real processes on PostgreSQL and Redis, as docs/deployment.md runs them:
one bot process in webhook mode, a scheduler leader and its standby, two senders sharing
one Redis send budget. The leader is killed before the campaign is due and the standby
starts it, once; one sender is killed mid-run and replaced (as systemd would restart it);
nobody gets the message twice, every delivery ends final, only what the killed sender had
in flight is `unknown`, and the senders share one rate (the emulator allows exactly it).

The emulator runs in a process of its own, as Telegram does: its one-second windows are
kept on its own clock, not on this busy test process's."""

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.webhook import WEBHOOK_PATH
from broadcasts.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Run
from broadcasts.pacing import RateBudget
from broadcasts.sender import SenderSettings, bounds
from core.clock import utcnow
from telegram_emulator import EmulatorClient, JSONObject
from tests.broadcasts.audience import add_subscribers, campaign_from
from tests.e2e.conftest import BOT_TOKEN, SECRET_KEY
from tests.emulator_process import emulator_process
from tests.polling import until
from tests.ports import free_port

pytestmark = pytest.mark.e2e

SEGBOT = str(Path(sys.executable).parent / "segbot")
REDIS_URL = "redis://127.0.0.1:6379/15"
AUDIENCE = 5000
RATE_LIMIT = 250  # messages a second, the whole bot
KILL_SENDER_AFTER = 1500
# The most a sender has on its way at once (waiting for a slot, or out) at this rate.
IN_FLIGHT = bounds(RateBudget(RATE_LIMIT), SenderSettings(public_url="", secret="")).in_flight


class Processes:
    """`segbot run --role ...` processes, each logging to a file of its own."""

    def __init__(self, environment: dict[str, str], logs: Path) -> None:
        self._environment = environment
        self._logs = logs
        self.started: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, name: str, *args: str) -> asyncio.subprocess.Process:
        port = free_port()
        environment = self._environment | {
            "SEGBOT_WEB_PORT": str(port),
            "SEGBOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        with (self._logs / f"{name}.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                SEGBOT, "run", *args, env=environment, stdout=log, stderr=log
            )
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self._logs / f"{name}.log").read_text(errors="replace")

    async def stop_all(self) -> None:
        for process in self.started.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started.values():
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
async def standalone_emulator() -> AsyncIterator[tuple[str, EmulatorClient]]:
    """An emulator in a process of its own allowing exactly RATE_LIMIT sends a second."""
    async with emulator_process("--global-rate", str(RATE_LIMIT)) as started:
        yield started


@pytest.fixture
async def processes(
    database_url: str, standalone_emulator: tuple[str, EmulatorClient], tmp_path: Path
) -> AsyncIterator[Processes]:
    base_url, _ = standalone_emulator
    environment = os.environ | {
        "SEGBOT_BOT_TOKEN": BOT_TOKEN,
        "SEGBOT_SECRET_KEY": SECRET_KEY,
        "SEGBOT_DATABASE_URL": database_url,
        "SEGBOT_TELEGRAM_API_BASE": base_url,
        "SEGBOT_REDIS_URL": REDIS_URL,
        "SEGBOT_RATE_LIMIT": str(RATE_LIMIT),
    }
    config = tmp_path / "segbot.yaml"  # new campaigns are noticed within a second
    config.write_text("broadcasts:\n  schedule_sync_seconds: 1\n", encoding="utf-8")
    running = Processes(environment | {"SEGBOT_CONFIG": str(config)}, tmp_path)
    yield running
    await running.stop_all()


def is_running(processes: Processes, name: str) -> bool:
    return "segbot running" in processes.log(name)


def delivered(sends: list[JSONObject]) -> Counter[int]:
    """How many times each chat was sent the campaign, of the emulator's `sendMessage` records."""
    return Counter(
        int(str(params["chat_id"]))
        for record in sends
        if record["ok"] is True
        and isinstance(params := record["params"], dict)
        and params.get("text") == "Big news"
    )


async def recorded_sent(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Deliveries the senders have recorded sent (fewer than the emulator has taken)."""
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.SENT)
        )
    return count or 0


async def test_processes_apart_share_the_work_and_survive_kills(
    database_url: str,
    standalone_emulator: tuple[str, EmulatorClient],
    sessionmaker: async_sessionmaker[AsyncSession],
    processes: Processes,
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("roles in separate processes need PostgreSQL")
    # The emulator allows exactly the configured rate: two senders that did not share the
    # budget would send at twice the limit, and be refused far more often than allowed below.
    _, emulator = standalone_emulator
    async with sessionmaker() as session:
        await add_subscribers(session, AUDIENCE, first_id=1)
    for first in range(1, AUDIENCE + 1, 100):
        await asyncio.gather(
            *(
                emulator.add_user(user_id, first_name=f"U{user_id}")
                for user_id in range(first, first + 100)
            )
        )

    bot = await processes.start("bot", "--role", "bot", "--webhook")
    first_scheduler = await processes.start("scheduler-1", "--role", "scheduler")
    await until(
        lambda: "now the leader" in processes.log("scheduler-1"),
        within=90,
        every=0.1,
        what="scheduler-1 to lead",
    )
    await processes.start("scheduler-2", "--role", "scheduler")
    first_sender = await processes.start("sender-1", "--role", "sender")
    await processes.start("sender-2", "--role", "sender")
    for name in ("bot", "scheduler-2", "sender-1", "sender-2"):
        await until(
            partial(is_running, processes, name), within=90, every=0.1, what=f"{name} to run"
        )

    # The webhook process answers users, and refuses posts without the secret.
    await emulator.send_text(777_777, "/start")
    await emulator.wait_for_messages(777_777, count=2, timeout=20)
    (*_, set_webhook) = await emulator.requests("setWebhook")
    params = set_webhook["params"]
    assert isinstance(params, dict)
    webhook_url = str(params["url"])
    assert webhook_url.endswith(WEBHOOK_PATH)
    async with (
        aiohttp.ClientSession() as http,
        http.post(webhook_url, json={"update_id": 1}) as answer,
    ):
        assert answer.status == 403

    # The leader dies; the standby takes over and starts a campaign due just after, once.
    first_scheduler.kill()
    await until(
        lambda: "now the leader" in processes.log("scheduler-2"),
        within=30,
        every=0.1,
        what="scheduler-2 to take over",
    )
    due = utcnow() + timedelta(seconds=3)
    async with sessionmaker() as session:
        campaign = await campaign_from(
            session,
            f'name: big\ndefault: {{text: "Big news"}}\n'
            f'schedule: {{at: "{due.strftime("%Y-%m-%dT%H:%M:%S")}", timezone: UTC}}\n',
            now=utcnow(),
        )

    # One sender dies mid-run; its replacement settles what it left in flight.
    async def under_way() -> bool:
        return await recorded_sent(sessionmaker) >= KILL_SENDER_AFTER

    await until(
        under_way,
        within=90,
        every=0.1,
        what=f"{KILL_SENDER_AFTER} messages recorded sent",
    )
    first_sender.kill()
    await first_sender.wait()
    await processes.start("sender-3", "--role", "sender")

    async def finished() -> bool:
        async with sessionmaker() as session:
            status = await session.scalar(select(Campaign.status).where(Campaign.id == campaign.id))
        return status is CampaignStatus.DONE

    await until(finished, within=120, every=0.5, what="the campaign to be done")
    assert bot.returncode is None

    sends = await emulator.requests("sendMessage")
    received = delivered(sends)
    assert max(received.values()) == 1  # nobody twice
    async with sessionmaker() as session:
        runs = await session.scalar(
            select(func.count()).select_from(Run).where(Run.campaign_id == campaign.id)
        )
        statuses = dict(
            (
                await session.execute(
                    select(Delivery.status, func.count()).group_by(Delivery.status)
                )
            ).all()
        )
    assert runs == 1
    assert set(statuses) <= {DeliveryStatus.SENT, DeliveryStatus.UNKNOWN}
    # Everything recorded sent arrived; what a killed sender had in flight is `unknown`:
    # some of it arrived (the sender died before recording it), none of it was resent.
    sent, unknown = statuses[DeliveryStatus.SENT], statuses.get(DeliveryStatus.UNKNOWN, 0)
    assert sent <= len(received) <= sent + unknown
    assert sum(statuses.values()) == AUDIENCE + 1  # and whoever joined through the webhook
    # The killed sender's claims were settled by the others once its heartbeat went stale:
    # what it had on its way (at most its in-flight bound) is unknown, the rest was sent.
    assert unknown <= IN_FLIGHT
    # The emulator runs apart, on its own clock; a few 429s (answered by a shared pause and a
    # retry, and nobody got twice) are what a busy machine's scheduling leaves.
    refused = [record for record in sends if record["status"] == 429]
    assert len(refused) <= AUDIENCE // 20
