"""The rate budget on a virtual clock: no 1-second window holds more sends than the rate,
whatever the stalls, pauses and restarts (a property), and the behaviour around it."""

import asyncio
import heapq
import itertools
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Iterable, Sequence
from typing import TypeVar

import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

from broadcasts.pacing import MARGIN, START_AFTER, TOLERANCE, WINDOW, LocalSlots, RateBudget

T = TypeVar("T")


class VirtualClock:
    """Time that moves only when every task sleeps on it, to the earliest wake-up. Each
    sleep wakes `seconds` later plus the next of `stalls` (the process was busy or not
    scheduled); once they run out, on time."""

    def __init__(self, stalls: Iterable[float] = ()) -> None:
        self.now = 1000.0
        self._stalls = iter(stalls)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._changed = asyncio.Event()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """A sleep of the code under test: late by the next stall."""
        await self.wait(seconds + next(self._stalls, 0.0))

    async def wait(self, seconds: float) -> None:
        """A sleep of the test's own: on time."""
        wakes = self.now + max(seconds, 0.0)
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (wakes, next(self._order), woken))
        self._changed.set()
        await woken

    async def run(self, *calls: Awaitable[T]) -> list[T]:
        """Run `calls` concurrently to the end, moving time on whenever all of them sleep."""
        tasks = [asyncio.ensure_future(call) for call in calls]
        for task in tasks:
            task.add_done_callback(lambda _: self._changed.set())
        while (live := sum(not task.done() for task in tasks)) and not _failed(tasks):
            if live > len(self._sleepers):  # some are busy (on Redis): wait for them to sleep
                self._changed.clear()
                await self._changed.wait()
                continue
            wakes, _, woken = heapq.heappop(self._sleepers)
            self.now = max(self.now, wakes)
            woken.set_result(None)
        for task in tasks:
            task.cancel()  # the rest, after a failure
        if tasks:
            await asyncio.wait(tasks)
        if failures := _failed(tasks):
            raise failures[0]
        return [task.result() for task in tasks]


def _failed(tasks: Sequence[asyncio.Task[T]]) -> list[BaseException]:
    return [
        error
        for task in tasks
        if task.done() and not task.cancelled() and (error := task.exception()) is not None
    ]


async def send_now(budget: RateBudget, chat: int) -> None:
    """Take a slot for `chat` and write its request at once."""
    budget.went_out(await budget.take(chat))


def budget_on(
    clock: VirtualClock, rate: float, *, paid: float | None = None, chat_spacing: float = 1.0
) -> RateBudget:
    """A budget on the clock whose slots start at once (no process ran before it)."""
    return RateBudget(
        rate,
        paid_per_second=paid,
        chat_spacing=chat_spacing,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        slots=LocalSlots(clock.monotonic, start_after=0),
    )


def window_limit(rate: float) -> int:
    """The most sends a 1-second window may hold at `rate`."""
    return math.floor(rate) if rate >= 1 else 1


def tightest_span(times: Sequence[float], rate: float) -> float:
    """The shortest time any rate + 1 of `times` fall within (inf if there are not as many)."""
    most, ordered = window_limit(rate), sorted(times)
    spans = (last - first for first, last in zip(ordered, ordered[most:], strict=False))
    return min(spans, default=math.inf)


def assert_no_window_exceeds(*lanes: tuple[Sequence[float], float]) -> None:
    """No half-open window (t - 1, t] holds more sends of a lane than its rate: any rate + 1
    of them span 1 s at least (hypothesis is steered towards the tightest spans)."""
    tightest = min(tightest_span(times, rate) for times, rate in lanes)
    if tightest < math.inf:
        target(-tightest)
    assert tightest >= 1.0, f"more sends than the rate within {tightest:.6f} s"


async def send_all(
    clock: VirtualClock,
    budgets: Sequence[RateBudget],
    sends: Sequence[tuple[float, bool]],
    pauses: Sequence[tuple[float, float]] = (),
    *,
    heard_within: float = 0.0,
    writes: Sequence[float] = (),
) -> dict[bool, list[float]]:
    """Each send starts after its delay (through the budgets in turn, in the paid lane when
    asked) and prepares once; each pause begins after its delay (through the budgets in
    turn). A send's request is written `writes[number]` seconds after its hand-over (0
    where there is none), the budget told. The write times of each lane (paid: True),
    checking that prepare ran once before and that no send went in a pause (other budgets
    may hear of it `heard_within`)."""
    written: dict[bool, list[float]] = {False: [], True: []}
    prepared: Counter[int] = Counter()
    paused: list[tuple[float, float, int]] = []

    async def send(number: int, delay: float, paid: bool) -> None:
        async def prepare() -> None:
            prepared[number] += 1
            await clock.sleep(0.002)  # recording "sending" takes a moment (delays a due send)

        sender = number % len(budgets)
        await clock.wait(delay)
        handed = await budgets[sender].take(number, paid=paid, prepare=prepare)
        assert prepared[number] == 1
        for began, ends, pauser in paused:
            heard = began + (0.0 if pauser == sender else heard_within)
            assert not heard < clock.now < ends - 1e-6, "sent in a pause"  # Redis: whole µs
        if number < len(writes) and writes[number] > 0:
            await clock.wait(writes[number])  # the process is busy with other work meanwhile
        budgets[sender].went_out(handed)
        written[paid].append(clock.now)

    async def pause(number: int, delay: float, seconds: float) -> None:
        pauser = number % len(budgets)
        await clock.wait(delay)
        began = clock.now
        await budgets[pauser].pause(seconds)
        paused.append((began, began + seconds, pauser))

    await clock.run(
        *(send(number, delay, paid) for number, (delay, paid) in enumerate(sends)),
        *(pause(number, delay, seconds) for number, (delay, seconds) in enumerate(pauses)),
    )
    return written


