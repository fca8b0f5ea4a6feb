"""The Telegram messenger sends every kind of message the emulator takes as Telegram
would: each media method, albums, uploads answered with file ids, buttons in rows, link
previews, protection and effects."""

from pathlib import Path

import pytest

from bot.messenger import TelegramMessenger
from broadcasts.media import sha256_of
from broadcasts.messenger import (
    Button,
    LinkPreview,
    Media,
    MediaKind,
    OutgoingMessage,
    Rejected,
    Sent,
)
from telegram_emulator import Emulator
from tests.broadcasts.media_files import (
    JPEG_HEAD,
    MP3_HEAD,
    MP4_HEAD,
    OGG_HEAD,
    PDF_HEAD,
    media_file,
)
from tests.e2e.conftest import BOT_TOKEN

pytestmark = pytest.mark.e2e

FILES = {
    MediaKind.PHOTO: ("summer.jpg", JPEG_HEAD),
    MediaKind.VIDEO: ("promo.mp4", MP4_HEAD),
    MediaKind.ANIMATION: ("loop.mp4", MP4_HEAD),
    MediaKind.DOCUMENT: ("menu.pdf", PDF_HEAD),
    MediaKind.AUDIO: ("song.mp3", MP3_HEAD),
    MediaKind.VOICE: ("hello.ogg", OGG_HEAD),
}


def local(kind: MediaKind, folder: Path) -> Media:
    name, head = FILES[kind]
    path = media_file(folder, name, head)
    return Media(kind, str(path), local=True, sha256=sha256_of(path))


def checked_then_spoiled(folder: Path) -> tuple[Media, Media]:
    """A video edited and a document deleted after they were checked."""
    changed, gone = local(MediaKind.VIDEO, folder), local(MediaKind.DOCUMENT, folder)
    Path(changed.ref).write_bytes(MP4_HEAD + b"another cut")
    Path(gone.ref).unlink()
    return changed, gone


def messenger(emulator: Emulator) -> TelegramMessenger:
    return TelegramMessenger(api_base=emulator.base_url, token=BOT_TOKEN)


@pytest.mark.parametrize("kind", list(MediaKind))
async def test_each_kind_is_uploaded_then_sent_by_its_file_id(
    emulator: Emulator, tmp_path: Path, kind: MediaKind
) -> None:
    emulator.add_user(1)
    upload = local(kind, tmp_path)
    async with messenger(emulator) as telegram:
        first = await telegram.send(OutgoingMessage(1, "<b>Look</b>", media=(upload,)))
        assert isinstance(first, Sent)
        [file_id] = first.file_ids
        again = await telegram.send(OutgoingMessage(1, "Again", media=(Media(kind, file_id),)))
    assert isinstance(again, Sent)
    uploaded, reused = emulator.messages_to(1)
    method = f"send{kind.value.capitalize()}"
    assert (uploaded.method, reused.method) == (method, method)
    assert uploaded.media is not None
    assert reused.media is not None
    assert (uploaded.media.source.value, reused.media.source.value) == ("upload", "file_id")
    assert uploaded.media.file_id == reused.media.file_id == file_id
    assert uploaded.plain_text == "Look"


async def test_an_album_is_one_send_with_its_caption_on_the_first(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.add_user(1)
    photo, video = local(MediaKind.PHOTO, tmp_path), local(MediaKind.VIDEO, tmp_path)
    by_url = Media(MediaKind.PHOTO, "https://cdn.example/3.jpg")
    album = OutgoingMessage(
        1, "<i>Summer</i>", media=(photo, video, by_url), effect_id="5046509860389126442"
    )
    async with messenger(emulator) as telegram:
        outcome = await telegram.send(album)
    assert isinstance(outcome, Sent)
    [send] = emulator.sends_to(1)
    assert send.is_album
    assert outcome.message_id == send.message_ids[0]
    assert len(outcome.file_ids) == 3
    first, second, third = send.messages
    assert (first.plain_text, second.plain_text, third.plain_text) == ("Summer", "", "")
    assert first.message_effect_id == "5046509860389126442"
    assert [m.media.kind.value for m in send.messages if m.media] == ["photo", "video", "photo"]


async def test_buttons_in_rows_preview_protection_and_effect_arrive(emulator: Emulator) -> None:
    emulator.add_user(1)
    keyboard = (
        (Button("Shop", url="https://shop.example/"), Button("Code", copy_text="SPRING10")),
        (Button("App", web_app="https://app.example/"), Button("Stop", data="unsubscribe")),
    )
    message = OutgoingMessage(
        1,
        "See https://shop.example/ <tg-spoiler>now</tg-spoiler>",
        keyboard=keyboard,
        link_preview=LinkPreview(url="https://shop.example/p", above=True, size="small"),
        protect_content=True,
        effect_id="5104841245755180586",
    )
    async with messenger(emulator) as telegram:
        assert isinstance(await telegram.send(message), Sent)
    [sent] = emulator.messages_to(1)
    assert sent.reply_markup == {
        "inline_keyboard": [
            [
                {"text": "Shop", "url": "https://shop.example/"},
                {"text": "Code", "copy_text": {"text": "SPRING10"}},
            ],
            [
                {"text": "App", "web_app": {"url": "https://app.example/"}},
                {"text": "Stop", "callback_data": "unsubscribe"},
            ],
        ]
    }
    assert sent.link_preview_options == {
        "show_above_text": True,
        "url": "https://shop.example/p",
        "prefer_small_media": True,
    }
    assert (sent.protect_content, sent.message_effect_id) == (True, "5104841245755180586")
    assert "spoiler" in [entity["type"] for entity in sent.entities]


async def test_a_file_changed_or_gone_since_it_was_checked_is_not_sent(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.add_user(1)
    changed, gone = checked_then_spoiled(tmp_path)
    async with messenger(emulator) as telegram:
        outcomes = [
            await telegram.send(OutgoingMessage(1, "", media=(media,))) for media in (changed, gone)
        ]
    assert outcomes == [
        Rejected("promo.mp4 has changed since the message was saved: save it again"),
        Rejected("cannot read menu.pdf: No such file or directory"),
    ]
    assert emulator.messages_to(1) == []
