"""What a subscriber sends to leave: `/stop` or the Unsubscribe button (unsubscribing),
`/forget` and its buttons (erasure). The anti-flood throttle never drops these
(`bot.middlewares`): someone who floods the bot and then asks to stop must be stopped, or
the next broadcast messages them."""

from aiogram.types import Update

from broadcasts.button_spec import UNSUBSCRIBE_DATA

STOP, FORGET = "stop", "forget"  # commands, without their slash
FORGET_ASK, FORGET_YES, FORGET_NO = "forget:ask", "forget:yes", "forget:no"
_LEAVING_DATA = frozenset({UNSUBSCRIBE_DATA, FORGET_ASK, FORGET_YES})


def asks_to_leave(update: Update) -> bool:
    """Whether `update` is one of the requests above: a message whose command (read as
    aiogram's `Command` filter reads it: text or caption, before any `@botname` and
    arguments) is /stop or /forget, or a press of one of their buttons."""
    if update.callback_query is not None:
        return update.callback_query.data in _LEAVING_DATA
    message = update.message
    text = (message.text or message.caption) if message is not None else None
    if not text or not text.startswith("/"):
        return False
    command = text.split(maxsplit=1)[0][1:].partition("@")[0]
    return command in (STOP, FORGET)
