"""The send-rate budget: no 1-second window holds more sends than the rate, for the whole
bot, whatever the wake-ups, stalls and restarts; a global pause when Telegram answers 429;
a minimum spacing between two messages to the same chat.

The promise, counted when each request is written to its connection (the messenger says
when, `went_out`; a send whose request ended unwritten, `unwritten`, counts from when
`take` returned): no window of one second holds more than `rate` sends of a lane, for
every sender sharing the store (a fractional rate counts whole sends: 25.5 is 25; below
1, one send at a time).
Why, in two parts:
- the slots: a lane's slots are at least `interval = (1 + MARGIN) / rate` apart, and
  `take` returns at its slot or at most TOLERANCE after it; a sender that wakes later does
  not send then but takes a fresh slot (the missed one stays used: skipped, never made
  up). So any rate + 1 hand-overs used rate + 1 distinct slots, which span at least
  rate * interval = 1 + MARGIN seconds, and the hand-overs at least
  1 + MARGIN - TOLERANCE = 1.04 s;
- the writes: between the hand-over and the write the process may be busy with other work
  (on a loaded machine that took up to 0.1 s), and the late request then reaches Telegram
  bunched with the ones after it. So `take` also hands over only while this budget's
  sends of the last WINDOW = 1.04 s, counted at their writes, plus those not yet written
  (which may go at any moment), number fewer than the rate; otherwise the slot is skipped
  as above. The send with the latest hand-over among any rate + 1 writes within WINDOW
  would have seen the other rate of them, so there are none.
The 40 ms between WINDOW and a full second absorb jitter between the write and the request
reaching Telegram (and being stamped there): against the emulator in another process, on
a two-core machine with four CPU-bound processes beside, that delay stayed under 7 ms,
but with the test suite running twice side by side a 20 ms allowance still met one 429
in 180/s: the receiving process's own scheduling adds to it.

What it costs: the lane runs at 1 / (1 + MARGIN) = 95.2% of the rate (25/s gives
23.81/s, 1000/s gives 952.4/s); each late wake-up, and each write late enough to crowd the
window a second on, costs one slot, so a process too busy to keep up (1000/s from one
Python process) sends at what it can, never more; a store with no memory of a lane gives
out its first slot one second late (below).

Where the slots and the pause are kept is a `SlotStore`: this process (`LocalSlots`, one
sender) or Redis (broadcasts/shared_pacing.py), so that several sender processes share
one spacing and one pause. A store on another clock tells when a slot may be at the
earliest and at the latest on this process's clock: `take` sleeps until the latest and
measures how late it is from the earliest. A pause (retry_after) holds every lane: a
sender checks for one when it wakes (one set by another process through Redis is heard
within `shared_pacing.PAUSE_NEWS`, 50 ms), and the slots after it start at its end,
spaced as usual.

Failure cases, where the promise does not hold:
- network jitter beyond the 40 ms;
- the writes are counted per process: with several senders sharing a store through Redis,
  a late write in one is not seen by the others (their slots still keep the spacing);
- two senders that do not share a store (two processes without Redis) each use the whole
  rate;
- restarts are safe only because a store with no memory of a lane (a new `LocalSlots`, a
  Redis key lost or idle for a minute) starts it one second late: the sender before it may
  have sent a full second's worth just before it stopped. A process started while the old
  one still sends, without Redis, is the case above.
"""

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

FREE, PAID = "free", "paid"
MARGIN = 0.05  # slots are (1 + MARGIN) / rate apart
TOLERANCE = 0.010  # the latest a send may go after its slot (must stay below MARGIN s)
WINDOW = 1 + MARGIN - TOLERANCE  # seconds of writes a hand-over counts (1.04)
START_AFTER = 1.0  # a store with no memory of a lane: the previous sender's last second
_MISSES_TO_WARN = 5  # a send that misses this many slots in a row counts as struggling
_WARN_EVERY = 30.0  # seconds: struggling sends are summarised, not logged one by one

logger = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class SlotStore(Protocol):
    async def reserve(self, lane: str, interval: float) -> tuple[float, float]:
        """Claim the lane's next slot: `interval` after its previous one, not in the past,
        not before a pause ends. The earliest and the latest it may be on this process's
        monotonic clock (the same moment for a store in this process)."""
        ...

    async def paused_until(self) -> float:
        """The latest the current pause may end, on this process's clock (in the past when
        there is none)."""
        ...

    async def pause(self, seconds: float) -> None:
        """No slot in any lane comes sooner than `seconds` from now."""
        ...


class LocalSlots:
    """Slots kept in this process. The first slot of each lane comes `start_after` seconds
    after the store is made (0 only where nothing else sent in the last second: tests)."""

    def __init__(
        self, monotonic: Callable[[], float] = time.monotonic, *, start_after: float = START_AFTER
    ) -> None:
        self._monotonic = monotonic
        self._first = monotonic() + start_after
        self._next: dict[str, float] = {}
        self._paused_until = 0.0

    async def reserve(self, lane: str, interval: float) -> tuple[float, float]:
        slot = max(self._next.get(lane, self._first), self._monotonic(), self._paused_until)
        self._next[lane] = slot + interval
        return slot, slot

    async def paused_until(self) -> float:
        return self._paused_until

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)


@dataclass(slots=True)
class Send:
    """One send handed over by `RateBudget.take`: its lane, when it was handed over, and
    when its request was written once `RateBudget.went_out` says so. Until then, or until
    `RateBudget.unwritten` says it never will be, it is `pending`: it may go at any moment."""

    lane: str
    at: float
    pending: bool = True


