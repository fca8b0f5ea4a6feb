"""The Duplicate button on a campaign's card, through the emulator: for those who may
change campaigns it saves a copy as a draft, shows it, and is audited; readers never see
it."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from broadcasts.campaigns import get_campaign, save_campaign
from broadcasts.message_content import MessageContent
from broadcasts.models import CampaignStatus
from broadcasts.spec import parse_campaign
from core.clock import utcnow
from core.models import AuditLog
from telegram_emulator import Emulator
from tests.bot.admin.console import MARKETER, VIEWER, Chat, add_staff, running_console
from tests.polling import until

pytestmark = [pytest.mark.e2e]

AUTUMN = """
name: autumn
audience:
  - query: "lang = pt"
    label: watchers
    video: https://cdn.example/promo.mp4
    caption: {en: Watch, pt: Veja}
default: {text: Hello, effect: fire}
schedule: {cron: "0 10 * * 1"}
"""


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


async def test_a_marketer_duplicates_a_campaign_and_it_is_audited(
    emulator: Emulator, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_staff(session)
    original = await save_campaign(session, spec=parse_campaign(AUTUMN), now=utcnow())
    (reading,) = await Chat(emulator, VIEWER).say(f"/campaign {original.id}")
    assert "Duplicate" not in str(reading.callback_buttons())

    chat = Chat(emulator, MARKETER)
    (card,) = await chat.say(f"/campaign {original.id}")
    (copy_card,) = await chat.press(card, "Duplicate")
    async with sessionmaker() as fresh:
        copy = await get_campaign(fresh, ref="autumn-copy")
        assert (copy.status, copy.cron) == (CampaignStatus.DRAFT, None)
        assert [
            MessageContent.of_variant(v, language="en") for t in copy.targets for v in t.variants
        ] == [
            MessageContent.of_variant(v, language="en")
            for t in original.targets
            for v in t.variants
        ]
    assert copy_card.plain_text.startswith(f"Campaign #{copy.id} autumn-copy — draft")

    async def audited() -> list[tuple[int, str, object]]:
        async with sessionmaker() as fresh:
            rows = await fresh.execute(
                select(AuditLog.admin_user_id, AuditLog.action, AuditLog.detail).where(
                    AuditLog.action == "campaign.duplicate"
                )
            )
            return [(who, action, detail.get("outcome")) for who, action, detail in rows]

    async def logged() -> bool:
        return bool(await audited())

    await until(logged, what="the duplicate audited")
    assert await audited() == [
        (MARKETER, "campaign.duplicate", f"ok: campaign {copy.id} autumn-copy")
    ]
