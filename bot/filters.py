"""Small async filters for the hot path.

aiogram runs a synchronous filter, magic filters (`F.x == y`) included, in a worker
thread for every update it checks; these coroutine filters answer inline instead. The
ingest benchmark (benchmarks/ingest.py) measures the difference.
"""

from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message


class PrivateChat(BaseFilter):
    """An update from a private chat with the bot. A button pressed under a message Telegram
    no longer shows the bot (an `InaccessibleMessage`: an old broadcast) counts, by its chat."""

    async def __call__(self, event: Message | CallbackQuery | ChatMemberUpdated) -> bool:
        if isinstance(event, CallbackQuery):
            return event.message is not None and event.message.chat.type == "private"
        return event.chat.type == "private"


class Data(BaseFilter):
    """A callback query whose data is `exactly` this, or starts with `prefix`."""

    def __init__(self, *, exactly: str | None = None, prefix: str | None = None) -> None:
        self.exactly = exactly
        self.prefix = prefix

    async def __call__(self, query: CallbackQuery) -> bool:
        data = query.data or ""
        if self.exactly is not None:
            return data == self.exactly
        return self.prefix is not None and data.startswith(self.prefix)


async def has_contact(message: Message) -> bool:
    return message.contact is not None


async def looks_like_command(message: Message) -> bool:
    return (message.text or "").startswith("/")
