"""Rich messages in a campaign file: every kind of message, buttons in rows, texts per
language; each mistake refused with its line, its place and the reason."""

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from broadcasts.media import MB
from broadcasts.message_content import MessageContent
from broadcasts.messenger import Button, LinkPreview, Media, MediaKind
from broadcasts.spec import CampaignFileError, CampaignSpec, VariantSpec, parse_campaign
from tests.broadcasts.media_files import (
    JPEG_HEAD,
    MP3_HEAD,
    MP4_HEAD,
    OGG_HEAD,
    PDF_HEAD,
    media_file,
    sparse_file,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    media_file(tmp_path, "promo.mp4", MP4_HEAD)
    media_file(tmp_path, "summer.jpg", JPEG_HEAD)
    media_file(tmp_path, "winter.jpg", JPEG_HEAD)
    media_file(tmp_path, "menu.pdf", PDF_HEAD)
    media_file(tmp_path, "prices.pdf", PDF_HEAD)
    media_file(tmp_path, "hello.ogg", OGG_HEAD)
    media_file(tmp_path, "song.mp3", MP3_HEAD)
    media_file(tmp_path, "error.jpg", b"<!DOCTYPE html><title>404</title>")
    media_file(tmp_path, "iphone.mp4", b"\x00\x00\x00\x18ftypheic")
    return tmp_path


def campaign(text: str, folder: Path) -> CampaignSpec:
    return parse_campaign(text, source="c.yaml", base=folder)


def default_variant(body: str, folder: Path) -> VariantSpec:
    spec = campaign("name: rich\ndefault:\n" + body, folder)
    assert spec.default is not None
    return spec.default.variants[0]


def refused(body: str, folder: Path) -> str:
    with pytest.raises(CampaignFileError) as error:
        campaign("name: rich\ndefault:\n" + body, folder)
    return str(error.value)


def test_a_campaign_file_of_before_reads_as_it_did(folder: Path) -> None:
    variant = default_variant(
        "  photo: https://shop.example/p.jpg\n"
        "  caption: 'Hi {{ first_name }}'\n"
        "  buttons:\n"
        "    - {text: Shop, url: 'https://shop.example/'}\n"
        "    - {text: Later, data: later}\n",
        folder,
    )
    content = MessageContent.of_spec(variant, language="en")
    assert content.kind == "photo"
    assert content.media == (Media(MediaKind.PHOTO, "https://shop.example/p.jpg"),)
    assert content.body == "Hi {{ first_name }}"
    assert [[each.button for each in row] for row in content.keyboard] == [
        [Button("Shop", url="https://shop.example/")],
        [Button("Later", data="later")],
    ]


@pytest.mark.parametrize(
    ("field", "name", "kind"),
    [
        ("video", "promo.mp4", MediaKind.VIDEO),
        ("animation", "promo.mp4", MediaKind.ANIMATION),
        ("document", "menu.pdf", MediaKind.DOCUMENT),
        ("audio", "song.mp3", MediaKind.AUDIO),
        ("voice", "hello.ogg", MediaKind.VOICE),
        ("photo", "summer.jpg", MediaKind.PHOTO),
    ],
)
def test_each_kind_of_media_from_a_local_file(
    folder: Path, field: str, name: str, kind: MediaKind
) -> None:
    variant = default_variant(f"  {field}: {name}\n  caption: Look\n", folder)
    [media] = variant.media
    assert variant.kind == kind.value
    assert (media.kind, media.ref, media.local) == (kind, str(folder / name), True)
    assert media.sha256 == hashlib.sha256((folder / name).read_bytes()).hexdigest()


def test_a_url_and_a_file_id_are_taken_as_they_are(folder: Path) -> None:
    by_url = default_variant("  video: https://cdn.example/v.mp4\n", folder)
    by_id = default_variant("  animation: CgACAgIAAxkBAAIC_-x\n", folder)
    assert by_url.media == (Media(MediaKind.VIDEO, "https://cdn.example/v.mp4"),)
    assert by_id.media == (Media(MediaKind.ANIMATION, "CgACAgIAAxkBAAIC_-x"),)


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("photo", "https://images.example/photo-1501785888041?w=800"),  # no extension
        ("document", "https://shop.example/download?id=4"),
        ("document", "https://shop.example/prices.PDF"),
        ("voice", "https://cdn.example/hello.ogg"),
    ],
)
def test_a_url_telegram_will_fetch_is_taken(folder: Path, field: str, url: str) -> None:
    [media] = default_variant(f"  {field}: '{url}'\n", folder).media
    assert media.ref == url


