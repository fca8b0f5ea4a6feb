from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

import bot
from bot.i18n import Texts
from broadcasts.compose import UNSUBSCRIBE_LABELS

BOT_PACKAGE = Path(bot.__file__).parent


def texts_in_code() -> set[str]:
    found = extract_from_dir(
        str(BOT_PACKAGE), keywords={"t": None}, comment_tags=(), strip_comment_tags=True
    )
    return {str(message) for _file, _line, message, _comments, _context in found}


@pytest.mark.parametrize("language", ["es", "ru"])
def test_every_text_in_the_code_is_translated(language: str) -> None:
    missing = {text for text in texts_in_code() if Texts().for_language(language)(text) == text}
    assert missing == set(), f"run `make messages` and translate these for {language}"


def test_language_follows_telegram_code_with_english_fallback() -> None:
    texts = Texts()
    assert texts.languages == ("en", "es", "ru")
    assert texts.language_for("es-MX") == "es"
    assert texts.language_for("RU") == "ru"
    assert texts.language_for("de") == "en"
    assert texts.language_for(None) == "en"
    assert texts.for_language("es")("Saved.") == "Guardado."
    assert texts.for_language("en")("Phone: {phone}", phone="—") == "Phone: —"
    assert texts.for_language("ru")("Phone: {phone}", phone="—") == "Телефон: —"


def test_the_unsubscribe_button_has_words_in_every_language_the_bot_speaks() -> None:
    assert sorted(UNSUBSCRIBE_LABELS) == list(Texts().languages)
