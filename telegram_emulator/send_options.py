"""Options every send method shares: buttons, content protection, a message effect, and
sendMessage's link-preview options, checked as Telegram checks them.

Message effects work in private chats only (every emulated chat is one). The Bot API does
not list effect ids; the ones accepted are the free effects bots use (🔥 👍 ❤ 🎉 👎 💩;
❤ is known by two ids). Any other id gets Telegram's "EFFECT_ID_INVALID", a non-numeric
one too (Telegram reads it as no effect, silently: the emulator refuses it, so a test
never believes an effect was sent).
"""

from dataclasses import dataclass

from telegram_emulator import keyboards
from telegram_emulator.errors import bad_request
from telegram_emulator.json_types import JSONObject
from telegram_emulator.params import Params

MESSAGE_EFFECTS = {
    "5104841245755180586": "🔥",
    "5107584321108051014": "👍",
    "5044134455711629726": "❤",
    "5159385139981059251": "❤",
    "5046509860389126442": "🎉",
    "5104858069142078462": "👎",
    "5046589136895476101": "💩",
}
"""Effect id -> the emoji the effect shows."""
_PREVIEW_FLAGS = ("is_disabled", "prefer_small_media", "prefer_large_media", "show_above_text")


@dataclass(frozen=True, slots=True)
class SendOptions:
    """What a send request asked for besides its content."""

    reply_markup: JSONObject | None = None
    protect_content: bool = False
    message_effect_id: str | None = None


def send_options(params: Params, *, with_markup: bool = True) -> SendOptions:
    """The request's options; `with_markup=False` for sendMediaGroup, which the Bot API
    sends without reply_markup (it ignores one: the emulator records none)."""
    markup = params.optional_object("reply_markup") if with_markup else None
    return SendOptions(
        reply_markup=keyboards.reply_markup(markup),
        protect_content=params.flag("protect_content"),
        message_effect_id=message_effect_id(params.optional_str("message_effect_id")),
    )


def message_effect_id(effect_id: str | None) -> str | None:
    """A known effect's id, None for no effect; anything else is EFFECT_ID_INVALID."""
    if effect_id is None or effect_id in {"", "0"}:
        return None
    if effect_id not in MESSAGE_EFFECTS:
        raise bad_request("EFFECT_ID_INVALID")
    return effect_id


def link_preview_options(params: Params) -> JSONObject | None:
    """sendMessage's link_preview_options (or the legacy disable_web_page_preview)."""
    options = params.get("link_preview_options")
    if options is None:
        return {"is_disabled": True} if params.flag("disable_web_page_preview") else None
    if isinstance(options, str):
        raise bad_request("can't parse link preview options JSON object")
    if not isinstance(options, dict):
        raise bad_request("object expected as link preview options")
    for flag in _PREVIEW_FLAGS:
        if not isinstance(options.get(flag, False), bool):
            raise bad_request(f'field "{flag}" must be of type Boolean')
    if not isinstance(options.get("url", ""), str):
        raise bad_request('field "url" must be of type String')
    return options
