"""One message as a marketer writes it (a campaign's variant, a journey's send step):
validated shape, before it meets the database. The README's "Campaigns" section shows it.

A message is exactly one of: `text`; one `photo`, `video`, `animation`, `document`,
`audio` or `voice` with an optional `caption`; an `album` of 2-10 items, the caption on
the first. Texts and captions are templates; they and button labels may be given per
language (`{en: ..., es: ...}`, core.languages). Buttons come in rows; an album
carries none (Telegram's sendMediaGroup has no buttons). Media are checked as
broadcasts.media says.

Validation reads two optional context values (`model_validate(data, context=...)`):
`base`, the directory relative file paths are in (default: the working directory), and
`language`, the default language every per-language text must include.
"""

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from broadcasts.button_spec import MESSAGE_BUTTONS, ROW_BUTTONS, ButtonSpec, Strict, rows
from broadcasts.languages import context_language, no_default_text
from broadcasts.links import UnsafeTargetError, check_new_target
from broadcasts.media import check_album, media_item, with_digest
from broadcasts.messenger import Media, MediaKind
from broadcasts.telegram_html import is_telegram_id
from core.languages import Localized

# Message effects by name (Bot API: message_effect_id; private chats only).
EFFECTS = {
    "fire": "5104841245755180586",
    "like": "5107584321108051014",
    "dislike": "5104858069142078462",
    "heart": "5159385139981059251",
    "party": "5046509860389126442",
    "poop": "5046589136895476101",
}
MEDIA_FIELDS = tuple(kind.value for kind in MediaKind)


class LinkPreviewSpec(Strict):
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None  # else the first link
    position: Literal["above", "below"] = "below"  # of the text
    size: Literal["small", "large"] | None = None  # of the preview's media

    @field_validator("url")
    @classmethod
    def _target(cls, url: str | None) -> str | None:
        """Tracked like the text's links: one the redirect can send people to."""
        if url is not None:
            try:
                check_new_target(url)
            except UnsafeTargetError as error:
                raise ValueError(str(error)) from None
        return url


def _check_media(kind: str, ref: str | None, info: ValidationInfo) -> str | None:
    if ref is not None:
        media_item(MediaKind(kind), ref, base=_base(info))
    return ref


