"""The admin chat with a language model configured (the local fake OpenAI-compatible
server): AI segments named by it, a persona's narrative, and the wizard's rewrite of one
message for each persona."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from broadcasts.models import Campaign, CampaignTarget, Variant
from core.models import AuditLog
from telegram_emulator import Emulator
from tests.bot.admin.console import (
    MARKETER,
    Chat,
    add_people,
    add_staff,
    hand_made,
    running_console,
)
from tests.polling import until
from tests.segments.ai.fake_llm import FakeModel, fake_model
from tests.segments.ai.planted import plant

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[FakeModel]:
    async with fake_model() as fake:
        yield fake


@pytest.fixture(scope="module")
async def emulator(
    database_url: str, engine: AsyncEngine, model: FakeModel
) -> AsyncIterator[Emulator]:
    async with running_console(
        database_url, llm_base_url=model.base_url, llm_model="fake"
    ) as emulator:
        yield emulator


async def test_segments_named_and_personas_narrated_by_the_model(
    emulator: Emulator, model: FakeModel, session: AsyncSession
) -> None:
    await add_staff(session)
    await plant(session, per_group=20)
    marketer = Chat(emulator, MARKETER)
    _, chart, profiles = await marketer.say("/ai_segments generate 2 3", replies=3)
    assert chart.photo is not None
    assert "Named by the language model." in profiles.plain_text
    name = profiles.plain_text.split("\n\n")[1].split(" — ")[0]
    assert name.startswith("AI 1: Persona number ")
    card = await marketer.reply(f"/persona_from {name} | Modelled")
    assert "Persona Modelled" in card
    assert card.endswith(f'"Persona number {len(model.requests)}"')


async def test_the_wizard_rewrites_a_message_for_each_persona(
    emulator: Emulator, session: AsyncSession
) -> None:
    await add_staff(session)
    await add_people(
        session, emulator,
        {"telegram_id": 1001, "first_name": "Ana", "language_code": "es"},
        {"telegram_id": 1002, "first_name": "Boris", "language_code": "ru"},
    )  # fmt: skip
    await hand_made(session, "Spanish", rule_text="lang = es")
    await hand_made(session, "Russian", rule_text="lang = ru")

    chat = Chat(emulator, MARKETER)
    await chat.say("/broadcast")
    (approach,) = await chat.say("rewritten")
    (picker,) = await chat.press(approach, "Personas")
    for name in ("Spanish", "Russian"):
        await chat.tap(picker, name)
    (first,) = await chat.press(chat.current(picker), "Done")
    assert "Rewrite" not in str(first.callback_buttons())  # nothing to rewrite yet
    await chat.say("Hi {{ first_name }}, see https://shop.example/new")
    (second,) = await chat.say("Shop | https://shop.example")
    asking, *previews = await chat.press(second, "Rewrite", replies=6)
    assert asking.plain_text.startswith("Asking the language model")
    assert previews[3].plain_text == "[fake] Hi Boris, see https://shop.example/new"
    assert previews[3].reply_markup is not None  # the first message's buttons came along
    (when,) = await chat.press(previews[-1], "Looks good")
    (confirm,) = await chat.press(when, "Now")
    await chat.press(confirm, "Confirm", replies=2)

    campaign = await session.scalar(select(Campaign).where(Campaign.name == "rewritten"))
    assert campaign is not None
    texts = await session.scalars(
        select(Variant.body)
        .join(CampaignTarget, CampaignTarget.id == Variant.target_id)
        .where(CampaignTarget.campaign_id == campaign.id)
        .order_by(CampaignTarget.position)
    )
    assert [text.split(",")[0] for text in texts.all()] == [
        "Hi {{ first_name }}",
        "[fake] Hi {{ first_name }}",
    ]

    async def rewrite_audited() -> bool:
        return (
            await session.scalar(select(AuditLog.id).where(AuditLog.action == "campaign.rewrite"))
            is not None
        )

    await until(rewrite_audited, what="campaign.rewrite in the audit log")
