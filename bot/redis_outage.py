"""Redis out of reach is not the bot out of service.

With SEGBOT_REDIS_URL set, every update takes a flood token from Redis and reads its
chat's wizard step there. If Redis stops answering, the bot goes on without it rather
than answering every update with an apology: a /stop, a /start, a button press is still
handled and logged. Meanwhile the flood limits are this process's own (as without Redis),
and a chat's wizard step reads as none (an admin half-way through a wizard starts it
again). One WARNING says so when Redis stops answering, one INFO when it answers again.
"""

import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Seconds after which a Redis that does not answer is taken as down, not waited for (a
# server that vanished from the network would otherwise hold each update for minutes).
TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}
# What Redis not answering raises (a refused or lost connection, a timeout, a server still
# loading its data); any other error is a real one and is raised.
UNANSWERED = (RedisConnectionError, RedisTimeoutError)


class RedisOutage:
    """Notes that Redis did or did not answer, logging only the changes. `without` says
    what goes on without it, in the WARNING."""

    def __init__(self, logger: logging.Logger, *, without: str) -> None:
        self._logger = logger
        self._without = without
        self.down = False

    def failed(self, error: RedisError) -> None:
        if not self.down:
            # The error's type only: its words may name the server, never its password,
            # but a URL is the operator's to read in their settings, not in the log.
            self._logger.warning(
                "Redis does not answer (%s): %s until it does",
                type(error).__name__,
                self._without,
            )
        self.down = True

    def answered(self) -> None:
        if self.down:
            self._logger.info("Redis answers again: %s no more", self._without)
        self.down = False
