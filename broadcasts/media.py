"""A message's media as a marketer names it, checked before anything is sent.

A media item is given as a URL (http/https: Telegram fetches it), a file on this host
(anything with a `/` or a `.`, or a file of that name beside the campaign: uploaded once,
then sent by the file id Telegram returns), or a Telegram file id (letters, digits, `_`
and `-`). A local file must exist, be within the Bot API's upload limits (photos 10 MB,
everything else 50 MB) and be what its kind says: its first bytes are read, so a PDF (or
a web page) named `.jpg` is no photo, and a photo's width and height are read where its
header can be. A URL is judged by its extension when it has a known one (`.pdf` is no
photo; a document only as GIF, PDF or ZIP and a voice message only as OGG, the files
Telegram fetches for those); its size Telegram judges (5 MB for photos, 20 MB otherwise,
fetched by URL). A file id is taken as it is.

Albums (`sendMediaGroup`): 2-10 items; photos and videos mix, documents go only with
documents and audio only with audio; animations and voice messages cannot be in one.
"""

import hashlib
import re
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from PIL import Image

from broadcasts.messenger import Media, MediaKind

MB = 2**20
PHOTO_UPLOAD_LIMIT = 10 * MB
UPLOAD_LIMIT = 50 * MB
ALBUM_SIZE = (2, 10)
_FILE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_HEAD_BYTES = 16  # enough for every signature below (`<!doctype html` is 14)
# Formats each kind accepts (Bot API: sendPhoto ... sendVoice); a document takes any.
ACCEPTED: dict[MediaKind, tuple[str, ...]] = {
    MediaKind.PHOTO: ("JPEG image", "PNG image", "WebP image"),
    MediaKind.VIDEO: ("MPEG-4 video",),
    MediaKind.ANIMATION: ("GIF image", "MPEG-4 video"),
    MediaKind.AUDIO: ("MP3 audio", "M4A audio"),
    MediaKind.VOICE: ("OGG audio", "MP3 audio", "M4A audio"),
}
_EXTENSIONS = {
    **dict.fromkeys((".jpg", ".jpeg"), "JPEG image"),
    ".png": "PNG image",
    ".webp": "WebP image",
    ".gif": "GIF image",
    ".mp4": "MPEG-4 video",
    ".mp3": "MP3 audio",
    ".m4a": "M4A audio",
    **dict.fromkeys((".ogg", ".oga", ".opus"), "OGG audio"),
    ".pdf": "PDF document",
    ".zip": "ZIP archive",
    ".mov": "QuickTime video",
    ".webm": "WebM video",
}
# The extensions Telegram fetches by URL for these kinds (sendDocument, sendVoice).
URL_ONLY: dict[MediaKind, tuple[str, ...]] = {
    MediaKind.DOCUMENT: (".gif", ".pdf", ".zip"),
    MediaKind.VOICE: (".ogg", ".oga", ".opus"),
}
# An ISO media file's brand (bytes 8-12), where it is not MPEG-4 video.
_FTYP_BRANDS = {
    b"M4A ": "M4A audio",
    b"qt  ": "QuickTime video",
    **dict.fromkeys((b"heic", b"heix", b"mif1", b"msf1", b"avif"), "HEIF image"),
}
PHOTO_SIDES = 10_000  # width + height
PHOTO_RATIO = 20
ALBUM_GROUPS = (
    frozenset({MediaKind.PHOTO, MediaKind.VIDEO}),
    frozenset({MediaKind.DOCUMENT}),
    frozenset({MediaKind.AUDIO}),
)


class MediaError(ValueError):
    """A media item that could not be sent as given; the message says why."""


def media_item(kind: MediaKind, ref: str, *, base: Path) -> Media:
    """The item `ref` names, checked (a relative path is relative to `base`)."""
    ref = ref.strip()
    if not ref:
        raise MediaError("give a URL, a file path or a Telegram file_id")
    scheme = urlsplit(ref).scheme  # lower-cased: HTTPS:// is https://
    if scheme in ("http", "https"):
        url = scheme + ref[len(scheme) :]
        _check_url(kind, url)
        return Media(kind, url)
    if "/" in ref or "." in ref or (base / ref).is_file():
        try:
            return _local_file(kind, (base / Path(ref).expanduser()).resolve())
        except RuntimeError:  # `~name/...` of a user this host does not have
            raise MediaError(f"{ref}: no such user's home directory on this host") from None
        except OSError as error:  # a name too long, a file this process may not read
            raise MediaError(f"cannot read {ref}: {error.strerror or error}") from None
    if not _FILE_ID.match(ref):
        raise MediaError(
            f"{ref!r} is not a URL (http:// or https://), a file path "
            "(with a / or a .) or a Telegram file_id (letters, digits, _ and -)"
        )
    return Media(kind, ref)


