"""Bad input to the admin chat's commands is answered with what was wrong, then the
usage: a segment name the wizard could not offer, a word /export does not take, a size
that is not one, an /ai_segments request in the wrong order."""

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from segments.saved import save_segment
from tests.bot.admin.console import Chat, add_people
from tests.broadcasts.audience import campaign_from

pytestmark = [pytest.mark.e2e]

SIZE_RULE = "the size must be between 1 and 10,000,000, a whole number"


async def with_segments(owner: Chat, session: AsyncSession) -> None:
    """`vip` and `Spanish fans` (a name with a space, as AI segments and lookalikes have),
    each with one member."""
    await add_people(session, owner.emulator, {"telegram_id": 1001, "language_code": "es"})
    now = datetime.now(UTC)
    await save_segment(session, name="vip", rule_text="lang = es", now=now)
    await save_segment(session, name="Spanish fans", rule_text="lang = es", now=now)


@pytest.mark.parametrize("name", ["café", "a/b", "🎉", "x" * 65, "two\u00a0words"])
async def test_a_segment_name_the_wizard_could_not_offer_is_refused(owner: Chat, name: str) -> None:
    answer = await owner.reply(f"/segment_save {name} lang = es")
    assert "cannot name a segment: use 1-64 ASCII letters, digits, _ . or -" in answer
    assert "Usage: /segment_save NAME QUERY" in answer
    assert await owner.reply("/segments") == (
        "No saved segments yet. Save one: /segment_save NAME QUERY"
    )


async def test_a_name_of_letters_digits_and_punctuation_is_saved(owner: Chat) -> None:
    assert (await owner.reply("/segment_save Vip_2.es-x lang = es")).startswith(
        "Saved Vip_2.es-x (version 1)"
    )


@pytest.mark.parametrize(
    ("line", "wrong"),
    [
        ("/export vip hashed extra", "'extra' is not understood: nothing comes after the format"),
        ("/export vip extra", "'extra' is not understood: after the segment 'vip' comes hashed"),
        ("/export vip ids ids", "'ids' is not understood: nothing comes after the format"),
        ("/export Spanish fans csv", "'csv' is not understood: after the segment 'Spanish fans'"),
    ],
)
async def test_an_export_word_that_is_no_format_is_named(
    owner: Chat, session: AsyncSession, line: str, wrong: str
) -> None:
    await with_segments(owner, session)
    answer = await owner.reply(line)
    assert answer.startswith(wrong), answer
    assert "Usage: /export SEGMENT [hashed|ids]" in answer


@pytest.mark.parametrize(
    ("line", "file"),
    [
        ("/export vip", "vip-hashed.csv"),
        ("/export vip IDS", "vip-ids.csv"),
        ("/export Spanish fans", "Spanish_fans-hashed.csv"),
        ("/export Spanish fans ids", "Spanish_fans-ids.csv"),
    ],
)
async def test_the_documented_export_forms_still_export(
    owner: Chat, session: AsyncSession, line: str, file: str
) -> None:
    await with_segments(owner, session)
    (document,) = await owner.say(line)
    assert document.document is not None, document.plain_text
    assert document.file_name == file


async def test_an_unknown_segment_to_export_is_named_whole(owner: Chat) -> None:
    none = "there are no segments yet (/segment_save NAME QUERY saves one)"
    assert await owner.reply("/export nosuch hashed") == f"no segment named 'nosuch'; {none}"
    assert await owner.reply("/export a hashed extra") == (
        f"no segment named 'a hashed extra'; {none}"
    )


@pytest.mark.parametrize(
    ("line", "wrong"),
    [
        ("/lookalike vip -1", f"'-1' is not a size: {SIZE_RULE}."),
        ("/lookalike vip 0", f"'0' is not a size: {SIZE_RULE}."),
        ("/lookalike vip 20,000,000", f"'20,000,000' is not a size: {SIZE_RULE}."),
        ("/lookalike vip 1.5", f"'1.5' is not a size: {SIZE_RULE}."),
        ("/lookalike vip ten", f"'ten' is not a size: {SIZE_RULE}."),
        ("/lookalike Spanish fans 🎉 x", f"'🎉' is not a size: {SIZE_RULE}."),
        ("/lookalike nosuch -5", f"'-5' is not a size: {SIZE_RULE}."),
        ("/lookalike vip", f"Give how many subscribers to find after the seed: {SIZE_RULE}."),
        ("/lookalike Spanish fans", "Give how many subscribers to find after the seed"),
        ("/lookalike", "Give the seed segment and how many subscribers to find."),
        (f"/lookalike vip 5 {'n' * 65}", "The NAME is 65 characters: a segment name is at most 64"),
    ],
)
async def test_a_lookalike_without_a_usable_size_says_what_is_wrong(
    owner: Chat, session: AsyncSession, line: str, wrong: str
) -> None:
    await with_segments(owner, session)
    answer = await owner.reply(line)
    assert answer.startswith(wrong), answer
    assert "Usage: /lookalike SEED SIZE [NAME]" in answer


