"""AI segments, personas and lookalikes from the admin chat, through the emulator: each
command for a role that may use it and for one that may not, generation with its chart
and regeneration saying what it replaced, bad input answered with usage, and the
broadcast wizard's personas approach ending in a campaign whose targets are personas.
No language model is configured here (test_admin_ai_model.py has one)."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from broadcasts.models import Campaign, CampaignTarget
from core.clock import utcnow
from core.models import AuditLog
from segments.models import Persona
from segments.saved import save_segment
from telegram_emulator import Emulator
from tests.bot.admin.console import (
    MARKETER,
    NOT_A_COMMAND,
    OPERATOR,
    OWNER,
    STRANGER,
    VIEWER,
    Chat,
    add_people,
    add_staff,
    hand_made,
    running_console,
)
from tests.polling import until
from tests.segments.ai.planted import plant

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


@pytest.fixture
async def staff(session: AsyncSession, emulator: Emulator) -> None:
    await add_staff(session)


async def audited(session: AsyncSession, *actions: str) -> None:
    """Wait until each of `actions` is in the audit log (written just after the reply)."""

    async def found() -> bool:
        logged = set((await session.scalars(select(AuditLog.action))).all())
        return set(actions) <= logged

    await until(found, what=f"{', '.join(actions)} in the audit log")


async def test_ai_segments_generate_regenerate_and_list(
    emulator: Emulator, staff: None, session: AsyncSession
) -> None:
    await plant(session, per_group=30)
    marketer, viewer = Chat(emulator, MARKETER), Chat(emulator, VIEWER)
    assert await viewer.reply("/ai_segments") == "No AI segments yet."
    assert await Chat(emulator, STRANGER).reply("/ai_segments") == NOT_A_COMMAND
    assert "may list AI segments" in await viewer.reply("/ai_segments generate")

    working, chart, profiles = await marketer.say("/ai_segments generate 2 4", replies=3)
    assert working.plain_text.startswith("Finding AI segments")
    assert chart.photo is not None
    assert chart.plain_text.endswith("of 90 subscribers")
    assert "active subscribers" in profiles.plain_text
    assert "Pain points:" in profiles.plain_text
    assert "How many: k=" in profiles.plain_text
    assert "Names use only traits held by at least 60% of a segment" in profiles.plain_text
    assert "% (audience " in profiles.plain_text
    assert "Replaced" not in profiles.plain_text
    assert "AI segments exist already" in await marketer.reply("/ai_segments generate")

    largest = profiles.plain_text.split("\n\n")[1].split(" — ")[0]
    card = await marketer.reply(f"/persona_from {largest} Bargain Bella")
    assert "Persona Bargain Bella" in card
    assert f"segment {largest}" in card

    _, chart, profiles = await marketer.say("/ai_segments regenerate 2 4", replies=3)
    assert chart.photo is not None
    assert "Replaced " in profiles.plain_text
    assert largest in profiles.plain_text.split("\n\n")[0]
    assert "These personas lost their source segment: Bargain Bella" in profiles.plain_text

    listed = await viewer.reply("/ai_segments")
    assert listed.startswith("AI segments (")
    assert "Names use only traits held by at least 60% of a segment" in listed
    assert "Pain points:" in listed
    assert "is gone" in await viewer.reply("/persona Bargain Bella")
    await audited(session, "ai_segments", "persona_from", "persona")


async def test_personas_by_hand_and_from_a_segment(
    emulator: Emulator, staff: None, session: AsyncSession
) -> None:
    await add_people(
        session, emulator, {"telegram_id": 1001, "language_code": "es"},
        {"telegram_id": 1002, "language_code": "ru"},
    )  # fmt: skip
    await save_segment(session, name="russian", rule_text="lang = ru", now=utcnow())
    marketer, viewer = Chat(emulator, MARKETER), Chat(emulator, VIEWER)
    assert await viewer.reply("/personas") == "No personas yet."
    assert await Chat(emulator, STRANGER).reply("/personas") == NOT_A_COMMAND
    create = (
        "/persona_create Spanish shoppers | too busy | carousel | warm | free delivery | lang = es"
    )
    assert await Chat(emulator, OPERATOR).reply(create) == NOT_A_COMMAND
    assert await viewer.reply(create) == NOT_A_COMMAND
    saved = await marketer.reply(create)
    assert "Persona Spanish shoppers" in saved
    assert "rule lang = es, 1 subscribers now" in saved
    assert "Example customer: someone in lang = es" in saved
    by_segment = (
        "/persona_create Readers | no time | short video | brief | a digest | russian | Ivan, 40"
    )
    assert "segment russian" in await marketer.reply(by_segment)
    assert "'russian' is not an AI segment" in await marketer.reply("/persona_from russian")
    assert await viewer.reply("/persona_from russian") == NOT_A_COMMAND

    listed = await viewer.reply("/personas")
    assert "• Readers: short video, brief — segment russian" in listed
    assert "• Spanish shoppers: carousel, warm — rule lang = es" in listed
    card = await viewer.reply("/persona Readers")
    assert "Example customer: Ivan, 40" in card
    await audited(session, "persona_create", "personas", "persona")


async def test_a_lookalike_from_the_chat(
    emulator: Emulator, staff: None, session: AsyncSession
) -> None:
    await plant(session, per_group=20, buyers_in="news readers")
    await save_segment(session, name="buyers", rule_text="buyer", now=utcnow())
    assert await Chat(emulator, OPERATOR).reply("/lookalike buyers 10") == NOT_A_COMMAND
    assert await Chat(emulator, VIEWER).reply("/lookalike buyers 10") == NOT_A_COMMAND
    owner = Chat(emulator, OWNER)
    saved = await owner.reply("/lookalike buyers 10")
    assert (
        "Saved the segment lookalike: buyers: the 10 subscribers most like the 10 in buyers"
        in saved
    )
    again = await owner.reply('/lookalike buyers 1,000 "lookalike: buyers"')
    assert again.startswith("Replaced the segment lookalike: buyers: the 50 subscribers")
    assert "Only 50 active subscribers outside buyers exist." in again
    await audited(session, "lookalike")
    # a seed whose name holds numbers and commas of its own, as an AI segment's does
    await save_segment(session, name="AI 2: age 25_34, Madrid, ES", rule_text="buyer", now=utcnow())
    named = await owner.reply("/lookalike AI 2: age 25_34, Madrid, ES 5 twins")
    assert named.startswith("Saved the segment twins: the 5 subscribers"), named


BAD_INPUT = [
    ("/ai_segments make", "Usage: /ai_segments [generate|regenerate]"),
    ("/ai_segments generate 1 4", "K_MIN must be a number from 2 to 50; got '1'"),
    ("/ai_segments generate 5 3", "K_MIN (5) must not exceed K_MAX (3)"),
    ("/ai_segments generate 3", "Usage: /ai_segments"),
    ("/ai_segments generate describe", "Say what to look for after describe"),
    ("/lookalike buyers", "Usage: /lookalike SEED SIZE [NAME]"),
    ("/lookalike nosuch 5", "no segment named 'nosuch'"),
    ("/lookalike nosuch 0", "the size must be between 1 and"),
    ("/personas all", "/personas takes no arguments"),
    ("/persona", "Usage: /persona NAME"),
    ("/persona nosuch", "no persona named 'nosuch'"),
    ("/persona_from", "Usage: /persona_from SEGMENT [NAME]"),
    ("/persona_from nosuch", "no segment named 'nosuch'"),
    ("/persona_from a |", "Give both sides of the |"),
    ("/persona_create a | b", "Give 6 parts separated by |"),
    ("/persona_create x | p | podcast | t | o | lang = es", "Unknown format 'podcast'"),
    ("/persona_create x | p | text | t | o | lang = ", "at column 7: expected a value"),
    ("/persona_create x | p | text | t | o | in segment nosuch", "no segment named 'nosuch'"),
]


async def test_bad_input_is_answered_with_what_was_expected(
    emulator: Emulator, staff: None
) -> None:
    owner = Chat(emulator, OWNER)
    for line, expected in BAD_INPUT:
        assert expected in await owner.reply(line), line
    working, error = await owner.say(
        "/ai_segments generate describe interests where lang = ", replies=2
    )
    assert working.plain_text.startswith("Finding AI segments")
    assert error.plain_text.endswith("lang =\n      ^")


async def test_the_wizard_targets_personas(
    emulator: Emulator, staff: None, session: AsyncSession
) -> None:
    await add_people(
        session, emulator,
        {"telegram_id": 1001, "first_name": "Ana", "language_code": "es"},
        {"telegram_id": 1002, "first_name": "Boris", "language_code": "ru"},
        {"telegram_id": 1003, "first_name": "Chloe", "language_code": "en"},
    )  # fmt: skip
    await save_segment(session, name="russian", rule_text="lang = ru", now=utcnow())
    await hand_made(session, "Spanish shoppers", rule_text="lang = es")
    await hand_made(session, "Russian readers", segment="russian")
    for number in range(4):
        await hand_made(session, f"Extra {number}", rule_text="lang = en")

    chat = Chat(emulator, MARKETER)
    await chat.say("/broadcast")
    (approach,) = await chat.say("persona_sale")
    (segments,) = await chat.press(approach, "Saved segments")
    await chat.tap(segments, "russian")
    (approach,) = await chat.press(chat.current(segments), "Back")
    (picker,) = await chat.press(approach, "Personas")
    assert "Chosen: none yet" in picker.plain_text
    for name in ("Spanish shoppers", "Russian readers", "Extra 0", "Extra 1", "Extra 2"):
        await chat.tap(picker, name)
    (limit,) = await chat.press(chat.current(picker), "Extra 3")
    assert "at most 5 personas" in limit.plain_text
    for name in ("Extra 0", "Extra 1", "Extra 2"):
        await chat.tap(picker, name)
    assert "Chosen: Spanish shoppers, Russian readers" in chat.current(picker).plain_text

    (spanish,) = await chat.press(chat.current(picker), "Done")
    assert "Message for Spanish_shoppers (1 of 2)" in spanish.plain_text
    (buttons,) = await chat.say("Hola {{ first_name }}!")
    (russian,) = await chat.press(buttons, "No buttons")
    (needs_model,) = await chat.press(russian, "Rewrite")
    assert "needs a language model" in needs_model.plain_text
    (buttons,) = await chat.say("Привет, {{ first_name }}")
    previews = await chat.press(buttons, "No buttons", replies=5)
    assert previews[1].plain_text == "Hola Ana!"
    assert previews[3].plain_text == "Привет, Boris"
    (when,) = await chat.press(previews[-1], "Looks good")
    (confirm,) = await chat.press(when, "Now")
    assert "Approach: Personas" in confirm.plain_text
    assert "Audience: 2 subscribers" in confirm.plain_text
    saved, _ = await chat.press(confirm, "Confirm", replies=2)
    assert saved.plain_text.startswith("Saved campaign #")

    await until(
        lambda: bool(emulator.messages_to(1001)) and bool(emulator.messages_to(1002)),
        what="the campaign to reach 1001 and 1002",
    )
    assert emulator.messages_to(1001)[-1].plain_text == "Hola Ana!"
    assert emulator.messages_to(1003) == []
    campaign = await session.scalar(select(Campaign).where(Campaign.name == "persona_sale"))
    assert campaign is not None
    targets = await session.execute(
        select(CampaignTarget.label, CampaignTarget.segment, CampaignTarget.rule_text)
        .where(CampaignTarget.campaign_id == campaign.id)
        .order_by(CampaignTarget.position)
    )
    assert targets.all() == [
        ("Spanish_shoppers", None, "lang = es"),
        ("Russian_readers", "russian", None),
    ]
    assert await session.scalar(select(Persona.id).where(Persona.name == "Extra 3")) is not None
