"""The broadcast wizard and campaign controls through the emulator: segments and a query,
going back, switching approach, wrong kinds of input, previews rendered for real members,
sending now and at a time, and pause, resume and cancel with the buttons."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from broadcasts.campaigns import save_campaign
from broadcasts.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from broadcasts.planner import plan_run
from broadcasts.spec import parse_campaign
from core.clock import utcnow
from core.models import AuditLog
from segments.saved import save_segment
from telegram_emulator import Emulator, SentMessage
from tests.bot.admin.console import (
    MARKETER,
    VIEWER,
    Chat,
    add_people,
    add_staff,
    running_console,
)
from tests.polling import until

pytestmark = [pytest.mark.e2e]
RATE_LIMIT = 5  # messages a second: slow enough to pause a run while it sends
AHEAD = 10  # seconds: how far ahead a campaign is scheduled


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url, rate_limit=RATE_LIMIT) as emulator:
        yield emulator


@pytest.fixture
async def audience(session: AsyncSession, emulator: Emulator) -> None:
    await add_staff(session)
    await add_people(
        session, emulator,
        {"telegram_id": 1001, "first_name": "Ana", "language_code": "es"},
        {"telegram_id": 1002, "first_name": "Boris", "language_code": "ru"},
        {"telegram_id": 1003, "first_name": "Chloe", "language_code": "en"},
    )  # fmt: skip
    await save_segment(session, name="spanish", rule_text="lang = es", now=utcnow())
    await save_segment(session, name="russian", rule_text="lang = ru", now=utcnow())


def edited(chat: Chat, message: SentMessage, times: int) -> bool:
    return len(chat.current(message).history) == times


async def received(emulator: Emulator, user_id: int) -> SentMessage:
    await until(lambda: bool(emulator.messages_to(user_id)), what=f"a message to {user_id}")
    return emulator.messages_to(user_id)[-1]


async def test_segments_wizard_with_back_and_previews_sends_now(
    emulator: Emulator, audience: None, session: AsyncSession
) -> None:
    chat = Chat(emulator, MARKETER)
    await chat.say("/broadcast")
    (wrong,) = await chat.photo()
    assert wrong.plain_text.startswith("I need text here")
    (approach,) = await chat.say("autumn_sale")
    (segments,) = await chat.press(approach, "Saved segments")
    for name in ("spanish", "russian"):
        edits = len(chat.current(segments).history)
        await chat.press(chat.current(segments), name, replies=0)
        await until(partial(edited, chat, segments, edits + 1), what=f"{name} ticked")
    assert "Chosen: spanish, russian" in chat.current(segments).plain_text
    (spanish,) = await chat.press(chat.current(segments), "Done")
    assert "Message for spanish (1 of 2)" in spanish.plain_text
    (buttons,) = await chat.say("Hola {{ first_name }}!")
    (again,) = await chat.press(buttons, "Back")
    assert "It has one already" in again.plain_text
    (buttons,) = await chat.press(again, "Keep")
    (russian,) = await chat.press(buttons, "No buttons")
    assert "Reuse the message for spanish" in str(russian.callback_buttons())
    (sticker_like,) = await chat.say("/not_a_message")
    assert "looks like a command" in sticker_like.plain_text
    (buttons,) = await chat.photo("Привет, {{ first_name }}")
    (bad,) = await chat.say("Shop without a link")
    assert bad.plain_text.startswith("Line 1 is not")
    previews = await chat.say("Shop | https://shop.example/ru", replies=5)
    assert "Ana (1001)" in previews[0].plain_text
    assert previews[1].plain_text == "Hola Ana!"
    assert previews[3].photo is not None
    assert previews[3].plain_text == "Привет, Boris"
    assert previews[3].reply_markup is not None
    (when,) = await chat.press(previews[-1], "Looks good")
    (confirm,) = await chat.press(when, "Now")
    assert "Audience: 2 subscribers" in confirm.plain_text
    saved, view = await chat.press(confirm, "Confirm", replies=2)
    assert saved.plain_text.startswith("Saved campaign #")

    assert (await received(emulator, 1001)).plain_text == "Hola Ana!"
    photo = await received(emulator, 1002)
    assert photo.photo is not None
    assert [text for text, _ in photo.callback_buttons()] == ["Unsubscribe"]
    assert emulator.messages_to(1003) == []
    await until(lambda: " — done" in chat.current(view).plain_text, what="the view to say done")
    created = await session.scalar(select(func.count()).where(AuditLog.action == "campaign.create"))
    assert created == 1


async def test_query_wizard_switches_approach_and_sends_at_a_time(
    emulator: Emulator, audience: None, session: AsyncSession
) -> None:
    chat = Chat(emulator, MARKETER)
    await chat.say("/broadcast")
    (approach,) = await chat.say("at_noon")
    (segments,) = await chat.press(approach, "Saved segments")
    await chat.press(segments, "spanish", replies=0)
    await until(lambda: bool(chat.current(segments).history), what="spanish ticked")
    (approach,) = await chat.press(chat.current(segments), "Back")
    (query,) = await chat.press(approach, "A query")
    (approach,) = await chat.press(query, "Back")
    (segments,) = await chat.press(approach, "Saved segments")
    assert "Chosen: none yet" in segments.plain_text  # switching cleared them
    (approach,) = await chat.press(segments, "Back")
    (query,) = await chat.press(approach, "A query")
    (error,) = await chat.say("lang = ")
    assert error.plain_text.endswith("lang =\n      ^")  # the caret under the place
    await chat.say("lang = en")
    (buttons,) = await chat.say("Hello {{ first_name }}")
    previews = await chat.press(buttons, "No buttons", replies=3)
    assert previews[1].plain_text == "Hello Chloe"
    (when,) = await chat.press(previews[-1], "Looks good")
    await chat.press(when, "At a time")
    (wrong,) = await chat.say("tomorrow")
    assert wrong.plain_text.startswith("That is not it")
    (past,) = await chat.say("2020-01-01 10:00")
    assert "has passed" in past.plain_text
    (confirm,) = await chat.say(f"{datetime.now(UTC) + timedelta(seconds=60):%Y-%m-%d %H:%M:%S}")
    (ask_again,) = await chat.press(confirm, "Back")
    assert "date and time" in ask_again.plain_text
    # Far enough ahead that the answer and Confirm come before it on a busy machine
    at = datetime.now(UTC) + timedelta(seconds=AHEAD)
    (confirm,) = await chat.say(f"{at:%Y-%m-%d %H:%M:%S}")
    assert "Audience: 1 subscribers" in confirm.plain_text
    _, view = await chat.press(confirm, "Confirm", replies=2)
    assert "scheduled" in view.plain_text
    await until(lambda: bool(emulator.messages_to(1003)), what="the message", within=AHEAD * 4)
    assert emulator.messages_to(1003)[-1].plain_text == "Hello Chloe"
    assert emulator.messages_to(1003)[-1].date >= int(at.timestamp())
    campaign = await session.scalar(select(Campaign).where(Campaign.name == "at_noon"))
    assert campaign is not None


async def test_a_template_typed_in_the_chat_may_compare_with_greater_and_less_than(
    emulator: Emulator, audience: None
) -> None:
    chat = Chat(emulator, MARKETER)
    await chat.say("/broadcast")
    (approach,) = await chat.say("compare")
    await chat.press(approach, "A query")
    await chat.say("lang = en")
    template = "{% if first_name | length > 3 and 1 < 2 %}Hello{% else %}Hi{% endif %} & welcome"
    (buttons,) = await chat.say(template)
    previews = await chat.press(buttons, "No buttons", replies=3)
    assert previews[1].plain_text == "Hello & welcome"


@pytest.mark.parametrize(
    ("template", "why"),
    [
        # the samples' last names are short: markup only a long one lets in
        ("{{ last_name | safe if (last_name or '') | length > 30 else '' }} hello", "a bare &"),
        ("{{ first_name if first_name | length != 3 else '' }}", "the message is empty"),
        ("Hi {% for i in range(40) %}{{ last_name }}{% endfor %}", "Telegram allows 4096"),
    ],
    ids=["markup", "empty", "too long"],
)
async def test_a_preview_that_fails_for_the_member_says_why_and_the_wizard_goes_on(
    emulator: Emulator, audience: None, session: AsyncSession, template: str, why: str
) -> None:
    """A template that passed its check on the sample subscriber, failing for the real
    member previewed (as the sender would skip them)."""
    long_name = "<b>Evil & co" + "x" * 100
    await add_people(
        session, emulator, {"telegram_id": 1004, "first_name": "Bob", "language_code": "de",
                            "last_name": long_name},
    )  # fmt: skip
    chat = Chat(emulator, MARKETER)
    await chat.say("/broadcast")
    (approach,) = await chat.say("germans")
    await chat.press(approach, "A query")
    await chat.say("lang = de")
    (buttons,) = await chat.say(template)
    failed, prompt = await chat.press(buttons, "No buttons", replies=2)
    assert failed.plain_text.startswith("Preview for query failed:")
    assert why in failed.plain_text
    assert "Good to go?" in prompt.plain_text
    (when,) = await chat.press(prompt, "Looks good")
    assert "At a time" in [text for text, _ in when.callback_buttons()]


async def test_cancel_leaves_the_wizard_at_any_step(emulator: Emulator, audience: None) -> None:
    chat = Chat(emulator, MARKETER)
    await chat.say("/broadcast")
    (approach,) = await chat.say("never_sent")
    await chat.press(approach, "A query")
    assert await chat.reply("/cancel") == "Wizard cancelled; nothing was saved."
    assert await chat.reply("/cancel") == "There is nothing to cancel."


async def test_pause_resume_and_cancel_with_the_buttons(
    emulator: Emulator, audience: None, session: AsyncSession
) -> None:
    # A minute of sending at RATE_LIMIT: still sending when Cancel is pressed, however
    # slowly a busy machine answers the presses before it.
    people = [{"telegram_id": 2000 + n, "language_code": "pt"} for n in range(RATE_LIMIT * 60)]
    await add_people(session, emulator, *people)
    await save_segment(session, name="portuguese", rule_text="lang = pt", now=utcnow())
    spec = parse_campaign("name: slow\naudience:\n  - segment: portuguese\n    text: Olá\n")
    campaign = await save_campaign(session, spec=spec, now=utcnow())
    await plan_run(session, campaign=campaign, now=utcnow())
    (watching,) = await Chat(emulator, VIEWER).say(f"/campaign {campaign.id}")
    assert [text for text, _ in watching.callback_buttons()] == ["↻ Refresh"]

    chat = Chat(emulator, MARKETER)
    (view,) = await chat.say(f"/campaign {campaign.id}")
    await chat.press(view, "Pause", replies=0)
    await until(
        lambda: "Resume" in str(chat.current(view).callback_buttons()), what="a Resume button"
    )
    assert "Run " in chat.current(view).plain_text
    assert "paused" in chat.current(view).plain_text
    await chat.press(chat.current(view), "Resume", replies=0)
    await until(
        lambda: "Pause" in str(chat.current(view).callback_buttons()), what="a Pause button"
    )
    await chat.press(chat.current(view), "Cancel", replies=0)
    await until(
        lambda: "cancelled" in chat.current(view).plain_text, what="the view to say cancelled"
    )

    status = await session.scalar(
        select(Campaign.status)
        .where(Campaign.id == campaign.id)
        .execution_options(populate_existing=True)
    )
    assert status is CampaignStatus.CANCELLED
    dropped = await session.scalar(
        select(func.count()).where(Delivery.status == DeliveryStatus.CANCELLED)
    )
    assert dropped
    actions = set((await session.scalars(select(AuditLog.action))).all())
    assert {"campaign.pause", "campaign.resume", "campaign.cancel"} <= actions
