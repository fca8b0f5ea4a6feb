"""Hostile sending: answers Telegram should never give, campaigns that cannot start, and
subscribers who change their minds while a run is on its way."""

import asyncio
import io
import logging
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from rich.console import Console
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.messenger import TelegramMessenger
from broadcasts.config import BroadcastsConfig
from broadcasts.messenger import OutgoingMessage, Rejected, RetryAfter, TransientError, Unknown
from broadcasts.models import DeliveryStatus, Run, RunStatus
from broadcasts.planner import plan_run
from broadcasts.runs import progress
from broadcasts.scheduler import CampaignScheduler
from broadcasts.sender import BatchResult
from broadcasts.spec import CampaignFileError, parse_campaign
from broadcasts.worker import DeliveryWorker
from cli.sending import SendNow, send_now
from core.models import Subscriber, SubscriberStatus
from core.settings import load_settings
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.saved import save_segment
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from, drop_segment
from tests.broadcasts.fake_messenger import FakeMessenger
from tests.broadcasts.test_sender import planned, sender, status_by_chat
from tests.polling import until


async def test_a_campaign_that_cannot_start_does_not_hold_up_the_others(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A one-off rule may name a saved segment that goes away later (an AI segment
    regenerated): that campaign cannot be planned, and the campaigns synced after it
    still start."""
    moment = NOW + timedelta(minutes=5)
    async with sessionmaker() as setup:
        await add_subscribers(setup, 3)
        await save_segment(setup, name="vip", rule_text="lang = en", now=NOW)
        await campaign_from(  # saved first: synced first
            setup,
            "name: broken\naudience:\n  - {query: 'in segment \"vip\"', label: v, text: hi}\n"
            f'schedule: {{at: "{moment.isoformat()}"}}\n',
        )
        fine = await campaign_from(
            setup, f'name: fine\ndefault: {{text: hi}}\nschedule: {{at: "{moment.isoformat()}"}}\n'
        )
        await drop_segment(setup, "vip")
    started: list[str] = []
    scheduler = CampaignScheduler(
        sessionmaker, AsyncIOScheduler(timezone=UTC),
        on_run_started=lambda: started.append("run"), clock=lambda: moment,
    )  # fmt: skip
    await scheduler.sync()
    async with sessionmaker() as check:
        runs = (await check.scalars(select(Run.campaign_id))).all()
    assert runs == [fine.id]
    assert started == ["run"]


def _flood(retry_after: str) -> bytes:
    return (
        '{"ok": false, "error_code": 429, "description": "Too Many Requests", '
        f'"parameters": {{"retry_after": {retry_after}}}}}'
    ).encode()


async def test_garbled_answers_are_outcomes_never_errors_nor_endless_pauses() -> None:
    """A proxy or a broken Bot API server may answer anything: nothing it says may crash
    the sender (every message in flight would become unknown) or pause it for good."""
    answers = [
        (200, b"[" * 100_000),  # nested past what Python's JSON reader reads
        (429, _flood("1e400")),  # infinity
        (429, _flood("9" * 400)),  # past what a float holds
        (429, _flood("-5")),
        (429, _flood("NaN")),
        (429, _flood("3")),
    ]

    async def answer(request: web.Request) -> web.Response:
        status, body = answers.pop(0)
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{path:.*}", answer)
    async with TestServer(app) as server:
        base = str(server.make_url("")).rstrip("/")
        async with TelegramMessenger(api_base=base, token="1:secret") as messenger:
            outcomes = [await messenger.send(OutgoingMessage(1, "Hi")) for _ in range(6)]
    assert isinstance(outcomes[0], Unknown)
    assert outcomes[1:] == [RetryAfter(1.0)] * 4 + [RetryAfter(3.0)]


async def test_a_template_that_breaks_oddly_for_one_subscriber_fails_only_them(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Not every way a filter can fail is a RenderError (truncate asserts its length): the
    rest of the run must still go, not crash the sender again at every restart."""
    await add_subscribers(session, 1, first_id=50, attributes={"n": -1})
    text = "name: x\ndefault: {text: '{{ first_name | truncate(attr.get(\"n\", 9) | int(9)) }}'}\n"
    plan = await planned(session, 3, text)
    messenger = FakeMessenger()
    assert await sender(sessionmaker, messenger).deliver(plan.run.id) is BatchResult.FINISHED
    assert sorted(message.chat_id for message in messenger.sent) == [1, 2, 3]
    assert await status_by_chat(session, plan.run.id) == {
        1: (DeliveryStatus.SENT, None),
        2: (DeliveryStatus.SENT, None),
        3: (DeliveryStatus.SENT, None),
        50: (DeliveryStatus.FAILED, "template"),
    }


async def test_a_template_error_at_send_time_logs_no_subscriber_value(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_subscribers(session, 1, first_id=50, attributes={"born": "31/01/1990"})
    text = 'name: x\ndefault: {text: \'{{ attr.get("born", "2026-01-31") | date }}\'}\n'
    plan = await planned(session, 1, text)
    with caplog.at_level(logging.WARNING, logger="broadcasts"):
        await sender(sessionmaker, FakeMessenger()).deliver(plan.run.id)
    by_chat = await status_by_chat(session, plan.run.id)
    assert by_chat[50] == (DeliveryStatus.FAILED, "template")
    [line] = [record.getMessage() for record in caplog.records if "template" in record.message]
    assert "31/01/1990" not in line
    assert "segbot campaign preview" in line


@pytest.mark.parametrize(
    ("ref", "said"),
    [
        ("~nosuchuser/pic.jpg", "no such user's home directory"),
        ("a" * 300 + ".jpg", "cannot read"),
    ],
)
def test_a_media_path_that_cannot_be_read_is_a_mistake_with_its_line(
    ref: str, said: str, tmp_path: Path
) -> None:
    text = f'name: m\ndefault:\n  photo: "{ref}"\n  caption: hi\n'
    with pytest.raises(CampaignFileError, match="line 3") as refused:
        parse_campaign(text, base=tmp_path)
    assert said in str(refused.value)


async def test_two_send_nows_at_once_start_one_run(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Two terminals (or a double Enter) starting the same campaign: one run, never two
    (each would message everyone)."""
    async with sessionmaker() as setup:
        await add_subscribers(setup, 3)
        campaign = await campaign_from(setup, "name: twice\ndefault: {text: hi}\n")
    how = SendNow(
        settings=load_settings(), broadcasts=BroadcastsConfig(),
        rfm_segments=DEFAULT_SEGMENT_MAP.names, wait=False,
        out=Console(file=io.StringIO()), err=Console(file=io.StringIO()),
    )  # fmt: skip
    await asyncio.gather(*(send_now(sessionmaker, ref="twice", how=how) for _ in range(2)))
    async with sessionmaker() as check:
        runs = (await check.scalars(select(Run.id).where(Run.campaign_id == campaign.id))).all()
    assert len(runs) == 1


async def test_a_run_whose_links_the_database_refuses_holds_up_no_other_run(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    """A link the database refuses (PostgreSQL: an index entry too big, as a campaign
    saved before link targets were capped may hold): that run cannot start, the runs
    after it can."""
    refused = "https://shop.example/refused"
    broken = await planned(session, 2, f"name: broken\ndefault: {{text: 'see {refused}'}}\n")
    fine = await plan_run(
        session,
        # room for it beside the broken run's queued messages (the frequency cap counts them)
        campaign=await campaign_from(
            session, "name: fine\nfrequency_cap: {messages: 2}\ndefault: {text: hi}\n"
        ),
        now=NOW,
    )

    def refuse(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        if statement.startswith("INSERT INTO links") and refused in str(params):
            raise RuntimeError("index row size exceeds the maximum")

    event.listen(engine.sync_engine, "before_cursor_execute", refuse)
    messenger = FakeMessenger()
    worker = DeliveryWorker(sender(sessionmaker, messenger), sessionmaker, idle_seconds=0.01)

    async def fine_sent() -> bool:
        async with sessionmaker() as reading:
            return (await progress(reading, run_id=fine.run.id)).status is RunStatus.DONE

    running = asyncio.create_task(worker.keep_running())
    try:
        await until(fine_sent, what="the run after the broken one to be sent")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        event.remove(engine.sync_engine, "before_cursor_execute", refuse)
    assert sorted(message.text for message in messenger.sent) == ["hi", "hi"]
    assert (await progress(session, run_id=broken.run.id)).counts == {DeliveryStatus.QUEUED: 2}
    assert worker.crashes == 0


async def test_a_subscriber_whose_values_make_the_text_too_long_or_empty_is_skipped(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Saving checked a sample subscriber; these two are skipped at send time (failed,
    "template"), never sent for Telegram to refuse."""
    await add_subscribers(session, 1, first_id=50, attributes={"bio": "x" * 4100})
    await add_subscribers(session, 1, first_id=60, attributes={"bio": " "})
    text = 'name: x\ndefault: {text: \'{{ attr.get("bio", "Hi") }}\'}\n'
    plan = await planned(session, 2, text)
    messenger = FakeMessenger()
    await sender(sessionmaker, messenger).deliver(plan.run.id)
    assert sorted(message.chat_id for message in messenger.calls) == [1, 2]
    by_chat = await status_by_chat(session, plan.run.id)
    assert by_chat[50] == by_chat[60] == (DeliveryStatus.FAILED, "template")


LEAVING = {2: SubscriberStatus.UNSUBSCRIBED, 3: SubscriberStatus.BLOCKED}
LEFT = ((DeliveryStatus.EXCLUDED, "unsubscribed"), (DeliveryStatus.EXCLUDED, "blocked"))


async def leave(sessionmaker: async_sessionmaker[AsyncSession], *chats: int) -> None:
    """The subscribers of `chats` leave as LEAVING says, from elsewhere (the bot)."""
    async with sessionmaker() as elsewhere:
        for chat in chats:
            await elsewhere.execute(
                update(Subscriber).where(Subscriber.chat_id == chat).values(status=LEAVING[chat])
            )
        await elsewhere.commit()


async def test_who_leaves_while_their_claimed_message_waits_is_not_messaged(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Claimed messages may wait a while (flood control pauses every send for as long as
    Telegram says): whoever unsubscribes or blocks the bot meanwhile is left out."""
    plan = await planned(session, 3)
    messenger = FakeMessenger()

    async def two_leave(message: OutgoingMessage) -> None:
        if message.chat_id == 1:
            await leave(sessionmaker, *LEAVING)

    messenger.before_answer = two_leave
    # All three are claimed at once; one request at a time, so 2 and 3 wait their turn.
    assert await sender(sessionmaker, messenger, in_flight=1).deliver(plan.run.id) is (
        BatchResult.FINISHED
    )
    assert [message.chat_id for message in messenger.calls] == [1]
    by_chat = await status_by_chat(session, plan.run.id)
    assert (by_chat[2], by_chat[3]) == LEFT


async def test_who_leaves_while_their_message_waits_to_be_tried_again_is_not_messaged(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """After a 429 or a 5xx the message goes again later: whoever unsubscribes or blocks
    the bot meanwhile is left out (only the request Telegram did not take went)."""
    plan = await planned(session, 3)
    messenger = FakeMessenger()
    messenger.script = {2: [RetryAfter(0.05)], 3: [TransientError("Bad Gateway")]}

    async def leaves(message: OutgoingMessage) -> None:
        if message.chat_id in LEAVING:
            await leave(sessionmaker, message.chat_id)

    messenger.before_answer = leaves
    assert await sender(sessionmaker, messenger).deliver(plan.run.id) is BatchResult.FINISHED
    assert sorted(message.chat_id for message in messenger.calls) == [1, 2, 3]
    assert [message.chat_id for message in messenger.sent] == [1]
    by_chat = await status_by_chat(session, plan.run.id)
    assert (by_chat[2], by_chat[3]) == LEFT


async def test_a_token_telegram_refuses_fails_nobody(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """401 is about the bot, not the message (a token revoked mid-broadcast): every send
    waits, the message goes back in the queue, and nobody is marked failed, so once the
    token is right again everyone gets it, once."""
    plan = await planned(session, 3)
    messenger = FakeMessenger()
    messenger.script[1] = [Rejected("Unauthorized"), Rejected("Not Found")]
    await sender(sessionmaker, messenger, token_pause=0.01).deliver(plan.run.id)
    assert await status_by_chat(session, plan.run.id) == dict.fromkeys(
        (1, 2, 3), (DeliveryStatus.SENT, None)
    )
    assert [len(messenger.to(chat)) for chat in (1, 2, 3)] == [1, 1, 1]
    assert len(messenger.calls) == 5  # chat 1 tried three times, the others once
