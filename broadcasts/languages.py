"""Texts per language: how they are written, checked and chosen.

A text may be one for everyone or one per language code (`{en: Hi, es: Hola}`: ISO 639
codes, optionally with a region, lower case, as Telegram's `language_code` is). Per
language, the default language's text must be there: it is what a subscriber whose
language has none gets. A subscriber gets their Telegram language's text, else its
primary subtag's (pt-br: pt), else the default's.
"""

import re
from typing import Annotated

from pydantic import BeforeValidator, Field, ValidationInfo

LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
LanguageCode = Annotated[str, Field(pattern=LANGUAGE.pattern)]


def localized(value: dict[object, object]) -> dict[str, str]:
    """Texts by language code, codes in lower case; ValueError naming what is wrong."""
    if not value:
        raise ValueError("give a text, or one per language: {en: ..., es: ...}")
    texts = {}
    for language, text in value.items():
        if not isinstance(language, str) or not LANGUAGE.match(language.lower()):
            raise ValueError(
                f"{language!r} is not a language code such as en, es or pt-br "
                "(quote codes YAML reads otherwise: 'no')"
            )
        if not isinstance(text, str):
            raise ValueError(f"the {language} text is not text")
        texts[language.lower()] = text
    return texts


def _text_or_texts(value: object) -> object:
    if isinstance(value, dict):
        return localized(value)
    if not isinstance(value, str):
        raise ValueError("give a text, or one per language: {en: ..., es: ...}")
    return value


Localized = Annotated[str | dict[str, str], BeforeValidator(_text_or_texts)]


def context_language(info: ValidationInfo) -> str | None:
    """The default language a validation's context gives (`language`), if it gives one."""
    context = info.context if isinstance(info.context, dict) else {}
    language = context.get("language")
    return language if isinstance(language, str) else None


def no_default_text(language: str, where: str) -> str:
    return (
        f"{where} has no {language} text: the default language's is the fallback "
        "for every other language"
    )


def pick_language(wanted: str | None, available: list[str], default: str) -> str:
    """The language of `available` a subscriber whose Telegram language is `wanted` reads:
    the same, else its primary subtag (pt-br: pt), else `default`."""
    if wanted:
        code = wanted.lower()
        for candidate in (code, code.split("-")[0]):
            if candidate in available:
                return candidate
    return default
