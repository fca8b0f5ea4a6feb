"""Albums (sendMediaGroup): aiogram's attach:// uploads, albums by URL and file_id in a JSON
body, Telegram's rules for them, and how an album is recorded and counted: one send."""

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    MediaUnion,
)

from telegram_emulator import JSON, Emulator, JSONObject, Limits, MediaKind, MediaSource
from tests.telegram_emulator.bot_api import USER, call, error_of, results_of

PHOTO_URL = "https://example.com/a.jpg"


def item(kind: str, media: str = PHOTO_URL, **fields: JSON) -> JSON:
    """One InputMedia of a JSON body."""
    return {"type": kind, "media": media, **fields}


async def test_aiogram_uploads_an_album_with_attach_and_reuses_its_file_ids(
    bot: Bot, emu: Emulator
) -> None:
    photo = BufferedInputFile(b"JPEG bytes", filename="front.jpg")
    video = BufferedInputFile(b"MP4 bytes", filename="spin.mp4")

    album = await bot.send_media_group(
        USER,
        [
            InputMediaPhoto(media=photo, caption="<b>New</b> season", parse_mode="HTML"),
            InputMediaVideo(media=video, caption="Watch it spin", has_spoiler=True),
        ],
    )
    assert album[0].photo is not None
    assert album[1].video is not None
    again = await bot.send_media_group(
        USER,
        [
            InputMediaPhoto(media=album[0].photo[-1].file_id),
            InputMediaVideo(media=album[1].video.file_id),
        ],
    )

    assert album[0].media_group_id is not None
    assert {message.media_group_id for message in album} == {album[0].media_group_id}
    assert again[0].media_group_id not in {None, album[0].media_group_id}
    assert [message.caption for message in album] == ["New season", "Watch it spin"]
    assert album[1].has_media_spoiler is True
    first, second = emu.sends_to(USER)
    assert first.is_album
    assert first.method == "sendMediaGroup"
    assert first.message_ids == [message.message_id for message in album]
    uploaded = [message.media for message in first.messages]
    reused = [message.media for message in second.messages]
    assert [(m.kind, m.source) for m in uploaded if m] == [
        (MediaKind.PHOTO, MediaSource.UPLOAD),
        (MediaKind.VIDEO, MediaSource.UPLOAD),
    ]
    assert [m.source for m in reused if m] == [MediaSource.FILE_ID, MediaSource.FILE_ID]
    assert [m.file_id for m in uploaded if m] == [m.file_id for m in reused if m]
    assert [m.file.content for m in uploaded if m] == [b"JPEG bytes", b"MP4 bytes"]
    [request, _] = emu.requests_for("sendMediaGroup")
    assert request.message_ids == tuple(first.message_ids)


async def test_an_album_by_url_in_a_json_body_with_a_caption_on_any_item(emu: Emulator) -> None:
    answer = await call(
        emu,
        "sendMediaGroup",
        {
            "chat_id": USER,
            "media": [
                item("photo"),
                item("video", "https://example.com/b.mp4", caption="<i>second</i>"),
                item("photo", "https://example.com/c.jpg", parse_mode="HTML", caption="<b>c</b>"),
            ],
            "protect_content": True,
            "message_effect_id": "5046509860389126442",
            "reply_markup": {"inline_keyboard": [[{"text": "Buy", "callback_data": "buy"}]]},
        },
    )

    messages = results_of(answer)
    assert [message.get("caption") for message in messages] == [None, "<i>second</i>", "c"]
    assert all(message["has_protected_content"] is True for message in messages)
    assert all(message["effect_id"] == "5046509860389126442" for message in messages)
    assert all("reply_markup" not in message for message in messages)  # the Bot API drops it
    [send] = emu.sends_to(USER)
    assert len(send.messages) == 3
    assert all(message.reply_markup is None for message in send.messages)
    assert send.messages[2].entities == [{"type": "bold", "offset": 0, "length": 1}]
    assert [m.media.file.url for m in send.messages if m.media] == [
        PHOTO_URL,
        "https://example.com/b.mp4",
        "https://example.com/c.jpg",
    ]


