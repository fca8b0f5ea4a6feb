"""What the sender needs from a messaging platform, and what it can answer.

The sender never sees aiogram: `bot.messenger` implements this for Telegram, and another
platform is one more implementation. Outcomes are values, not exceptions, so the sender's
handling of each is one visible decision.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeGuard


class MediaKind(enum.StrEnum):
    """What a media item is; each single one has its own Bot API method (sendPhoto, ...)."""

    PHOTO = "photo"
    VIDEO = "video"
    ANIMATION = "animation"  # a GIF, or an MPEG-4 video without sound
    DOCUMENT = "document"
    AUDIO = "audio"
    VOICE = "voice"


@dataclass(frozen=True, slots=True)
class Media:
    """One photo, video, ... of a message: a URL or platform file id (`local` False), or a
    file on this host to upload (`local`: `ref` is its absolute path, `sha256` its content
    when it was checked, so a changed file is refused rather than sent)."""

    kind: MediaKind
    ref: str
    local: bool = False
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: opens `url`, sends `data` back as a callback, copies `copy_text`
    to the clipboard, or opens the Mini App at `web_app`."""

    text: str
    url: str | None = None
    data: str | None = None
    copy_text: str | None = None
    web_app: str | None = None


@dataclass(frozen=True, slots=True)
class LinkPreview:
    """How a text message shows a link preview: none (`disabled`), or the one for `url`
    (else the text's first link), above or below the text, small or large media."""

    disabled: bool = False
    url: str | None = None
    above: bool = False
    size: str | None = None  # "small" | "large"; None: as the platform chooses


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """HTML text; or one media item with an HTML caption (`text`); or an album of 2-10
    media items, the caption on the first (albums carry no buttons). Buttons in rows."""

    chat_id: int
    text: str
    media: tuple[Media, ...] = ()
    keyboard: tuple[tuple[Button, ...], ...] = ()
    link_preview: LinkPreview | None = None  # text messages only
    protect_content: bool = False  # no forwarding or saving
    effect_id: str | None = None  # a message effect (private chats only)
    paid: bool = False  # Telegram's allow_paid_broadcast: above the free rate, for Stars

    @property
    def buttons(self) -> tuple[Button, ...]:
        """Every button, row by row."""
        return tuple(button for row in self.keyboard for button in row)

    @property
    def is_album(self) -> bool:
        return len(self.media) > 1


@dataclass(frozen=True, slots=True)
class Sent:
    """It arrived: its (an album's first) message id, and the file id the platform gave
    each media item, in order, so a file uploaded once is sent by id from then on."""

    message_id: int
    file_ids: tuple[str, ...] = ()


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
    """It certainly did not arrive (a 5xx, a connection that never opened): retry later.
    `sent` is False when no request went out at all (it waited too long for its turn)."""

    description: str
    sent: bool = True


@dataclass(frozen=True, slots=True)
class Unknown:
    """The request went out and no answer came back: it may have arrived. Never resent."""

    description: str


Outcome = Sent | RetryAfter | Blocked | ChatNotFound | Rejected | TransientError | Unknown
# How the Bot API refuses the bot itself, whatever the message: a token it does not know
# (401) or cannot read (404).
TOKEN_UNKNOWN = ("Unauthorized", "Not Found")


def refuses_the_bot(outcome: object) -> TypeGuard[Rejected]:
    """Whether the platform refused the bot (its token), not this message: nothing will be
    sent until the token is put right, and this message certainly did not arrive."""
    return isinstance(outcome, Rejected) and outcome.description.startswith(TOKEN_UNKNOWN)


class Messenger(Protocol):
    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        """Send `message`; `on_written` is called once, at the moment its request is
        written to the connection (the rate budget counts the send from then), if it is."""
        ...
