"""`segbot campaign test-send` and `send-now` against the Bot API emulator: every answer
said in words, 429s waited out, and a run sent from here when no sender is running."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from bot.messenger import TelegramMessenger
from broadcasts.claims import STALE_AFTER, beat
from broadcasts.models import CampaignStatus, Run, SenderBeat
from broadcasts.pacing import RateBudget
from broadcasts.scheduler import Decision, due
from broadcasts.sender import Sender, SenderSettings
from broadcasts.worker import DeliveryWorker
from cli.campaign import app
from core.clock import utcnow
from telegram_emulator import Emulator
from tests.broadcasts.audience import add_subscribers, campaign_from
from tests.cli.conftest import invoke
from tests.polling import until

TOKEN = "123456:TEST-TOKEN"
TWO_VARIANTS = """
name: welcome
default:
  variants:
    - {name: a, split: 50, text: "Hello {{ first_name }}"}
    - {name: b, split: 50, text: "Hi {{ first_name }}"}
"""


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    """The emulator with users 1 and 2 (who started the bot); the CLI's settings point at
    it, with a token and a secret key."""
    async with Emulator() as emulator:
        emulator.add_user(1, first_name="Ann")
        emulator.add_user(2, first_name="Bob")
        monkeypatch.setenv("SEGBOT_TELEGRAM_API_BASE", emulator.base_url)
        monkeypatch.setenv("SEGBOT_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SEGBOT_SECRET_KEY", "test-secret")
        yield emulator


async def runs(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Run)) or 0)


async def has_beaten(session: AsyncSession, sender: str) -> bool:
    return await session.get(SenderBeat, sender) is not None


async def test_test_send_waits_out_flood_control(
    runner: CliRunner, session: AsyncSession, emulator: Emulator
) -> None:
    await campaign_from(session, TWO_VARIANTS)
    emulator.force_retry_after(1)  # the first send answers 429, retry_after 1
    result = await invoke(runner, app, "test-send", "welcome", "--to", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["default/a: sent", "default/b: sent"]
    assert "Telegram asks to wait 1 s (flood control): waiting" in result.stderr
    texts = [message.plain_text for message in emulator.messages_to(1)]
    assert [text.split()[0] for text in texts] == ["Hello", "Hi"]  # for a sample subscriber


async def test_test_send_to_a_chat_that_never_started_the_bot_says_so_and_exits_1(
    runner: CliRunner, session: AsyncSession, emulator: Emulator
) -> None:
    await campaign_from(session, TWO_VARIANTS)
    result = await invoke(runner, app, "test-send", "welcome", "--to", "999")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "default/a: not sent: chat not found: that user has not started the bot yet "
        "(they open it in Telegram and press Start)",
        "the other 1 not tried: they would fail the same way",
    ]
    assert result.stderr == "error: 2 of 2 messages not sent to 999\n"
    emulator.user(2).blocked = True
    blocked = await invoke(runner, app, "test-send", "welcome", "--to", "2")
    assert blocked.exit_code == 1
    assert "default/a: not sent: forbidden: that user blocked the bot" in blocked.stdout


async def test_send_now_without_a_sender_sends_from_here_and_says_why_some_failed(
    runner: CliRunner, session: AsyncSession, emulator: Emulator
) -> None:
    await add_subscribers(session, 3)  # telegram ids 1-3; 3 never started the bot
    await campaign_from(session, "name: hello\ndefault: {text: 'Hi {{ first_name }}'}\n")
    result = await invoke(runner, app, "send-now", "hello")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": 3 to send (0 later); excluded: none")
    assert "no sender is running: sending run" in result.stdout
    assert "done: sent 2, failed 1, blocked 0, unknown 0" in result.stdout
    assert "  failed 1: chat not found (never started the bot)" in lines
    assert [m.plain_text for m in emulator.messages_to(1)] == ["Hi User1"]
    assert [m.plain_text for m in emulator.messages_to(2)] == ["Hi User2"]


async def test_send_now_again_after_the_run_is_done_sends_nothing_twice(
    runner: CliRunner, session: AsyncSession, emulator: Emulator
) -> None:
    """Even with a frequency cap that would let a second message through."""
    await add_subscribers(session, 1)
    spec = "name: sale\nfrequency_cap: {messages: 100, hours: 1}\ndefault: {text: Sale today}\n"
    await campaign_from(session, spec)
    assert (await invoke(runner, app, "send-now", "sale")).exit_code == 0
    again = await invoke(runner, app, "send-now", "sale")
    assert again.exit_code == 1  # refused, as every command the campaign's state forbids
    assert "sale is done: a campaign is sent once; segbot campaign clone sale" in again.stderr
    assert [m.plain_text for m in emulator.messages_to(1)] == ["Sale today"]
    assert await runs(session) == 1


async def test_a_scheduled_campaign_sent_early_is_not_sent_again_at_its_time(
    runner: CliRunner, session: AsyncSession, emulator: Emulator
) -> None:
    await add_subscribers(session, 1)
    at = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    spec = f"name: sale\nschedule: {{at: '{at}', timezone: UTC}}\ndefault: {{text: Sale}}\n"
    campaign = await campaign_from(session, spec, now=utcnow())
    assert (await invoke(runner, app, "send-now", "sale")).exit_code == 0
    await session.refresh(campaign)
    assert campaign.status is CampaignStatus.DONE
    assert due(campaign, utcnow() + timedelta(days=1, minutes=1)).decision is Decision.WAIT


async def test_send_now_that_sends_nothing_exits_1(
    runner: CliRunner, session: AsyncSession, emulator: Emulator
) -> None:
    await add_subscribers(session, 2, first_id=7)  # neither started the bot
    await campaign_from(session, "name: hello\ndefault: {text: 'Hi'}\n")
    result = await invoke(runner, app, "send-now", "hello")
    assert result.exit_code == 1
    assert "failed 2: chat not found (never started the bot)" in result.stdout
    assert result.stderr.endswith("sent none of its 2 messages (why: above)\n")


async def test_send_now_without_a_sender_or_a_token_starts_nothing(
    runner: CliRunner, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_subscribers(session, 1)
    await campaign_from(session, "name: hello\ndefault: {text: 'Hi'}\n")
    result = await invoke(runner, app, "send-now", "hello")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: no sender is running (segbot run), and sending from here needs "
        "SEGBOT_BOT_TOKEN and SEGBOT_SECRET_KEY (the key signs the tracked links)\n"
    )
    assert await runs(session) == 0
    queued = await invoke(runner, app, "send-now", "hello", "--no-wait")
    assert queued.exit_code == 0, queued.output
    assert "no sender is running: run" in queued.stdout
    assert "waits in the queue until `segbot run` starts" in queued.stdout
    assert (await invoke(runner, app, "pause", "hello")).exit_code == 0
    paused = await invoke(runner, app, "send-now", "hello", "--no-wait")
    assert paused.exit_code == 1
    assert "is paused: segbot campaign resume hello sends the rest" in paused.stderr
    assert await runs(session) == 1  # never a second run beside it


async def test_send_now_leaves_the_run_to_a_running_sender_and_follows_it(
    runner: CliRunner,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    emulator: Emulator,
) -> None:
    await add_subscribers(session, 2)
    await campaign_from(session, "name: hello\ndefault: {text: 'Hi {{ first_name }}'}\n")
    async with TelegramMessenger(api_base=emulator.base_url, token=TOKEN) as messenger:
        settings = SenderSettings(public_url="http://127.0.0.1:8080", secret="test-secret")
        sender = Sender(sessionmaker, messenger, RateBudget(25), settings)
        worker = asyncio.create_task(DeliveryWorker(sender, sessionmaker).run())
        try:
            await until(lambda: has_beaten(session, sender.id), what="the sender's first beat")
            result = await invoke(runner, app, "send-now", "hello")
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    assert result.exit_code == 0, result.output
    assert "is queued for the sender that is running (segbot run)" in result.stdout
    assert "done: sent 2, failed 0, blocked 0, unknown 0" in result.stdout
    assert [m.plain_text for m in emulator.messages_to(2)] == ["Hi User2"]


async def test_a_sender_that_stops_is_noticed_and_send_now_carries_the_run_on(
    runner: CliRunner,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    emulator: Emulator,
) -> None:
    """A sender that stops beating ends the wait with exit 1; send-now then sends the
    same run from here, never a second run beside it."""
    await add_subscribers(session, 2)
    await campaign_from(session, "name: hello\ndefault: {text: 'Hi {{ first_name }}'}\n")

    async def beat_until_the_run_starts() -> None:
        async with sessionmaker() as beating:
            while not await runs(beating):
                await beat(beating, sender="elsewhere", clock=utcnow)
                await asyncio.sleep(0.2)
            await beating.execute(
                update(SenderBeat).values(beat_at=utcnow() - STALE_AFTER - timedelta(seconds=1))
            )
            await beating.commit()

    beating = asyncio.create_task(beat_until_the_run_starts())
    await until(lambda: has_beaten(session, "elsewhere"), what="the other sender's first beat")
    stopped = await invoke(runner, app, "send-now", "hello")
    await beating
    assert stopped.exit_code == 1
    assert "is queued for the sender that is running" in stopped.stdout
    assert "error: the sender stopped (no heartbeat for 30 s) with 2 messages of run" in (
        stopped.stderr
    )
    assert emulator.messages_to(1) == []

    carried = await invoke(runner, app, "send-now", "hello")
    assert carried.exit_code == 0, carried.output
    assert "of hello is still sending: carrying it on" in carried.stdout
    assert "done: sent 2" in carried.stdout
    assert await runs(session) == 1
    assert [m.plain_text for m in emulator.messages_to(1)] == ["Hi User1"]
