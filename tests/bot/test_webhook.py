"""Webhook mode's receiving side: the secret is checked, an update is stored before the 200,
and stored updates are handled once each, in order per user, even after a crash or a stop.
Whatever the body, the answer is 200, 400 or 403, never a 500."""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.webhook import (
    MAX_DEPTH,
    SECRET_HEADER,
    WEBHOOK_PATH,
    InboxProcessor,
    receiver,
    webhook_secret,
)
from core import inbox
from core.db import create_engine, create_sessionmaker
from core.inbox import InboundUpdate
from tests.broadcasts.audience import NOW
from tests.polling import until
from tests.stopping import fail_when_cancelled, stop

SECRET = webhook_secret("test-key")


def message(update_id: int, user: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "U"},
            "text": text,
        },
    }


@pytest.fixture
async def client(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    receive = receiver(sessionmaker, secret=SECRET, clock=lambda: NOW, stored=asyncio.Event())
    app.router.add_post(WEBHOOK_PATH, receive)
    async with TestClient(TestServer(app)) as client:
        yield client


async def stored(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(InboundUpdate)) or 0


def test_the_secret_is_stable_and_telegram_shaped() -> None:
    assert webhook_secret("test-key") == SECRET != webhook_secret("other-key")
    assert SECRET.isalnum()
    assert len(SECRET) <= 256


async def test_a_request_without_the_secret_is_refused_and_not_stored(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: "é" * len(SECRET)}):
        answer = await client.post(WEBHOOK_PATH, json=message(1, 7, "hi"), headers=headers)
        assert answer.status == 403
    assert await stored(sessionmaker) == 0


