"""What the sender writes while it sends, in group commits: never one commit per message.

- `Marks`: "this request is about to go out" (`claims.mark_attempted`), asked for as a
  message's slot is reserved, some way ahead of it: one commit every MARK_GATHER seconds
  at most carries all asked for meanwhile. A mark is committed before its request is
  handed over. A request tried again is checked the same way, in the same batches
  (`claims.still_due`): its subscriber may have left while it waited.
- `Results`: how each message ended, by one writer, every RESULT_GATHER seconds at most:
  deliveries' statuses, subscribers found blocked, claims back in the queue, Stars of
  released paid claims given back, in one transaction.

A commit costs a couple of milliseconds of this process's time, whatever it carries: at
a thousand messages a second, two commits a message would be more than a core.

The two never write at once, nor with the sender's claims (`writing`, one lock): on
SQLite two writing connections of one process would make each other wait in the busy
handler's sleeps, milliseconds a time.

A write that fails loses nothing that matters: its deliveries stay claimed, and settling
(broadcasts/claims.py) makes the attempted ones `unknown` and queues the rest again.
"""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.claims import DELIVERIES, defer, mark_attempted, release, still_due
from broadcasts.messenger import Blocked, ChatNotFound, Rejected, Sent, TransientError
from broadcasts.models import DeliveryStatus, Run
from broadcasts.outcomes import (
    Deferred,
    Ended,
    Refused,
    Result,
    TimedOut,
    Unrenderable,
    Unsent,
)
from core.clock import Clock
from core.models import Event, EventType, Subscriber, SubscriberStatus

MESSAGES_PER_STAR = 10  # Telegram charges 0.1 Star per paid broadcast message
MARK_GATHER = 0.02  # seconds: well within how far ahead a slot is reserved
RESULT_GATHER = 0.1  # seconds: results wait this long at most to be written


class Marks:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        sender: str,
        clock: Clock,
        writing: asyncio.Lock,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._lock = writing
        self._sender = sender
        self._clock = clock
        self._waiting: list[tuple[int, bool, asyncio.Future[bool]]] = []  # id, again, answer
        self._committing: asyncio.Task[None] | None = None

    async def mark(self, delivery_id: int) -> bool:
        """Commit that this delivery's request is about to go out; False if the claim is
        no longer this sender's (settled by another meanwhile) or its subscriber has left
        since the claim: then it must not go."""
        return await self._ask(delivery_id, again=False)

    async def still_due(self, delivery_id: int) -> bool:
        """Whether a request marked before may go again: False if the claim is no longer
        this sender's or its subscriber has left meanwhile."""
        return await self._ask(delivery_id, again=True)

    async def _ask(self, delivery_id: int, *, again: bool) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery_id, again, future))
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_all())
        return await future

    async def close(self) -> None:
        """Let the commit under way end (its senders are gone: settling decides)."""
        if self._committing is not None:
            await asyncio.gather(self._committing, return_exceptions=True)

    async def _commit_all(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(MARK_GATHER)
                batch, self._waiting = self._waiting, []
                first = [delivery_id for delivery_id, again, _ in batch if not again]
                again = [delivery_id for delivery_id, again, _ in batch if again]
                sender = self._sender
                try:
                    async with self._lock, self._sessionmaker() as session:
                        may_go = set[int]()
                        if first:
                            may_go = await mark_attempted(
                                session, first, sender=sender, now=self._clock()
                            )
                        if again:
                            may_go |= await still_due(session, again, sender=sender)
                except Exception as error:  # each waiting send fails with it
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for delivery_id, _, future in batch:
                    if not future.done():
                        future.set_result(delivery_id in may_go)
        finally:
            self._committing = None


class Results:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        sender: str,
        clock: Clock,
        writing: asyncio.Lock,
        written: Callable[[list[Result]], Awaitable[None]],
        failed: Callable[[Exception], Awaitable[None]],
    ) -> None:
        self._sessionmaker = sessionmaker
        self._sender = sender
        self._clock = clock
        self._lock = writing
        self._written = written
        self._failed = failed
        self._pending: list[Result] = []
        self._writing: asyncio.Task[None] | None = None

    def add(self, result: Result) -> None:
        self._pending.append(result)
        if self._writing is None:
            self._writing = asyncio.create_task(self._write_all())

    async def close(self) -> None:
        """Write what is known now (raising what writing raises)."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
        if self._pending:
            batch, self._pending = self._pending, []
            await self._write(batch)

    async def _write_all(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(RESULT_GATHER)
                batch, self._pending = self._pending, []
                await self._write(batch)
                await self._written(batch)
        except Exception as error:
            self._pending.clear()
            await self._failed(error)
        finally:
            self._writing = None

    async def _write(self, batch: list[Result]) -> None:
        now = self._clock()
        finals: list[dict[str, object]] = []
        released: dict[tuple[int, bool, bool], list[int]] = {}  # run, paid, refused: ids
        deferred: dict[int, datetime] = {}  # by delivery id: not before when
        unpaid = Counter[int]()  # by run: paid claims back in the queue
        blocked: list[tuple[int, bool]] = []
        for result in batch:
            final = result.final
            if isinstance(final, Deferred):
                deferred[result.delivery_id] = final.until
                unpaid[result.run_id] += result.paid
                continue
            if isinstance(final, Unsent | Refused):
                key = (result.run_id, result.paid, isinstance(final, Refused))
                released.setdefault(key, []).append(result.delivery_id)
                continue
            finals.append(_row(result.delivery_id, final, now))
            if isinstance(final, Blocked):
                blocked.append((result.subscriber_id, final.deactivated))
        async with self._lock, self._sessionmaker() as session:
            if finals:
                await session.execute(_FINISH, finals)
            if deferred:
                await defer(session, deferred, sender=self._sender)
            for (run_id, paid, refused), ids in released.items():
                back = await release(session, ids, sender=self._sender, attempted=refused)
                if paid:
                    unpaid[run_id] += back
            await _give_back_stars(session, unpaid)
            if blocked:
                await _mark_blocked(session, blocked, now)
            await session.commit()


def _row(delivery_id: int, final: Ended, now: datetime) -> dict[str, object]:
    """`_FINISH`'s parameters for one delivery."""
    if isinstance(final, Sent):
        return {
            "b_id": delivery_id,
            "b_status": DeliveryStatus.SENT,
            "b_reason": None,
            "b_sent_at": now,
            "b_message_id": final.message_id,
        }
    if isinstance(final, Blocked):
        status, reason = DeliveryStatus.BLOCKED, "deactivated" if final.deactivated else "blocked"
    elif isinstance(final, Unrenderable):
        status, reason = DeliveryStatus.FAILED, final.reason
    elif isinstance(final, ChatNotFound | Rejected | TransientError):
        status, reason = DeliveryStatus.FAILED, _FAILED[type(final)]
    else:
        unanswered = "timeout" if isinstance(final, TimedOut) else "no_answer"
        status, reason = DeliveryStatus.UNKNOWN, unanswered
    return {
        "b_id": delivery_id,
        "b_status": status,
        "b_reason": reason,
        "b_sent_at": None,
        "b_message_id": None,
    }


