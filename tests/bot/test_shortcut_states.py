"""A `StateFilter` is decided by the shortcut exactly as aiogram decides it, whether it names
its states with strings, `State`s or `StatesGroup`s, or with a group that decides for itself."""

from unittest.mock import AsyncMock

import pytest
from aiogram import Dispatcher
from aiogram.filters import StateFilter
from aiogram.filters.state import StateType
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message, TelegramObject

from bot.shortcut import Unhandled
from tests.bot.test_shortcut import update


class Survey(StatesGroup):
    age = State()
    city = State()


class Anything(StatesGroup):
    """A group that passes whatever the state."""

    step = State()

    def __call__(self, event: TelegramObject, raw_state: str | None = None) -> bool:
        return True


async def _nothing(_message: Message) -> None:
    return None


@pytest.mark.parametrize(
    ("states", "raw_state"),
    [
        ((Survey,), None),
        ((Survey,), "Survey:city"),
        ((Survey(),), "Survey:age"),
        ((Survey.age,), "Survey:city"),
        ((Survey.age, "Other:step"), "Other:step"),
        (("*",), None),
        ((State("*"),), "Survey:age"),
        ((None,), None),
        ((None,), "Survey:age"),
        ((Anything,), None),
    ],
)
async def test_a_state_filter_is_decided_as_aiogram_decides_it(
    states: tuple[StateType, ...], raw_state: str | None
) -> None:
    dispatcher = Dispatcher()
    dispatcher.message.register(_nothing, StateFilter(*states))
    handed_on = AsyncMock()
    sample = update(40, "message", {"text": "42"})
    await Unhandled(dispatcher)(handed_on, sample, {"raw_state": raw_state})
    taken = await StateFilter(*states)(sample.event, raw_state=raw_state)
    assert handed_on.await_count == (1 if taken else 0)
