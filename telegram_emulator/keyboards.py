"""reply_markup: inline keyboards checked button by button, and the three other shapes.

Telegram's own answers where it has one (errors read as the Bot API words them). Where
Telegram quietly changes a keyboard instead, the emulator refuses it, so a test never
passes on buttons a user would not see:

- a button with empty text (Telegram drops it): "inline keyboard button text must be
  non-empty", TDLib's words;
- a button with two actions (Telegram keeps the first of url, callback_data, ...):
  "exactly one of the optional fields must be used to specify type of the button", the
  Bot API documentation's rule;
- more than 8 buttons in a row or 100 in all (clients show no more; Telegram answers
  "reply markup is too long" for big keyboards): "reply markup is too long";
- copy_text outside 1-256 characters, as CopyTextButton documents it.

An empty callback_data counts as none, as in the Bot API server. A web_app button's URL
must be https.
"""

from telegram_emulator.errors import ApiError, bad_request
from telegram_emulator.json_types import JSON, JSONList, JSONObject

MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTONS_PER_ROW = 8
MAX_BUTTONS = 100
MAX_COPY_TEXT = 256
_URL_SCHEMES = ("http://", "https://", "tg://")
_ACTIONS = (
    "url",
    "callback_data",
    "callback_game",
    "pay",
    "switch_inline_query",
    "switch_inline_query_chosen_chat",
    "switch_inline_query_current_chat",
    "login_url",
    "web_app",
    "copy_text",
)
"""A button's possible actions, in the order the Bot API server looks for them."""
_EMPTY_IS_NONE = frozenset({"url", "callback_data"})
"""Actions the Bot API server reads as absent when empty (it reads the rest when present)."""
TOO_LONG = "reply markup is too long"


def _button_error(reason: str) -> ApiError:
    return bad_request(f"can't parse inline keyboard button: {reason}")


def _rows(markup: JSONObject, key: str, *, of: str = "") -> list[JSONList]:
    rows = markup.get(key)
    if not isinstance(rows, list):
        raise bad_request(f'field "{key}" must be of type Array')
    if not all(isinstance(row, list) for row in rows):
        raise bad_request(f'field "{key}"{of} must be an Array of Arrays')
    return [row for row in rows if isinstance(row, list)]


def _object_field(button: JSONObject, name: str) -> JSONObject:
    value = button[name]
    if not isinstance(value, dict):
        raise _button_error(f'Field "{name}" must be of type Object')
    return value


def _string_field(owner: JSONObject, name: str) -> str:
    value = owner.get(name)
    if value is None:
        raise _button_error(f'Can\'t find field "{name}"')
    if not isinstance(value, str):
        raise _button_error(f'Field "{name}" must be of type String')
    return value


def _check_action(button: JSONObject, action: str) -> None:
    if action == "callback_data":
        if len(str(button[action]).encode()) > MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    elif action == "url":
        url = str(button[action])
        if not url.startswith(_URL_SCHEMES):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    elif action == "web_app":
        url = _string_field(_object_field(button, action), "url")
        if not url.startswith("https://"):
            raise bad_request(
                f"inline keyboard button Web App URL '{url}' is invalid: "
                "Only HTTPS links are allowed"
            )
    elif action == "login_url":
        _string_field(_object_field(button, action), "url")
    elif action == "copy_text":
        copied = _string_field(_object_field(button, action), "text")
        if not 0 < len(copied) <= MAX_COPY_TEXT:
            raise _button_error(f"copy_text text must be 1-{MAX_COPY_TEXT} characters")


def _actions(button: JSONObject) -> list[str]:
    """The actions a button names, in the order the Bot API server looks for them."""
    for name in _EMPTY_IS_NONE:
        if name in button and not isinstance(button[name], str | None):
            raise _button_error(f'Field "{name}" must be of type String')
    return [
        action
        for action in _ACTIONS
        if button.get(action) is not None
        and not (action in _EMPTY_IS_NONE and button[action] == "")
    ]


def _check_inline_button(button: JSON) -> None:
    if not isinstance(button, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    text = _string_field(button, "text")
    actions = _actions(button)
    if not actions:
        raise _button_error("Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise _button_error(
            "exactly one of the optional fields must be used to specify type of the button"
        )
    _check_action(button, actions[0])
    if not text:
        raise bad_request("inline keyboard button text must be non-empty")


def _check_inline_keyboard(markup: JSONObject) -> None:
    rows = _rows(markup, "inline_keyboard", of=" of the InlineKeyboardMarkup")
    for row in rows:
        for button in row:
            _check_inline_button(button)
    if any(len(row) > MAX_BUTTONS_PER_ROW for row in rows):
        raise bad_request(TOO_LONG)
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request(TOO_LONG)


def _check_reply_button(button: JSON) -> None:
    if isinstance(button, str):
        return
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request("can't parse keyboard button: Text is not specified")


def reply_markup(markup: JSONObject | None) -> JSONObject | None:
    """Check one of the four reply_markup shapes; return it unchanged."""
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup)
    elif "keyboard" in markup:
        for row in _rows(markup, "keyboard"):
            for button in row:
                _check_reply_button(button)
    elif markup.get("remove_keyboard") is not True and markup.get("force_reply") is not True:
        raise bad_request("can't parse reply keyboard markup JSON object")
    return markup
