"""What the HTTP control API shows of rich messages, read from an emulator in a process of
its own (`EmulatorClient`): each send (an album as one), its file and how it was given."""

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BufferedInputFile, InputMediaPhoto, MediaUnion

from tests.emulator_process import emulator_process

ANA, BEN = 5001, 5002


async def test_an_upload_then_its_file_id_and_an_album_as_the_control_api_shows_them() -> None:
    async with emulator_process("--no-limits") as (base_url, client):
        for user in (ANA, BEN):
            await client.add_user(user)
        bot = Bot("42:TEST", session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
        try:
            upload = BufferedInputFile(b"MP4", filename="promo.mp4")
            first = await bot.send_video(ANA, upload, caption="<b>Hi</b>", parse_mode="HTML")
            assert first.video is not None
            await bot.send_video(BEN, first.video.file_id, protect_content=True)
            photos: list[MediaUnion] = [
                InputMediaPhoto(media=f"https://example.com/{n}.jpg") for n in (1, 2)
            ]
            album = await bot.send_media_group(BEN, photos)
        finally:
            await bot.session.close()

        sent = await client.sent_messages()
        ben_sends = await client.wait_for_sends(BEN, count=2)
        [album_request] = await client.requests("sendMediaGroup")

    uploaded, reused = sent[0]["media"], sent[1]["media"]
    assert isinstance(uploaded, dict)
    assert isinstance(reused, dict)
    assert (uploaded["kind"], uploaded["source"], uploaded["file_name"]) == (
        "video",
        "upload",
        "promo.mp4",
    )
    assert (reused["source"], reused["file_id"]) == ("file_id", uploaded["file_id"])
    assert sent[0]["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    assert (sent[1]["chat_id"], sent[1]["protect_content"]) == (BEN, True)
    assert [send["method"] for send in ben_sends] == ["sendVideo", "sendMediaGroup"]
    album_send = ben_sends[1]
    assert album_send["message_ids"] == [message.message_id for message in album]
    assert album_send["media_group_id"] == album[0].media_group_id
    messages = album_send["messages"]
    assert isinstance(messages, list)
    sources = []
    for message in messages:
        assert isinstance(message, dict)
        assert isinstance(message["media"], dict)
        sources.append(message["media"]["source"])
    assert sources == ["url", "url"]
    assert album_request["message_ids"] == album_send["message_ids"]
