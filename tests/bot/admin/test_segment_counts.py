"""`/segments` in the admin chat says why a segment asking about CRM customers counts no
subscriber when the customers are not linked to any."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from crm_sync.models import Customer
from segments.membership import refresh_memberships
from telegram_emulator import Emulator
from tests.bot.admin.console import OWNER, Chat, add_people

pytestmark = [pytest.mark.e2e]


async def test_the_segment_list_says_customers_are_not_linked(
    emulator: Emulator,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    owner = Chat(emulator, OWNER)
    await add_people(session, emulator, {"telegram_id": 5001, "language_code": "es"})
    now = utcnow()
    session.add_all(
        Customer(source="shop", external_id=str(number), attributes={}, created_at=now,
                 updated_at=now)
        for number in range(1, 51)
    )  # fmt: skip
    await session.commit()
    for command in ("/segment_save buyers buyer", "/segment_save english lang = en"):
        assert (await owner.reply(command)).startswith("Saved ")
    await refresh_memberships(sessionmaker, now=utcnow(), names=["buyers", "english"])

    listed = await owner.reply("/segments")

    assert "buyers: 0 subscribers (50 customers, 0 linked to a subscriber)" in listed
    assert "english: 0 subscribers" not in listed  # its rule asks nothing of customers
    assert "a customer counts once linked to one" in listed
