"""The Telegram messenger against the emulator: every kind of answer becomes its outcome,
and the caller hears when each request was written."""

import time
from pathlib import Path

import pytest

from bot.messenger import TelegramMessenger
from broadcasts.media import sha256_of
from broadcasts.messenger import (
    Blocked,
    Button,
    ChatNotFound,
    Media,
    MediaKind,
    OutgoingMessage,
    Rejected,
    RetryAfter,
    Sent,
    TransientError,
    Unknown,
)
from core.settings import load_settings
from telegram_emulator import Emulator
from tests.broadcasts.media_files import JPEG_HEAD, media_file
from tests.e2e.conftest import BOT_TOKEN
from tests.polling import until
from tests.ports import free_port

pytestmark = pytest.mark.e2e

PICTURE = Media(MediaKind.PHOTO, "https://shop.example/p.jpg")


async def test_answers_become_outcomes(emulator: Emulator) -> None:
    emulator.add_user(1, first_name="Ann")
    emulator.add_user(2, first_name="Bob")
    emulator.user(2).blocked = True
    buttons = (
        (Button("Shop", url="https://shop.example/"),),
        (Button("Stop", data="unsubscribe"),),
    )
    async with TelegramMessenger(api_base=emulator.base_url, token=BOT_TOKEN) as messenger:
        sent = await messenger.send(OutgoingMessage(1, "Hi <b>Ann</b>", keyboard=buttons))
        photo = await messenger.send(OutgoingMessage(1, "A caption", media=(PICTURE,), paid=True))
        blocked = await messenger.send(OutgoingMessage(2, "Hi"))
        missing = await messenger.send(OutgoingMessage(3, "Hi"))
        broken = await messenger.send(OutgoingMessage(1, "<b>unclosed"))
        emulator.force_retry_after(7)
        flood = await messenger.send(OutgoingMessage(1, "Hi"))
        emulator.fail_next(1, status=502, method="sendMessage")
        server = await messenger.send(OutgoingMessage(1, "Hi"))

    assert isinstance(sent, Sent)
    assert isinstance(photo, Sent)
    assert (blocked, missing, flood) == (Blocked(), ChatNotFound(), RetryAfter(7.0))
    assert isinstance(broken, Rejected)
    assert isinstance(server, TransientError)
    [text, picture] = emulator.messages_to(1)[:2]
    assert text.plain_text == "Hi Ann"
    assert text.callback_buttons() == [("Stop", "unsubscribe")]
    assert picture.photo is not None
    paid = [r.params.get("allow_paid_broadcast") for r in emulator.requests_for("sendPhoto")]
    assert paid == [True]


async def test_no_answer_in_time_is_unknown_and_no_connection_is_transient(
    emulator: Emulator,
) -> None:
    emulator.add_user(1)
    emulator.limits.delay_seconds = 5.0  # handled, then answered too late
    settings = load_settings(
        bot_token=BOT_TOKEN, telegram_api_base=emulator.base_url, send_timeout=1.0
    )  # SEGBOT_SEND_TIMEOUT
    async with TelegramMessenger.from_settings(settings) as slow:
        outcome = await slow.send(OutgoingMessage(1, "Hi"))
    assert outcome == Unknown("timeout: no answer within 1 s")
    # It did arrive (a busy machine may handle it after the client gave up): never resent.
    await until(lambda: len(emulator.messages_to(1)) == 1, what="the unanswered message")
    nobody = TelegramMessenger(api_base=f"http://127.0.0.1:{free_port()}", token=BOT_TOKEN)
    async with nobody:
        outcome = await nobody.send(OutgoingMessage(1, "Hi"))
    assert isinstance(outcome, TransientError)
    assert BOT_TOKEN not in outcome.description


async def test_the_caller_hears_once_when_each_request_is_written(
    emulator: Emulator, tmp_path: Path
) -> None:
    """When the rate budget counts a send from: its request written, told once (an upload
    writes many chunks), before the emulator could answer it and well before the answer
    arrived."""
    emulator.add_user(1)
    emulator.limits.delay_seconds = 0.3  # handled at once, answered 0.3 s after it arrived
    path = media_file(tmp_path, "summer.jpg", JPEG_HEAD)
    photo = Media(MediaKind.PHOTO, str(path), local=True, sha256=sha256_of(path))
    written: list[float] = []
    answered: list[float] = []
    async with TelegramMessenger(api_base=emulator.base_url, token=BOT_TOKEN) as messenger:
        for message in (OutgoingMessage(1, "Hi"), OutgoingMessage(1, "A photo", media=(photo,))):
            outcome = await messenger.send(
                message, on_written=lambda: written.append(time.monotonic())
            )
            answered.append(time.monotonic())
            assert isinstance(outcome, Sent)
    arrived = [request.at for request in emulator.requests]
    assert [request.method for request in emulator.requests] == ["sendMessage", "sendPhoto"]
    assert len(written) == 2
    for write, arrival, answer in zip(written, arrived, answered, strict=True):
        assert write < arrival + 0.3
        assert answer - write >= 0.3
