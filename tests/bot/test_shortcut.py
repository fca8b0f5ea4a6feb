"""Updates no handler can take skip the router tree, and every update a handler takes still
reaches it: each sample update goes through the real Dispatcher, and through the same
Dispatcher without the shortcut (the reference); whatever the reference takes, the shortcut
passes on. The skipped updates are still logged."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters import StateFilter
from aiogram.fsm.state import State
from aiogram.types import Message, Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.wizard_steps import Broadcast
from bot.dispatcher import build_dispatcher
from bot.shortcut import Unhandled
from core.events import EventLog, Touch
from core.settings import load_settings
from tests.bot.test_write_conflicts import RecordingSession

ADMIN = 900_001
USER = {"is_bot": False, "first_name": "U", "language_code": "en"}


def update(number: int, kind: str, body: dict[str, Any], *, user: int | None = None) -> Update:
    """An update of `kind` from its own user (so that no flood limit interferes)."""
    user_id = user or 800_000 + number
    person = {"id": user_id, **USER}
    chat = {"id": user_id, "type": "private", "first_name": "U"}
    if kind in {"message", "edited_message"}:
        event = {"message_id": number, "date": 0, "chat": chat, "from": person, **body}
    elif kind == "callback_query":
        message = {"message_id": 1, "date": 0, "chat": chat, "text": "old"}
        event = {
            "id": str(number),
            "from": person,
            "chat_instance": "c",
            "message": message,
            **body,
        }
    elif kind == "message_reaction":
        event = {"chat": chat, "message_id": 5, "user": person, "date": 0, **body}
    else:  # my_chat_member
        event = {"chat": chat, "from": person, "date": 0, **body}
    return Update.model_validate({"update_id": number, kind: event})


STICKER = {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
           "is_animated": False, "is_video": False}  # fmt: skip
BOT_USER = {"id": 1, "is_bot": True, "first_name": "Bot"}
KICKED = {"old_chat_member": {"status": "member", "user": BOT_USER},
          "new_chat_member": {"status": "kicked", "user": BOT_USER, "until_date": 0}}  # fmt: skip
REACTION = {"old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}
CONTACT = {"phone_number": "+1555", "first_name": "U", "user_id": 800_016}
PHOTO = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]

NOBODY_TAKES = [
    update(1, "message", {"text": "thanks!"}),
    update(2, "message", {"sticker": STICKER}),
    update(3, "message_reaction", REACTION),
    update(4, "edited_message", {"text": "thanks!!", "edit_date": 1}),
    update(5, "message", {"text": "a reply, not in any wizard"}, user=ADMIN),
]
TAKEN = [
    update(11, "message", {"text": "/start"}),
    update(12, "message", {"text": "/start promo_1"}),
    update(13, "message", {"text": "/help"}),
    update(14, "message", {"text": "/no_such_command"}),
    update(15, "message", {"photo": PHOTO, "caption": "/stop"}),
    update(16, "message", {"contact": CONTACT}),
    update(17, "callback_query", {"data": "a stale button"}),
    update(18, "my_chat_member", KICKED),
    update(19, "message", {"text": "/campaigns"}, user=ADMIN),
]
IN_WIZARD = update(20, "message", {"text": "Spring sale"}, user=ADMIN + 1)


async def feed(
    dispatcher: Dispatcher, bot: Bot, sample: Update, *, state: State | None = None
) -> Any:
    if state is not None:
        assert isinstance(sample.event, Message)
        chat = sample.event.chat.id
        await dispatcher.fsm.get_context(bot, chat_id=chat, user_id=chat).set_state(state)
    return await dispatcher.feed_update(bot, sample.model_copy(deep=True))


class RecordingLog(EventLog):
    """The event log, noting who each touch it records is from."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessionmaker)
        self.from_users: list[int] = []

    def record(self, touch: Touch) -> None:
        self.from_users.append(touch.telegram_id)
        super().record(touch)


