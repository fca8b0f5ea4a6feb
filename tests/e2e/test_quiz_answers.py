"""Quiz texts are plain text: an option labelled like markup ("< 25") is shown as written,
in the answered question and in /profile, instead of failing the bot's HTML message."""

import pytest

from telegram_emulator import Emulator, SentMessage

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_bot")]

USER = 6170
WITHIN = 20.0  # seconds for the bot's replies on a busy machine


def button(message: SentMessage, label: str) -> str:
    return next(data for text, data in message.callback_buttons() if text == label)


async def test_an_option_labelled_like_markup_is_shown_as_written(emulator: Emulator) -> None:
    await emulator.send_text(USER, "/start")
    _welcome, interests = await emulator.wait_for_messages(USER, count=2, timeout=WITHIN)
    await emulator.press_button(USER, interests.message_id, button(interests, "Done"))
    age = (await emulator.wait_for_messages(USER, count=3, timeout=WITHIN))[2]
    await emulator.press_button(USER, age.message_id, button(age, "< 25"))
    following = (await emulator.wait_for_messages(USER, count=4, timeout=WITHIN))[3]
    assert following.plain_text == "How do you like to get news from us?"
    answered = next(m for m in emulator.messages_to(USER) if m.message_id == age.message_id)
    assert answered.plain_text == "How old are you?\n→ < 25"

    await emulator.send_text(USER, "/profile")
    card = (await emulator.wait_for_messages(USER, count=6, timeout=WITHIN))[4]
    assert "How old are you?\n→ < 25" in card.plain_text
