"""A hostile template typed into the broadcast wizard is refused with the limit it went
past, and the bot goes on answering: the check never ran in its event loop."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from telegram_emulator import Emulator
from tests.bot.admin.console import MARKETER, STRANGER, Chat, add_people, add_staff, running_console

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


async def test_the_wizard_refuses_hostile_templates_naming_the_limit(
    emulator: Emulator, session: AsyncSession
) -> None:
    await add_staff(session)
    await add_people(session, emulator, {"telegram_id": 1001, "first_name": "Ana"})
    chat = Chat(emulator, MARKETER)
    await chat.say("/broadcast")
    (approach,) = await chat.say("hostile")
    await chat.press(approach, "A query")
    await chat.say("lang = en")
    hostile = {
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}": (
            "range() may have at most 10000 items"
        ),
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}": "nest them at most 20 deep",
        "{{ 'x' * 50000000 }}": "may have at most 20000",
    }
    for template, limit in hostile.items():
        (refusal,) = await chat.say(template)
        assert limit in refusal.plain_text
        assert await Chat(emulator, STRANGER).say("/start")
    (buttons,) = await chat.say("Hi {{ first_name }}!")
    assert "button" in buttons.plain_text.lower()
