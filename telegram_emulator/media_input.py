"""The file a send request names, read and checked before anything is delivered.

A request names its file three ways: a multipart upload (under the parameter's own name, or
the name an `attach://name` value points at), an http(s) URL, or a file_id the emulator
issued. `read_media` checks it (nothing is kept yet: a send refused by the flood limits
issues no file_id); `MediaInput.keep` stores it once the send is accepted.
"""

from collections.abc import Callable
from dataclasses import dataclass

from telegram_emulator.errors import ApiError
from telegram_emulator.files import (
    FileStore,
    MediaKind,
    MediaSource,
    StoredFile,
    check_upload,
)
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.params import ATTACH_PREFIX, Upload
from telegram_emulator.sent import SentMedia

MAX_DURATION = 24 * 60 * 60
MAX_LENGTH = 10_000
"""The Bot API server's ceilings for a duration (seconds) and a width or height (pixels)."""
_ATTRIBUTES: dict[MediaKind, tuple[str, ...]] = {
    MediaKind.VIDEO: ("width", "height", "duration"),
    MediaKind.ANIMATION: ("width", "height", "duration"),
    MediaKind.AUDIO: ("duration", "performer", "title"),
    MediaKind.VOICE: ("duration",),
}
SPOILER_KINDS = frozenset({MediaKind.PHOTO, MediaKind.VIDEO, MediaKind.ANIMATION})
"""Kinds that take has_spoiler and show_caption_above_media (others ignore them)."""


@dataclass(frozen=True, slots=True)
class MediaInput:
    """A checked file reference: an upload, a URL, or an issued file's `stored` record."""

    kind: MediaKind
    source: MediaSource
    upload: Upload | None = None
    url: str | None = None
    stored: StoredFile | None = None

    def keep(
        self, files: FileStore, *, has_spoiler: bool = False, attributes: JSONObject | None = None
    ) -> SentMedia:
        """Store the file (an upload or URL gets its file_id now); the message's media."""
        if self.stored is not None:
            stored = self.stored
        elif self.upload is not None:
            stored = files.add_upload(self.kind, self.upload)
        else:
            stored = files.add_url(self.kind, self.url or "")
        return SentMedia(
            kind=self.kind,
            source=self.source,
            file=stored,
            has_spoiler=has_spoiler and self.kind in SPOILER_KINDS,
            attributes=attributes or {},
        )


def read_media(
    kind: MediaKind,
    value: str | None,
    upload: Upload | None,
    files: FileStore,
    *,
    missing: ApiError,
) -> MediaInput:
    """The file `value` names (or `upload` carries); `missing` when the request has none."""
    if upload is not None:
        check_upload(kind, upload)
        return MediaInput(kind, MediaSource.UPLOAD, upload=upload)
    if not value or value.startswith(ATTACH_PREFIX):
        raise missing
    if value.startswith(("http://", "https://")):
        return MediaInput(kind, MediaSource.URL, url=value)
    return MediaInput(kind, MediaSource.FILE_ID, stored=files.by_id(value, kind))


def media_attributes(kind: MediaKind, value_of: Callable[[str], JSON]) -> JSONObject:
    """What the bot said about the file (duration, size in pixels, performer, title),
    clamped as the Bot API clamps them; anything of the wrong type is ignored."""
    attributes: JSONObject = {}
    for name in _ATTRIBUTES.get(kind, ()):
        value = value_of(name)
        if name in {"performer", "title"}:
            if isinstance(value, str) and value:
                attributes[name] = value
            continue
        number = value if isinstance(value, int) and not isinstance(value, bool) else 0
        ceiling = MAX_DURATION if name == "duration" else MAX_LENGTH
        attributes[name] = min(max(number, 0), ceiling)
    return attributes
