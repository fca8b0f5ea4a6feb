"""The emulator's global flood limit is exactly the configured rate in a sliding 1-second
window: no stricter, no looser."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from telegram_emulator.limits import Limits, RateLimiter

RATE = 5


def limiter(rate: int = RATE) -> RateLimiter:
    """Only the global limit: every send below goes to a chat of its own."""
    return RateLimiter(Limits(global_per_second=rate, paid_per_second=2 * rate))


def test_the_window_is_full_until_its_first_send_is_one_second_old() -> None:
    limits = limiter()
    assert limits.acquire(0, paid=False, now=100.0) is None
    assert all(limits.acquire(chat, paid=False, now=100.5) is None for chat in range(1, RATE))
    assert limits.acquire(RATE, paid=False, now=100.5) == 1  # the rate + 1st: 429
    assert limits.acquire(RATE, paid=False, now=100.999999) == 1  # retry_after rounds up
    assert limits.acquire(RATE, paid=False, now=101.0) is None  # the first is 1 s old
    assert limits.acquire(RATE + 1, paid=False, now=101.0) is not None  # full again
    assert limits.acquire(RATE + 1, paid=False, now=101.5) is None


def test_a_paid_broadcast_has_its_own_ceiling_over_the_same_window() -> None:
    limits = limiter()
    assert all(limits.acquire(chat, paid=True, now=100.0) is None for chat in range(2 * RATE))
    assert limits.acquire(2 * RATE, paid=True, now=100.5) is not None
    assert limits.acquire(2 * RATE, paid=False, now=100.5) is not None


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(1, 6),
    gaps=st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]) | st.floats(0.0, 1.2), max_size=40),
)
def test_a_send_is_accepted_exactly_when_the_last_second_holds_fewer_than_the_rate(
    rate: int, gaps: list[float]
) -> None:
    limits, now = limiter(rate), 100.0
    accepted: list[float] = []
    for chat, gap in enumerate(gaps):
        now += gap
        in_window = sum(at > now - 1.0 for at in accepted)
        granted = limits.acquire(chat, paid=False, now=now) is None
        assert granted == (in_window < rate)
        if granted:
            accepted.append(now)


def busiest_window(times: list[float]) -> int:
    """The most of `times` any window (u - 1, u] holds."""
    return max((sum(end - 1.0 < at <= end for at in times) for end in times), default=0)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(1, 6),
    sends=st.lists(
        st.tuples(st.sampled_from([0.0, 0.25, 0.5]) | st.floats(0.0, 1.2), st.floats(0.0, 0.9)),
        max_size=40,
    ),
)
def test_sends_handled_out_of_arrival_order_are_judged_by_when_they_arrived(
    rate: int, sends: list[tuple[float, float]]
) -> None:
    """A send is handled up to 0.9 s after it arrived (the emulator was busy), so later
    arrivals may be handled first; it is accepted exactly when no window of one second
    would then hold more than the rate."""
    arrivals = list(itertools.accumulate(gap for gap, _ in sends))
    handled = sorted(range(len(sends)), key=lambda send: arrivals[send] + sends[send][1])
    limits = limiter(rate)
    accepted: list[float] = []
    for chat in handled:
        at = 100.0 + arrivals[chat]
        granted = limits.acquire(chat, paid=False, now=at) is None
        assert granted == (busiest_window([*accepted, at]) <= rate)
        if granted:
            accepted.append(at)
