"""`GroupedCalls`: concurrent calls carried by shared round trips, each caller answered."""

import asyncio

import pytest

from core.grouped_calls import GroupedCalls


async def test_calls_made_while_a_group_is_out_share_the_next_one() -> None:
    groups: list[list[int]] = []
    out = asyncio.Event()

    async def double(calls: list[int]) -> list[int | Exception]:
        groups.append(calls)
        out.set()
        await asyncio.sleep(0.01)
        return [call * 2 for call in calls]

    grouped = GroupedCalls[int, int](double)
    first = asyncio.create_task(grouped.call(0))
    await out.wait()
    later = await asyncio.gather(*(grouped.call(number) for number in range(1, 5)))
    assert (await first, later) == (0, [2, 4, 6, 8])
    assert groups == [[0], [1, 2, 3, 4]]


async def test_a_call_failing_alone_fails_only_its_caller() -> None:
    async def run(calls: list[int]) -> list[int | Exception]:
        return [ValueError(call) if call == 2 else call for call in calls]

    grouped = GroupedCalls[int, int](run)
    outcomes = await asyncio.gather(*(grouped.call(n) for n in range(4)), return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [int, int, ValueError, int]


async def test_callers_are_cancelled_not_left_waiting_when_the_runner_is() -> None:
    """The round trip cancelled under the runner (as at the loop's shutdown): whoever
    waits for it or for the group after it is cancelled too, and nothing runs later."""
    started = asyncio.Event()
    round_trip: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ran: list[list[int]] = []

    async def run(calls: list[int]) -> list[int | Exception]:
        ran.append(calls)
        started.set()
        await round_trip
        return list(calls)

    grouped = GroupedCalls[int, int](run)
    first = asyncio.create_task(grouped.call(1))
    await started.wait()
    second = asyncio.create_task(grouped.call(2))  # waits for the next group
    await asyncio.sleep(0)
    round_trip.cancel()
    done, _ = await asyncio.wait({first, second}, timeout=30)
    assert done == {first, second}, "a caller was left waiting"
    for caller in (first, second):
        with pytest.raises(asyncio.CancelledError):
            caller.result()
    assert ran == [[1]]
