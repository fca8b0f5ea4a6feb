"""Calls grouped into shared round trips: what concurrent callers ask for while one group is
out waits for the next, which carries them all (one transaction, one Redis pipeline).

The first caller starts a runner task; whoever calls while it runs joins the next group, up
to `limit` calls each. Each caller gets its own answer, or the error its own call or its
whole group raised. A caller that gives up waiting (cancelled) leaves its call in the group.
If the runner itself is cancelled (the loop shutting down), every caller still waiting is
cancelled with it and its call dropped, rather than left waiting for a group that never runs.
Used by the webhook inbox (`core.inbox.GroupCommit`) and the anti-flood buckets in Redis
(`bot.flood.RedisBuckets`).
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Call = TypeVar("Call")
Answer = TypeVar("Answer")
# Runs one group: an answer per call, in order, or the Exception of that call alone.
RunGroup = Callable[[list[Call]], Awaitable[Sequence[Answer | Exception]]]


class GroupedCalls(Generic[Call, Answer]):
    """Runs calls through `run`, a group at a time (see the module docstring)."""

    def __init__(self, run: RunGroup[Call, Answer], *, limit: int | None = None) -> None:
        self._run = run
        self._limit = limit
        self._waiting: list[tuple[Call, asyncio.Future[Answer]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def call(self, call: Call) -> Answer:
        """`call`'s answer, from the group that carries it."""
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((call, answer))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run_groups())
        return await answer

    async def _run_groups(self) -> None:
        group: list[tuple[Call, asyncio.Future[Answer]]] = []
        try:
            while self._waiting:
                group = self._waiting[: self._limit]
                del self._waiting[: self._limit]
                await self._run_group(group)
        finally:  # only a cancellation leaves an answer unset
            for _, answer in [*group, *self._waiting]:
                answer.cancel()
            self._waiting.clear()

    async def _run_group(self, group: list[tuple[Call, asyncio.Future[Answer]]]) -> None:
        try:
            results = await self._run([call for call, _ in group])
        except Exception as error:  # each call of the group fails with it
            for _, answer in group:
                if not answer.done():
                    answer.set_exception(error)
            return
        for (_, answer), result in zip(group, results, strict=True):
            if answer.done():
                continue
            if isinstance(result, Exception):  # this call's own error, not the others'
                answer.set_exception(result)
            else:
                answer.set_result(result)
