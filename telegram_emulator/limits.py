"""Telegram-like flood limits: a global sends-per-second ceiling and a per-chat token bucket."""

import math
from collections import deque
from dataclasses import dataclass

SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendVideo",
        "sendAnimation",
        "sendDocument",
        "sendAudio",
        "sendVoice",
        "sendMediaGroup",
    }
)
"""Methods that deliver messages to a chat and so count towards the flood limits. Each
accepted request takes one slot: an album (sendMediaGroup, 2-10 messages) is one request and
takes one, in the global window and in its chat's bucket. Telegram does not document how
albums count; the emulator counts requests, as its limits are answered per request."""


@dataclass(slots=True)
class Limits:
    """Behaviour knobs; a running emulator reads them on every request, so change them freely.

    The global limit is exact: at most `global_per_second` sends (`paid_per_second` for a
    paid broadcast) are accepted in any sliding window of one second, a send counting from
    the moment it is read (`RecordedRequest.at`) until a full second later.

    `error_rate`, `delay_seconds`, `hold_rate` and `hold_seconds` are fault injection: the
    fraction of sending calls that fail with 500 (drawn from the emulator's seeded RNG); a
    pause before every answer; and a fraction of sending calls (drawn from the same RNG)
    answered `hold_seconds` later still (on top of `delay_seconds`). A delayed request is
    handled first (delivered, recorded, counted), so a client that times out may still
    have delivered.
    """

    enabled: bool = True
    global_per_second: int = 30
    paid_per_second: int = 1000
    chat_per_second: float = 1.0
    chat_burst: int = 3
    error_rate: float = 0.0
    delay_seconds: float = 0.0
    hold_rate: float = 0.0
    hold_seconds: float = 0.0


def _whole_seconds(wait: float) -> int:
    """Telegram's retry_after: whole seconds, at least 1."""
    return max(1, math.ceil(wait))


class RateLimiter:
    """Decides whether a send may go now; answers how long to wait when it may not."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._recent_sends: deque[float] = deque()
        self._chat_buckets: dict[int, tuple[float, float]] = {}

    def acquire(self, chat_id: int, *, paid: bool, now: float) -> int | None:
        """Take a send slot for `chat_id`; `None` if granted, else retry_after in seconds."""
        limits = self.limits
        if not limits.enabled:
            return None
        wait = max(self._global_wait(paid=paid, now=now), self._chat_wait(chat_id, now=now))
        if wait > 0:
            return _whole_seconds(wait)
        self._recent_sends.append(now)
        tokens, _ = self._chat_buckets[chat_id]
        self._chat_buckets[chat_id] = (tokens - 1.0, now)
        return None

    def reset(self) -> None:
        self._recent_sends.clear()
        self._chat_buckets.clear()

    def _global_wait(self, *, paid: bool, now: float) -> float:
        """Sliding one-second window over all chats."""
        recent = self._recent_sends
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        ceiling = self.limits.paid_per_second if paid else self.limits.global_per_second
        if ceiling <= 0:
            return 1.0
        if len(recent) < ceiling:
            return 0.0
        # The send becomes possible once enough of the window has expired.
        return recent[len(recent) - ceiling] + 1.0 - now

    def _chat_wait(self, chat_id: int, *, now: float) -> float:
        """Token bucket per chat: `chat_burst` at once, refilled at `chat_per_second`."""
        rate, burst = self.limits.chat_per_second, float(self.limits.chat_burst)
        tokens, updated = self._chat_buckets.get(chat_id, (burst, now))
        tokens = min(burst, tokens + (now - updated) * rate)
        self._chat_buckets[chat_id] = (tokens, now)
        if tokens >= 1.0:
            return 0.0
        if rate <= 0:
            return 1.0
        return (1.0 - tokens) / rate
