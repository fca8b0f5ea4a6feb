"""A test send's messages to one chat, in turn: what is waited out, what is tried again,
and what leaves the rest untried."""

import pytest

from broadcasts import one_chat
from broadcasts.messenger import (
    Blocked,
    Outcome,
    OutgoingMessage,
    Rejected,
    RetryAfter,
    Sent,
    TransientError,
)
from broadcasts.one_chat import send_in_turn
from tests.broadcasts.fake_messenger import FakeMessenger

CHAT = 7


def three() -> list[tuple[str, OutgoingMessage]]:
    return [(label, OutgoingMessage(chat_id=CHAT, text=label)) for label in ("a", "b", "c")]


async def sent_in_turn(
    messenger: FakeMessenger, *, longest_wait: float | None = None
) -> tuple[list[tuple[str, Outcome | None]], list[tuple[str, float]]]:
    waits: list[tuple[str, float]] = []
    results = [
        result
        async for result in send_in_turn(
            messenger,
            three(),
            longest_wait=longest_wait,
            waiting=lambda outcome, seconds: waits.append((type(outcome).__name__, seconds)),
        )
    ]
    return results, waits


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(one_chat, "BACKOFF_SECONDS", 0.001)


async def test_waits_and_server_errors_are_waited_out_then_each_message_goes() -> None:
    messenger = FakeMessenger()
    messenger.script[CHAT] = [RetryAfter(0.01), TransientError("502"), TransientError("502")]
    results, waits = await sent_in_turn(messenger)
    assert results == [("a", Sent(1)), ("b", Sent(2)), ("c", Sent(3))]
    assert waits == [("RetryAfter", 0.01), ("TransientError", 0.001), ("TransientError", 0.002)]


async def test_a_server_error_that_persists_is_the_answer_and_the_rest_still_go() -> None:
    messenger = FakeMessenger()
    messenger.script[CHAT] = [TransientError("502")] * one_chat.TRIES
    results, _ = await sent_in_turn(messenger)
    assert results == [("a", TransientError("502")), ("b", Sent(1)), ("c", Sent(2))]


async def test_a_wait_longer_than_allowed_is_the_answer() -> None:
    messenger = FakeMessenger()
    messenger.script[CHAT] = [RetryAfter(30)]
    results, waits = await sent_in_turn(messenger, longest_wait=10)
    assert results[0] == ("a", RetryAfter(30))
    assert waits == []


@pytest.mark.parametrize("answer", [Blocked(), Blocked(deactivated=True), Rejected("Unauthorized")])
async def test_an_answer_for_the_whole_chat_leaves_the_rest_untried(answer: Outcome) -> None:
    messenger = FakeMessenger()
    messenger.script[CHAT] = [answer]
    results, _ = await sent_in_turn(messenger)
    assert results == [("a", answer), ("b", None), ("c", None)]
    assert len(messenger.calls) == 1


async def test_a_refused_message_does_not_stop_the_others() -> None:
    messenger = FakeMessenger()
    messenger.script[CHAT] = [Rejected("Bad Request: no photo")]
    results, _ = await sent_in_turn(messenger)
    assert results == [("a", Rejected("Bad Request: no photo")), ("b", Sent(1)), ("c", Sent(2))]