# One statement for every final status, run as one executemany (cheaper than the ORM's).
_FINISH = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        reason=bindparam("b_reason"),
        sent_at=bindparam("b_sent_at"),
        message_id=bindparam("b_message_id"),
    )
)
_FAILED = {ChatNotFound: "chat_not_found", Rejected: "rejected", TransientError: "server_error"}


async def _give_back_stars(session: AsyncSession, released: Counter[int]) -> None:
    """Paid claims that went back to the queue unsent: their whole Stars are the run's
    again. Rounding down keeps the promise of the reservation (the budget is never
    exceeded): each claim reserved its count rounded up."""
    for run_id, messages in released.items():
        stars = messages // MESSAGES_PER_STAR
        if stars:
            await session.execute(
                update(Run).where(Run.id == run_id).values(stars_spent=Run.stars_spent - stars)
            )


async def _mark_blocked(
    session: AsyncSession, blocked: list[tuple[int, bool]], now: datetime
) -> None:
    """A 403 says as much as my_chat_member would: the subscriber is blocked (or gone)."""
    for deactivated in (False, True):
        ids = [subscriber for subscriber, gone in blocked if gone is deactivated]
        if not ids:
            continue
        status = SubscriberStatus.DEACTIVATED if deactivated else SubscriberStatus.BLOCKED
        kind = EventType.DEACTIVATED if deactivated else EventType.BLOCKED
        changed = await session.scalars(
            update(Subscriber)
            .where(Subscriber.id.in_(ids), Subscriber.status == SubscriberStatus.ACTIVE)
            .values(status=status)
            .returning(Subscriber.id)
        )
        events: list[dict[str, object]] = [
            {"subscriber_id": sid, "type": kind.value, "occurred_at": now, "payload": {}}
            for sid in changed.all()
        ]
        if events:
            await session.execute(insert(Event), events)
