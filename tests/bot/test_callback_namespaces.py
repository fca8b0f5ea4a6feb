"""The bot's own buttons and a campaign's cannot be mistaken for each other: every handler
of button presses takes only callback data `broadcasts.button_spec.is_bot_data` names (which
a campaign's button may not carry), but the one that answers any other press."""

from collections.abc import Iterator

from aiogram import Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters.callback_data import CallbackQueryFilter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dispatcher import build_dispatcher
from bot.filters import Data
from broadcasts.button_spec import is_bot_data
from core.events import EventLog
from core.settings import load_settings


def routers(root: Router) -> Iterator[Router]:
    yield root
    for router in root.sub_routers:
        yield from routers(router)


def data_taken(handler: HandlerObject) -> list[str]:
    """The callback data (or the start of it) `handler`'s filters take."""
    taken = []
    for event_filter in handler.filters or []:
        check = event_filter.callback
        if isinstance(check, Data):
            taken.append(check.exactly or check.prefix or "")
        if isinstance(check, CallbackQueryFilter):
            taken.append(f"{check.callback_data.__prefix__}{check.callback_data.__separator__}")
    return taken


async def test_every_press_handler_but_the_last_takes_the_bots_own_data_only(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    settings = load_settings(bot_token="1:TEST", secret_key="test-secret")
    dispatcher = build_dispatcher(
        settings=settings, sessionmaker=sessionmaker, event_log=EventLog(sessionmaker)
    )
    handlers = [
        handler for router in routers(dispatcher) for handler in router.callback_query.handlers
    ]
    *own, anything = handlers
    assert data_taken(anything) == [], "the last answers every other press"
    for handler in own:
        taken = data_taken(handler)
        assert taken, f"{handler.callback.__name__} takes any press"
        assert all(is_bot_data(data) for data in taken), (handler.callback.__name__, taken)
