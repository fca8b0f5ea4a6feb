"""The send-rate budget: evenly spaced slots at the configured rate for the whole bot, a
global pause when Telegram answers 429, and a minimum spacing between two messages to
the same chat.

Slots are spaced, not counted per second, so the rate never bursts past Telegram's
window; a slot missed by a late wake-up may be made up within `catch_up` seconds only.
"""

import asyncio
import time
from collections.abc import Callable


class RateBudget:
    def __init__(
        self,
        per_second: float,
        *,
        chat_spacing: float = 1.0,
        catch_up: float = 0.05,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second <= 0:
            raise ValueError("the rate must be positive")
        self._interval = 1.0 / per_second
        self._chat_spacing = chat_spacing
        self._catch_up = catch_up
        self._monotonic = monotonic
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._last_to_chat: dict[int, float] = {}
        self._lock = asyncio.Lock()

    @property
    def per_second(self) -> float:
        return 1.0 / self._interval

    def pause(self, seconds: float) -> None:
        """Nothing is sent for `seconds` from now (Telegram's retry_after)."""
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)

    async def take(self, chat_id: int) -> None:
        """Wait until a message may go to `chat_id`, and claim that slot."""
        await self._chat_ready(chat_id)
        async with self._lock:
            while True:
                now = self._monotonic()
                ready = max(self._next_slot, self._paused_until)
                if ready <= now:
                    break
                await asyncio.sleep(ready - now)
            self._next_slot = max(self._next_slot, now - self._catch_up) + self._interval
            self._last_to_chat[chat_id] = now
            self._forget_old(now)

    async def _chat_ready(self, chat_id: int) -> None:
        last = self._last_to_chat.get(chat_id)
        if last is not None:
            wait = last + self._chat_spacing - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)

    def _forget_old(self, now: float) -> None:
        """Chats last messaged longer ago than the spacing need no memory; a broadcast
        touches each chat once, so without this the map would grow by the audience."""
        if len(self._last_to_chat) > 4 * self.per_second * self._chat_spacing + 64:
            horizon = now - self._chat_spacing
            self._last_to_chat = {c: t for c, t in self._last_to_chat.items() if t > horizon}
