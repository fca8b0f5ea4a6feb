"""`/rfm` in the admin chat, through the emulator: with fewer customers than RFM's minimum
it says how many there are and how many it needs; with enough, the segments and a chart."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.clock import utcnow
from segments.rfm.store import rescore_rfm
from telegram_emulator import Emulator
from tests.bot.admin.console import VIEWER, Chat, add_staff, running_console
from tests.segments.rfm.ties import SEVEN, add_shop

pytestmark = [pytest.mark.e2e]
# Thirteen more buyers, each unlike the others: twenty in all, the default minimum.
THIRTEEN = [(number, number, 1, 10.0 * number) for number in range(8, 21)]


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


async def test_rfm_says_it_needs_more_customers_until_there_are_enough(
    emulator: Emulator, session: AsyncSession
) -> None:
    await add_staff(session)
    chat = Chat(emulator, VIEWER)
    assert await chat.reply("/rfm") == (
        "No RFM scores yet: they are computed after each CRM sync (or segbot rfm)."
    )

    await add_shop(session, SEVEN, now=utcnow())
    outcome = await rescore_rfm(session, as_of=utcnow().date(), now=utcnow())
    assert outcome.customers == 0
    assert await chat.reply("/rfm") == (
        "No RFM scores: RFM needs at least 20 customers with orders; there are 7 "
        "(rfm.min_customers in segbot.yaml)."
    )

    await add_shop(session, THIRTEEN, now=utcnow())
    outcome = await rescore_rfm(session, as_of=utcnow().date(), now=utcnow())
    assert outcome.customers == 20
    table, chart = await chat.say("/rfm", replies=2)
    assert f"RFM segments as of {outcome.as_of}: 20 customers" in table.plain_text
    assert chart.photo is not None
