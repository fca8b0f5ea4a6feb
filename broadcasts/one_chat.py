"""A few messages to one chat, one after another: how a test send sends a campaign's
messages to the person trying it (`segbot campaign test-send`, and the console's test
send). Unlike a broadcast, each message waits for its answer before the next goes, and
what Telegram asks is waited out:

- flood control (a 429): waited out as Telegram asks (retry_after), up to FLOOD_WAITS
  times a message, and none longer than `longest_wait` when one is given (a longer wait
  is the answer);
- a server error or a connection that never opened: sent again, up to TRIES sends, the
  pause doubling from BACKOFF_SECONDS;
- an answer that would be the same for any message to the chat (not found, the person
  blocked the bot or deleted their account, a bot token Telegram does not know) leaves
  the rest untried.

What each answer means is for the caller to say: the words differ in a terminal and in a
chat.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from broadcasts.messenger import (
    Blocked,
    ChatNotFound,
    Messenger,
    Outcome,
    OutgoingMessage,
    RetryAfter,
    TransientError,
    refuses_the_bot,
)

FLOOD_WAITS = 5  # 429s one message may meet; then it is the answer
TRIES = 3  # sends of one message that may end in a server error
BACKOFF_SECONDS = 1.0  # before the second send after a server error; doubles after

Waiting = Callable[[Outcome, float], None]  # an answer being waited out, for how many seconds


def _quietly(_outcome: Outcome, _seconds: float) -> None:
    return None


async def send_in_turn(
    messenger: Messenger,
    messages: Sequence[tuple[str, OutgoingMessage]],
    *,
    longest_wait: float | None = None,
    waiting: Waiting = _quietly,
) -> AsyncIterator[tuple[str, Outcome | None]]:
    """Each (label, message) sent in turn: its label and final answer, as each comes (None:
    not tried, as an earlier answer holds for the whole chat)."""
    chat_is_out = False
    for label, message in messages:
        if chat_is_out:
            yield label, None
            continue
        outcome = await _send_patiently(messenger, message, longest_wait, waiting)
        chat_is_out = _ends_this_chat(outcome)
        yield label, outcome


def _ends_this_chat(outcome: Outcome) -> bool:
    """The answer would be the same for any message to this chat."""
    token = refuses_the_bot(outcome)
    return token or isinstance(outcome, ChatNotFound | Blocked)


async def _send_patiently(
    messenger: Messenger, message: OutgoingMessage, longest_wait: float | None, waiting: Waiting
) -> Outcome:
    floods = tries = 0
    while True:
        outcome = await messenger.send(message)
        if isinstance(outcome, RetryAfter) and floods < FLOOD_WAITS:
            if longest_wait is not None and outcome.seconds > longest_wait:
                return outcome
            floods += 1
            waiting(outcome, outcome.seconds)
            await asyncio.sleep(outcome.seconds)
            continue
        if isinstance(outcome, TransientError):
            tries += 1
            if tries < TRIES:
                pause = BACKOFF_SECONDS * 2 ** (tries - 1)
                waiting(outcome, pause)
                await asyncio.sleep(pause)
                continue
        return outcome
