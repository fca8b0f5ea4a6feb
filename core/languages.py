"""Texts per language: how a language code is written, and which text a subscriber reads.

A text may be one for everyone or one per language code (`{en: Hi, es: Hola}`): ISO 639
codes, optionally with a region, as Telegram's `language_code` is. Codes are read in any
case and kept in lower case. Campaigns, journeys and the onboarding quiz all write texts
this way; a subscriber's text is chosen by `pick_language`.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")


def _lower_case(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


LanguageCode = Annotated[str, BeforeValidator(_lower_case), Field(pattern=LANGUAGE.pattern)]


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
        if language.lower() in texts:
            raise ValueError(f"{language!r}: a second text for {language.lower()}")
        texts[language.lower()] = text
    return texts


def _text_or_texts(value: object) -> object:
    if isinstance(value, dict):
        return localized(value)
    if not isinstance(value, str):
        raise ValueError("give a text, or one per language: {en: ..., es: ...}")
    return value


Localized = Annotated[str | dict[str, str], BeforeValidator(_text_or_texts)]


def _not_blank(value: str | dict[str, str]) -> str | dict[str, str]:
    texts = [value] if isinstance(value, str) else list(value.values())
    if any(not text.strip() for text in texts):
        raise ValueError("a text is empty")
    return value


# A text that is never empty, in any language (the quiz's questions and answers).
NonBlankLocalized = Annotated[Localized, AfterValidator(_not_blank)]


def pick_language(wanted: str | None, available: list[str], default: str) -> str:
    """The language of `available` a subscriber whose Telegram language is `wanted` reads:
    the same; else its primary subtag (pt-br: pt); else another variant of that language
    (es: es-es, the first given); else `default`. Codes are compared in any case, and `_`
    reads as `-` (es_MX)."""
    if not wanted:
        return default
    code = wanted.lower().replace("_", "-")
    primary = code.split("-")[0]
    for candidate in (code, primary):
        if candidate in available:
            return candidate
    variants = [language for language in available if language.split("-")[0] == primary]
    return variants[0] if variants else default


def in_language(text: str | dict[str, str], wanted: str | None) -> str:
    """`text` as a subscriber whose language is `wanted` reads it: their language's (see
    `pick_language`), else English, else the first one given."""
    if isinstance(text, str):
        return text
    languages = list(text)
    return text[pick_language(wanted, languages, "en" if "en" in text else languages[0])]
