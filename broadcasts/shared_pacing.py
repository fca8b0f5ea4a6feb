"""Send slots kept in Redis, so that every sender process shares one rate and one 429 pause
(`SEGBOT_REDIS_URL`). Each operation is one Lua script, atomic on the Redis server, timed
by the server's own clock (`TIME`), so the processes' clocks never need to agree.

Keys: `<prefix>next:<lane>` — the lane's next free slot; `<prefix>pause` — when the pause
ends; both in microseconds since the epoch, expiring by themselves when idle.
"""

from redis.asyncio import Redis

_MICRO = 1_000_000
_IDLE_MS = 60_000  # a lane idle this long has no future slots worth remembering

# KEYS: next slot of the lane, pause. ARGV: interval, catch-up (µs), idle ms. -> µs to wait.
_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local following = tonumber(redis.call('GET', KEYS[1]) or '0')
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local slot = math.max(following, now - tonumber(ARGV[2]), paused)
redis.call('SET', KEYS[1], string.format('%d', slot + tonumber(ARGV[1])), 'PX', ARGV[3])
return slot - now
"""

# KEYS: pause. ARGV: seconds as µs. Extends the pause, never shortens it.
_PAUSE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local ends = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if ends > current then
  local keep_ms = math.ceil(tonumber(ARGV[1]) / 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%d', ends), 'PX', keep_ms)
end
return 1
"""

# KEYS: pause. -> µs the pause still lasts.
_PAUSED_FOR = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local ends = tonumber(redis.call('GET', KEYS[1]) or '0')
return math.max(0, ends - now)
"""


class RedisSlots:
    """A `broadcasts.pacing.SlotStore` in Redis."""

    def __init__(self, redis: Redis, *, prefix: str = "segbot:send:") -> None:
        self._reserve = redis.register_script(_RESERVE)
        self._pause = redis.register_script(_PAUSE)
        self._paused_for = redis.register_script(_PAUSED_FOR)
        self._prefix = prefix

    async def reserve(self, lane: str, interval: float, catch_up: float) -> float:
        keys = [f"{self._prefix}next:{lane}", f"{self._prefix}pause"]
        args = [round(interval * _MICRO), round(catch_up * _MICRO), _IDLE_MS]
        return int(await self._reserve(keys=keys, args=args)) / _MICRO

    async def pause(self, seconds: float) -> None:
        await self._pause(keys=[f"{self._prefix}pause"], args=[round(seconds * _MICRO)])

    async def paused_for(self) -> float:
        return int(await self._paused_for(keys=[f"{self._prefix}pause"])) / _MICRO
