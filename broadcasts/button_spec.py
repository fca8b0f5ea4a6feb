"""An inline button as a marketer writes it, and Telegram's limits on a message's buttons.

Buttons come in rows (`buttons:` items are a button, a row of its own, or a list of
buttons, one row): at most ROW_BUTTONS in a row and MESSAGE_BUTTONS in all, one place kept
for the Unsubscribe button. A button opens a URL, sends callback data back (64 bytes at
most, logged as a button event), copies a text (256 characters at most) or opens a Mini
App (https only).

A button is sent as written, the same to everyone: a label or URL written as a template
(`{{ first_name }}`) is refused rather than sent with its braces.

A button's data may not be one the bot answers itself (`is_bot_data`): a "Yes, give me
the deal" button carrying `unsubscribe` or `forget:yes` would unsubscribe or erase whoever
pressed it. Its URL must be one a tracked link can send people to
(`broadcasts.links.check_new_target`): checked when the campaign is saved, not at each click.
"""

import re
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from broadcasts.languages import context_language, no_default_text
from broadcasts.links import UnsafeTargetError, check_new_target
from core.languages import localized

_CALLBACK_DATA = re.compile(r"^[A-Za-z0-9_:.-]{1,64}$")
# Callback data the bot answers itself: its Unsubscribe button, and the namespaces (before
# the first ":") of its own menus: language, erasure, the quiz, the admin console's buttons.
UNSUBSCRIBE_DATA = "unsubscribe"
BOT_NAMESPACES = frozenset(
    {"lang", "forget", "quiz", "qa", "qd", "qk", "admc", "admj", "admu", "admw"}
)
# What a link button's and a Mini App button's URL may be.
_LINKS = {
    "url": (
        re.compile(r"^(https?|tg)://\S+$"),
        "a button's url starts with http://, https:// or tg://",
    ),
    "web_app": (re.compile(r"^https://\S+$"), "a Mini App opens from an https:// URL only"),
}
_TEMPLATE = re.compile(r"\{\{|\{%")  # how a Jinja template starts its variables and tags
BUTTON_TEXT = 64  # characters
COPY_TEXT = 256  # characters (Bot API: CopyTextButton)
ROW_BUTTONS = 8  # buttons in one row
MESSAGE_BUTTONS = 100  # in all, the Unsubscribe button included
Label = Annotated[str, Field(min_length=1, max_length=BUTTON_TEXT)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ButtonSpec(Strict):
    """An inline button: exactly one of url, data (a callback), copy_text, web_app. Its
    label may be given per language (`text: {en: Shop, es: Tienda}`): `text` is then the
    default language's and `texts` the others'."""

    text: Label
    texts: dict[str, Label] = Field(default_factory=dict)
    url: str | None = None  # http(s):// or tg://
    data: str | None = None  # callback data a press sends back (logged as a button event)
    copy_text: Annotated[str, Field(min_length=1, max_length=COPY_TEXT)] | None = None
    web_app: str | None = None  # a Mini App's https:// URL

    @field_validator("url", "web_app")
    @classmethod
    def _link(cls, url: str | None, info: ValidationInfo) -> str | None:
        pattern, wanted = _LINKS[str(info.field_name)]
        if url is None:
            return None
        if not pattern.match(url):
            raise ValueError(f"{wanted}: {url!r}")
        if url.startswith("http"):  # tracked: each press goes through segbot's redirect
            try:
                check_new_target(url)
            except UnsafeTargetError as error:
                raise ValueError(str(error)) from None
        return url

    @model_validator(mode="before")
    @classmethod
    def _not_templates(cls, data: object) -> object:
        """A button is sent as written: `{{ first_name }}` in it would reach everyone."""
        if not isinstance(data, dict):
            return data
        for field in ("text", "texts", "url", "web_app", "copy_text"):
            value = data.get(field)
            written = value.values() if isinstance(value, dict) else [value]
            if any(isinstance(each, str) and _TEMPLATE.search(each) for each in written):
                raise ValueError(
                    f"a button's {field.removesuffix('s')} is sent as written, not filled "
                    "in as a template: remove the {{ }} or {% %}"
                )
        return data

    @model_validator(mode="before")
    @classmethod
    def _per_language(cls, data: object, info: ValidationInfo) -> object:
        if not isinstance(data, dict) or not isinstance(data.get("text"), dict):
            return data
        texts = localized(data["text"])
        default = context_language(info) or next(iter(texts))
        if default not in texts:
            raise ValueError(no_default_text(default, "this button"))
        return {**data, "text": texts.pop(default), "texts": texts}

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        actions = [self.url, self.data, self.copy_text, self.web_app]
        if sum(action is not None for action in actions) != 1:
            raise ValueError("a button has exactly one of url, data, copy_text, web_app")
        if self.data is not None and not _CALLBACK_DATA.match(self.data):
            raise ValueError("button data is 1-64 bytes of A-Z a-z 0-9 _ : . -")
        if self.data is not None and is_bot_data(self.data):
            raise ValueError(
                f"button data {self.data!r} is the bot's own (its Unsubscribe button, or one "
                f"of {', '.join(sorted(BOT_NAMESPACES))} before a ':'): choose another"
            )
        return self


def is_bot_data(data: str) -> bool:
    """Whether the bot answers callback `data` itself (see the module docstring)."""
    return data == UNSUBSCRIBE_DATA or data.partition(":")[0] in BOT_NAMESPACES


def rows(value: object) -> object:
    """`buttons`: each item a button (a row of its own) or a list of buttons (a row)."""
    if not isinstance(value, list):
        return value
    return [item if isinstance(item, list) else [item] for item in value]
