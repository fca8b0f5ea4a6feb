"""The send-rate budget: evenly spaced slots at the configured rate for the whole bot, a
global pause when Telegram answers 429, and a minimum spacing between two messages to
the same chat.

Slots are spaced, not counted per second, so the rate never bursts past Telegram's
window; a slot missed by a late wake-up may be made up within `catch_up` seconds only
(later, the send takes a fresh slot instead).
Paid broadcasts (Telegram's allow_paid_broadcast) have a lane of their own at the paid
rate; a 429 pauses both lanes.

Where the slots and the pause are kept is a `SlotStore`: this process (`LocalSlots`, one
sender) or Redis (broadcasts/shared_pacing.py), so that several sender processes share
one rate and one pause. Each sender reserves the next free slot atomically and waits for
it; should a pause begin meanwhile, it waits the pause out and reserves again.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

FREE, PAID = "free", "paid"


class SlotStore(Protocol):
    async def reserve(self, lane: str, interval: float, catch_up: float) -> float:
        """Claim the lane's next slot (at least `interval` after the previous one, not
        before a pause ends, not earlier than `catch_up` ago); seconds until it comes."""
        ...

    async def pause(self, seconds: float) -> None:
        """No slot in any lane comes sooner than `seconds` from now."""
        ...

    async def paused_for(self) -> float:
        """Seconds the current pause still lasts (0 when there is none)."""
        ...


class LocalSlots:
    """Slots kept in this process."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._next: dict[str, float] = {}
        self._paused_until = 0.0

    async def reserve(self, lane: str, interval: float, catch_up: float) -> float:
        now = self._monotonic()
        slot = max(self._next.get(lane, 0.0), now - catch_up, self._paused_until)
        self._next[lane] = slot + interval
        return slot - now

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)

    async def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._monotonic())


class RateBudget:
    def __init__(
        self,
        per_second: float,
        *,
        paid_per_second: float | None = None,
        chat_spacing: float = 1.0,
        catch_up: float = 0.05,
        monotonic: Callable[[], float] = time.monotonic,
        slots: SlotStore | None = None,
    ) -> None:
        if per_second <= 0 or (paid_per_second is not None and paid_per_second <= 0):
            raise ValueError("the rate must be positive")
        self._intervals = {FREE: 1.0 / per_second}
        if paid_per_second is not None:
            self._intervals[PAID] = 1.0 / paid_per_second
        self._slots = slots or LocalSlots(monotonic)
        self._chat_spacing = chat_spacing
        self._catch_up = catch_up
        self._monotonic = monotonic
        self._last_to_chat: dict[int, float] = {}

    @property
    def per_second(self) -> float:
        return 1.0 / self._intervals[FREE]

    @property
    def paid_per_second(self) -> float | None:
        """The paid lane's rate; None when paid broadcasts are off."""
        return 1.0 / self._intervals[PAID] if PAID in self._intervals else None

    async def pause(self, seconds: float) -> None:
        """Nothing is sent for `seconds` from now (Telegram's retry_after), by any sender
        sharing the slots."""
        await self._slots.pause(seconds)

    async def take(self, chat_id: int, *, paid: bool = False) -> None:
        """Wait until a message may go to `chat_id`, and claim that slot (in the paid lane
        when `paid`; ValueError if this budget has none)."""
        lane = PAID if paid else FREE
        if lane not in self._intervals:
            raise ValueError("this budget has no paid lane: paid broadcasts are off")
        await self._chat_ready(chat_id)
        given_back = False
        while True:
            wait = await self._slots.reserve(lane, self._intervals[lane], self._catch_up)
            if wait > 0:
                due = self._monotonic() + wait
                await asyncio.sleep(wait)
                if not given_back and self._monotonic() - due > self._catch_up:
                    # A stalled process wakes all its waiting sends at once: sending them
                    # now would bunch up with the next slots, so this one takes a new slot.
                    given_back = True
                    continue
            if await self._slots.paused_for() <= 0:
                break
        now = self._monotonic()
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
        fastest = max(self.per_second, self.paid_per_second or 0.0)
        if len(self._last_to_chat) > 4 * fastest * self._chat_spacing + 64:
            horizon = now - self._chat_spacing
            self._last_to_chat = {c: t for c, t in self._last_to_chat.items() if t > horizon}
