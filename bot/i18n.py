"""Subscriber-facing texts in English, Spanish and Russian.

The catalogs are gettext `.po` files under `bot/locales/<lang>/LC_MESSAGES/segbot.po`,
read with Babel when the bot starts (no compiled `.mo` files to keep in step). English
is the source language: a text without a translation is shown in English.

To add or change texts: write them in code as `t("...")`, run `make messages` (extracts
and updates the catalogs), translate the new entries, commit the `.po` files.
"""

from collections.abc import Mapping
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "segbot"
SOURCE_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "es": "Español", "ru": "Русский"}


class Translator:
    """`t("text", **fields)`: the text in one language, with `{fields}` filled in.

    `language` is the catalog's (en, es or ru); `code` is the user's own language code it
    was chosen for (`pt-br`, lower case; None when unknown), for texts an operator wrote
    in more languages than segbot's own (the quiz's)."""

    def __init__(self, language: str, catalog: Mapping[str, str], code: str | None) -> None:
        self.language = language
        self.code = code
        self._catalog = catalog

    def __call__(self, text: str, /, **fields: object) -> str:
        translated = self._catalog.get(text) or text
        return translated.format(**fields) if fields else translated


class Texts:
    """Every catalog, loaded once; `for_language()` picks one for a user."""

    def __init__(self, locales: Path = LOCALES) -> None:
        self._catalogs: dict[str, dict[str, str]] = {SOURCE_LANGUAGE: {}}
        for po_file in sorted(locales.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            with po_file.open("rb") as content:
                catalog = read_po(content)
            self._catalogs[po_file.parent.parent.name] = {
                str(message.id): str(message.string)
                for message in catalog
                if message.id and message.string and not message.fuzzy
            }

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._catalogs))

    def language_for(self, code: str | None) -> str:
        """The supported language for a Telegram `language_code` like `es-MX`."""
        base = (code or "").replace("_", "-").split("-", 1)[0].lower()
        return base if base in self._catalogs else SOURCE_LANGUAGE

    def for_language(self, code: str | None) -> Translator:
        language = self.language_for(code)
        return Translator(language, self._catalogs[language], code.lower() if code else None)
