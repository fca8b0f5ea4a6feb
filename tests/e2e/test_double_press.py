"""A subscriber double-presses the quiz's and /forget's buttons: both presses are handled,
and the second finds its work done: no error, no apology, nothing said twice."""

import logging

import pytest

from telegram_emulator import Emulator, SentMessage
from tests.e2e.conftest import SETTLES_WITHIN
from tests.polling import until

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_bot")]

USER = 6160
WITHIN = 20.0  # seconds for the bot's replies on a busy machine


def button(message: SentMessage, label: str) -> str:
    """The callback data of the button whose text contains `label`."""
    for text, data in message.callback_buttons():
        if label in text:
            return data
    raise AssertionError(f"no button {label!r} in {message.reply_markup}")


async def double_press(emulator: Emulator, message: SentMessage, label: str) -> list[str]:
    """Press a button twice before the bot sees either press; return both query ids."""
    data = button(message, label)
    return [await emulator.press_button(USER, message.message_id, data) for _ in range(2)]


async def answered(emulator: Emulator, query_ids: list[str]) -> list[str | None]:
    """Wait for the bot's answers to the presses; return their texts."""
    answers = [await emulator.wait_for_callback_answer(query, WITHIN) for query in query_ids]
    return [answer.text for answer in answers]


def no_failure_logged(caplog: pytest.LogCaptureFixture) -> None:
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []


async def test_a_double_pressed_answer_is_taken_once_and_the_next_question_asked_once(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    await emulator.send_text(USER, "/start")
    _welcome, interests = await emulator.wait_for_messages(USER, count=2, timeout=WITHIN)
    with caplog.at_level(logging.INFO):
        ticks = await double_press(emulator, interests, "Deals")  # a multi-choice toggle
        assert await answered(emulator, ticks) == [None, None]
        done = await double_press(emulator, interests, "Done")
        assert await answered(emulator, done) == ["Saved.", "Saved."]
        messages = await emulator.wait_for_messages(USER, count=3, timeout=WITHIN)
        age = messages[2]
        assert age.plain_text == "How old are you?"
        single = await double_press(emulator, age, "25–34")  # a single choice
        assert await answered(emulator, single) == ["Saved.", "Saved."]
        await emulator.wait_for_messages(USER, count=4, timeout=WITHIN)

        async def settled() -> bool:  # both presses' edits and replies are in
            return len(emulator.requests_for("editMessageText")) >= 4

        await until(settled, within=SETTLES_WITHIN, what="the second presses' edits")
    texts = [message.plain_text for message in emulator.messages_to(USER)]
    assert texts.count("How old are you?\n→ 25–34") == 1
    assert len(texts) == 4, texts  # welcome, interests, age, format: each asked once
    no_failure_logged(caplog)


async def test_double_pressed_forget_and_keep_buttons_are_quiet(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    await emulator.send_text(USER, "/start")
    await emulator.wait_for_messages(USER, count=2, timeout=WITHIN)
    with caplog.at_level(logging.INFO):
        await emulator.send_text(USER, "/forget")
        ask = (await emulator.wait_for_messages(USER, count=3, timeout=WITHIN))[2]
        keep = await double_press(emulator, ask, "No, keep it")
        assert await answered(emulator, keep) == ["Nothing was changed."] * 2
        await emulator.send_text(USER, "/forget")
        again = (await emulator.wait_for_messages(USER, count=4, timeout=WITHIN))[3]
        erase = await double_press(emulator, again, "Yes, erase my data")
        assert await answered(emulator, erase) == [None, None]
    messages = emulator.messages_to(USER)
    assert messages[2].deleted
    assert messages[3].plain_text.startswith("Done: your data is erased")
    assert len(messages) == 4
    no_failure_logged(caplog)
