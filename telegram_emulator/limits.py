"""Telegram-like flood limits: a global sends-per-second ceiling and a per-chat token bucket."""

import bisect
import math
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
    the moment it reached the emulator (`RecordedRequest.at`, telegram_emulator/arrivals.py)
    until a full second later, whatever order the emulator handles them in.

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


_KEPT = 2.0  # seconds of accepted sends remembered before the latest (handling order may
# differ from arrival order by a little; never by a second)


def _whole_seconds(wait: float) -> int:
    """Telegram's retry_after: whole seconds, at least 1."""
    return max(1, math.ceil(wait))


class RateLimiter:
    """Decides whether a send may go now; answers how long to wait when it may not."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._recent_sends: list[float] = []  # when each accepted send arrived, in order
        self._chat_buckets: dict[int, tuple[float, float]] = {}

    def acquire(self, chat_id: int, *, paid: bool, now: float) -> int | None:
        """Take a send slot for `chat_id`; `None` if granted, else retry_after in seconds."""
        limits = self.limits
        if not limits.enabled:
            return None
        wait = max(self._global_wait(paid=paid, now=now), self._chat_wait(chat_id, now=now))
        if wait > 0:
            return _whole_seconds(wait)
        bisect.insort(self._recent_sends, now)
        tokens, updated = self._chat_buckets[chat_id]
        self._chat_buckets[chat_id] = (tokens - 1.0, updated)
        return None

    def reset(self) -> None:
        self._recent_sends.clear()
        self._chat_buckets.clear()

    def _global_wait(self, *, paid: bool, now: float) -> float:
        """Sliding one-second window over all chats: the send arriving at `now` may go if
        every window (u - 1, u] holding it holds fewer than the ceiling so far. Those are
        the window ending at `now` and, when sends that arrived later were handled first,
        the windows ending at each of those within a second."""
        recent = self._recent_sends
        if recent and recent[0] <= recent[-1] - _KEPT:
            del recent[: bisect.bisect_right(recent, recent[-1] - _KEPT)]
        ceiling = self.limits.paid_per_second if paid else self.limits.global_per_second
        if ceiling <= 0:
            return 1.0
        later = bisect.bisect_right(recent, now)
        held = later - bisect.bisect_right(recent, now - 1.0)  # in the window ending now
        if held >= ceiling:
            # The send becomes possible once enough of the window has expired.
            return recent[later - ceiling] + 1.0 - now
        for end in recent[later : bisect.bisect_left(recent, now + 1.0)]:
            if bisect.bisect_right(recent, end) - bisect.bisect_right(recent, end - 1.0) >= ceiling:
                return 1.0  # a window a later send fills: the next second
        return 0.0

    def _chat_wait(self, chat_id: int, *, now: float) -> float:
        """Token bucket per chat: `chat_burst` at once, refilled at `chat_per_second`."""
        rate, burst = self.limits.chat_per_second, float(self.limits.chat_burst)
        tokens, updated = self._chat_buckets.get(chat_id, (burst, now))
        tokens = min(burst, tokens + max(now - updated, 0.0) * rate)
        self._chat_buckets[chat_id] = (tokens, max(now, updated))
        if tokens >= 1.0:
            return 0.0
        if rate <= 0:
            return 1.0
        return (1.0 - tokens) / rate
