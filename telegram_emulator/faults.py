"""Injected failures: the next n calls fail, forced 429 storms, a random error rate, slow
answers to a random fraction of sends."""

import random
from dataclasses import dataclass
from http import HTTPStatus

from telegram_emulator.errors import ApiError, server_error, too_many_requests

POLLING_METHOD = "getUpdates"


@dataclass(slots=True)
class _FailNext:
    remaining: int
    status: int
    method: str | None

    def matches(self, method: str) -> bool:
        if self.method is None:
            return method != POLLING_METHOD
        return self.method.lower() == method.lower()


@dataclass(slots=True)
class _RetryAfterStorm:
    remaining: int
    seconds: int


class Faults:
    """Failures waiting to be served, consumed in the order they were scheduled."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - reproducible faults, not cryptography
        self._fail_next: list[_FailNext] = []
        self._storms: list[_RetryAfterStorm] = []

    def fail_next(
        self, n: int = 1, status: int = HTTPStatus.INTERNAL_SERVER_ERROR, method: str | None = None
    ) -> None:
        """The next `n` calls of `method` (any method but getUpdates if None) answer `status`."""
        if n > 0:
            self._fail_next.append(_FailNext(remaining=n, status=status, method=method))

    def force_retry_after(self, seconds: int, n: int = 1) -> None:
        """The next `n` sends answer 429 with `retry_after=seconds`."""
        if n > 0:
            self._storms.append(_RetryAfterStorm(remaining=n, seconds=max(1, seconds)))

    def clear(self) -> None:
        self._fail_next.clear()
        self._storms.clear()

    def take(self, method: str, *, is_send: bool, error_rate: float) -> ApiError | None:
        """The failure this call must answer with, if any (consuming it)."""
        for failure in self._fail_next:
            if failure.matches(method):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._fail_next.remove(failure)
                if failure.status == HTTPStatus.TOO_MANY_REQUESTS:
                    return too_many_requests(1)
                return server_error(failure.status)
        if not is_send:
            return None
        if self._storms:
            storm = self._storms[0]
            storm.remaining -= 1
            if storm.remaining <= 0:
                self._storms.pop(0)
            return too_many_requests(storm.seconds)
        if error_rate > 0 and self._rng.random() < error_rate:
            return server_error()
        return None

    def holds(self, *, is_send: bool, hold_rate: float) -> bool:
        """Whether this call's answer is held back (`Limits.hold_rate` of the sends)."""
        return is_send and hold_rate > 0 and self._rng.random() < hold_rate