def test_a_url_scheme_in_capitals_is_a_url(folder: Path) -> None:
    [media] = default_variant("  photo: HTTPS://images.example/a.jpg\n", folder).media
    assert media.ref == "https://images.example/a.jpg"


def test_a_bare_name_is_a_file_beside_the_campaign_when_there_is_one(folder: Path) -> None:
    media_file(folder, "banner", JPEG_HEAD)
    [media] = default_variant("  photo: banner\n", folder).media
    assert (media.ref, media.local) == (str(folder / "banner"), True)


def test_a_photo_telegram_would_refuse_for_its_shape_is_refused(folder: Path) -> None:
    Image.new("RGB", (1, 3000)).save(folder / "strip.png")
    Image.new("RGB", (6000, 4001)).save(folder / "huge.png")
    Image.new("RGB", (2000, 100)).save(folder / "banner.png")  # 20:1 exactly
    assert "strip.png is 1x3000: Telegram takes photos whose width and height add up to at " in (
        refused("  photo: strip.png\n", folder)
    )
    assert "huge.png is 6000x4001" in refused("  photo: huge.png\n", folder)
    assert default_variant("  photo: banner.png\n", folder).kind == "photo"
    assert default_variant("  document: strip.png\n", folder).kind == "document"


def test_an_album_of_photos_and_videos_has_its_caption_on_the_first(folder: Path) -> None:
    variant = default_variant(
        "  album:\n    - photo: summer.jpg\n    - video: promo.mp4\n"
        "    - photo: https://shop.example/3.jpg\n  caption: Summer\n",
        folder,
    )
    assert variant.kind == "album"
    assert [item.kind for item in variant.media] == [
        MediaKind.PHOTO,
        MediaKind.VIDEO,
        MediaKind.PHOTO,
    ]
    assert MessageContent.of_spec(variant, language="en").caption


def test_buttons_in_rows_of_every_kind(folder: Path) -> None:
    variant = default_variant(
        "  text: Hi\n"
        "  buttons:\n"
        "    - [{text: Shop, url: 'https://shop.example/'}, {text: Code, copy_text: SPRING10}]\n"
        "    - {text: App, web_app: 'https://app.example/'}\n",
        folder,
    )
    content = MessageContent.of_spec(variant, language="en")
    assert [[each.button for each in row] for row in content.keyboard] == [
        [Button("Shop", url="https://shop.example/"), Button("Code", copy_text="SPRING10")],
        [Button("App", web_app="https://app.example/")],
    ]


def test_how_a_message_shows(folder: Path) -> None:
    off = default_variant("  text: https://shop.example/\n  link_preview: off\n", folder)
    chosen = default_variant(
        "  text: Hi\n  link_preview: {url: 'https://shop.example/', position: above, "
        "size: large}\n  protect_content: true\n  effect: party\n",
        folder,
    )
    assert MessageContent.of_spec(off, language="en").link_preview == LinkPreview(disabled=True)
    shown = MessageContent.of_spec(chosen, language="en")
    assert shown.link_preview == LinkPreview(url="https://shop.example/", above=True, size="large")
    assert (shown.protect_content, shown.effect_id) == (True, "5046509860389126442")


def test_texts_and_labels_per_language(folder: Path) -> None:
    spec = campaign(
        "name: rich\nlanguage: es\ndefault:\n"
        "  text: {es: Hola, en: Hello, pt-BR: Olá}\n"
        "  buttons: [{text: {es: Tienda, en: Shop}, url: 'https://shop.example/'}]\n",
        folder,
    )
    assert spec.default is not None
    content = MessageContent.of_spec(spec.default.variants[0], language=spec.language)
    assert content.body == "Hola"
    assert dict(content.translations) == {"en": "Hello", "pt-br": "Olá"}
    assert content.languages == ["es", "en", "pt-br"]
    [[shop]] = content.keyboard
    assert (shop.in_language("en").text, shop.in_language("pt-br").text) == ("Shop", "Tienda")