@pytest.mark.parametrize(
    ("line", "wrong"),
    [
        ("/ai_segments describe x", "describe comes after generate or regenerate"),
        ("/ai_segments foo", "'foo' is not understood: start with generate or regenerate"),
        ("/ai_segments generate 3", "Give both K_MIN and K_MAX, or neither; got only '3'."),
        ("/ai_segments generate 3 4 5", "'5' is not understood: after K_MIN K_MAX comes"),
        ("/ai_segments regenerate x 4", "K_MIN must be a number from 2 to 50; got 'x'."),
    ],
)
async def test_an_ai_segments_request_out_of_order_says_what_is_wrong(
    owner: Chat, line: str, wrong: str
) -> None:
    answer = await owner.reply(line)
    assert answer.startswith(wrong), answer
    assert "Usage: /ai_segments [generate|regenerate]" in answer


@pytest.mark.parametrize(
    ("line", "wrong", "usage"),
    [
        ("/admins", "Say what to do: list, add, remove.", "/admins list"),
        ("/admins promote 5", "'promote' is not understood: list, add, remove.", "/admins list"),
        ("/admins list extra", "list takes nothing more: 'extra' is more than that.", "/admins"),
        ("/admins add", "add takes a USER and a ROLE; got nothing.", "/admins list"),
        ("/admins add 5", "add takes a USER and a ROLE; got only '5'.", "/admins list"),
        ("/admins add 5 viewer x", "add takes a USER and a ROLE: 'x' is more than that.", "/adm"),
        ("/admins remove", "remove takes a USER; got nothing.", "/admins list"),
        ("/admins remove 5 6", "remove takes a USER: '6' is more than that.", "/admins list"),
        ("/console x", "'x' is not understood: /console opens the console, /console link", "/con"),
        ("/console link now", "'link now' is not understood: /console opens", "/console [link]"),
        ("/report", "Give the campaign's id or name, or journey and the journey's name.", "/rep"),
        ("/report a b", "Give only the campaign's id or name, or journey and the journey's", "/re"),
        ("/report journey", "Give the journey's name: /report journey NAME.", "/report ID"),
        ("/campaign", "Give the campaign's id or name.", "/campaign ID"),
        ("/campaign 1 🎉", "Give only the campaign's id or name, one word: '🎉' is more", "/camp"),
        ("/journey welcome back", "Give only the journey's name, one word: 'back' is more", "/jou"),
        ("/segment", "Give a saved segment's name or a query.", "/segment NAME|QUERY"),
        ("/segment_delete", "Give the name of the segment to delete.", "/segment_delete NAME"),
        ("/export", "Give the segment to export.", "/export SEGMENT"),
        ("/find", "Give the subscriber to show.", "/find USER"),
        ("/tag 1001", "Give the tag after the subscriber '1001'.", "/tag USER TAG"),
        ("/untag 1001 a b", "A tag is one word without spaces: 'b' is more than one tag.", "/un"),
        ("/persona", "Give the persona's name.", "/persona NAME"),
        ("/persona_from", "Give the AI segment to make the persona from.", "/persona_from"),
        ("/persona_create a | b", "Give 6 parts separated by |: NAME, problem, format,", "/per"),
        ("/persona_create a|p|text|t|o|lang = es|e|x", "Give 6 parts separated by |", "/pers"),
        ("/persona_create a | p | | t | o | lang = es", "The format part is empty: give 6", "/pe"),
        ("/persona_create a|p|text|t|o|lang = es|", "The example customer part is empty", "/p"),
    ],
)
async def test_a_missing_unknown_or_extra_word_is_named_with_the_usage(
    owner: Chat, line: str, wrong: str, usage: str
) -> None:
    answer = await owner.reply(line)
    assert answer.startswith(wrong), answer
    assert f"\nUsage: {usage}" in answer, answer


async def test_a_persona_line_with_too_many_parts_says_how_many(owner: Chat) -> None:
    answer = await owner.reply("/persona_create a|p|text|t|o|lang = es|e|x")
    assert "(and an example customer if you like); got 8." in answer


async def test_a_campaign_named_journey_is_still_reported(
    owner: Chat, session: AsyncSession
) -> None:
    """`/report journey` is the campaign `journey` when there is one; only without it is
    the journey's name missing."""
    campaign = await campaign_from(
        session, "name: journey\naudience:\n  - {query: lang = es, label: es, text: Hi}\n"
    )
    text, _chart, _csv = await owner.say("/report journey", replies=3)
    assert text.plain_text.startswith(f"Report: campaign #{campaign.id} journey: not sent yet")