async def test_an_update_is_stored_once_before_the_200(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    for _ in range(2):  # Telegram re-posts what it thinks failed
        answer = await client.post(
            WEBHOOK_PATH, json=message(1, 7, "hi"), headers={SECRET_HEADER: SECRET}
        )
        assert answer.status == 200
    assert await stored(sessionmaker) == 1


async def test_what_is_not_an_update_is_a_400(
    client: TestClient[web.Request, web.Application],
) -> None:
    headers = {SECRET_HEADER: SECRET}
    assert (await client.post(WEBHOOK_PATH, data=b"{", headers=headers)).status == 400
    assert (await client.post(WEBHOOK_PATH, json={"x": 1}, headers=headers)).status == 400


async def test_updates_are_handled_once_in_order_per_user_and_one_failure_spares_the_rest(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        for update_id, user, text in [(1, 7, "a"), (2, 8, "x"), (3, 7, "boom"), (4, 7, "b")]:
            await inbox.store(session, message(update_id, user, text), now=NOW)
    seen: list[tuple[int, str]] = []

    async def handle(update: dict[str, Any]) -> None:
        if update["message"]["text"] == "boom":
            raise RuntimeError("a handler bug")
        seen.append((update["message"]["from"]["id"], update["message"]["text"]))

    processor = InboxProcessor(sessionmaker, handle, clock=lambda: NOW)
    assert await processor.handle_batch() == 4
    assert await processor.handle_batch() == 0
    assert [text for user, text in seen if user == 7] == ["a", "b"]
    assert sorted(seen) == [(7, "a"), (7, "b"), (8, "x")]


async def test_an_update_failing_as_the_processor_stops_ends_its_batch_and_the_rest_waits(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Stopping cancels the handler of update 1, and cleaning up after it fails (the
    database locked): the processor stops, not handling update 2 of the same user, and
    both stay in the inbox for the next claim."""
    async with sessionmaker() as session:
        for update_id in (1, 2):
            await inbox.store(session, message(update_id, 7, "hi"), now=NOW)
    started = asyncio.Event()
    seen: list[int] = []

    async def handle(update: dict[str, Any]) -> None:
        seen.append(update["update_id"])
        await fail_when_cancelled(started)

    processor = InboxProcessor(sessionmaker, handle, clock=lambda: NOW, stop_grace=0.1)
    running = asyncio.create_task(processor.run())
    await started.wait()
    await stop(running)

    assert running.cancelled()
    assert seen == [1]
    async with sessionmaker() as session:
        again = await inbox.claim(session, now=NOW + inbox.CLAIM_LEASE + timedelta(seconds=1))
    assert [item.update_id for item in again] == [1, 2]


async def test_a_slow_update_holds_up_only_its_own_users_later_ones(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """User 7's reply waits out flood control: user 8, who wrote after, is answered
    meanwhile, and 7's next update waits for the one before it."""
    started, release = asyncio.Event(), asyncio.Event()
    seen: list[str] = []

    async def handle(update: dict[str, Any]) -> None:
        text = update["message"]["text"]
        if text == "slow":
            started.set()
            await release.wait()
        seen.append(text)

    processor = InboxProcessor(sessionmaker, handle, clock=lambda: NOW, poll_seconds=0.05)
    running = asyncio.create_task(processor.run())
    try:
        async with sessionmaker() as session:
            await inbox.store(session, message(1, 7, "slow"), now=NOW)
            await started.wait()
            await inbox.store(session, message(2, 8, "hi"), now=NOW)
            await inbox.store(session, message(3, 7, "after"), now=NOW)
        await until(lambda: seen == ["hi"], what="8's update, while 7's is still slow")
        await asyncio.sleep(0.2)
        assert seen == ["hi"]  # 7's second waits for their first
        release.set()
        await until(lambda: seen == ["hi", "slow", "after"], what="7's two, in order")
        await until(lambda: processor.handled == 3, what="all three marked handled")
    finally:
        release.set()
        await stop(running)


async def test_a_stop_marks_what_was_handled_and_gives_up_the_rest_at_once(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Stopped while user 8's update is still being handled: user 7's, done, is never
    handled again, and 8's is claimed by the next process at once, not after the lease."""
    async with sessionmaker() as session:
        for update_id, user, text in [(1, 7, "done"), (2, 8, "hangs")]:
            await inbox.store(session, message(update_id, user, text), now=NOW)
    hanging = asyncio.Event()

    async def handle(update: dict[str, Any]) -> None:
        if update["message"]["text"] == "hangs":
            hanging.set()
            await asyncio.Event().wait()

    processor = InboxProcessor(sessionmaker, handle, clock=lambda: NOW, stop_grace=0.1)
    running = asyncio.create_task(processor.run())
    await hanging.wait()
    await stop(running)

    async with sessionmaker() as session:
        again = await inbox.claim(session, now=NOW)
    assert [item.update_id for item in again] == [2]


async def test_a_claim_left_by_a_dead_process_is_taken_again_after_the_lease(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await inbox.store(session, message(1, 7, "hi"), now=NOW)
        assert len(await inbox.claim(session, now=NOW)) == 1  # then that process died
        assert await inbox.claim(session, now=NOW + timedelta(seconds=5)) == []
        again = await inbox.claim(session, now=NOW + inbox.CLAIM_LEASE + timedelta(seconds=1))
    assert [item.update_id for item in again] == [1]


async def test_handled_updates_are_pruned_after_a_day(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await inbox.store(session, message(1, 7, "hi"), now=NOW)
        await inbox.store(session, message(2, 7, "later"), now=NOW)
        await inbox.mark_handled(session, [1], now=NOW)
        assert await inbox.prune(session, now=NOW + timedelta(hours=23)) == 0
        assert await inbox.prune(session, now=NOW + timedelta(hours=25)) == 1
    assert await stored(sessionmaker) == 1  # the unhandled one stays


async def test_a_body_too_deep_or_not_strict_json_is_a_400_never_a_500(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = {SECRET_HEADER: SECRET}
    deep = "[" * 100_000 + "]" * 100_000
    bodies = [
        deep,
        '{"update_id": 1, "message": ' + deep + "}",
        '{"update_id": 2, "x": NaN}',
        '{"update_id": 3, "x": -Infinity}',
        '{"update_id": 4, "x": 1e999}',
        '{"update_id": 5, "x": ' + "9" * 5000 + "}",
        "[1, 2]",
        b"\xff\xfe{".decode("latin-1"),
    ]
    for body in bodies:
        answer = await client.post(WEBHOOK_PATH, data=body.encode(), headers=headers)
        assert answer.status == 400, (body[:40], await answer.text())
    answer = await client.post(WEBHOOK_PATH, data=deep.encode(), headers=headers)
    assert await answer.text() == "the body is JSON nested too deep to read"
    assert await stored(sessionmaker) == 0


async def test_an_update_id_that_does_not_fit_the_inbox_is_a_400(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    for update_id in ["-1", str(2**63), str(2**64), '"7"', "7.0", "true", "null"]:
        body = f'{{"update_id": {update_id}, "message": {{}}}}'.encode()
        answer = await client.post(WEBHOOK_PATH, data=body, headers={SECRET_HEADER: SECRET})
        assert answer.status == 400, update_id
    assert await stored(sessionmaker) == 0


async def test_an_update_nested_deeper_than_the_limit_is_acknowledged_logged_and_not_stored(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    nested: Any = "secret text"
    for _ in range(MAX_DEPTH):
        nested = [nested]
    with caplog.at_level(logging.WARNING, logger="bot.webhook"):
        answer = await client.post(
            WEBHOOK_PATH, json={"update_id": 42, "x": nested}, headers={SECRET_HEADER: SECRET}
        )
    assert answer.status == 200  # Telegram must not post it again
    assert await stored(sessionmaker) == 0
    assert caplog.messages == [f"update 42 skipped: nested deeper than {MAX_DEPTH} levels"]


async def test_strings_a_database_may_refuse_are_stored_as_they_are(
    client: TestClient[web.Request, web.Application],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    body = b'{"update_id": 9, "message": {"text": "a\\u0000b\\ud800c\\udfff"}}'
    answer = await client.post(WEBHOOK_PATH, data=body, headers={SECRET_HEADER: SECRET})
    assert answer.status == 200
    async with sessionmaker() as session:
        [item] = await inbox.claim(session, now=NOW)
    assert item.payload["message"]["text"] == "a\x00b\ud800c\udfff"


async def test_an_update_whose_sender_id_is_not_an_integer_is_still_handled(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    odd_senders: list[Any] = [[7], {"id": 7}, "7", None]
    async with sessionmaker() as session:
        for update_id, sender in enumerate(odd_senders, start=1):
            payload = message(update_id, 7, "hi")
            payload["message"]["from"]["id"] = sender
            await inbox.store(session, payload, now=NOW)
    seen: list[int] = []

    async def handle(update: dict[str, Any]) -> None:
        seen.append(update["update_id"])

    processor = InboxProcessor(sessionmaker, handle, clock=lambda: NOW)
    assert await processor.handle_batch() == len(odd_senders)
    assert sorted(seen) == [1, 2, 3, 4]


async def test_an_update_the_database_cannot_store_is_a_503_and_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database out of reach (here, a SQLite file in a folder that is gone): Telegram
    gets a 503 and posts the update again, and the log has one line, no traceback."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'segbot.db'}")
    app = web.Application()
    receive = receiver(
        create_sessionmaker(engine), secret=SECRET, clock=lambda: NOW, stored=asyncio.Event()
    )
    app.router.add_post(WEBHOOK_PATH, receive)
    try:
        with caplog.at_level(logging.ERROR):
            async with TestClient(TestServer(app)) as client:
                headers = {SECRET_HEADER: SECRET}
                answer = await client.post(WEBHOOK_PATH, json=message(5, 7, "hi"), headers=headers)
                assert answer.status == 503
    finally:
        await engine.dispose()
    [line] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert line.getMessage().startswith("update 5 not stored (OperationalError): answered 503")
    assert line.exc_info is None
