"""Journeys in the admin console through the emulator: `/journeys` and `/journey NAME` for
everyone who may read reports, Pause and Resume (audited) for those who may change
campaigns, `/report journey NAME` with its chart and CSV; nothing for anyone else.

The journey is the hand-counted one of tests/journeys/report_scenario.py, paused before
the bot sees it, so the runner moves nobody while the counts are read."""

import csv
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.admin.journey_commands import JourneyAction
from core.models import AuditLog
from journeys.models import Journey
from journeys.store import CLI_ACTOR
from telegram_emulator import Emulator, SentMessage
from tests.bot.admin.console import (
    MARKETER,
    NOT_A_COMMAND,
    OPERATOR,
    OWNER,
    STRANGER,
    VIEWER,
    Chat,
    add_staff,
    running_console,
)
from tests.e2e.conftest import BOT_TOKEN
from tests.journeys.report_scenario import build
from tests.polling import until

pytestmark = [pytest.mark.e2e]
PNG = b"\x89PNG\r\n\x1a\n"
STALE = "This button is no longer active."


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


@pytest.fixture
async def welcome(session: AsyncSession, emulator: Emulator) -> int:
    """The scenario's journey, paused; its id."""
    await add_staff(session)
    return (await build(session, paused=True)).journey_id


def labels(message: SentMessage) -> list[str]:
    return [text for text, _ in message.callback_buttons()]


async def status_of(sessionmaker: async_sessionmaker[AsyncSession], journey_id: int) -> str:
    async with sessionmaker() as session:
        journey = await session.get(Journey, journey_id)
        assert journey is not None
        return journey.status.value


async def test_every_reader_sees_the_journeys_and_their_steps(
    emulator: Emulator, welcome: int
) -> None:
    for reader in (VIEWER, OPERATOR, MARKETER, OWNER):
        (listing,) = await Chat(emulator, reader).say("/journeys")
        assert listing.plain_text.splitlines()[:4] == [
            "Journeys (1)",
            "name     status  entered  inside  converted",
            "───────  ──────  ───────  ──────  ─────────",
            "welcome  paused        7       4          1",
        ]
        assert labels(listing) == ["welcome"]
    (view,) = await Chat(emulator, VIEWER).say("/journey welcome")
    lines = view.plain_text.splitlines()
    assert lines[0] == "Journey welcome"
    assert lines[1].startswith("welcome (paused, version 1): trigger subscribed;")
    assert lines[2].startswith("11 entries by 10 people: 4 held out, 4 inside now, 1 converted")
    assert lines[5].split() == ["hello", "7", "2", "4", "1", "1"]
    assert "Lift against the holdout, in people: in the journey 1/7" in view.plain_text
    assert labels(view) == ["↻ Refresh"]  # a viewer may not change journeys


async def test_strangers_get_nothing(emulator: Emulator, welcome: int) -> None:
    stranger = Chat(emulator, STRANGER)
    for line in ("/journeys", "/journey welcome", "/report journey welcome"):
        assert await stranger.reply(line) == NOT_A_COMMAND


