"""Subscriber-side updates of every kind Telegram can send, hostile or odd, through the real
Dispatcher, middlewares and routers: none fails, each logs what it should once, and each
gets the answer the README promises."""

import itertools
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update, User
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dispatcher import build_dispatcher
from bot.middlewares import ThrottleMiddleware
from bot.polling import feed_raw
from core.events import EventLog, Touch
from core.models import Event, EventType, Subscriber
from core.settings import load_settings
from core.subscribers import Profile, forget, subscribe
from tests.bot.test_updates_never_crash import AcceptingSession

NOW = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
SECRET = "test-secret"


class RecordingSession(AcceptingSession):
    """Accepts every call, as AcceptingSession does, and keeps each one."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        self.calls.append(method)
        return await super().make_request(bot, method, timeout)


@dataclass
class Harness:
    """The real Dispatcher, fed raw updates as polling feeds them, and what it did."""

    sessionmaker: async_sessionmaker[AsyncSession]
    event_log: EventLog
    feed_raw: Callable[[dict[str, Any]], Awaitable[None]]
    api: RecordingSession
    update_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def feed(self, update: dict[str, Any]) -> None:
        await self.feed_raw({"update_id": next(self.update_ids), **update})

    def texts_to(self, chat_id: int) -> list[str]:
        """The texts (or captions) of the messages sent to `chat_id`, in order."""
        return [
            str(getattr(call, "text", None) or getattr(call, "caption", ""))
            for call in self.api.calls
            if getattr(call, "chat_id", None) == chat_id
        ]

    def answers(self) -> list[str | None]:
        """The texts of the callback query answers, in order."""
        return [call.text for call in self.api.calls if isinstance(call, AnswerCallbackQuery)]

    async def events(self) -> list[tuple[str, dict[str, Any]]]:
        """Every event logged so far (the buffered touches written first): type, payload."""
        await self.event_log.flush()
        async with self.sessionmaker() as session:
            rows = await session.scalars(select(Event).order_by(Event.id))
            return [(row.type, row.payload or {}) for row in rows]

    async def subscriber(self, telegram_id: int) -> Subscriber:
        async with self.sessionmaker() as session:
            found = await session.scalar(
                select(Subscriber).where(Subscriber.telegram_id == telegram_id)
            )
        assert found is not None, f"no subscriber {telegram_id}"
        return found


@pytest.fixture
async def bot(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncGenerator[Harness, None]:
    settings = load_settings(bot_token="1:TEST", secret_key=SECRET)
    event_log = EventLog(sessionmaker)
    dispatcher = build_dispatcher(settings=settings, sessionmaker=sessionmaker, event_log=event_log)
    api = RecordingSession()
    client = Bot("1:TEST", session=api)

    async def feed(raw: dict[str, Any]) -> None:
        await feed_raw(dispatcher, client, raw)

    yield Harness(sessionmaker, event_log, feed, api)
    await event_log.close()


def person(user_id: int, **extra: Any) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "U", **extra}


def private(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "U"}


def message(user_id: int, text: str | None = "hello", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": 5,
        "date": NOW,
        "chat": private(user_id),
        "from": person(user_id),
        **extra,
    }
    if text is not None:
        body["text"] = text
    return {"message": body}


def bot_message(chat: dict[str, Any], message_id: int = 4) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": NOW,
        "chat": chat,
        "from": {"id": 1, "is_bot": True, "first_name": "B"},
        "text": "Sale!",
    }


def press(user_id: int, data: str, on: dict[str, Any]) -> dict[str, Any]:
    return {
        "callback_query": {
            "id": str(user_id),
            "from": person(user_id),
            "chat_instance": "c",
            "data": data,
            "message": on,
        }
    }


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# -- deep links --------------------------------------------------------------------------


@pytest.mark.parametrize("payload", ["u-AA", "u-AGZi"])  # UTM sources "\0" and "\0fb"
async def test_a_start_with_a_forged_nul_source_welcomes_without_a_source(
    bot: Harness, caplog: pytest.LogCaptureFixture, payload: str
) -> None:
    await bot.feed(message(31, f"/start {payload}"))
    await bot.feed(message(31, f"/start {payload}"))
    assert errors(caplog) == []
    replies = bot.texts_to(31)
    assert replies[0].startswith("Welcome!")
    assert replies[-1].startswith("You are already subscribed.")
    subscriber = await bot.subscriber(31)
    assert subscriber.source is None
    outcomes = [payload for kind, payload in await bot.events() if kind != "command"]
    assert outcomes == [
        {"outcome": "new", "source": None},
        {"outcome": "already_active", "source": None},
    ]


@pytest.mark.parametrize(
    ("payload", "source"),
    [
        ("promo_spring", "promo_spring"),
        ("промо", None),  # non-ASCII
        ("a" * 65, None),  # over Telegram's 64
        ("c-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", None),  # a forged customer link
    ],
)
async def test_a_deep_link_payload_names_its_source_or_none(
    bot: Harness, caplog: pytest.LogCaptureFixture, payload: str, source: str | None
) -> None:
    await bot.feed(message(32, f"/start {payload}"))
    assert errors(caplog) == []
    assert bot.texts_to(32)[0].startswith("Welcome!")
    subscriber = await bot.subscriber(32)
    assert subscriber.source == source


# -- odd profiles ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["x" * 40, "es\x00", "en US", "-"])
async def test_an_odd_language_code_is_not_kept_and_the_user_is_welcomed(
    bot: Harness, caplog: pytest.LogCaptureFixture, code: str
) -> None:
    update = message(33, "/start", **{"from": person(33, language_code=code)})
    await bot.feed(update)
    assert errors(caplog) == []
    assert bot.texts_to(33)[0].startswith("Welcome!")  # in English, the default
    subscriber = await bot.subscriber(33)
    assert subscriber.language_code is None


@pytest.mark.parametrize("code", ["es", "pt-BR", "zh-hans", "sr-Latn-RS"])
async def test_a_language_tag_is_kept(bot: Harness, code: str) -> None:
    await bot.feed(message(34, "/start", **{"from": person(34, language_code=code)}))
    subscriber = await bot.subscriber(34)
    assert subscriber.language_code == code


# -- the Unsubscribe button ----------------------------------------------------------------


async def test_unsubscribe_under_a_message_telegram_no_longer_shows_unsubscribes(
    bot: Harness,
) -> None:
    await bot.feed(message(35, "/start"))
    old_broadcast = {"chat": private(35), "message_id": 3, "date": 0}  # InaccessibleMessage
    await bot.feed(press(35, "unsubscribe", on=old_broadcast))
    subscriber = await bot.subscriber(35)
    assert subscriber.status == "unsubscribed"
    assert bot.answers() == ["Unsubscribed."]
    assert [kind for kind, _ in await bot.events()].count("unsubscribed") == 1


async def test_a_second_press_of_unsubscribe_sends_no_second_farewell(bot: Harness) -> None:
    await bot.feed(message(36, "/start"))
    for _ in range(2):
        await bot.feed(press(36, "unsubscribe", on=bot_message(private(36))))
    farewells = [text for text in bot.texts_to(36) if text.startswith("You are unsubscribed")]
    assert len(farewells) == 1
    assert bot.answers() == ["Unsubscribed."] * 2
    assert [kind for kind, _ in await bot.events()].count("unsubscribed") == 1


# -- groups --------------------------------------------------------------------------------


async def test_what_a_subscriber_does_in_a_group_is_no_touch(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.feed(message(37, "/start"))
    group = {"id": -100123, "type": "supergroup", "title": "Fans"}
    in_group = {"message_id": 4, "date": NOW, "chat": group, "from": person(37)}
    await bot.feed({"message": in_group | {"text": "hi all"}})
    await bot.feed({"message": in_group | {"text": "/stop"}})
    await bot.feed({"edited_message": in_group | {"text": "hi", "edit_date": NOW}})
    await bot.feed(press(37, "unsubscribe", on=bot_message(group)))
    reaction = {"chat": group, "message_id": 4, "user": person(37), "date": NOW}
    emoji = [{"type": "emoji", "emoji": "👍"}]
    await bot.feed({"message_reaction": reaction | {"old_reaction": [], "new_reaction": emoji}})
    assert errors(caplog) == []
    assert bot.texts_to(-100123) == []
    subscriber = await bot.subscriber(37)
    assert subscriber.status == "active"
    assert [kind for kind, _ in await bot.events()] == ["subscribed", "command"]  # the /start


async def test_what_a_subscriber_does_in_private_is_a_touch(bot: Harness) -> None:
    await bot.feed(message(38, "/start"))
    await bot.feed(message(38, "hello"))
    await bot.feed({"edited_message": message(38, "hi")["message"] | {"edit_date": NOW}})
    await bot.feed(press(38, "lang:menu", on=bot_message(private(38))))
    reaction = {"chat": private(38), "message_id": 4, "user": person(38), "date": NOW}
    emoji = [{"type": "emoji", "emoji": "👍"}]
    await bot.feed({"message_reaction": reaction | {"old_reaction": [], "new_reaction": emoji}})
    kinds = [kind for kind, _ in await bot.events()]
    assert kinds == ["subscribed", "command", "message", "message", "button", "reaction"]


async def test_a_command_in_a_caption_is_logged_as_the_command_it_runs(bot: Harness) -> None:
    await bot.feed(message(39, "/start"))
    photo = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
    await bot.feed(message(39, None, photo=photo, caption="/stop now"))
    assert (await bot.subscriber(39)).status == "unsubscribed"
    touches = [payload for kind, payload in await bot.events() if kind in ("command", "message")]
    assert touches == [{"command": "/start"}, {"command": "/stop"}]


@pytest.mark.parametrize("text", ["/+34600123456", "/4111111111111111 exp 12/29", "/ana.p@mail.es"])
async def test_a_slash_before_personal_data_logs_no_command(bot: Harness, text: str) -> None:
    await bot.feed(message(44, "/start"))
    await bot.feed(message(44, text))
    touches = [payload for kind, payload in await bot.events() if kind in ("command", "message")]
    assert touches == [{"command": "/start"}, {"kind": "ContentType.TEXT"}]


# -- every other kind of update ------------------------------------------------------------

ME = {"id": 1, "is_bot": True, "first_name": "B"}
GROUP = {"id": -100, "type": "group", "title": "G"}
CHANNEL = {"id": -1002, "type": "channel", "title": "C"}
SILENT = {  # updates that are no subscriber's doing in their chat with the bot
    "inline query": {"inline_query": {"id": "1", "from": person(40), "query": "x", "offset": ""}},
    "join request": {
        "chat_join_request": {"chat": GROUP, "from": person(40), "user_chat_id": 40, "date": NOW}
    },
    "channel post": {
        "channel_post": {"message_id": 1, "date": NOW, "chat": CHANNEL, "text": "/start"}
    },
    "reaction count": {
        "message_reaction_count": {"chat": CHANNEL, "message_id": 1, "date": NOW, "reactions": []}
    },
    "business message": {
        "business_message": message(40, "/start")["message"] | {"business_connection_id": "b"}
    },
    "bot added to a group": {
        "my_chat_member": {
            "chat": GROUP,
            "from": person(40),
            "date": NOW,
            "old_chat_member": {"status": "left", "user": ME},
            "new_chat_member": {"status": "member", "user": ME},
        }
    },
    "bot added, as a message": {
        "message": message(40, None, new_chat_members=[ME])["message"] | {"chat": GROUP}
    },
    "a bot writes": {"message": message(40)["message"] | {"from": ME}},
    "anonymous reaction": {
        "message_reaction": {
            "chat": private(40),
            "actor_chat": CHANNEL,
            "message_id": 4,
            "date": NOW,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        }
    },
    "unknown type": {"future_update": {"id": 1}},
}


@pytest.mark.parametrize("update", SILENT.values(), ids=SILENT.keys())
async def test_an_update_from_outside_the_private_chat_is_silent(
    bot: Harness, caplog: pytest.LogCaptureFixture, update: dict[str, Any]
) -> None:
    await bot.feed(message(40, "/start"))
    await bot.feed(update)
    assert errors(caplog) == []
    assert [kind for kind, _ in await bot.events()] == ["subscribed", "command"]
    assert len(bot.api.calls) == 2  # the welcome and the first question of the quiz


async def test_a_reaction_taken_back_is_no_reaction(bot: Harness) -> None:
    await bot.feed(message(41, "/start"))
    reaction = {"chat": private(41), "message_id": 4, "user": person(41), "date": NOW}
    thumbs = [{"type": "emoji", "emoji": "👍"}]
    custom = [{"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"}]
    await bot.feed({"message_reaction": reaction | {"old_reaction": [], "new_reaction": thumbs}})
    await bot.feed({"message_reaction": reaction | {"old_reaction": thumbs, "new_reaction": []}})
    await bot.feed({"message_reaction": reaction | {"old_reaction": [], "new_reaction": custom}})
    reactions = [payload for kind, payload in await bot.events() if kind == "reaction"]
    assert reactions == [{"message_id": 4, "emoji": ["👍"]}, {"message_id": 4, "emoji": []}]


# -- the anti-flood throttle ---------------------------------------------------------------


class EmptyBuckets:
    """Flood buckets with no token left for anyone."""

    async def admit(self, user_id: int) -> bool:
        return False


@pytest.mark.parametrize(("old", "new"), [("member", "kicked"), ("kicked", "member")])
async def test_a_flooder_s_block_or_unblock_is_never_dropped(old: str, new: str) -> None:
    throttle = ThrottleMiddleware(EmptyBuckets())
    handled: list[str] = []

    async def handler(event: TelegramObject, _data: dict[str, Any]) -> None:
        assert isinstance(event, Update)
        handled.append(event.event_type)

    for raw in (message(42, "spam"), member(42, old, new)):
        update = Update.model_validate({"update_id": 1, **raw})
        await throttle(handler, update, {"event_from_user": User(**person(42))})
    assert handled == ["my_chat_member"]
    assert throttle.dropped == 1


LEAVING = [
    message(42, "/stop"),
    message(42, "/stop@SegBot now"),
    message(42, "/forget"),
    message(
        42,
        None,
        caption="/stop",
        photo=[{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}],
    ),
    press(42, "unsubscribe", on=bot_message(private(42))),
    press(42, "forget:ask", on=bot_message(private(42))),
    press(42, "forget:yes", on=bot_message(private(42))),
]
NOT_LEAVING = [
    message(42, "/stopped"),
    message(42, "/ stop"),
    message(42, "stop"),
    press(42, "forget:no", on=bot_message(private(42))),
]


@pytest.mark.parametrize("raw", LEAVING + NOT_LEAVING)
async def test_a_flooder_s_request_to_leave_is_never_dropped(raw: dict[str, Any]) -> None:
    throttle = ThrottleMiddleware(EmptyBuckets())
    handled = await through(throttle, [raw])
    assert handled == (1 if raw in LEAVING else 0)


async def test_a_flood_of_stop_is_cut_off_after_a_few() -> None:
    throttle = ThrottleMiddleware(EmptyBuckets())
    handled = await through(throttle, [message(42, "/stop")] * 20)
    assert handled == ThrottleMiddleware.LEAVING_BURST
    assert await through(throttle, [message(43, "/stop")]) == 1  # another user's own allowance


async def test_stop_after_a_flood_unsubscribes_through_the_real_bot(bot: Harness) -> None:
    await bot.feed(message(37, "/start"))
    for _ in range(40):  # far past the burst: the bucket is empty however slow the machine
        await bot.feed(message(37, "spam"))
    await bot.feed(message(37, "/stop"))
    assert (await bot.subscriber(37)).status == "unsubscribed"
    assert bot.texts_to(37)[-1].startswith("You are unsubscribed")


async def through(throttle: ThrottleMiddleware, raws: list[dict[str, Any]]) -> int:
    """How many of `raws` (updates from user 42 or 43) `throttle` lets through."""
    handled = 0

    async def handler(_event: TelegramObject, _data: dict[str, Any]) -> None:
        nonlocal handled
        handled += 1

    for update_id, raw in enumerate(raws, 1):
        update = Update.model_validate({"update_id": update_id, **raw})
        sender = (raw.get("message") or raw["callback_query"])["from"]
        await throttle(handler, update, {"event_from_user": User(**sender)})
    return handled


def member(user_id: int, old: str, new: str) -> dict[str, Any]:
    """The bot's membership of the user's private chat changing: a block or an unblock."""
    me, kicked = {"id": 1, "is_bot": True, "first_name": "B"}, {"until_date": 0}
    return {
        "my_chat_member": {
            "chat": private(user_id),
            "from": person(user_id),
            "date": NOW,
            "old_chat_member": {"status": old, "user": me} | (kicked if old == "kicked" else {}),
            "new_chat_member": {"status": new, "user": me} | (kicked if new == "kicked" else {}),
        }
    }


# -- the event log across bot processes ------------------------------------------------------


async def test_a_person_erased_in_another_process_comes_back_to_their_new_row(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    this, other = EventLog(sessionmaker, clock=lambda: now), EventLog(sessionmaker)
    async with sessionmaker() as session:
        await subscribe(session, profile=Profile(43, 43), source=None, now=now)
    this.record(Touch(43, EventType.MESSAGE, now, {"kind": "text"}))
    await this.flush()  # this process has seen them
    async with sessionmaker() as session:  # /forget, handled by the other process
        await forget(session, telegram_id=43, now=now)
        await session.commit()
    other.forget_subscriber(43)
    async with sessionmaker() as session:
        back, _ = await subscribe(session, profile=Profile(43, 43), source=None, now=now)
        back_id = back.id
    this.record(Touch(43, EventType.COMMAND, now, {"command": "/profile"}))
    await this.close()
    await other.close()
    async with sessionmaker() as session:
        owner = await session.scalar(select(Event.subscriber_id).where(Event.type == "command"))
    assert owner == back_id