def test_language_codes_are_read_in_any_case(folder: Path) -> None:
    spec = campaign("name: rich\nlanguage: ES\ndefault:\n  text: {ES: Hola, En: Hello}\n", folder)
    assert spec.language == "es"
    assert spec.default is not None
    content = MessageContent.of_spec(spec.default.variants[0], language=spec.language)
    assert (content.body, dict(content.translations)) == ("Hola", {"en": "Hello"})


def test_content_survives_its_columns_and_json(folder: Path) -> None:
    variant = default_variant(
        "  video: promo.mp4\n  caption: {en: Hi, es: Hola}\n  effect: fire\n"
        "  buttons: [[{text: {en: A, es: B}, data: a}, {text: C, copy_text: x}]]\n",
        folder,
    )
    content = MessageContent.of_spec(variant, language="en")
    assert MessageContent.from_json(content.to_json()) == content
    assert MessageContent.from_json(content.columns() | {"language": "en"}) == content


MISTAKES = [
    (
        "  album:\n    - photo: summer.jpg\n",
        "line 3, default.album: an album has 2-10 items, not 1",
    ),
    (
        "  album:\n" + "    - photo: summer.jpg\n" * 11,
        "line 3, default.album: an album has 2-10 items, not 11",
    ),
    (
        "  album:\n    - photo: summer.jpg\n    - document: menu.pdf\n",
        "line 3, default.album: an album cannot mix document, photo",
    ),
    (
        "  album:\n    - photo: summer.jpg\n    - voice: hello.ogg\n",
        "line 5, default.album.1.voice: Extra inputs are not permitted",
    ),
    (
        "  album: [{photo: summer.jpg}, {photo: winter.jpg}]\n  buttons: [{text: a, data: b}]\n",
        "line 4, default.buttons: an album cannot have buttons",
    ),
    (
        "  photo: menu.pdf\n",
        "line 3, default.photo: menu.pdf is a PDF document, not a JPEG image, PNG image or "
        "WebP image: send it as a document",
    ),
    (
        "  photo: https://shop.example/menu.pdf\n",
        "default.photo: https://shop.example/menu.pdf is a PDF",
    ),
    ("  voice: song.mp4\n", "line 3, default.voice: no such file: "),
    (
        "  document: https://shop.example/prices.xlsx\n",
        "line 3, default.document: https://shop.example/prices.xlsx: Telegram fetches a "
        "document by URL only as .gif, .pdf, .zip; give the file's path instead",
    ),
    ("  voice: https://cdn.example/hi.mp3\n", "a voice by URL only as .ogg, .oga, .opus"),
    ("  photo: error.jpg\n", "error.jpg is a web page, not a JPEG image"),
    ("  video: iphone.mp4\n", "iphone.mp4 is a HEIF image, not a MPEG-4 video"),
    ("  video: 'a b'\n", "is not a URL (http:// or https://), a file path"),
    ("  text: Hi\n  caption: Yo\n", "line 4, default.caption: a text message has no caption"),
    ("  photo: summer.jpg\n  link_preview: off\n", "line 4, default.link_preview: a link preview"),
    (
        "  text: Hi\n  video: promo.mp4\n",
        "line 2, default: a message is exactly one of text, photo",
    ),
    ("  text: {es: Hola}\n", "line 3, default.text: text has no en text"),
    ("  text: {en: Hi, no: Hei}\n", "False is not a language code such as en, es or pt-br"),
    (
        "  text: Hi\n  effect: boom\n",
        "line 4, default.effect: effect is an effect id or one of fire",
    ),
    (
        "  text: Hi\n  buttons: [[" + ", ".join(["{text: a, data: b}"] * 9) + "]]\n",
        "line 4, default.buttons: a row has at most 8 buttons",
    ),
    (
        "  text: Hi\n  buttons:\n" + "    - {text: a, data: b}\n" * 100,
        "a message has at most 100 buttons, the Unsubscribe button included: 99 of your own",
    ),
    ("  text: Hi\n  buttons: [{text: a, data: 'x y'}]\n", "line 4, default.buttons.0: button data"),
    (
        "  text: Hi\n  buttons: [{text: '{{ first_name }}, yours', data: b}]\n",
        "line 4, default.buttons.0: a button's text is sent as written, not filled in",
    ),
    (
        "  text: Hi\n  buttons: [{text: a, url: 'https://shop.example/?u={{ username }}'}]\n",
        "a button's url is sent as written",
    ),
    ("  text: Hi\n  buttons: [{text: {en: a, es: '{% if x %}b{% endif %}'}, data: b}]\n", "text"),
    ("  text: Hi\n  buttons: [{text: a, data: '" + "x" * 65 + "'}]\n", "button data is 1-64"),
    (
        "  text: Hi\n  buttons: [{text: a, web_app: 'http://app.example'}]\n",
        "line 4, default.buttons.0.web_app: a Mini App opens from an https:// URL only",
    ),
    ("  text: Hi\n  buttons: [{text: a, copy_text: '" + "x" * 257 + "'}]\n", "copy_text"),
    (
        "  text: Hi\n  buttons: [{text: a, url: 'https://x.example', data: b}]\n",
        "a button has exactly one of url, data, copy_text, web_app",
    ),
    ("  text: Hi\n  buttons: [{text: '" + "x" * 65 + "', data: b}]\n", "default.buttons.0.text"),
    # the bot's own data: the press would unsubscribe, erase, or press an admin's button
    ("  text: Hi\n  buttons: [{text: Deal, data: unsubscribe}]\n", "'unsubscribe' is the bot's"),
    ("  text: Hi\n  buttons: [{text: Deal, data: 'forget:yes'}]\n", "'forget:yes' is the bot's"),
    ("  text: Hi\n  buttons: [{text: a, data: 'admc:cancel:1'}]\n", "'admc:cancel:1' is the bot's"),
    # a URL no tracked link could send anyone to
    (
        "  text: Hi\n  buttons: [{text: a, url: 'https://[::1'}]\n",
        "line 4, default.buttons.0.url: the link target 'https://[::1' is malformed",
    ),
    ("  text: Hi\n  buttons: [{text: a, url: 'https://shop.example:99999/'}]\n", "is malformed"),
    (
        "  text: Hi\n  buttons: [{text: a, url: 'https://shop.example/?q=" + "é" * 1000 + "'}]\n",
        "is 2,024 bytes long; a link target may have at most 2,000",
    ),
    (
        "  text: Hi https://shop.example\n  link_preview: {url: 'https://[::1'}\n",
        "c.yaml: line 4, default.link_preview.url: the link target 'https://[::1' is malformed",
    ),
    # a mapping where true/false would do too: told about as the mapping it is
    (
        "  text: Hi https://shop.example\n  link_preview: {position: middle}\n",
        "c.yaml: line 4, default.link_preview.position: Input should be 'above' or 'below'",
    ),
]


