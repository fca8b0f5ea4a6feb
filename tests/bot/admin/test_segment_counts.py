"""`/segments` in the admin chat says why a segment asking about CRM customers counts no
subscriber when the customers are not linked to any."""

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.models import Subscriber, SubscriberTag
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


async def test_a_rule_of_tags_alone_counts_every_subscriber_it_holds_for(
    emulator: Emulator, session: AsyncSession
) -> None:
    owner = Chat(emulator, OWNER)
    await add_people(session, emulator, *[{"telegram_id": 700 + n} for n in range(10)])
    tagged = (await session.scalars(select(Subscriber.id).order_by(Subscriber.id).limit(4))).all()
    now = utcnow()
    session.add_all(SubscriberTag(subscriber_id=who, tag="vip", added_at=now) for who in tagged)
    await session.commit()

    assert "4 subscribers match now, 4 of them active" in await owner.reply("/segment tag:vip")
    assert "6 subscribers match now, 6 of them active" in await owner.reply("/segment not tag:vip")
    assert "4 subscribers match now" in await owner.reply("/segment_save vips tag:vip")