def check_album(kinds: Sequence[MediaKind]) -> None:
    """MediaError unless Telegram would take these items as one album."""
    low, high = ALBUM_SIZE
    if not low <= len(kinds) <= high:
        raise MediaError(f"an album has {low}-{high} items, not {len(kinds)}")
    present = set(kinds)
    if not any(present <= group for group in ALBUM_GROUPS):
        raise MediaError(
            f"an album cannot mix {', '.join(sorted(present))}: photos and videos mix, "
            "documents go only with documents and audio only with audio"
        )


def with_digest(media: Media) -> Media:
    """A local file with the digest of its content (what its upload is known by)."""
    if not media.local:
        return media
    return replace(media, sha256=sha256_of(Path(media.ref)))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(MB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _local_file(kind: MediaKind, path: Path) -> Media:
    if not path.is_file():
        raise MediaError(f"no such file: {path}")
    size = path.stat().st_size
    limit = PHOTO_UPLOAD_LIMIT if kind is MediaKind.PHOTO else UPLOAD_LIMIT
    if size == 0:
        raise MediaError(f"{path.name} is empty")
    if size > limit:
        raise MediaError(
            f"{path.name} is {size / MB:.1f} MB; "
            f"Telegram takes uploads of at most {limit // MB} MB for a {kind}"
        )
    with path.open("rb") as file:
        head = file.read(_HEAD_BYTES)
    _check_format(kind, _by_content(head) or _by_extension(path.name), path.name)
    if kind is MediaKind.PHOTO:
        _check_photo_size(path)
    return Media(kind, str(path), local=True)


def _check_url(kind: MediaKind, url: str) -> None:
    """What Telegram will fetch by URL, judged by the extension where there is one (it
    judges the rest itself): documents only as GIF, PDF or ZIP, voice only as OGG."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    only = URL_ONLY.get(kind)
    if suffix and only is not None and suffix not in only:
        raise MediaError(
            f"{url}: Telegram fetches a {kind} by URL only as {', '.join(only)}; "
            "give the file's path instead, to upload it"
        )
    found = _EXTENSIONS.get(suffix)
    if found is not None:
        _check_format(kind, found, url)


def _check_photo_size(path: Path) -> None:
    """Telegram's rule for photos: width and height at most 10,000 together, and neither
    more than 20 times the other. A header Pillow cannot read is left to Telegram."""
    try:
        with warnings.catch_warnings():  # past 89M pixels: it fails the rule below anyway
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        raise MediaError(f"{path.name} has far too many pixels for a photo") from None
    except (OSError, SyntaxError, ValueError):  # what Pillow raises for a header it cannot read
        return
    if width + height > PHOTO_SIDES or max(width, height) > PHOTO_RATIO * min(width, height):
        raise MediaError(
            f"{path.name} is {width}x{height}: Telegram takes photos whose width and height "
            f"add up to at most {PHOTO_SIDES:,}, neither more than {PHOTO_RATIO} times the "
            "other (send it as a document)"
        )


def _check_format(kind: MediaKind, found: str | None, name: str) -> None:
    accepted = ACCEPTED.get(kind)
    if accepted is None or found in accepted:
        return
    wanted = accepted[0] if len(accepted) == 1 else f"{', '.join(accepted[:-1])} or {accepted[-1]}"
    if found is None:
        raise MediaError(f"{name} is not a {wanted} (send other files as a document)")
    raise MediaError(f"{name} is a {found}, not a {wanted}: send it as a document")


def _by_extension(name: str) -> str | None:
    return _EXTENSIONS.get(PurePosixPath(name).suffix.lower())


def _by_content(head: bytes) -> str | None:
    """The format the first bytes of a file say, if one segbot knows."""
    signatures = (
        (b"\xff\xd8\xff", "JPEG image"),
        (b"\x89PNG\r\n\x1a\n", "PNG image"),
        (b"GIF87a", "GIF image"),
        (b"GIF89a", "GIF image"),
        (b"%PDF-", "PDF document"),
        (b"OggS", "OGG audio"),
        (b"ID3", "MP3 audio"),
        (b"PK\x03\x04", "ZIP archive"),
        (b"\x1a\x45\xdf\xa3", "WebM video"),
    )
    for signature, name in signatures:
        if head.startswith(signature):
            return name
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "web page"  # an error page saved under the name of the file it stood for
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP image"
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "MPEG-4 video")
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "MP3 audio"  # an MPEG audio frame without an ID3 tag
    return None
