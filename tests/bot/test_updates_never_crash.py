"""Whatever update arrives, no handler fails: a property test over random sequences of
updates, well-formed or not, decoded one by one as polling and the webhook inbox do
(`bot.polling.feed_raw`) and handled by the real Dispatcher, middlewares and routers.

The Bot API side is a stand-in that accepts every call, so any failure is segbot's own.
"""

import logging
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, Message, User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dispatcher import build_dispatcher
from bot.polling import feed_raw
from core.events import EventLog
from core.settings import load_settings
from core.sources import customer_payload, utm_payload

NOW = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
USERS = (101, 102, 103)
BROKEN_FIELDS = ("message_id", "date", "chat", "from")
BROKEN_VALUES: tuple[object, ...] = ([], "x", {"id": []})  # none of them fits any of those fields


class AcceptingSession(BaseSession):
    """Answers every Bot API call with success: the bot, a sent message, or True."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        chat_id = getattr(method, "chat_id", None)
        result: Any = True
        if method.__returning__ is User:
            result = User(id=1, is_bot=True, first_name="B", username="segbot_demo_bot")
        elif method.__returning__ in (Message, Message | bool):
            result = Message(
                message_id=1,
                date=datetime.now(UTC),
                chat=Chat(id=chat_id if isinstance(chat_id, int) else 1, type="private"),
            )
        return result  # type: ignore[no-any-return]

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109  (BaseSession's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        return None


def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "U", "language_code": "es"}


def chat(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "U"}


commands = st.sampled_from(
    [
        "/start",
        "/start promo",
        "/start " + utm_payload(source="fb", campaign="x"),
        "/start " + customer_payload("C-1", secret="test-secret"),
        "/start c-AAAAAAAAAAAAAAAAAAAA",
        "/stop",
        "/profile",
        "/email a@b.co",
        "/email nope",
        "/language",
        "/forget",
        "/help",
        "/nonsense",
        "/start@segbot_demo_bot",
    ]
)
texts = st.one_of(commands, st.text(max_size=300), st.just("x" * 5000))
callback_data = st.one_of(
    st.sampled_from(
        [
            "qa:interests:deals:0",
            "qa:interests:news:1",
            "qd:interests:0",
            "qa:age:25_34:0",
            "qa:age:nope:0",
            "qa:zzz:a:0",
            "qk:age",
            "qk:zzz",
            "qd:zzz:1",
            "quiz:skip",
            "lang:menu",
            "lang:ru",
            "lang:xx",
            "forget:ask",
            "forget:yes",
            "forget:no",
            "unsubscribe",
            "qa:",
        ]
    ),
    st.text(max_size=64),
)
keyboard = st.lists(st.sampled_from(["✓ Deals", "News", "✓ Events"]), max_size=3).map(
    lambda labels: {
        "inline_keyboard": [
            [
                {
                    "text": label,
                    "callback_data": "qa:interests:"
                    + ("deals" if "Deals" in label else "news")
                    + ":0",
                }
            ]
            for label in labels
        ]
    }
)


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    user_id = draw(st.sampled_from(USERS))
    kind = draw(
        st.sampled_from(
            [
                "text",
                "sticker",
                "contact",
                "edited",
                "callback",
                "member",
                "reaction",
                "forward",
                "broken",
                "unknown",
            ]
        )
    )
    message: dict[str, Any] = {
        "message_id": draw(st.integers(1, 50)),
        "date": NOW,
        "chat": chat(user_id),
        "from": user(user_id),
    }
    if kind in ("text", "forward", "edited"):
        message["text"] = draw(texts)
    if kind == "forward":
        message["forward_origin"] = {"type": "hidden_user", "date": NOW, "sender_user_name": "X"}
    if kind == "sticker":
        message["sticker"] = {
            "file_id": "s",
            "file_unique_id": "s",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        }
    if kind == "contact":
        owner = draw(st.sampled_from([user_id, 999, None]))
        message["contact"] = {
            "phone_number": draw(st.sampled_from(["+34600123456", "600123456", "not a phone", ""])),
            "first_name": "U",
            **({"user_id": owner} if owner else {}),
        }
    if kind == "edited":
        return {"edited_message": message | {"edit_date": NOW}}
    if kind == "broken":  # one field of the wrong kind: the update does not decode
        field = draw(st.sampled_from(BROKEN_FIELDS))
        return {"message": message | {field: draw(st.sampled_from(BROKEN_VALUES))}}
    if kind == "unknown":  # a type of a newer Bot API
        return {"future_update": message}
    if kind == "callback":
        bot_message = {
            "message_id": 7,
            "date": NOW,
            "chat": chat(user_id),
            "from": {"id": 1, "is_bot": True, "first_name": "B"},
            "text": "Q?",
            "reply_markup": draw(keyboard),
        }
        return {
            "callback_query": {
                "id": "1",
                "from": user(user_id),
                "chat_instance": "c",
                "data": draw(callback_data),
                "message": bot_message,
            }
        }
    if kind == "member":
        old, new = draw(st.sampled_from([("member", "kicked"), ("kicked", "member")]))
        bot_user = {"id": 1, "is_bot": True, "first_name": "B"}
        return {
            "my_chat_member": {
                "chat": chat(user_id),
                "from": user(user_id),
                "date": NOW,
                "old_chat_member": {"status": old, "user": bot_user}
                | ({"until_date": 0} if old == "kicked" else {}),
                "new_chat_member": {"status": new, "user": bot_user}
                | ({"until_date": 0} if new == "kicked" else {}),
            }
        }
    if kind == "reaction":
        return {
            "message_reaction": {
                "chat": chat(user_id),
                "message_id": 3,
                "user": user(user_id),
                "date": NOW,
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            }
        }
    return {"message": message}


@pytest.fixture
async def dispatch(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncGenerator[Any, None]:
    settings_ = load_settings(bot_token="1:TEST", secret_key="test-secret")
    event_log = EventLog(sessionmaker)
    dispatcher = build_dispatcher(
        settings=settings_, sessionmaker=sessionmaker, event_log=event_log
    )
    bot = Bot("1:TEST", session=AcceptingSession())

    async def feed(update: dict[str, Any], number: int) -> None:
        await feed_raw(dispatcher, bot, {"update_id": number, **update})

    yield feed
    await event_log.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=st.lists(updates(), min_size=1, max_size=8))
async def test_no_update_makes_a_handler_fail(
    dispatch: Any, sequence: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot"):
        for number, update in enumerate(sequence):
            await dispatch(update, number)
    failures = [
        r for r in caplog.records if r.name.startswith("bot") and r.levelno >= logging.ERROR
    ]
    assert failures == [], failures[0].exc_info if failures else None
    skipped = [r.getMessage().split()[1] for r in caplog.records if r.name == "bot.polling"]
    assert skipped == [str(n) for n, update in enumerate(sequence) if undecodable(update)]


def undecodable(update: dict[str, Any]) -> bool:
    message = update.get("message", {})
    broken = any(message.get(field) in BROKEN_VALUES for field in BROKEN_FIELDS)
    return broken or "future_update" in update