rates = st.sampled_from([0.5, 1.0, 2.5, 3.0, 7.0, 25.0, 30.0])
stall = st.one_of(st.just(0.0), st.floats(0, 2 * MARGIN), st.floats(0, 0.3), st.floats(0, 3.0))
stalls = st.lists(stall, max_size=100)
sends = st.lists(st.tuples(st.floats(0, 3.0), st.booleans()), min_size=1, max_size=60)
pauses = st.lists(st.tuples(st.floats(0, 4.0), st.floats(0.1, 2.0)), max_size=2)
# Up to 3 s: a request still unwritten a second after its hand-over keeps its place.
write = st.one_of(
    st.just(0.0), st.floats(0, 2 * MARGIN), st.floats(0, 0.9 * WINDOW), st.floats(0, 3.0)
)
writes = st.lists(write, max_size=60)


@settings(max_examples=150, deadline=None)
@given(rate=rates, paid_rate=rates, stalls=stalls, sends=sends, pauses=pauses)
async def test_no_window_ever_holds_more_than_the_rate(
    rate: float,
    paid_rate: float,
    stalls: list[float],
    sends: list[tuple[float, bool]],
    pauses: list[tuple[float, float]],
) -> None:
    clock = VirtualClock(stalls)
    budget = budget_on(clock, rate, paid=paid_rate)
    handed = await send_all(clock, [budget], sends, pauses)
    assert_no_window_exceeds((handed[False], rate), (handed[True], paid_rate))
    assert len(handed[False]) + len(handed[True]) == len(sends)


@settings(max_examples=150, deadline=None)
@given(rate=rates, stalls=stalls, sends=sends, writes=writes)
async def test_no_window_holds_more_than_the_rate_counted_at_the_writes(
    rate: float, stalls: list[float], sends: list[tuple[float, bool]], writes: list[float]
) -> None:
    """Requests written late, while the process hands other sends over, still never crowd
    a second: counted when each was written."""
    clock = VirtualClock(stalls)
    budget = budget_on(clock, rate, paid=rate)
    written = await send_all(clock, [budget], sends, writes=writes)
    assert_no_window_exceeds((written[False], rate), (written[True], rate))
    assert len(written[False]) + len(written[True]) == len(sends)


@settings(max_examples=60, deadline=None)
@given(
    rate=rates,
    stalls=stalls,
    before=st.integers(0, 40),
    after=st.integers(1, 40),
    gap=st.one_of(st.just(0.0), st.floats(0, 2.0)),
)
async def test_a_restarted_process_keeps_the_window(
    rate: float, stalls: list[float], before: int, after: int, gap: float
) -> None:
    """A new process remembers nothing of the old one's last second, so it waits it out."""
    clock = VirtualClock(stalls)
    old = RateBudget(rate, monotonic=clock.monotonic, sleep=clock.sleep)
    handed = await send_all(clock, [old], [(0.0, False)] * before)
    clock.now += gap  # the old process stops right after its last send; a new one starts
    started = clock.now
    new = RateBudget(rate, monotonic=clock.monotonic, sleep=clock.sleep)
    handed_after = await send_all(clock, [new], [(0.0, False)] * after)
    assert min(handed_after[False]) >= started + START_AFTER
    assert_no_window_exceeds((handed[False] + handed_after[False], rate))


async def test_slots_are_evenly_spaced_below_the_rate_by_the_margin() -> None:
    clock = VirtualClock()
    budget = budget_on(clock, 10)
    await clock.run(*(send_now(budget, chat) for chat in range(21)))
    assert clock.now == pytest.approx(1000.0 + 20 * (1 + MARGIN) / 10)