@pytest.mark.parametrize(("body", "reason"), MISTAKES)
def test_each_mistake_is_refused_with_its_line_and_reason(
    folder: Path, body: str, reason: str
) -> None:
    assert reason in refused(body, folder)


def test_files_past_the_upload_limits_are_refused(folder: Path) -> None:
    sparse_file(folder, "big.jpg", JPEG_HEAD, size=10 * MB + 1)
    sparse_file(folder, "big.mp4", MP4_HEAD, size=50 * MB + 1)
    sparse_file(folder, "fine.mp4", MP4_HEAD, size=50 * MB)
    media_file(folder, "empty.pdf", b"", size=0)
    assert "big.jpg is 10.0 MB; Telegram takes uploads of at most 10 MB for a photo" in refused(
        "  photo: big.jpg\n", folder
    )
    assert "big.mp4 is 50.0 MB; Telegram takes uploads of at most 50 MB for a video" in refused(
        "  video: big.mp4\n", folder
    )
    assert "empty.pdf is empty" in refused("  document: empty.pdf\n", folder)
    assert default_variant("  video: fine.mp4\n", folder).kind == "video"


def test_relative_paths_are_from_the_campaign_file(
    folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    media_file(elsewhere, "other.jpg", JPEG_HEAD)
    variant = default_variant(f"  photo: ../{elsewhere.name}/other.jpg\n", folder)
    assert variant.media[0].ref == str(elsewhere / "other.jpg")


def test_a_message_given_alone_needs_no_context() -> None:
    """A journey step (or the wizard) validates a message on its own: no default language
    to insist on, file ids taken as they are."""
    spec = VariantSpec.model_validate(
        {"text": {"es": "Hola"}, "buttons": [{"text": "A", "data": "a"}]}
    )
    assert spec.languages == {"es"}
    assert VariantSpec(photo="AgACAgIAAxkBAAIB", caption="Hi").kind == "photo"
