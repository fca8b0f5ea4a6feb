"""The sender's pipeline, in one process: claimed messages in, results written out.

Claimed messages wait in a pool. A dispatcher starts each on its way as a task of its
own (broadcasts/attempts.py) when one of `in_flight` permits is free and fewer than
`ahead` messages wait for a slot; a slow or hung request holds only its own permit,
until the send timeout. Results go to one writer in group commits
(broadcasts/recorder.py). A watcher reads the statuses of the runs in the pipeline every
STATUS_SECONDS (and flushes the fault log's counts): the pooled messages of a run no
longer sending go back to the queue unsent, and a message whose run stopped while it
waited for its slot does not go. Dispatcher and watcher run while anything is claimed.

If the database or the messenger fails, the pipeline stops taking work and every wait on
it raises that error. `close` sends nothing more, gives the requests out a grace period
to be answered, abandons the rest and writes what is known.
"""

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.attempts import AttemptRules, Attempts, Pending
from broadcasts.fault_log import FaultLog
from broadcasts.messenger import Messenger
from broadcasts.models import Run, RunStatus
from broadcasts.outcomes import Final, Result, Unsent
from broadcasts.pacing import RateBudget
from broadcasts.recorder import Marks, Results
from core.clock import Clock

STATUS_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Bounds:
    claim: int  # deliveries claimed at once, free lane
    paid_claim: int  # paid lane (0: none)
    ahead: int  # messages waiting for a slot at once
    in_flight: int  # messages on their way at once (waiting for a slot, or out)


class Pipeline:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        messenger: Messenger,
        budget: RateBudget,
        rules: AttemptRules,
        *,
        sender: str,
        bounds: Bounds,
        faults: FaultLog,
        clock: Clock,
        writing: asyncio.Lock,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._faults = faults
        self._pool: deque[Pending] = deque()  # claimed, not yet on their way
        self._pooled = Counter[bool]()  # by lane: paid or not
        self._outstanding = Counter[int]()  # claimed, result not yet written, by run
        self._statuses: dict[int, RunStatus | None] = {}  # as last read
        self._changed = asyncio.Condition()
        self._failure: Exception | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # each message's
        self._closing = False
        self._bounds = bounds
        self._flying = asyncio.Semaphore(bounds.in_flight)
        self._ahead = asyncio.Semaphore(bounds.ahead)
        self._marks = Marks(sessionmaker, sender=sender, clock=clock, writing=writing)
        self._results = Results(
            sessionmaker, sender=sender, clock=clock, writing=writing,
            written=self._written, failed=self._fail,
        )  # fmt: skip
        self._attempts = Attempts(
            messenger, budget, self._marks, rules,
            ahead=self._ahead, sending=self._sending, faults=faults, clock=clock,
        )  # fmt: skip

    def outstanding(self, run_id: int) -> int:
        """The run's messages claimed whose results are not written yet."""
        return self._outstanding[run_id]

    def has_room(self) -> bool:
        """Whether the pool holds at most one claim, in each lane: time to claim the next,
        which then has a claim's sending to arrive in (at a thousand a second, claiming
        and loading 500 recipients takes a few hundred milliseconds)."""
        bounds = self._bounds
        return self._pooled[False] <= bounds.claim and self._pooled[True] <= bounds.paid_claim

    async def add(self, run_id: int, claimed: list[Pending]) -> None:
        # Started, or started again if they stopped when the pipeline was empty.
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())
        self._statuses[run_id] = RunStatus.SENDING  # read just now, by the claim
        self._pool.extend(claimed)
        for pending in claimed:
            self._pooled[pending.paid] += 1
        self._outstanding[run_id] += len(claimed)
        await self._notify()

    async def stopped(self, run_id: int, status: RunStatus | None) -> None:
        """The run was found no longer sending (None: gone)."""
        self._statuses[run_id] = status
        await self._release_stopped()

    async def until(self, ready: Callable[[], bool]) -> None:
        """Wait until `ready()` holds; raise what broke the pipeline, if anything did."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._failure is not None or ready())
        if self._failure is not None:
            raise self._failure

    async def drain(self, run_id: int) -> None:
        """Wait until every message of the run has its result written."""
        await self.until(lambda: not self._outstanding[run_id])
        self._faults.flush(everything=True)

    async def close(self, *, grace: float) -> None:
        """Send nothing more; wait up to `grace` seconds for the answers to requests out,
        abandon the rest; write the results known (raising what writing raises). What is
        left claimed is for settling to decide."""
        self._closing = True
        machinery = [task for task in (self._dispatcher, self._watcher) if task is not None]
        for task in machinery:
            task.cancel()
        await asyncio.gather(*machinery, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        running = list(self._tasks)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self._faults.flush(everything=True)
        await self._marks.close()
        await self._results.close()

    async def _dispatch(self) -> None:
        """Start each pooled message on its way when it may be in flight and wait for a
        slot (its `ahead` permit goes with it), until the pipeline is empty."""
        while True:
            await self._flying.acquire()
            await self._ahead.acquire()
            if not self._pool:
                async with self._changed:
                    await self._changed.wait_for(lambda: bool(self._pool) or self._idle())
            if not self._pool:
                self._flying.release()
                self._ahead.release()
                return
            had_room = self.has_room()
            pending = self._pool.popleft()
            self._pooled[pending.paid] -= 1
            if not had_room and self.has_room():  # a claim may be waiting for it
                await self._notify()
            task = asyncio.create_task(self._send(pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, pending: Pending) -> None:
        try:
            final = await self._attempts.send(pending)
        except Exception as error:  # the database or the messenger broke
            await self._fail(error)
            return
        finally:
            self._flying.release()
        self._record(pending, final)

    async def _watch(self) -> None:
        try:
            while not self._idle():
                await asyncio.sleep(STATUS_SECONDS)
                self._faults.flush()
                runs = [run_id for run_id, count in self._outstanding.items() if count]
                if runs:
                    async with self._sessionmaker() as session:
                        rows = await session.execute(
                            select(Run.id, Run.status).where(Run.id.in_(runs))
                        )
                    statuses = dict(rows.all())
                    for run_id in runs:
                        self._statuses[run_id] = statuses.get(run_id)
                    await self._release_stopped()
        except Exception as error:
            await self._fail(error)

    async def _release_stopped(self) -> None:
        """Pooled messages of runs no longer sending go back to the queue, unsent."""
        if all(self._sending(pending.run_id) for pending in self._pool):
            return
        keep: deque[Pending] = deque()
        for pending in self._pool:
            if self._sending(pending.run_id):
                keep.append(pending)
            else:
                self._pooled[pending.paid] -= 1
                self._record(pending, Unsent())
        self._pool = keep
        await self._notify()

    def _record(self, pending: Pending, final: Final) -> None:
        to = pending.recipient
        self._results.add(
            Result(to.delivery_id, to.subscriber_id, pending.run_id, pending.paid, final)
        )

    def _idle(self) -> bool:
        return not any(self._outstanding.values())

    def _sending(self, run_id: int) -> bool:
        return not self._closing and self._statuses.get(run_id) is RunStatus.SENDING

    async def _written(self, results: list[Result]) -> None:
        for result in results:
            self._outstanding[result.run_id] -= 1
        await self._notify()

    async def _fail(self, error: Exception) -> None:
        if self._failure is None:
            self._failure = error
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