async def test_a_fractional_rate_counts_whole_sends() -> None:
    clock = VirtualClock()
    budget = budget_on(clock, 2.5)
    assert budget.per_second == 2.5
    await clock.run(*(send_now(budget, chat) for chat in range(3)))
    assert clock.now == pytest.approx(1000.0 + 1 + MARGIN)


async def test_a_late_wake_up_skips_its_slot_and_sends_in_a_fresh_one() -> None:
    interval = (1 + MARGIN) / 10
    clock = VirtualClock([0.9 * TOLERANCE, 0.0, TOLERANCE + 0.001])  # the 2nd, 4th wake late
    budget = budget_on(clock, 10)
    handed: list[float] = []

    async def send(chat: int) -> None:
        await send_now(budget, chat)
        handed.append(clock.now)

    await clock.run(*(send(chat) for chat in range(5)))
    # late within the tolerance still sends; later than it, the slot is lost, not made up
    expected = [0.0, interval + 0.9 * TOLERANCE, 2 * interval, 4 * interval, 5 * interval]
    assert sorted(handed) == pytest.approx([1000.0 + t for t in expected])


async def test_a_request_written_late_holds_back_the_send_a_second_after_it() -> None:
    interval = (1 + MARGIN) / 10
    clock = VirtualClock()
    budget = budget_on(clock, 10)
    written = sorted((await send_all(clock, [budget], [(0.0, False)] * 12, writes=[0.05]))[False])
    # The first request left 50 ms after its slot: the eleventh slot, 1.05 s after the
    # first, would put 11 writes within a second; it is skipped and the send takes the next.
    assert written[0] == pytest.approx(written[1] - interval + 0.05, abs=0.003)
    assert written[10] - written[1] == pytest.approx(10 * interval)
    assert tightest_span(written, 10) >= WINDOW


async def test_a_request_still_unwritten_after_a_second_keeps_its_place_until_written() -> None:
    clock = VirtualClock()
    budget = budget_on(clock, 1)
    written = sorted((await send_all(clock, [budget], [(0.0, False)] * 3, writes=[2.5]))[False])
    # The first request went 2.5 s after its hand-over: nothing else went within a second
    # before or after it.
    assert written[0] == pytest.approx(1002.5, abs=0.003)
    assert tightest_span(written, 1) >= WINDOW


async def test_a_send_that_ends_unwritten_counts_from_its_hand_over() -> None:
    clock = VirtualClock()
    budget = budget_on(clock, 1)
    budget.unwritten(await budget.take(1))  # not sent after all
    await clock.run(send_now(budget, 2))
    assert clock.now == pytest.approx(1000.0 + 1 + MARGIN)  # the next slot, not later


async def test_prepare_runs_once_while_waiting_even_when_the_slot_is_missed() -> None:
    clock = VirtualClock([0.5])  # preparing stalls past the slot
    budget = budget_on(clock, 10)
    calls: list[float] = []

    async def prepare() -> None:
        calls.append(clock.now)
        await clock.sleep(0.01)

    await clock.run(budget.take(1), budget.take(2, prepare=prepare))
    assert calls == [1000.0]
    assert clock.now == pytest.approx(1000.51)  # a fresh slot at once, not prepared again


async def test_a_pause_holds_every_send_and_the_sends_after_it_are_spaced() -> None:
    interval = (1 + MARGIN) / 10
    clock = VirtualClock()
    budget = budget_on(clock, 10, paid=1000)
    sends = [(0.0, False)] * 3 + [(0.2, False), (0.2, True)]
    handed = await send_all(clock, [budget], sends, [(0.15, 5.0)])
    assert handed[True] == [pytest.approx(1005.15)]
    after = [1005.15 + k * interval for k in range(2)]  # the third woke in the pause
    assert sorted(handed[False]) == pytest.approx([1000.002, 1000.0 + interval, *after])


async def test_the_same_chat_waits_for_its_spacing() -> None:
    clock = VirtualClock()
    budget = budget_on(clock, 100, chat_spacing=1.0)
    await clock.run(send_now(budget, 7))
    start = clock.now
    await clock.run(send_now(budget, 7))
    assert clock.now - start == pytest.approx(1.0)


async def test_the_rate_must_be_positive_and_the_paid_lane_exist() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateBudget(0)
    with pytest.raises(ValueError, match="positive"):
        RateBudget(10, paid_per_second=0)
    with pytest.raises(ValueError, match="no paid lane"):
        await RateBudget(10).take(1, paid=True)


async def test_sends_that_keep_missing_their_slots_are_summarised_not_logged_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock([TOLERANCE + 0.001] * 120)  # 120 wake-ups too late, then on time
    budget = budget_on(clock, 10)
    with caplog.at_level(logging.WARNING, logger="broadcasts.pacing"):
        await clock.run(*(send_now(budget, chat) for chat in range(20)))
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1  # 20 struggling sends within seconds: one line
    assert warnings[0].startswith("1 send(s) kept missing their slots")
