"""What the sender needs from a messaging platform, and what it can answer.

The sender never sees aiogram: `bot.messenger` implements this for Telegram, and another
platform is one more implementation. Outcomes are values, not exceptions, so the sender's
handling of each is one visible decision.
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: opens `url`, or sends `data` back as a callback."""

    text: str
    url: str | None = None
    data: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """HTML text, or a photo with an HTML caption; one button per row."""

    chat_id: int
    text: str
    photo: str | None = None
    buttons: tuple[Button, ...] = ()
    paid: bool = False  # Telegram's allow_paid_broadcast: above the free rate, for Stars


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: int


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """Flood control: nothing may be sent for `seconds`; then this message goes again."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Blocked:
    """The user blocked the bot, or (`deactivated`) deleted their account. Never retried."""

    deactivated: bool = False


@dataclass(frozen=True, slots=True)
class ChatNotFound:
    pass


@dataclass(frozen=True, slots=True)
class Rejected:
    """The platform refused this message for good (a bad photo, markup): not retried."""

    description: str


@dataclass(frozen=True, slots=True)
class TransientError:
    """It certainly did not arrive (a 5xx, a connection that never opened): retry later."""

    description: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """The request went out and no answer came back: it may have arrived. Never resent."""

    description: str


Outcome = Sent | RetryAfter | Blocked | ChatNotFound | Rejected | TransientError | Unknown


class Messenger(Protocol):
    async def send(self, message: OutgoingMessage) -> Outcome: ...