def _base(info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base")
    return base if isinstance(base, Path) else Path.cwd()


class AlbumItemSpec(Strict):
    """One item of an album: exactly one of photo, video, document, audio."""

    photo: str | None = None
    video: str | None = None
    document: str | None = None
    audio: str | None = None
    _media: Media = PrivateAttr()

    @field_validator("photo", "video", "document", "audio")
    @classmethod
    def _exists(cls, ref: str | None, info: ValidationInfo) -> str | None:
        return _check_media(str(info.field_name), ref, info)

    @model_validator(mode="after")
    def _one(self, info: ValidationInfo) -> Self:
        given = [
            (kind, ref)
            for kind in ("photo", "video", "document", "audio")
            if (ref := getattr(self, kind)) is not None
        ]
        if len(given) != 1:
            raise ValueError("an album item is exactly one of photo, video, document, audio")
        kind, ref = given[0]
        self._media = with_digest(media_item(MediaKind(kind), ref, base=_base(info)))
        return self

    @property
    def media(self) -> Media:
        return self._media


class VariantSpec(Strict):
    name: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] = "a"
    split: Annotated[StrictInt, Field(ge=1, le=100)] = 100  # percent: `true` is no 1
    text: Localized | None = None  # a template: HTML text
    photo: str | None = None  # each media field: a URL, a local file or a file_id
    video: str | None = None
    animation: str | None = None
    document: str | None = None
    audio: str | None = None
    voice: str | None = None
    album: list[AlbumItemSpec] | None = None
    caption: Localized = ""  # a template: the media's (an album's first item's) caption
    buttons: Annotated[list[list[ButtonSpec]], BeforeValidator(rows)] = Field(default_factory=list)
    link_preview: bool | LinkPreviewSpec = True  # text only; false (or off): none
    protect_content: bool = False  # no forwarding or saving
    effect: str | None = None  # a name in EFFECTS or an effect id
    _media: tuple[Media, ...] = PrivateAttr(default=())

    @field_validator(*MEDIA_FIELDS)
    @classmethod
    def _exists(cls, ref: str | None, info: ValidationInfo) -> str | None:
        return _check_media(str(info.field_name), ref, info)

    @field_validator("album")
    @classmethod
    def _album(cls, album: list[AlbumItemSpec] | None) -> list[AlbumItemSpec] | None:
        if album is not None:
            check_album([item.media.kind for item in album])
        return album

    @field_validator("text", "caption")
    @classmethod
    def _default_language(
        cls, template: str | dict[str, str] | None, info: ValidationInfo
    ) -> str | dict[str, str] | None:
        default = context_language(info)
        if default is not None and isinstance(template, dict) and default not in template:
            raise ValueError(no_default_text(default, str(info.field_name)))
        if info.field_name == "caption" and template and info.data.get("text") is not None:
            raise ValueError("a text message has no caption (captions go with media)")
        return template

    @field_validator("buttons")
    @classmethod
    def _keyboard(
        cls, keyboard: list[list[ButtonSpec]], info: ValidationInfo
    ) -> list[list[ButtonSpec]]:
        if keyboard and info.data.get("album") is not None:
            raise ValueError("an album cannot have buttons (Telegram's sendMediaGroup has none)")
        if any(not row for row in keyboard):
            raise ValueError("a row of buttons is empty")
        if any(len(row) > ROW_BUTTONS for row in keyboard):
            raise ValueError(f"a row has at most {ROW_BUTTONS} buttons")
        if sum(len(row) for row in keyboard) >= MESSAGE_BUTTONS:
            raise ValueError(
                f"a message has at most {MESSAGE_BUTTONS} buttons, the Unsubscribe button "
                f"included: {MESSAGE_BUTTONS - 1} of your own"
            )
        return keyboard

    @field_validator("link_preview")
    @classmethod
    def _text_only(
        cls, preview: bool | LinkPreviewSpec, info: ValidationInfo
    ) -> bool | LinkPreviewSpec:
        if preview is not True and info.data.get("text") is None:
            raise ValueError("a link preview goes with a text message only")
        return preview

    @field_validator("effect")
    @classmethod
    def _effect(cls, effect: str | None) -> str | None:
        if effect is None or is_telegram_id(effect):
            return effect
        if effect not in EFFECTS:
            raise ValueError(f"effect is an effect id or one of {', '.join(EFFECTS)}")
        return EFFECTS[effect]

    @model_validator(mode="after")
    def _one_kind(self, info: ValidationInfo) -> Self:
        media = [(kind, ref) for kind in MEDIA_FIELDS if (ref := getattr(self, kind)) is not None]
        given = len(media) + (self.text is not None) + (self.album is not None)
        if given != 1:
            raise ValueError(
                "a message is exactly one of text, photo, video, animation, document, "
                "audio, voice or album"
            )
        if self.album is not None:
            self._media = tuple(item.media for item in self.album)
        elif media:
            kind, ref = media[0]
            self._media = (with_digest(media_item(MediaKind(kind), ref, base=_base(info))),)
        return self

    @property
    def kind(self) -> str:
        """text, album, or the media kind (photo, video, ...)."""
        if self.album is not None:
            return "album"
        return self._media[0].kind.value if self._media else "text"

    @property
    def media(self) -> tuple[Media, ...]:
        """The media, local files with their absolute path and content digest."""
        return self._media

    @property
    def languages(self) -> set[str]:
        """The languages it has texts in (none: one text for everyone)."""
        template = self.text if self.text is not None else self.caption
        found = set(template) if isinstance(template, dict) else set()
        return found.union(*(button.texts for row in self.buttons for button in row))
