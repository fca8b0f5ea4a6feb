"""A name nothing has, typed to a command in the admin chat, is answered with the names
there are, as the command line answers it: at most ten, in the order the command that
lists them all shows them, the rest counted; with none, how to make one."""

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.spec import parse_journey
from journeys.store import save_journey
from segments.saved import save_segment
from tests.bot.admin.console import Chat, hand_made
from tests.broadcasts.audience import campaign_from

pytestmark = [pytest.mark.e2e]

JOURNEY = """
name: {name}
trigger: subscribed
steps:
  - id: hi
    send: {{text: Hi}}
"""
SEGMENTS = "the segments are: buyers, vip"
NO_CAMPAIGN = "give its id or name; the campaigns are: summer, spring"
JOURNEYS = "the journeys are: welcome, winback"


async def campaign(session: AsyncSession, name: str) -> None:
    await campaign_from(
        session, f"name: {name}\naudience:\n  - {{query: lang = es, label: es, text: Hi}}\n"
    )


async def journey(session: AsyncSession, name: str) -> None:
    source = JOURNEY.format(name=name)
    await save_journey(
        session, spec=parse_journey(source), source=source, now=datetime.now(UTC), actor=1,
        rfm_segments=(),
    )  # fmt: skip


async def some_of_each(session: AsyncSession) -> None:
    """Segments vip and buyers, campaigns spring then summer, journeys welcome and
    winback (each with a hidden campaign of its own), persona Ana."""
    now = datetime.now(UTC)
    for name in ("vip", "buyers"):
        await save_segment(session, name=name, rule_text="lang = es", now=now)
    for name in ("spring", "summer"):
        await campaign(session, name)
    for name in ("winback", "welcome"):
        await journey(session, name)
    await hand_made(session, "Ana", segment="vip")


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("/campaign nope", f"no campaign 'nope': {NO_CAMPAIGN}"),
        ("/campaign 999", f"no campaign '999': {NO_CAMPAIGN}"),
        ("/report nope", f"no campaign 'nope': {NO_CAMPAIGN}"),
        ("/journey nope", f"no journey named 'nope'; {JOURNEYS}"),
        ("/report journey nope", f"no journey named 'nope'; {JOURNEYS}"),
        ("/segment_delete nope", f"no segment named 'nope'; {SEGMENTS}"),
        ("/export nope", f"no segment named 'nope'; {SEGMENTS}"),
        ("/lookalike nope 5", f"no segment named 'nope'; {SEGMENTS}"),
        ("/persona_from nope", f"no segment named 'nope'; {SEGMENTS}"),
        ("/persona nope", "no persona named 'nope'; the personas are: Ana"),
        ("/persona_delete nope", "no persona named 'nope'; the personas are: Ana"),
    ],
)  # fmt: skip
async def test_an_unknown_name_is_answered_with_the_names_there_are(
    owner: Chat, session: AsyncSession, line: str, answer: str
) -> None:
    await some_of_each(session)
    assert await owner.reply(line) == answer


async def test_a_word_that_is_no_segment_nor_a_query_is_told_the_segments(
    owner: Chat, session: AsyncSession
) -> None:
    await some_of_each(session)
    answer = await owner.reply("/segment nope")
    assert answer.startswith(f"no segment named 'nope'; {SEGMENTS}; and not a query either: ")


async def test_the_ten_latest_campaigns_are_listed_and_the_older_counted(
    owner: Chat, session: AsyncSession
) -> None:
    for number in range(12):
        await campaign(session, f"c{number}")
    latest = ", ".join(f"c{number}" for number in range(11, 1, -1))
    assert await owner.reply("/campaign nope") == (
        f"no campaign 'nope': give its id or name; the campaigns are: {latest} "
        "and 2 more (the older ones: /campaign ID)"
    )


async def test_ten_segments_are_listed_and_the_rest_counted_with_where_to_see_them(
    owner: Chat, session: AsyncSession
) -> None:
    for number in range(10, 23):
        await save_segment(session, name=f"s{number}", rule_text="lang = es", now=datetime.now(UTC))
    first = ", ".join(f"s{number}" for number in range(10, 20))
    assert await owner.reply("/export nope") == (
        f"no segment named 'nope'; the segments are: {first} and 3 more (/segments lists them)"
    )


@pytest.mark.parametrize(
    ("line", "none"),
    [
        ("/campaign nope", "there are no campaigns yet (/broadcast starts the wizard)"),
        ("/journey nope", "there are no journeys yet (segbot journey create FILE.yaml makes one)"),
        ("/export nope", "there are no segments yet (/segment_save NAME QUERY saves one)"),
        ("/persona nope",
         "there are no personas yet (/persona_from SEGMENT or /persona_create makes one)"),
    ],
)  # fmt: skip
async def test_with_no_names_yet_the_answer_says_how_to_make_one(
    owner: Chat, line: str, none: str
) -> None:
    answer = await owner.reply(line)
    assert answer.endswith(f"; {none}"), answer


async def test_a_deleted_persona_is_gone_from_the_list(owner: Chat, session: AsyncSession) -> None:
    await some_of_each(session)
    assert await owner.reply("/persona_delete Ana") == (
        "Deleted persona Ana. Campaigns saved with it keep their audience."
    )
    assert (await owner.reply("/personas")).startswith("No personas yet.")
