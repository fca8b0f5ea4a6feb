"""Hostile input to the admin chat: buttons whose callback data a modified client forged,
buttons of an earlier wizard, a rule longer than a message, an admin whose role is taken
away mid-wizard.

Telegram passes on whatever callback data a client sends for a real message's button, so
the bot must refuse a value it never offered (a negative index, a target without a
message, a campaign that is not there) with a clear answer, never an apology or a choice
nobody made."""

import pytest

from telegram_emulator import Emulator, SentMessage
from tests.bot.admin.console import MARKETER, OWNER, WAIT, Chat

pytestmark = [pytest.mark.e2e]

SORRY = "Sorry, something went wrong on our side."  # the apology (bot.errors)
TELEGRAM_LIMIT = 4_096


async def forge_press(emulator: Emulator, message: SentMessage, data: str) -> str:
    """The owner's modified client pressing `message` with `data`, which no button of it
    need carry."""
    return await emulator.press_button(OWNER, message.message_id, data, forged=True)


def button(message: SentMessage, label: str) -> str:
    """The callback data of the button whose text contains `label`."""
    return next(data for text, data in message.callback_buttons() if label in text)


async def at_the_first_message(owner: Chat, name: str) -> SentMessage:
    """A wizard with a one-off query as its audience, asking for the first message."""
    await owner.say("/broadcast")
    (approach,) = await owner.say(name)
    await owner.press(approach, "A query")
    (ask,) = await owner.say("lang = en")
    return ask


async def test_a_forged_reuse_of_a_target_without_a_message_is_refused(owner: Chat) -> None:
    ask = await at_the_first_message(owner, "forged_reuse")
    before = len(owner.messages)
    query = await forge_press(owner.emulator, ask, "admw:reuse:0")  # the target being asked for
    await owner.emulator.wait_for_callback_answer(query, timeout=WAIT)
    got = await owner.emulator.wait_for_messages(OWNER, before + 1, timeout=WAIT)
    (refused,) = got[before:]
    assert refused.plain_text.startswith("That choice is gone")
    (buttons,) = await owner.say("Hello {{ first_name }}")  # the step still waits
    assert "button" in buttons.plain_text.lower()
    assert not any(SORRY in m.plain_text for m in owner.messages[before:])


async def test_a_forged_negative_choice_is_a_stale_button(owner: Chat) -> None:
    await owner.say("/broadcast")
    (approach,) = await owner.say("forged_index")
    query = await forge_press(owner.emulator, approach, "admw:approach:-1")  # would pick the last
    answer = await owner.emulator.wait_for_callback_answer(query, timeout=WAIT)
    assert answer.text == "This button is no longer active."
    (segments,) = await owner.press(approach, "Saved segments")  # nothing was chosen
    assert "segment" in segments.plain_text.lower()


LONG_RULE = 'city = "' + "x" * 4_500 + '"'  # a valid rule longer than a Telegram message


def fits(message: SentMessage) -> str:
    text = message.plain_text
    assert len(text) <= TELEGRAM_LIMIT
    assert SORRY not in text
    return text


async def test_a_long_query_is_quoted_cut_short_at_every_step(owner: Chat) -> None:
    """The wizard quotes its rule when going back to it and before confirming: a rule
    longer than a message was refused by Telegram there, and the admin got an apology."""
    await owner.say("/broadcast")
    (approach,) = await owner.say("long_rule")
    (query,) = await owner.press(approach, "A query")
    (ask,) = await owner.say(LONG_RULE)
    (query,) = await owner.press(ask, "Back")
    assert f"Now: {LONG_RULE[:50]}" in fits(query)
    (ask,) = await owner.press(query, "Keep")
    (buttons,) = await owner.say("Hello")
    previews = await owner.press(buttons, "No buttons", replies=3)
    (when,) = await owner.press(previews[-1], "Looks good")
    (confirm,) = await owner.press(when, "Now")
    assert f"rule {LONG_RULE[:50]}" in fits(confirm)
    assert "Confirm" in " ".join(text for text, _ in confirm.callback_buttons())


@pytest.mark.parametrize("change", ["remove {user}", "add {user} viewer"])
async def test_taking_the_campaigns_role_away_ends_the_admins_wizard(
    owner: Chat, change: str
) -> None:
    """A marketer removed (or made a viewer) mid-wizard: their draft does not carry on
    when they are a marketer again; their next message is no wizard step."""
    marketer = Chat(owner.emulator, MARKETER)
    ask = await at_the_first_message(marketer, "left_behind")
    await owner.reply(f"/admins {change.format(user=MARKETER)}")
    query = await owner.emulator.press_button(MARKETER, ask.message_id, button(ask, "Back"))
    answer = await owner.emulator.wait_for_callback_answer(query, timeout=WAIT)
    assert answer.text == "This button is no longer active."
    assert "is now a marketer" in await owner.reply(f"/admins add {MARKETER} marketer")
    assert await marketer.reply("/cancel") == "There is nothing to cancel."


@pytest.mark.parametrize("count", ["-5", "9" * 40])
async def test_a_forged_resend_count_is_a_stale_button(owner: Chat, count: str) -> None:
    """The count a resend question names is the button's: one no button carries (negative,
    or too long to fit the next button's data) is refused, not asked about."""
    (help_reply,) = await owner.say("/help")
    query = await forge_press(owner.emulator, help_reply, f"admu:ask:1:{count}")
    answer = await owner.emulator.wait_for_callback_answer(query, timeout=WAIT)
    assert answer.text == "This button is no longer active."
    assert owner.current(help_reply).plain_text == help_reply.plain_text


@pytest.mark.parametrize("action", ["refresh", "show", "pause"])
async def test_a_forged_campaign_button_is_told_there_is_no_such_campaign(
    owner: Chat, action: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The press is answered with why, and nothing fails behind it."""
    (help_reply,) = await owner.say("/help")
    query = await forge_press(owner.emulator, help_reply, f"admc:{action}:999")
    answer = await owner.emulator.wait_for_callback_answer(query, timeout=WAIT)
    assert answer.text == "no campaign '999': give its id or name"
    assert await owner.reply("/campaign 999") == (
        "no campaign '999': give its id or name; "
        "there are no campaigns yet (/broadcast starts the wizard)"
    )
    assert owner.current(help_reply).plain_text == help_reply.plain_text
    assert not [r for r in caplog.records if "could not reply" in r.getMessage()]


async def at_confirm(owner: Chat, name: str) -> SentMessage:
    """A wizard sending `Hello` to a one-off query now, asking to confirm."""
    ask = await at_the_first_message(owner, name)
    (buttons,) = await owner.say("Hello")
    previews = await owner.press(buttons, "No buttons", replies=3)
    (when,) = await owner.press(previews[-1], "Looks good")
    (confirm,) = await owner.press(when, "Now")
    assert ask.message_id < confirm.message_id
    return confirm


async def test_an_old_wizards_button_does_not_act_on_a_new_wizard(owner: Chat) -> None:
    """Confirm under the first wizard's summary, pressed once a second wizard has come to
    the same step, would save the second campaign, which that summary never showed."""
    first = await at_confirm(owner, "first_draft")
    second = await at_confirm(owner, "second_draft")
    query = await owner.emulator.press_button(OWNER, first.message_id, button(first, "Confirm"))
    answer = await owner.emulator.wait_for_callback_answer(query, timeout=WAIT)
    assert answer.text == "That button belongs to an earlier step."
    assert (await owner.reply("/campaigns")).count("second_draft") == 0
    saved, _view = await owner.press(second, "Confirm", replies=2)
    assert "second_draft" in saved.plain_text