@pytest.fixture
async def dispatchers(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[tuple[Bot, Dispatcher, Dispatcher, Unhandled]]:
    """The real Dispatcher, its shortcut, and a reference Dispatcher without one."""
    settings = load_settings(
        bot_token="1:TEST",
        secret_key="test-secret",
        admin_ids=[ADMIN, ADMIN + 1],
    )
    event_log = RecordingLog(sessionmaker)
    event_log.start()
    real = build_dispatcher(settings=settings, sessionmaker=sessionmaker, event_log=event_log)
    reference = build_dispatcher(settings=settings, sessionmaker=sessionmaker, event_log=event_log)
    [shortcut] = [m for m in real.update.outer_middleware if isinstance(m, Unhandled)]
    for middleware in [m for m in reference.update.outer_middleware if isinstance(m, Unhandled)]:
        reference.update.outer_middleware.unregister(middleware)
    yield Bot("1:TEST", session=RecordingSession()), real, reference, shortcut
    await event_log.close()


async def test_every_update_a_handler_takes_reaches_it(
    dispatchers: tuple[Bot, Dispatcher, Dispatcher, Unhandled],
) -> None:
    bot, real, reference, shortcut = dispatchers
    for sample in TAKEN:
        assert await feed(reference, bot, sample) is not UNHANDLED, sample.event_type
        skipped = shortcut.skipped
        await feed(real, bot, sample)
        assert shortcut.skipped == skipped, f"update {sample.update_id} was skipped"


async def test_a_text_the_wizard_waits_for_reaches_it(
    dispatchers: tuple[Bot, Dispatcher, Dispatcher, Unhandled],
) -> None:
    bot, real, reference, shortcut = dispatchers
    assert await feed(reference, bot, IN_WIZARD, state=Broadcast.name) is not UNHANDLED
    assert await feed(real, bot, IN_WIZARD, state=Broadcast.name) is not UNHANDLED
    assert shortcut.skipped == 0


async def test_updates_nobody_takes_skip_the_tree_and_are_still_logged(
    dispatchers: tuple[Bot, Dispatcher, Dispatcher, Unhandled],
) -> None:
    bot, real, reference, shortcut = dispatchers
    for sample in NOBODY_TAKES:
        assert await feed(reference, bot, sample) is UNHANDLED, sample.update_id
    log: RecordingLog = real.workflow_data["event_log"]
    log.from_users.clear()
    for sample in NOBODY_TAKES:
        assert await feed(real, bot, sample) is UNHANDLED
    assert shortcut.skipped == len(NOBODY_TAKES)
    assert log.from_users == [800_001, 800_002, 800_003, 800_004, ADMIN]


async def test_what_can_take_an_update_is_read_from_the_handlers() -> None:
    """A state handler, a magic filter and a filter the shortcut cannot decide, on a router
    of their own: the first two are decided, the third always passes the update on."""
    waiting = State("answer", group_name="Quiz")
    router = Router()
    router.message.register(_nothing, StateFilter(waiting))
    router.message.register(_nothing, F.location)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    shortcut = Unhandled(dispatcher)
    passed: list[int] = []

    async def then(event: Any, _data: dict[str, Any]) -> None:
        passed.append(event.update_id)

    location = update(31, "message", {"location": {"latitude": 1.0, "longitude": 2.0}})
    await shortcut(then, update(30, "message", {"text": "42"}), {"raw_state": None})
    await shortcut(then, update(30, "message", {"text": "42"}), {"raw_state": waiting.state})
    await shortcut(then, location, {})
    assert passed == [30, 31]

    router.message.register(_nothing, _needs_more_than_the_event)
    everything = Unhandled(dispatcher)
    await everything(then, update(32, "message", {"text": "42"}), {})
    assert passed == [30, 31, 32]


async def _nothing(_message: Message) -> None:
    return None


async def _needs_more_than_the_event(_message: Message, event_from_user: object) -> bool:
    return event_from_user is not None
