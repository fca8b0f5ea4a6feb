"""Send slots kept in Redis, so that every sender process shares one spacing and one 429
pause (`SEGBOT_REDIS_URL`): the algorithm of broadcasts/pacing.py, each operation one Lua
script, atomic on the Redis server. The clock is the server's own (`TIME`), so the
processes' clocks never need to agree; tests may pass another (`now`, with `monotonic` for
this process's), which every store on the same keys must then share.

Keys: `<prefix>next:<lane>` — the lane's next free slot; `<prefix>pause` — when the pause
ends; both in microseconds of that clock, expiring by themselves a minute after they stop
mattering. A lane whose key is missing (first use, idle, or Redis lost its data) starts one
second late (`broadcasts.pacing.START_AFTER`), as its last second is unknown.

Redis's clock, seen from this process: each call's answer says what time it was on Redis,
somewhere between sending the call and reading the answer. The narrowest such bounds of
the last second place a slot on this process's clock (earliest, latest), so a sender
needs no round trip at its slot, whose delay would make it miss the slot on a busy
process. Every answer also says when the pause ends; a sender that heard nothing for
PAUSE_NEWS asks, so a pause set by another process holds this one within PAUSE_NEWS (one
set here, at once). The callers of one event-loop iteration share one call: a batch of
sends reserves its slots (consecutive ones) in one round trip.

Failure cases: a forward step of the Redis server's clock shortens one gap between slots
(keep it slewed, NTP's default, not stepped); clocks of two hosts running at different
rates (NTP slews by 0.05% at most) move the bounds by half a millisecond over a second,
within the jitter allowance of broadcasts/pacing.py.
"""

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis

from broadcasts.pacing import START_AFTER

PAUSE_NEWS = 0.05  # seconds a sender goes on without hearing of a new pause
_MICRO = 1_000_000
_IDLE_MS = 60_000  # how long a key outlives the last slot or pause it holds
_BOUNDS_KEPT = 1.0  # seconds the clock bounds of one answer are kept
T = TypeVar("T")

# Every script: KEYS[1] the pause. ARGV[1]: now in µs, or '' for the server's TIME.
# -> {now, when the pause ends, ...} in µs.
_NOW = """
local now
if ARGV[1] == '' then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
else
  now = tonumber(ARGV[1])
end
"""

_STATE = _NOW + "return {now, tonumber(redis.call('GET', KEYS[1]) or '0')}"

# KEYS[2]: the lane's next slot. ARGV: interval µs, how many, start-after µs, idle ms.
# -> ..., the first slot; the others follow it at the interval.
_RESERVE = (
    _NOW
    + """
local following = tonumber(redis.call('GET', KEYS[2]) or (now + tonumber(ARGV[4])))
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(following, now, paused)
local after = slot + tonumber(ARGV[2]) * tonumber(ARGV[3])
local keep_ms = math.ceil((after - now) / 1000) + tonumber(ARGV[5])
redis.call('SET', KEYS[2], string.format('%d', after), 'PX', keep_ms)
return {now, paused, slot}
"""
)

# ARGV: seconds as µs, idle ms. Extends the pause, never shortens it.
_PAUSE = (
    _NOW
    + """
local ends = math.max(now + tonumber(ARGV[2]), tonumber(redis.call('GET', KEYS[1]) or '0'))
local keep_ms = math.ceil((ends - now) / 1000) + tonumber(ARGV[3])
redis.call('SET', KEYS[1], string.format('%d', ends), 'PX', keep_ms)
return {now, ends}
"""
)


def _micro(seconds: float) -> int:
    return math.ceil(seconds * _MICRO)


@dataclass(slots=True)
class _Offset:
    """Bounds on Redis's clock minus this process's: the narrowest of the last second."""

    low: float = -math.inf
    high: float = math.inf
    at: float = -math.inf

    def heard(self, asked: float, answered: float, redis_now: float) -> None:
        low, high = redis_now - answered, redis_now - asked
        if answered - self.at <= _BOUNDS_KEPT and max(low, self.low) <= min(high, self.high):
            low, high = max(low, self.low), min(high, self.high)
        self.low, self.high, self.at = low, high, answered


class _OneCallPerIteration(Generic[T]):
    """Callers of one event-loop iteration share one call of `call(how_many)`; each gets
    its result and its place among them."""

    def __init__(self, call: Callable[[int], Awaitable[T]]) -> None:
        self._call = call
        self._waiting: list[asyncio.Future[tuple[T, int]]] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self) -> tuple[T, int]:
        if self._waiting is None:
            self._waiting = []
            task = asyncio.create_task(self._answer())  # runs once this iteration is over
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        answer: asyncio.Future[tuple[T, int]] = asyncio.get_running_loop().create_future()
        self._waiting.append(answer)
        return await answer

    async def _answer(self) -> None:
        waiting, self._waiting = self._waiting or [], None
        try:
            result = await self._call(len(waiting))
        except Exception as error:
            for answer in waiting:
                if not answer.done():
                    answer.set_exception(error)
            return
        except BaseException:
            for answer in waiting:
                answer.cancel()
            raise
        for place, answer in enumerate(waiting):
            if not answer.done():
                answer.set_result((result, place))


class RedisSlots:
    """A `broadcasts.pacing.SlotStore` in Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "segbot:send:",
        now: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scripts = {
            name: redis.register_script(text)
            for name, text in (("state", _STATE), ("reserve", _RESERVE), ("pause", _PAUSE))
        }
        self._pause_key = f"{prefix}pause"
        self._prefix = prefix
        self._now = now
        self._monotonic = monotonic
        self._offset = _Offset()
        self._pause_ends = 0  # µs on Redis's clock
        self._heard_at = -math.inf
        self._state = _OneCallPerIteration(lambda _: self._run("state", []))
        self._reserving: dict[tuple[str, float], _OneCallPerIteration[list[int]]] = {}

    async def reserve(self, lane: str, interval: float) -> tuple[float, float]:
        if (lane, interval) not in self._reserving:
            self._reserving[lane, interval] = _OneCallPerIteration(
                lambda how_many: self._run(
                    "reserve",
                    [_micro(interval), how_many, _micro(START_AFTER), _IDLE_MS],
                    f"{self._prefix}next:{lane}",
                )
            )
        (first,), place = await self._reserving[lane, interval]()
        slot = (first + place * _micro(interval)) / _MICRO
        return slot - self._offset.high, slot - self._offset.low

    async def paused_until(self) -> float:
        if self._monotonic() - self._heard_at > PAUSE_NEWS:
            await self._state()
        return self._pause_ends / _MICRO - self._offset.low

    async def pause(self, seconds: float) -> None:
        await self._run("pause", [_micro(seconds), _IDLE_MS])

    async def _run(self, script: str, args: Sequence[int], *keys: str) -> list[int]:
        """Run a script; learn Redis's clock and the pause from its answer; the rest of it."""
        clock = "" if self._now is None else str(round(self._now() * _MICRO))
        asked = self._monotonic()
        answer: list[Any] = await self._scripts[script](
            keys=[self._pause_key, *keys], args=[clock, *args]
        )
        answered = self._monotonic()
        redis_now, pause_ends, *rest = (int(value) for value in answer)
        self._offset.heard(asked, answered, redis_now / _MICRO)
        self._pause_ends = max(self._pause_ends, pause_ends)
        self._heard_at = max(self._heard_at, asked)
        return rest
