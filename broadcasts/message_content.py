"""A message's content as it is kept: what a validated `VariantSpec` becomes, what a
campaign's `Variant` row holds (and a journey step may hold, as `to_json`), and what the
sender composes each subscriber's message from.

Texts are templates, one per language: `body` in the default language, `translations`
for the others (core.languages.pick_language chooses a subscriber's).
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Self

from broadcasts.button_spec import ButtonSpec
from broadcasts.links import urls_in
from broadcasts.message_spec import LinkPreviewSpec, VariantSpec
from broadcasts.messenger import Button, LinkPreview, Media, MediaKind
from broadcasts.models import Variant
from broadcasts.templates import TemplateContext

# The `Variant` columns that hold a message's content.
COLUMNS = (
    *("kind", "body", "translations", "media", "buttons"),
    *("link_preview", "protect_content", "effect_id"),
)


@dataclass(frozen=True, slots=True)
class LocalizedButton:
    """A button whose label may differ by language (`button.text` is the default's)."""

    button: Button
    texts: Mapping[str, str] = field(default_factory=dict)

    def in_language(self, language: str) -> Button:
        text = self.texts.get(language)
        if text is None:
            return self.button
        return Button(
            text, self.button.url, self.button.data, self.button.copy_text, self.button.web_app
        )


@dataclass(frozen=True, slots=True)
class MessageContent:
    kind: str  # text, album, or the media kind
    body: str
    language: str  # the default: `body`'s
    translations: Mapping[str, str] = field(default_factory=dict)
    media: tuple[Media, ...] = ()
    keyboard: tuple[tuple[LocalizedButton, ...], ...] = ()
    link_preview: LinkPreview | None = None
    protect_content: bool = False
    effect_id: str | None = None

    @classmethod
    def of_spec(cls, spec: VariantSpec, *, language: str) -> Self:
        """The content of a validated message whose default language is `language`."""
        template = spec.text if spec.text is not None else spec.caption
        body, translations = _split(template, language)
        return cls(
            kind=spec.kind,
            body=body,
            language=language,
            translations=translations,
            media=spec.media,
            keyboard=tuple(tuple(_button(b) for b in row) for row in spec.buttons),
            link_preview=_preview(spec.link_preview),
            protect_content=spec.protect_content,
            effect_id=spec.effect,
        )

    @classmethod
    def of_variant(cls, variant: Variant, *, language: str) -> Self:
        """The content a campaign's variant row holds (`language`: the campaign's)."""
        return cls.from_json(_columns(variant) | {"language": language})

    def columns(self) -> dict[str, Any]:
        """The `Variant` columns that hold it."""
        data = self.to_json()
        data.pop("language")
        return data

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "body": self.body,
            "language": self.language,
            "translations": dict(self.translations),
            "media": [_media_json(item) for item in self.media],
            "buttons": [[_button_json(button) for button in row] for row in self.keyboard],
            "link_preview": None if self.link_preview is None else asdict(self.link_preview),
            "protect_content": self.protect_content,
            "effect_id": self.effect_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        preview = data.get("link_preview")
        return cls(
            kind=data["kind"],
            body=data["body"],
            language=data["language"],
            translations=dict(data.get("translations") or {}),
            media=tuple(
                Media(
                    MediaKind(item["kind"]),
                    item["ref"],
                    item.get("local", False),
                    item.get("sha256"),
                )
                for item in data.get("media") or ()
            ),
            keyboard=tuple(
                tuple(_button_from_json(button) for button in row)
                for row in data.get("buttons") or ()
            ),
            link_preview=None if preview is None else LinkPreview(**preview),
            protect_content=bool(data.get("protect_content")),
            effect_id=data.get("effect_id"),
        )

    @property
    def languages(self) -> list[str]:
        """Every language it has texts in, the default first."""
        others = set(self.translations)
        for row in self.keyboard:
            for button in row:
                others |= set(button.texts)
        return [self.language, *sorted(others - {self.language})]

    def urls(self) -> list[str]:
        """Every URL its subscribers may follow: in its texts, its link buttons, its link
        preview (not a Mini App's: it opens as it is)."""
        urls = [url for language in self.languages for url in urls_in(self.template(language))]
        urls += [
            each.button.url
            for row in self.keyboard
            for each in row
            if each.button.url is not None and each.button.url.startswith("http")
        ]
        if self.link_preview is not None and self.link_preview.url is not None:
            urls.append(self.link_preview.url)
        return list(dict.fromkeys(urls))

    def template(self, language: str) -> str:
        return self.translations.get(language, self.body)

    @property
    def caption(self) -> bool:
        """Whether its text is a caption (1024 characters) rather than a message text."""
        return self.kind != "text"


def in_each_language(
    content: MessageContent, context: TemplateContext
) -> list[tuple[str | None, TemplateContext]]:
    """`context` as a subscriber of each of the content's languages would have it, for
    previews and test sends; one (None, `context`) if the content has one language."""
    if len(content.languages) == 1:
        return [(None, context)]
    return [(language, replace(context, language=language)) for language in content.languages]


def _split(template: str | dict[str, str], language: str) -> tuple[str, dict[str, str]]:
    if isinstance(template, str):
        return template, {}
    body = template.get(language, next(iter(template.values())))
    return body, {code: text for code, text in template.items() if code != language}


def _button(spec: ButtonSpec) -> LocalizedButton:
    button = Button(spec.text, spec.url, spec.data, spec.copy_text, spec.web_app)
    return LocalizedButton(button, dict(spec.texts))


def _preview(spec: bool | LinkPreviewSpec) -> LinkPreview | None:
    if spec is True:
        return None
    if spec is False:
        return LinkPreview(disabled=True)
    return LinkPreview(url=spec.url, above=spec.position == "above", size=spec.size)


def _columns(variant: Variant) -> dict[str, Any]:
    return {name: getattr(variant, name) for name in COLUMNS}


def _media_json(item: Media) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": item.kind.value, "ref": item.ref}
    if item.local:
        data |= {"local": True, "sha256": item.sha256}
    return data


def _button_json(localized: LocalizedButton) -> dict[str, Any]:
    button = localized.button
    texts = {**localized.texts}
    data: dict[str, Any] = {"text": button.text}
    if texts:
        data["texts"] = texts
    actions = {
        "url": button.url,
        "data": button.data,
        "copy_text": button.copy_text,
        "web_app": button.web_app,
    }
    return data | {name: value for name, value in actions.items() if value is not None}


def _button_from_json(data: Mapping[str, Any]) -> LocalizedButton:
    button = Button(
        data["text"], data.get("url"), data.get("data"), data.get("copy_text"), data.get("web_app")
    )
    return LocalizedButton(button, dict(data.get("texts") or {}))
