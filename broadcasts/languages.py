"""A campaign's or journey's default language: per language, the default language's text
must be there, since it is what a subscriber whose language has none gets (texts per
language are written and chosen as core.languages says).
"""

from pydantic import ValidationInfo


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
