"""An update whose handler loses out to concurrent work on the database (SQLite's locked
database, PostgreSQL's serialization failure or deadlock, no pooled connection free in
time) is handled again from a fresh session; one that has replied already is not; one that
keeps failing is logged with its update id and answered with an apology, its SQL
parameters kept out of the log.

Through the real Dispatcher, middlewares and routers; `/start`'s service function is made
to fail the way a busy database makes it fail.
"""

import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import bot.routers.subscription
from bot.dispatcher import build_dispatcher
from bot.middlewares import CONTENTION_RETRIES
from core.events import EventLog
from core.models import Subscriber, SubscriberStatus
from core.settings import load_settings
from core.subscribers import subscribe
from tests.bot.test_updates_never_crash import AcceptingSession

USER = 880_001
UPDATE_ID = 5_150
WELCOME = "Welcome! You are subscribed. Send /stop at any time to unsubscribe."
PERSONAL = "Ann-Personal-Name"  # a value that must never reach the log
NOW = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())


class RecordingSession(AcceptingSession):
    """Accepts every call, keeping the text of each message sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        if isinstance(method, SendMessage):
            self.sent.append(method.text)
        return await super().make_request(bot, method, timeout)


def write_conflict(dialect: str) -> OperationalError:
    """The error a busy database raises, as SQLAlchemy hands it on: SQLite's "database is
    locked" (its code as the driver sets it), or PostgreSQL's serialization failure."""
    if dialect == "sqlite":
        locked = sqlite3.OperationalError("database is locked")
        locked.sqlite_errorcode = 5
        locked.sqlite_errorname = "SQLITE_BUSY"
        original: Exception = locked
    else:
        original = Exception("could not serialize access due to concurrent update")
        original.sqlstate = "40001"  # type: ignore[attr-defined]
    return OperationalError(
        "INSERT INTO subscribers (first_name) VALUES (?)", {"first_name": PERSONAL}, original
    )


def no_free_connection() -> PoolTimeoutError:
    return PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out")


Subscribe = Callable[..., Awaitable[Any]]


def failing(times: int, error: Exception, calls: list[int]) -> Subscribe:
    """`subscribe` that fails its first `times` calls with `error` after writing in its
    session (rolled back with the session), then subscribes."""

    async def flaky(session: AsyncSession, **arguments: Any) -> Any:
        calls.append(len(calls) + 1)
        if len(calls) <= times:
            session.add(
                Subscriber(
                    telegram_id=USER,
                    chat_id=USER,
                    status=SubscriberStatus.ACTIVE,
                    subscribed_at=datetime.now(UTC),
                    last_seen_at=datetime.now(UTC),
                    attributes={},
                )
            )
            await session.flush()
            raise error
        return await subscribe(session, **arguments)

    return flaky


@pytest.fixture
async def dispatcher(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Dispatcher]:
    settings = load_settings(bot_token="1:TEST", secret_key="test-secret")
    event_log = EventLog(sessionmaker)
    yield build_dispatcher(settings=settings, sessionmaker=sessionmaker, event_log=event_log)
    await event_log.close()


@pytest.fixture
def dialect(engine: AsyncEngine) -> str:
    return engine.dialect.name


async def start(dispatcher: Dispatcher) -> list[str]:
    """Feed one `/start` from USER; the texts the bot sent."""
    session = RecordingSession()
    update = {
        "update_id": UPDATE_ID,
        "message": {
            "message_id": 1,
            "date": NOW,
            "chat": {"id": USER, "type": "private", "first_name": "Ann"},
            "from": {"id": USER, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    await dispatcher.feed_update(Bot("1:TEST", session=session), Update.model_validate(update))
    return session.sent


async def subscribers(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(Subscriber)) or 0


@pytest.mark.parametrize("contention", ["write conflict", "no free connection"])
async def test_a_handler_that_lost_out_succeeds_on_a_retry(
    dispatcher: Dispatcher,
    sessionmaker: async_sessionmaker[AsyncSession],
    dialect: str,
    contention: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = write_conflict(dialect) if contention == "write conflict" else no_free_connection()
    calls: list[int] = []
    monkeypatch.setattr(bot.routers.subscription, "subscribe", failing(1, error, calls))
    with caplog.at_level(logging.WARNING):
        sent = await start(dispatcher)

    assert calls == [1, 2]
    assert sent[0] == WELCOME  # the second attempt's reply, once; the quiz follows
    assert all("Sorry" not in text for text in sent)
    assert await subscribers(sessionmaker) == 1
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert str(UPDATE_ID) in caplog.records[0].getMessage()


async def test_an_update_still_failing_after_the_retries_is_logged_and_answered(
    dispatcher: Dispatcher,
    sessionmaker: async_sessionmaker[AsyncSession],
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(
        bot.routers.subscription, "subscribe", failing(99, write_conflict(dialect), calls)
    )
    with caplog.at_level(logging.WARNING):
        sent = await start(dispatcher)

    assert len(calls) == 1 + CONTENTION_RETRIES
    assert await subscribers(sessionmaker) == 0
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith(f"update {UPDATE_ID} failed on a busy database")
    assert len(sent) == 1
    assert sent[0].startswith("Sorry, something went wrong")
    assert PERSONAL not in caplog.text  # nor in the traceback, which quotes the error


async def test_an_attempt_that_replied_already_is_not_retried(
    dispatcher: Dispatcher,
    sessionmaker: async_sessionmaker[AsyncSession],
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    asked: list[int] = []

    async def ask_fails(*_: Any, **__: Any) -> None:  # the quiz, after the welcome was sent
        asked.append(1)
        raise write_conflict(dialect)

    monkeypatch.setattr(bot.routers.subscription, "ask", ask_fails)
    with caplog.at_level(logging.ERROR):
        sent = await start(dispatcher)

    assert asked == [1]
    assert sent[0] == WELCOME  # once: running /start again would have sent it twice
    assert sent[1].startswith("Sorry, something went wrong")
    assert len(sent) == 2
    assert await subscribers(sessionmaker) == 1
    assert (
        caplog.records[0].getMessage().startswith(f"update {UPDATE_ID} failed on a busy database")
    )


async def test_other_errors_are_not_retried(
    dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(bot.routers.subscription, "subscribe", failing(1, ValueError(), calls))
    with caplog.at_level(logging.ERROR):
        sent = await start(dispatcher)

    assert calls == [1]
    assert sent[0].startswith("Sorry, something went wrong")
    assert caplog.records[0].getMessage().startswith(f"update {UPDATE_ID} failed (ref ")
