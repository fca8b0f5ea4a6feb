"""Sending files: each media method by upload, URL and file_id, the answers' file objects,
the records tests read, and Telegram's refusals (files, types, sizes, captions)."""

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.types import BufferedInputFile, Message

from telegram_emulator import Emulator, MediaKind, MediaSource
from telegram_emulator.files import MAX_PHOTO_UPLOAD_BYTES
from telegram_emulator.params import MAX_UPLOAD_BYTES
from tests.telegram_emulator.bot_api import USER, call, error_of, result_of

NAMES = {
    MediaKind.PHOTO: "offer.jpg",
    MediaKind.VIDEO: "clip.mp4",
    MediaKind.ANIMATION: "dance.gif",
    MediaKind.DOCUMENT: "menu.pdf",
    MediaKind.AUDIO: "jingle.mp3",
    MediaKind.VOICE: "hello.ogg",
}


async def send(
    bot: Bot, kind: MediaKind, file: str | BufferedInputFile, caption: str | None = None
) -> Message:
    """send_photo, send_video... (whichever sends `kind`) with an HTML caption."""
    method = getattr(bot, f"send_{kind.value}")
    message = await method(USER, file, caption=caption, parse_mode="HTML")
    assert isinstance(message, Message)
    return message


def file_id_in(message: Message, kind: MediaKind) -> tuple[str, str]:
    """(file_id, file_unique_id) of the file a sent message answered with."""
    if kind is MediaKind.PHOTO:
        assert message.photo is not None
        return message.photo[-1].file_id, message.photo[-1].file_unique_id
    file = getattr(message, kind.value)
    assert file is not None, f"the answer has no {kind.value}"
    return file.file_id, file.file_unique_id


@pytest.mark.parametrize("kind", list(MediaKind))
async def test_a_file_uploaded_once_is_sent_again_by_its_file_id(
    bot: Bot, emu: Emulator, kind: MediaKind
) -> None:
    upload = BufferedInputFile(b"file bytes of " + kind.value.encode(), filename=NAMES[kind])

    first = await send(bot, kind, upload, "<b>New</b> in store")
    file_id, unique_id = file_id_in(first, kind)
    again = await send(bot, kind, file_id)

    assert first.caption == "New in store"
    assert first.caption_entities is not None
    assert first.caption_entities[0].type == "bold"
    assert file_id_in(again, kind) == (file_id, unique_id)
    uploaded, reused = emu.messages_to(USER)
    assert uploaded.method == reused.method == f"send{kind.value.title()}"
    assert uploaded.media is not None
    assert reused.media is not None
    assert (uploaded.media.kind, uploaded.media.source) == (kind, MediaSource.UPLOAD)
    assert (reused.media.kind, reused.media.source) == (kind, MediaSource.FILE_ID)
    assert uploaded.media.file_id == reused.media.file_id == file_id
    assert reused.file_content == uploaded.file_content == b"file bytes of " + kind.value.encode()
    assert uploaded.file_name == NAMES[kind]
    assert [request.message_ids for request in emu.requests] == [
        (first.message_id,),
        (again.message_id,),
    ]


async def test_a_url_is_recorded_not_fetched_and_gets_a_file_id(bot: Bot, emu: Emulator) -> None:
    sent = await bot.send_video(USER, "https://cdn.example.com/promo/clip.mp4", duration=12)

    assert sent.video is not None
    assert (sent.video.duration, sent.video.file_name) == (12, "clip.mp4")
    assert sent.video.mime_type == "video/mp4"
    [message] = emu.messages_to(USER)
    assert message.media is not None
    assert message.media.source is MediaSource.URL
    assert message.media.file.url == "https://cdn.example.com/promo/clip.mp4"
    assert message.file_content is None
    again = await bot.send_video(USER, sent.video.file_id)
    assert again.video is not None
    assert again.video.file_unique_id == sent.video.file_unique_id


async def test_an_animation_is_also_a_document_and_spoilers_apply(bot: Bot, emu: Emulator) -> None:
    gif = BufferedInputFile(b"GIF89a", filename="sale.gif")

    sent = await bot.send_animation(
        USER, gif, caption="Sale", has_spoiler=True, show_caption_above_media=True
    )

    assert sent.animation is not None
    assert sent.document is not None
    assert sent.document.file_id == sent.animation.file_id
    assert sent.has_media_spoiler is True
    assert sent.show_caption_above_media is True
    [message] = emu.messages_to(USER)
    assert message.media is not None
    assert message.media.has_spoiler
    assert message.show_caption_above_media