def _interval(rate: float) -> float:
    if rate <= 0:
        raise ValueError("the rate must be positive")
    return (1 + MARGIN) / (math.floor(rate) if rate >= 1 else rate)


def _most(rate: float) -> int:
    """The most sends one second may hold at `rate` (below 1: one)."""
    return math.floor(rate) if rate >= 1 else 1


class RateBudget:
    def __init__(
        self,
        per_second: float,
        *,
        paid_per_second: float | None = None,
        chat_spacing: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        slots: SlotStore | None = None,
    ) -> None:
        self._rates = {FREE: per_second}
        if paid_per_second is not None:
            self._rates[PAID] = paid_per_second
        self._intervals = {lane: _interval(rate) for lane, rate in self._rates.items()}
        self._recent: dict[str, deque[Send]] = {lane: deque() for lane in self._rates}
        self._slots = slots or LocalSlots(monotonic)
        self._chat_spacing = chat_spacing
        self._monotonic = monotonic
        self._sleep = sleep
        self._last_to_chat: dict[int, float] = {}
        self._struggling = 0  # sends that kept missing their slots since the last warning
        self._warned_at = -math.inf

    @property
    def per_second(self) -> float:
        return self._rates[FREE]

    @property
    def paid_per_second(self) -> float | None:
        """The paid lane's rate; None when paid broadcasts are off."""
        return self._rates.get(PAID)

    async def pause(self, seconds: float) -> None:
        """Nothing is sent for `seconds` from now (Telegram's retry_after), by any sender
        sharing the slots."""
        await self._slots.pause(seconds)

    async def take(
        self,
        chat_id: int,
        *,
        paid: bool = False,
        prepare: Callable[[], Awaitable[None]] | None = None,
    ) -> Send:
        """Wait until a message may go to `chat_id` (in the paid lane when `paid`;
        ValueError if this budget has none); on return, send it at once, and call
        `went_out` with the returned `Send` when its request is written, or `unwritten`
        if it ends without being written (the send holds its place in the window until
        one of them is called).

        `prepare` is awaited once, after the first slot is reserved, while waiting for it
        (to record that the message is about to go); a slot missed meanwhile is replaced by
        a fresh one without preparing again."""
        lane = PAID if paid else FREE
        if lane not in self._intervals:
            raise ValueError("this budget has no paid lane: paid broadcasts are off")
        await self._chat_ready(chat_id)
        misses = 0
        while True:
            earliest, latest = await self._slots.reserve(lane, self._intervals[lane])
            if prepare is not None:
                await prepare()
                prepare = None
            while (left := latest - self._monotonic()) > 0:
                await self._sleep(left)
            paused_until = await self._slots.paused_until()
            handed_over = self._monotonic()
            if paused_until > handed_over:
                continue  # a pause began meanwhile: a slot after it
            if handed_over - earliest <= TOLERANCE and self._window_has_room(lane, handed_over):
                break
            misses += 1  # woke too late, or late writes crowd the window: a fresh slot
            if misses == _MISSES_TO_WARN:
                self._report_struggling(handed_over)
        self._last_to_chat[chat_id] = handed_over
        self._forget_old(handed_over)
        send = Send(lane, handed_over)
        self._recent[lane].append(send)
        return send

    def went_out(self, send: Send) -> None:
        """The request of `send` has just been written to its connection: it counts from
        now. Call it at once, from the code that writes (no await in between)."""
        send.at = self._monotonic()
        send.pending = False

    def unwritten(self, send: Send) -> None:
        """The request of `send` is over and `went_out` was not called for it (it was not
        sent after all, could not connect, or was cancelled): it counts from its hand-over,
        as far as it counts at all. Calling it after `went_out` changes nothing."""
        send.pending = False

    def _window_has_room(self, lane: str, now: float) -> bool:
        """Whether this budget's sends of the last WINDOW seconds, counted at their writes,
        and those still pending, leave room for one more."""
        recent = self._recent[lane]
        while recent and not recent[0].pending and recent[0].at <= now - WINDOW:
            recent.popleft()
        # In hand-over order: behind a pending send, or one written late, older sends stay
        # counted until it leaves, which only ever counts too many.
        return len(recent) < _most(self._rates[lane])

    def _report_struggling(self, now: float) -> None:
        """One warning per `_WARN_EVERY` seconds at most, counting the sends since the last."""
        self._struggling += 1
        if now - self._warned_at >= _WARN_EVERY:
            logger.warning(
                "%d send(s) kept missing their slots (%d in a row) since the last warning: "
                "the process or Redis is too slow for the rate",
                self._struggling,
                _MISSES_TO_WARN,
            )
            self._struggling = 0
            self._warned_at = now

    async def _chat_ready(self, chat_id: int) -> None:
        last = self._last_to_chat.get(chat_id)
        if last is not None:
            wait = last + self._chat_spacing - self._monotonic()
            if wait > 0:
                await self._sleep(wait)

    def _forget_old(self, now: float) -> None:
        """Chats last messaged longer ago than the spacing need no memory; a broadcast
        touches each chat once, so without this the map would grow by the audience."""
        fastest = max(self._rates.values())
        if len(self._last_to_chat) > 4 * fastest * self._chat_spacing + 64:
            horizon = now - self._chat_spacing
            self._last_to_chat = {c: t for c, t in self._last_to_chat.items() if t > horizon}