async def test_a_marketer_resumes_and_pauses_and_it_is_audited(
    emulator: Emulator, welcome: int, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    chat = Chat(emulator, MARKETER)
    (view,) = await chat.say("/journey welcome")
    assert labels(view) == ["▶ Resume", "↻ Refresh"]
    await chat.press(view, "Resume", replies=0)
    await until(lambda: "⏸ Pause" in labels(chat.current(view)), what="the view redrawn")
    assert "(live, version 1)" in chat.current(view).plain_text
    assert await status_of(sessionmaker, welcome) == "live"
    (other,) = await chat.say("/journey welcome")
    await chat.press(chat.current(view), "Pause", replies=0)
    await until(lambda: "▶ Resume" in labels(chat.current(view)), what="the view redrawn")
    assert await status_of(sessionmaker, welcome) == "paused"

    # The other view's Pause: the journey is paused already.
    pause = JourneyAction(action="pause", journey_id=welcome).pack()
    query = await emulator.press_button(MARKETER, other.message_id, pause)
    refused = await emulator.wait_for_callback_answer(query, timeout=10)
    assert refused.text is not None
    assert refused.text.startswith("journey 'welcome' is paused")

    async def audited() -> list[tuple[int, str, str | None]]:
        async with sessionmaker() as session:
            rows = await session.execute(
                select(AuditLog.admin_user_id, AuditLog.action, AuditLog.detail)
                .where(AuditLog.action.in_(["journey.pause", "journey.resume"]))
                .order_by(AuditLog.id)
            )
            return [(who, action, detail.get("outcome")) for who, action, detail in rows]

    async def all_audited() -> bool:
        return len(await audited()) == 4

    await until(all_audited, what="every change and the refusal audited")
    assert await audited() == [
        (CLI_ACTOR, "journey.pause", None),
        (MARKETER, "journey.resume", None),
        (MARKETER, "journey.pause", None),
        (MARKETER, "journey.pause", f"refused: {refused.text}"),
    ]


async def test_only_those_who_change_campaigns_may_press_pause(
    emulator: Emulator, welcome: int, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    resume = JourneyAction(action="resume", journey_id=welcome).pack()
    async with aiohttp.ClientSession() as http:  # a message with the button, as if forwarded
        markup = {"inline_keyboard": [[{"text": "Resume", "callback_data": resume}]]}
        url = f"{emulator.base_url}/bot{BOT_TOKEN}/sendMessage"
        payload = {"chat_id": OPERATOR, "text": "forged", "reply_markup": markup}
        async with http.post(url, json=payload) as answer:
            assert answer.status == 200
    forged = Chat(emulator, OPERATOR).messages[-1]
    query = await emulator.press_button(OPERATOR, forged.message_id, resume)
    assert (await emulator.wait_for_callback_answer(query, timeout=10)).text == STALE
    assert await status_of(sessionmaker, welcome) == "paused"


async def test_a_press_for_a_journey_that_no_longer_exists_is_answered_in_the_chat(
    emulator: Emulator, welcome: int
) -> None:
    """The press is answered before the view is looked up: the answer the error needs
    cannot go there, so it goes in the chat."""
    chat = Chat(emulator, VIEWER)
    (listing,) = await chat.say("/journeys")
    before = len(chat.messages)
    gone = JourneyAction(action="show", journey_id=welcome + 1000).pack()
    await emulator.press_button(VIEWER, listing.message_id, gone, forged=True)
    await until(lambda: len(chat.messages) > before, what="a reply in the chat")
    assert chat.messages[-1].plain_text == "that journey no longer exists"


async def test_report_journey_answers_with_a_table_a_chart_and_a_csv(
    emulator: Emulator, welcome: int
) -> None:
    text, chart, document = await Chat(emulator, VIEWER).say("/report journey welcome", replies=3)
    lines = text.plain_text.splitlines()
    assert lines[0] == "Report: journey welcome"
    hello = next(line.split() for line in lines if line.startswith("hello"))
    assert hello == ["hello", "7", "4", "3", "1", "1", "1", "0.00"]
    assert "How branches went:\nclicked: yes 1, no 1" in text.plain_text
    assert "Left at each step:\npause: unsubscribed 1, blocked 1\nsettle: goal 1" in text.plain_text
    assert chart.file_content is not None
    assert chart.file_content.startswith(PNG)
    assert document.file_content is not None
    rows = list(csv.DictReader(io.StringIO(document.file_content.decode())))
    assert [row["step"] for row in rows][-1] == ""
    assert rows[-1]["people_in_holdout"] == "3"


async def test_an_unknown_journey_is_named(emulator: Emulator, welcome: int) -> None:
    owner = Chat(emulator, OWNER)
    named = "no journey named 'nope'; the journeys are: welcome"
    assert await owner.reply("/journey nope") == named
    assert await owner.reply("/report journey nope") == named
    no_name = await owner.reply("/journey")
    assert no_name.startswith("Give the journey's name.\nUsage: /journey NAME")
