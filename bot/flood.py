"""Per-user anti-flood token buckets: `rate` updates a second on average, bursts of `burst`.

`LocalBuckets` keeps them in this process (one bot process, the default). `RedisBuckets`
keeps them in Redis, updated atomically by a Lua script, so that a user whose updates a
load balancer spreads over several bot processes meets one limit, not one per process. The
script can read one more key in the same round trip (`RedisBuckets.admit_reading`): the
update's FSM state, which `bot.conversation_state` would otherwise read in a round trip of
its own. Calls made while a round trip is out (a batch of webhook updates handled together)
share the next one: one call of the script, which takes each of them in turn (atomically, as
one). Run as a pipeline of one script call each, the same round trips took a tenth of a
webhook process's CPU to build and read back.
"""

import logging
import time
from typing import Any, Protocol

from redis.asyncio import Redis

from bot.redis_outage import UNANSWERED, RedisOutage
from core.grouped_calls import GroupedCalls

logger = logging.getLogger(__name__)

_MAX_TRACKED_USERS = 50_000

# For each call: its user's bucket in KEYS, then, if the call's ARGV entry (from ARGV[4] on)
# is 2, a key to read in the next. ARGV[1..3]: rate, burst, ttl in ms. Returns, for each
# call, 1 when admitted else 0, then the value of its key to read (nil when unset or none),
# or the call's error twice: one call failing (a key to read that is no string) fails alone.
_BUCKET_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])

local function take(bucket, key_to_read)
  local state = redis.call('HMGET', bucket, 'tokens', 'at')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  local admitted = 0
  if tokens >= 1 then
    tokens = tokens - 1
    admitted = 1
  end
  redis.call('HSET', bucket, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', bucket, ARGV[3])
  local read = false
  if key_to_read then
    read = redis.call('GET', key_to_read)
  end
  return admitted, read
end

local answers, key = {}, 1
for call = 4, #ARGV do
  local ok, admitted, read = pcall(take, KEYS[key], ARGV[call] == '2' and KEYS[key + 1])
  if not ok then  -- the error, as Redis would have answered it
    admitted = type(admitted) == 'table' and admitted or redis.error_reply(tostring(admitted))
    read = admitted
  end
  answers[#answers + 1] = admitted
  answers[#answers + 1] = read
  key = key + tonumber(ARGV[call])
end
return answers
"""


class Buckets(Protocol):
    async def admit(self, user_id: int) -> bool:
        """Take a token from the user's bucket; False when it is empty."""
        ...


class LocalBuckets:
    def __init__(self, *, rate: float = 2.0, burst: int = 8) -> None:
        self._rate = rate
        self._burst = burst
        self._buckets: dict[int, tuple[float, float]] = {}  # user -> (tokens, at)

    async def admit(self, user_id: int) -> bool:
        now = time.monotonic()
        tokens, at = self._buckets.get(user_id, (float(self._burst), now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if len(self._buckets) > _MAX_TRACKED_USERS:
            self._forget_idle(now)
        if tokens < 1:
            self._buckets[user_id] = (tokens, now)
            return False
        self._buckets[user_id] = (tokens - 1, now)
        return True

    def _forget_idle(self, now: float) -> None:
        """Users whose bucket has refilled are indistinguishable from new ones: drop them."""
        refill = self._burst / self._rate
        self._buckets = {
            user: state for user, state in self._buckets.items() if now - state[1] < refill
        }


class RedisBuckets:
    """Token buckets in Redis. Calls made while a round trip is out wait for the next one,
    which takes them all (see the module docstring). While Redis does not answer, this
    process's own buckets stand in (bot/redis_outage.py)."""

    def __init__(
        self, redis: Redis, *, rate: float = 2.0, burst: int = 8, prefix: str = "segbot:flood:"
    ) -> None:
        self._redis = redis
        self._take = redis.register_script(_BUCKET_SCRIPT)
        self._prefix = prefix
        # A bucket left alone this long has refilled: Redis may forget it.
        self._args = (rate, burst, int(1000 * burst / rate) + 1000)
        self._round_trips = GroupedCalls[list[str], Any](self._run)
        self._meanwhile = LocalBuckets(rate=rate, burst=burst)
        self._outage = RedisOutage(
            logger, without="flood limits are each bot process's own, wizard steps unknown"
        )

    async def admit(self, user_id: int) -> bool:
        admitted, _ = await self.admit_reading(user_id, None)
        return admitted

    async def admit_reading(self, user_id: int, key: str | None) -> tuple[bool, str | None]:
        """`admit`, and the text held at `key` (a string key in the same Redis; None when it
        is unset, or while Redis does not answer), read in the same round trip."""
        keys = [f"{self._prefix}{user_id}"] if key is None else [f"{self._prefix}{user_id}", key]
        try:
            admitted, read = await self._round_trips.call(keys)
        except UNANSWERED as error:
            self._outage.failed(error)
            return await self._meanwhile.admit(user_id), None
        self._outage.answered()
        return bool(admitted), read.decode() if isinstance(read, bytes) else read

    async def _run(self, calls: list[list[str]]) -> list[Any]:
        """One round trip: the script's (admitted, read) for each call's keys, or the
        error of that call alone."""
        keys = [key for call in calls for key in call]
        answers = await self._take(keys=keys, args=[*self._args, *(len(call) for call in calls)])
        pairs = zip(answers[::2], answers[1::2], strict=True)
        return [
            read if isinstance(read, Exception) else (admitted, read) for admitted, read in pairs
        ]
