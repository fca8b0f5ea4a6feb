"""A Bot API that is down fails nobody: once requests in a row get no usable answer,
every send waits and the messages that certainly did not arrive go back in the queue,
so when it answers again everyone gets the message, once. One chat whose sends fail
while the others' go is still that message's failure (tests/broadcasts/test_sender.py)."""

import logging
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.messenger import TelegramMessenger
from broadcasts.attempts import Outage
from broadcasts.messenger import Outcome, OutgoingMessage, Sent, TransientError, Unknown
from broadcasts.models import DeliveryStatus
from broadcasts.sender import BatchResult, Sender
from telegram_emulator import Emulator
from tests.broadcasts.fake_messenger import FakeMessenger
from tests.broadcasts.test_sender import (
    SETTINGS,
    budget,
    planned,
    sender,
    status_by_chat,
    statuses,
)

PAUSE = 0.05  # outage_pause in these tests
SENT = (DeliveryStatus.SENT, None)


class DownFor(FakeMessenger):
    """Answers `answer` to the first `requests` requests, whoever they are for."""

    def __init__(self, requests: int, answer: Outcome) -> None:
        super().__init__()
        self._left = requests
        self._answer = answer

    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        if self._left:
            self._left -= 1
            self.calls.append(message)
            return self._answer
        return await super().send(message, on_written=on_written)


async def test_a_bot_api_answering_502_for_a_while_fails_nobody(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = await planned(session, 20)
    messenger = DownFor(60, TransientError("Bad Gateway"))  # three tries each, and more
    with caplog.at_level(logging.ERROR, logger="broadcasts"):
        done = await sender(sessionmaker, messenger, outage_pause=PAUSE).deliver(plan.run.id)
    assert done is BatchResult.FINISHED
    assert await status_by_chat(session, plan.run.id) == dict.fromkeys(range(1, 21), SENT)
    assert sorted(message.chat_id for message in messenger.sent) == list(range(1, 21))
    said = [line for line in caplog.messages if line.startswith("the Bot API is not answering")]
    assert said
    assert said[0].startswith(
        "the Bot API is not answering (10+ requests in a row, the last: Bad Gateway): "
        f"every send paused for {PAUSE:g} s, delivery "
    )
    assert said[0].endswith(" back in the queue")


async def test_while_answers_stop_coming_sending_waits_and_only_those_out_are_unknown(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A request without an answer may have arrived: never resent. The outage pauses
    sending, so the rest of the run waits for the Bot API instead of going the same way."""
    plan = await planned(session, 15)
    messenger = DownFor(12, Unknown("no answer: ServerDisconnectedError"))
    with caplog.at_level(logging.ERROR, logger="broadcasts"):
        await sender(sessionmaker, messenger, outage_pause=PAUSE).deliver(plan.run.id)
    assert await statuses(session, plan.run.id) == {
        DeliveryStatus.UNKNOWN: 12,
        DeliveryStatus.SENT: 3,
    }
    assert len(messenger.calls) == 15  # nobody's message went twice
    assert any(line.endswith("unknown (it may have arrived)") for line in caplog.messages)


async def test_a_few_server_errors_in_a_row_are_still_each_message_s_own(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Below `outage_after` nothing pauses: a message out of tries has failed."""
    plan = await planned(session, 3)
    messenger = FakeMessenger()
    messenger.script[1] = [TransientError("Internal Server Error")] * 3
    await sender(sessionmaker, messenger, outage_after=4).deliver(plan.run.id)
    assert (await status_by_chat(session, plan.run.id))[1] == (
        DeliveryStatus.FAILED,
        "server_error",
    )


def test_only_requests_that_went_out_count_toward_an_outage() -> None:
    """A message that waited too long for an upload never went: it says nothing about
    the Bot API, and neither ends an outage nor starts one; any answer ends one."""
    outage = Outage(after=2)
    assert not outage.note(TransientError("502"))
    for _ in range(5):
        assert not outage.note(TransientError("waiting for the first upload", sent=False))
    assert outage.note(Unknown("no answer"))
    assert outage.note(TransientError("waiting for the first upload", sent=False))
    assert not outage.note(Sent(1))


async def test_against_the_emulator_a_502_outage_ends_with_everyone_sent_once(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Over HTTP: the emulator answers 502 to the next 40 sends, then works again."""
    plan = await planned(session, 12)
    async with Emulator() as emulator:
        for chat in range(1, 13):
            emulator.add_user(chat, first_name=f"User{chat}")
        emulator.fail_next(40, status=502, method="sendMessage")
        async with TelegramMessenger(api_base=emulator.base_url, token="1:secret") as messenger:
            settings = replace(SETTINGS, outage_pause=PAUSE)
            await Sender(sessionmaker, messenger, budget(25), settings).deliver(plan.run.id)
        assert [len(emulator.messages_to(chat)) for chat in range(1, 13)] == [1] * 12
    assert await status_by_chat(session, plan.run.id) == dict.fromkeys(range(1, 13), SENT)
