"""The bot speaks each person's language in every reply it can: the one they chose with
/language, else the one their Telegram app uses now, also before they are subscribed and
when something fails. Every step over HTTP through the emulator."""

import pytest

from telegram_emulator import Emulator

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_bot")]

USER = 5160


async def test_one_who_is_not_subscribed_is_asked_to_start_in_their_language(
    emulator: Emulator,
) -> None:
    emulator.add_user(USER, language_code="ru")
    await emulator.send_text(USER, "/profile")
    [reply] = await emulator.wait_for_messages(USER, count=1)
    assert reply.text == "Сначала отправьте /start."


async def test_a_new_app_language_is_spoken_at_once_until_they_choose_one(
    emulator: Emulator,
) -> None:
    emulator.add_user(USER, language_code="es")
    await emulator.send_text(USER, "/start")
    assert "Bienvenido" in str((await emulator.wait_for_messages(USER, count=2))[0].text)
    emulator.user(USER).language_code = "ru"  # they switch their Telegram app to Russian
    await emulator.send_text(USER, "/start")
    again = (await emulator.wait_for_messages(USER, count=3))[-1]
    assert again.text is not None
    assert again.text.startswith("Вы уже подписаны"), again.text

    await emulator.send_text(USER, "/language")
    menu = (await emulator.wait_for_messages(USER, count=4))[-1]
    [english] = [data for label, data in menu.callback_buttons() if label == "English"]
    await emulator.press_button(USER, menu.message_id, english)  # the menu becomes "saved"
    emulator.user(USER).language_code = "es"  # a choice outranks the app from now on
    await emulator.send_text(USER, "/start")
    chosen = (await emulator.wait_for_messages(USER, count=5))[-1]
    assert chosen.text is not None
    assert chosen.text.startswith("You are already subscribed")