@pytest.mark.parametrize(
    ("media", "error"),
    [
        (None, 'parameter "media" is required'),
        ("not json", "can't parse media JSON object"),
        ({"type": "photo"}, "expected an Array of InputMedia"),
        ([], "there are no messages to send"),
        ([item("photo")], "media must include 2-10 items"),
        ([item("photo")] * 11, "too many messages to send as an album"),
        ([item("photo"), "photo"], "can't parse InputMedia: expected an Object"),
        (
            [item("photo"), {"media": PHOTO_URL}],
            "can't parse InputMedia: Can't find field \"type\"",
        ),
        ([item("photo"), item("photo", "")], "can't parse InputMedia: media not found"),
        ([item("photo"), item("photo", "attach://x")], "can't parse InputMedia: media not found"),
        (
            [item("photo"), item("animation")],
            "can't parse InputMedia: type \"animation\" can't be used in sendMediaGroup",
        ),
        ([item("photo"), item("voice")], 'can\'t parse InputMedia: type "voice" is unsupported'),
        (
            [item("photo"), item("photo", caption="<b>x", parse_mode="HTML")],
            "can't parse InputMedia: Can't parse entities: Can't find end tag corresponding to "
            'start tag "b"',
        ),
        ([item("photo"), item("photo", caption="x" * 1025)], "message caption is too long"),
        ([item("photo"), item("document")], "document can't be mixed with other media types"),
        ([item("audio"), item("video")], "audio can't be mixed with other media types"),
        ([item("document"), item("audio")], "document can't be mixed with other media types"),
        (
            [item("photo", show_caption_above_media=True), item("video")],
            "parameter show_caption_above_media must be the same for all messages",
        ),
        (
            [item("photo"), item("photo", "AgACnotissued")],
            'failed to send message #2 with the error message "Wrong file identifier/HTTP URL '
            'specified"',
        ),
    ],
)
async def test_albums_telegram_refuses(emu: Emulator, media: JSON, error: str) -> None:
    params: JSONObject = {"chat_id": USER}
    if media is not None:
        params["media"] = media

    answer = await call(emu, "sendMediaGroup", params)

    assert error_of(answer) == f"Bad Request: {error}"
    assert emu.messages_to(USER) == []


@pytest.mark.parametrize(
    "kinds",
    [["photo", "video", "photo"], ["document", "document"], ["audio", "audio", "audio"]],
)
async def test_albums_telegram_takes(emu: Emulator, kinds: list[str]) -> None:
    media: list[JSON] = [item(kind, f"https://example.com/{n}.bin") for n, kind in enumerate(kinds)]

    answer = await call(emu, "sendMediaGroup", {"chat_id": USER, "media": media})

    shown = [[kind for kind in set(kinds) if kind in message] for message in results_of(answer)]
    assert shown == [[kind] for kind in kinds]


async def test_an_upload_in_an_album_is_checked_like_any_upload(emu: Emulator) -> None:
    media: list[JSON] = [item("photo", "attach://a"), item("photo", "attach://b")]
    files = {"a": ("a.jpg", b"JPEG"), "b": ("b.jpg", b"")}

    answer = await call(emu, "sendMediaGroup", {"chat_id": USER, "media": media}, files)

    assert error_of(answer) == (
        'Bad Request: failed to send message #2 with the error message "File must be non-empty"'
    )


async def test_an_album_is_one_send_for_the_flood_limits(bot: Bot, emu: Emulator) -> None:
    emu.limits = Limits(chat_burst=2, chat_per_second=0.001)  # two sends, then a long wait
    photos: list[MediaUnion] = [InputMediaPhoto(media=PHOTO_URL), InputMediaPhoto(media=PHOTO_URL)]

    await bot.send_media_group(USER, photos)
    await bot.send_message(USER, "after the album")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_media_group(USER, [*photos, InputMediaPhoto(media=PHOTO_URL)])

    sends = emu.sends_to(USER)
    assert [len(send.messages) for send in sends] == [2, 1]
    assert [request.ok for request in emu.requests] == [True, True, False]


async def test_albums_and_files_are_read_reacted_to_and_pressed(bot: Bot, emu: Emulator) -> None:
    await bot.get_updates(allowed_updates=["message", "callback_query", "message_reaction"])
    album = await bot.send_media_group(
        USER,
        [
            InputMediaDocument(media="https://example.com/1.pdf"),
            InputMediaDocument(media="https://example.com/2.pdf"),
        ],
    )
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="More", callback_data="more")]]
    )
    photo = await bot.send_photo(USER, PHOTO_URL, caption="Pick", reply_markup=keyboard)

    await emu.react(USER, album[1].message_id, "❤")
    query_id = await emu.press_button(USER, photo.message_id, "more")

    reaction, press = await bot.get_updates(timeout=1)
    assert reaction.message_reaction is not None
    assert reaction.message_reaction.message_id == album[1].message_id
    assert press.callback_query is not None
    assert press.callback_query.id == query_id
    pressed = press.callback_query.message
    assert pressed is not None
    assert pressed.photo is not None  # type: ignore[union-attr]
    assert pressed.caption == "Pick"  # type: ignore[union-attr]
