"""The files the emulated Telegram keeps: every file a message carried, by file_id.

Telegram gives each file a message carries a `file_id` (the bot sends the same file again
with it, without uploading) and a `file_unique_id` (the same for the same file). The
emulator issues both when a bot uploads a file or sends one by URL (the URL is recorded,
never fetched), and when a user sends a photo. A photo answers with two sizes, each with a
file_id of its own; any of them sends the same photo again.

A file_id names a file of one type: a photo's is usable only as a photo, while the other
types (video, animation, document, audio, voice) may be sent as one another, as TDLib
allows. Unknown file ids, a photo's id for another type and the upload limits get
Telegram's answers:

- an unknown file_id or a string that is no http(s) URL: "wrong file identifier/HTTP URL
  specified";
- an uploaded photo over 10 MB: TDLib's "file of size N bytes is too big for a photo";
- any uploaded file over 50 MB: 413 "Request Entity Too Large" (`params.read_params`).
"""

import itertools
import mimetypes
import zlib
from dataclasses import dataclass
from enum import StrEnum

from telegram_emulator.errors import SendFailedError, bad_request
from telegram_emulator.params import Upload

MAX_PHOTO_UPLOAD_BYTES = 10 * 1024 * 1024
"""Largest photo a bot may upload (the Bot API's "10 MB max size for photos")."""
PHOTO_SIZES = ((90, 67, 1_300), (1280, 960, 98_000))
"""(width, height, file_size) of the sizes every photo gets: a thumbnail and the full size."""
WRONG_FILE = "Wrong file identifier/HTTP URL specified"


class MediaKind(StrEnum):
    """What a message carries, named as the `Message` field (and InputMedia type) is."""

    PHOTO = "photo"
    VIDEO = "video"
    ANIMATION = "animation"
    DOCUMENT = "document"
    AUDIO = "audio"
    VOICE = "voice"

    @property
    def type_name(self) -> str:
        """The file type's name in TDLib's errors ("can't use file of type Photo as Video")."""
        return "VoiceNote" if self is MediaKind.VOICE else self.value.title()


class MediaSource(StrEnum):
    """How the bot gave the file: uploaded it, named a URL, or named a file_id."""

    UPLOAD = "upload"
    URL = "url"
    FILE_ID = "file_id"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file Telegram holds. `content` is what was uploaded (None for a URL or a user's
    photo); `url` where a file sent by URL was said to be."""

    file_id: str
    file_unique_id: str
    kind: MediaKind
    size: int
    file_name: str | None = None
    mime_type: str | None = None
    url: str | None = None
    content: bytes | None = None

    def photo_size_ids(self) -> list[tuple[str, str]]:
        """(file_id, file_unique_id) of each photo size, smallest first."""
        return [
            (photo_size_file_id(self.file_id, width), _unique_id("AQAD", self.file_id, width))
            for width, _height, _size in PHOTO_SIZES
        ]


def photo_size_file_id(file_id: str, width: int) -> str:
    return f"{file_id}_{width}"


def _unique_id(prefix: str, file_id: str, salt: int = 0) -> str:
    return f"{prefix}{zlib.crc32(f'{file_id}:{salt}'.encode()):08x}"


def _compatible(stored: MediaKind, wanted: MediaKind) -> bool:
    """Whether a file of type `stored` may be sent as `wanted` (TDLib's file type classes)."""
    photo = MediaKind.PHOTO
    return stored == wanted or (stored is not photo and wanted is not photo)


class FileStore:
    """Every file_id issued so far, each naming its `StoredFile`."""

    def __init__(self, owner_id: int) -> None:
        self._prefix = f"AgACAgIAAxkBAAE{owner_id:x}"
        self._numbers = itertools.count(1)
        self._files: dict[str, StoredFile] = {}

    def by_id(self, file_id: str, kind: MediaKind) -> StoredFile:
        """The file `file_id` names, checked for use as `kind`."""
        stored = self._files.get(file_id)
        if stored is None:
            raise SendFailedError(WRONG_FILE)
        if not _compatible(stored.kind, kind):
            raise bad_request(f"can't use file of type {stored.kind.type_name} as {kind.type_name}")
        return stored

    def add_upload(self, kind: MediaKind, upload: Upload) -> StoredFile:
        """Keep an uploaded file (its size already checked by `check_upload`)."""
        mime_type, _ = mimetypes.guess_type(upload.filename)
        return self._add(
            kind,
            size=len(upload.content),
            file_name=upload.filename,
            mime_type=None if kind is MediaKind.PHOTO else mime_type,
            content=upload.content,
        )

    def add_url(self, kind: MediaKind, url: str) -> StoredFile:
        """A file sent by URL: recorded, not fetched (its size is unknown: 0)."""
        name = url.rsplit("/", 1)[-1].split("?", 1)[0] or None
        mime_type = mimetypes.guess_type(name)[0] if name else None
        file_name = None if kind in {MediaKind.PHOTO, MediaKind.VOICE} else name
        return self._add(kind, size=0, file_name=file_name, mime_type=mime_type, url=url)

    def add_received(self, kind: MediaKind) -> StoredFile:
        """A file a user sent to the bot (which may send it on by file_id)."""
        return self._add(kind, size=PHOTO_SIZES[-1][2])

    def _add(
        self,
        kind: MediaKind,
        *,
        size: int,
        file_name: str | None = None,
        mime_type: str | None = None,
        url: str | None = None,
        content: bytes | None = None,
    ) -> StoredFile:
        file_id = f"{self._prefix}{next(self._numbers):010d}"
        unique_id = _unique_id("AgAD", file_id)
        stored = StoredFile(file_id, unique_id, kind, size, file_name, mime_type, url, content)
        self._files[file_id] = stored
        if kind is MediaKind.PHOTO:
            self._files.update((size_id, stored) for size_id, _ in stored.photo_size_ids())
        return stored


def check_upload(kind: MediaKind, upload: Upload) -> None:
    """Telegram's answers to an empty upload and to a photo over 10 MB."""
    size = len(upload.content)
    if size == 0:
        raise SendFailedError("File must be non-empty")
    if kind is MediaKind.PHOTO and size > MAX_PHOTO_UPLOAD_BYTES:
        raise SendFailedError(
            f"File of size {size} bytes is too big for a photo; "
            f"the maximum size is {MAX_PHOTO_UPLOAD_BYTES} bytes"
        )