async def test_spoiler_and_caption_placement_are_ignored_where_they_do_not_apply(
    emu: Emulator,
) -> None:
    answer = await call(
        emu,
        "sendDocument",
        {"chat_id": USER, "document": "https://example.com/menu.pdf", "caption": "Menu"},
    )
    document = result_of(answer)["document"]
    assert isinstance(document, dict)
    spoiled = await call(
        emu,
        "sendDocument",
        {
            "chat_id": USER,
            "document": document["file_id"],
            "has_spoiler": True,
            "show_caption_above_media": True,
        },
    )

    message = result_of(spoiled)
    assert "has_media_spoiler" not in message
    assert "show_caption_above_media" not in message


async def test_file_references_telegram_refuses(bot: Bot, emu: Emulator) -> None:
    photo = await bot.send_photo(USER, "https://example.com/a.jpg")
    video = await bot.send_video(USER, "https://example.com/a.mp4")
    assert photo.photo is not None
    assert video.video is not None

    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_video(USER, "AgACAgIAAxkBAAEnotissued")
    with pytest.raises(TelegramBadRequest, match="can't use file of type Photo as Video"):
        await bot.send_video(USER, photo.photo[-1].file_id)
    with pytest.raises(TelegramBadRequest, match="can't use file of type Video as Photo"):
        await bot.send_photo(USER, video.video.file_id)
    with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
        await bot.send_document(USER, BufferedInputFile(b"", filename="empty.pdf"))
    # Videos, documents, audio, voice and animations may be sent as one another.
    as_document = await bot.send_document(USER, video.video.file_id)
    assert as_document.document is not None
    missing = await call(emu, "sendVideo", {"chat_id": USER, "caption": "no file"})
    assert error_of(missing) == "Bad Request: there is no video in the request"
    unattached = await call(emu, "sendPhoto", {"chat_id": USER, "photo": "attach://nothing"})
    assert error_of(unattached) == "Bad Request: there is no photo in the request"
    assert len(emu.messages_to(USER)) == 3


async def test_upload_limits_are_telegrams(bot: Bot, emu: Emulator) -> None:
    big_photo = BufferedInputFile(b"\xff" * (MAX_PHOTO_UPLOAD_BYTES + 1), filename="big.jpg")
    huge_file = BufferedInputFile(b"\x00" * (MAX_UPLOAD_BYTES + 1), filename="huge.zip")

    with pytest.raises(TelegramBadRequest, match="too big for a photo; the maximum size is"):
        await bot.send_photo(USER, big_photo)
    with pytest.raises(TelegramEntityTooLarge):
        await bot.send_document(USER, huge_file)
    as_document = await bot.send_document(USER, big_photo)  # 10-50 MB: fine as a file

    assert as_document.document is not None
    assert as_document.document.file_size == MAX_PHOTO_UPLOAD_BYTES + 1
    assert [message.method for message in emu.messages_to(USER)] == ["sendDocument"]


async def test_a_caption_is_counted_after_its_markup_in_utf16(bot: Bot, emu: Emulator) -> None:
    fits = "<b>" + "x" * 1022 + "</b>🙂"  # 1022 + 2 UTF-16 code units
    photo = "https://example.com/a.jpg"

    sent = await bot.send_photo(USER, photo, caption=fits, parse_mode="HTML")

    assert sent.caption is not None
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(USER, photo, caption=fits + "x", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_voice(USER, "https://example.com/a.ogg", caption="y" * 1025)
    [message] = emu.messages_to(USER)
    assert message.caption == fits
    assert message.entities == [{"type": "bold", "offset": 0, "length": 1022}]


async def test_a_media_caption_is_edited_and_its_text_is_not(bot: Bot, emu: Emulator) -> None:
    sent = await bot.send_video(USER, "https://example.com/a.mp4", caption="Old")

    edited = await bot.edit_message_caption(
        chat_id=USER, message_id=sent.message_id, caption="<i>New</i>", parse_mode="HTML"
    )

    assert isinstance(edited, Message)
    assert edited.caption == "New"
    assert edited.video is not None
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await bot.edit_message_text("Text", chat_id=USER, message_id=sent.message_id)
    [message] = emu.messages_to(USER)
    assert [version.caption for version in message.history] == ["Old"]
    assert message.plain_text == "New"
