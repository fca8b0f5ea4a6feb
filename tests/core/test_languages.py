"""Which text a subscriber reads, of texts written per language (core.languages): the
campaigns', journeys' and the quiz's one rule."""

import pytest
from pydantic import TypeAdapter, ValidationError

from core.languages import LanguageCode, Localized, in_language, pick_language

LANGUAGES = ["en", "es-es", "pt", "pt-br"]


@pytest.mark.parametrize(
    ("wanted", "picked"),
    [
        ("pt-BR", "pt-br"),  # the same, in any case
        ("pt-PT", "pt"),  # else its main language
        ("es", "es-es"),  # else another region of it
        ("es_MX", "es-es"),  # an underscore reads as a hyphen
        ("de", "en"),  # else the default
        (None, "en"),
        ("", "en"),
    ],
)
def test_a_subscriber_reads_the_closest_language_given(wanted: str | None, picked: str) -> None:
    assert pick_language(wanted, LANGUAGES, "en") == picked


def test_texts_fall_back_to_english_then_to_the_first_given() -> None:
    assert in_language({"pt": "Olá", "en": "Hi"}, "pt-BR") == "Olá"
    assert in_language({"pt": "Olá", "en": "Hi"}, "ru") == "Hi"
    assert in_language({"pt": "Olá", "de": "Hallo"}, None) == "Olá"
    assert in_language("One for all", "ru") == "One for all"


def test_codes_are_read_in_any_case_and_kept_in_lower_case() -> None:
    assert TypeAdapter(Localized).validate_python({"EN": "Hi", "Pt-BR": "Olá"}) == {
        "en": "Hi",
        "pt-br": "Olá",
    }
    assert TypeAdapter(LanguageCode).validate_python("ES") == "es"
    with pytest.raises(ValidationError, match="a second text for es"):
        TypeAdapter(Localized).validate_python({"es": "Hola", "ES": "Hola!"})
