"""The outbox's claim protocol, in SQL: how several senders share deliveries, and what a
stopped one leaves behind, without anyone ever getting a message twice.

A delivery goes `queued` -> `sending`, claimed by one sender (`claimed_by`, a per-process
id) -> attempted (`attempted_at` committed right before its request is handed over) -> a
final status. A claim never attempted has certainly not left: it may go back to the
queue. An attempted one may have arrived: if its sender stops before recording the
answer, it becomes `unknown` ("interrupted") and is never resent.

Every write is guarded by who holds the claim: a sender taken for dead, whose claims were
settled meanwhile, can neither mark nor requeue what is no longer its own, so it cannot
send something that was given to another sender.

Senders beat: `broadcast_senders` holds each running sender's last heartbeat (every
BEAT_SECONDS). The claims of a sender whose beat is older than STALE_AFTER (or that has
none) are settled by any other sender.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, DeliveryStatus, Run, RunStatus, SenderBeat
from core.clock import Clock
from core.db import upsert
from core.id_lists import among, id_list
from core.models import Subscriber, SubscriberStatus

BEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=30)
INTERRUPTED = "interrupted"  # the reason of an attempted delivery whose sender stopped


@dataclass(frozen=True, slots=True)
class Settled:
    unknown: int  # attempted, unanswered: may have arrived, never resent
    requeued: int  # claimed, never attempted: back in the queue

    def __bool__(self) -> bool:
        return bool(self.unknown or self.requeued)


@dataclass(frozen=True, slots=True)
class Claimed:
    ids: list[int]  # now `sending`, the sender's
    excluded: int  # found gone meanwhile, and excluded


async def claim(
    session: AsyncSession, *, run_id: int, limit: int, sender: str, now: datetime
) -> Claimed:
    """Mark up to `limit` due deliveries of the run `sending` by `sender`, in id order
    (the caller commits). Rows locked by another sender's claim are skipped. Those of
    subscribers who have left since the run was planned (unsubscribed, blocked the bot,
    deleted their account) are excluded instead, as the planner would have."""
    ids: list[int] = []
    gone: dict[SubscriberStatus, list[int]] = {}
    due = await session.execute(_DUE, {"run_id": run_id, "now": now, "limit": limit})
    for delivery_id, status in due.all():
        if status is SubscriberStatus.ACTIVE:
            ids.append(delivery_id)
        else:
            gone.setdefault(status, []).append(delivery_id)
    for status, left in gone.items():
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(left), Delivery.status == DeliveryStatus.QUEUED)
            .values(status=DeliveryStatus.EXCLUDED, reason=status.value)
        )
    excluded = sum(len(left) for left in gone.values())
    if not ids:
        return Claimed([], excluded)
    claimed = await session.scalars(_CLAIM, {"ids": ids, "now": now, "sender": sender})
    return Claimed(sorted(claimed.all()), excluded)


async def mark_attempted(
    session: AsyncSession, ids: list[int], *, sender: str, now: datetime
) -> set[int]:
    """Record that these requests are about to go out; commits. Returns the ids that are
    still `sender`'s unattempted claims, of subscribers still active: only those may be
    sent (the others go back to the queue, where the next claim excludes who left)."""
    marked = await session.execute(_MARK, {"ids": ids, "sender": sender, "now": now})
    result = set(marked.scalars().all())
    await session.commit()
    return result


async def still_due(session: AsyncSession, ids: list[int], *, sender: str) -> set[int]:
    """Of these attempted requests, those that may be tried again (after a 429 or a 5xx):
    still `sender`'s claims, of subscribers still active. Who left while theirs waited to
    be tried again is not sent to (it goes back to the queue, where the claim excludes it)."""
    due = await session.execute(_STILL_DUE, {"ids": ids, "sender": sender})
    return set(due.scalars().all())


async def release(
    session: AsyncSession, ids: list[int], *, sender: str, attempted: bool = False
) -> int:
    """Put `sender`'s claims back in the queue (the caller commits); how many went back.
    Unattempted ones only, unless `attempted`: requests the platform refused unsent (429)."""
    statement = _RELEASE_REFUSED if attempted else _RELEASE_UNSENT
    result = await session.execute(statement, {"ids": ids, "sender": sender})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def defer(session: AsyncSession, until: dict[int, datetime], *, sender: str) -> None:
    """Put `sender`'s unattempted claims back in the queue, each not before its time in
    `until` (by delivery id); the caller commits."""
    rows = [{"b_id": id_, "b_until": moment, "sender": sender} for id_, moment in until.items()]
    await session.execute(_DEFER, rows)


def of_sender(sender: str) -> ColumnElement[bool]:
    """The claims of one sender."""
    return Delivery.claimed_by == sender


def of_stopped_senders(now: datetime, *, but: str) -> ColumnElement[bool]:
    """Claims whose sender has not beaten for STALE_AFTER (or never did), `but`'s aside."""
    alive = select(SenderBeat.id).where(_beating(now))
    return or_(
        Delivery.claimed_by.is_(None),
        and_(Delivery.claimed_by != but, Delivery.claimed_by.not_in(alive)),
    )


async def live_senders(session: AsyncSession, *, now: datetime) -> int:
    """How many senders have beaten within STALE_AFTER: while one has, it sends every
    run that is sending (`segbot campaign send-now` leaves a run to it)."""
    return int(await session.scalar(select(func.count()).where(_beating(now))) or 0)


def _beating(now: datetime) -> ColumnElement[bool]:
    return SenderBeat.beat_at >= now - STALE_AFTER


async def settle(session: AsyncSession, claims: ColumnElement[bool]) -> Settled:
    """The `sending` deliveries `claims` selects, whose sender is no longer at work on
    them: attempted ones (and those claimed by no known sender: made before this
    protocol, or by hand) -> `unknown` ("interrupted"); the others -> queued; commits.
    Requeueing goes first, so a claim marked attempted in between is caught as unknown."""
    # Inline, not a parameter: so the partial index of the claims in flight serves it.
    sending = Delivery.status == literal(DeliveryStatus.SENDING.value, literal_execute=True)
    never_left = Delivery.attempted_at.is_(None) & Delivery.claimed_by.is_not(None)
    requeued = await session.execute(
        update(Delivery)
        .where(sending, never_left, claims)
        .values(**_QUEUED_AGAIN)
        .execution_options(synchronize_session=False)
    )
    unknown = await session.execute(
        update(Delivery)
        .where(sending, ~never_left, claims)
        .values(status=DeliveryStatus.UNKNOWN, reason=INTERRUPTED)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return Settled(int(unknown.rowcount), int(requeued.rowcount))  # type: ignore[attr-defined]


async def beat(session: AsyncSession, *, sender: str, clock: Clock) -> datetime:
    """`sender` is alive; commits; returns the beat's time. The time is read once the
    database lets the beat in: on SQLite a write first waits for the write lock (up to
    30 s behind a long import), and a beat timed before that wait would be stale when it
    lands, so others would take the sender for stopped and settle its claims."""
    await session.execute(delete(SenderBeat).where(SenderBeat.id == sender))  # in: locked
    now = clock()
    await upsert(session, SenderBeat, [{"id": sender, "beat_at": now}], key=["id"])
    await session.commit()
    return now


async def forget_stopped(session: AsyncSession, *, now: datetime) -> None:
    """Drop the beats of senders stopped long enough for their claims to be settled
    (call after settling them); commits."""
    await session.execute(delete(SenderBeat).where(SenderBeat.beat_at < now - STALE_AFTER))
    await session.commit()


async def forget(session: AsyncSession, *, sender: str) -> None:
    """`sender` stopped, its claims settled; commits."""
    await session.execute(delete(SenderBeat).where(SenderBeat.id == sender))
    await session.commit()


# Back in the queue; in a run cancelled meanwhile, cancelled like the rest of its queue.
_QUEUED_AGAIN = {
    "status": case(
        (
            Delivery.run_id.in_(select(Run.id).where(Run.status == RunStatus.CANCELLED)),
            DeliveryStatus.CANCELLED.value,
        ),
        else_=DeliveryStatus.QUEUED.value,
    ),
    "claimed_at": None,
    "claimed_by": None,
    "attempted_at": None,
}

# The statements a sender runs many times a second: Core, prepared once, on the table.
DELIVERIES = cast("Table", Delivery.__table__)
_COLUMNS = DELIVERIES.c
_CLAIMS_GIVEN = (
    among(_COLUMNS.id, id_list("ids")),
    _COLUMNS.status == DeliveryStatus.SENDING,
    _COLUMNS.claimed_by == bindparam("sender"),
)
_UNATTEMPTED = _COLUMNS.attempted_at.is_(None)
_DUE = (
    select(_COLUMNS.id, Subscriber.status)
    .join(Subscriber, Subscriber.id == _COLUMNS.subscriber_id)
    .where(
        _COLUMNS.run_id == bindparam("run_id"),
        _COLUMNS.status == DeliveryStatus.QUEUED,
        _COLUMNS.not_before.is_(None) | (_COLUMNS.not_before <= bindparam("now")),
    )
    .order_by(_COLUMNS.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True, of=DELIVERIES)
)
_CLAIM = (
    update(DELIVERIES)
    .where(
        among(_COLUMNS.id, id_list("ids")),
        _COLUMNS.status == DeliveryStatus.QUEUED,
    )
    .values(
        status=DeliveryStatus.SENDING,
        claimed_at=bindparam("now"),
        claimed_by=bindparam("sender"),
        attempted_at=None,
    )
    .returning(_COLUMNS.id)
)
# Their subscriber is still there to message: who left since the claim is not sent to.
_STILL_ACTIVE = (
    select(Subscriber.id)
    .where(Subscriber.id == _COLUMNS.subscriber_id, Subscriber.status == SubscriberStatus.ACTIVE)
    .exists()
)
_MARK = (
    update(DELIVERIES)
    .where(*_CLAIMS_GIVEN, _UNATTEMPTED, _STILL_ACTIVE)
    .values(attempted_at=bindparam("now"))
    .returning(_COLUMNS.id)
)
_STILL_DUE = select(_COLUMNS.id).where(*_CLAIMS_GIVEN, _STILL_ACTIVE)
_RELEASE_UNSENT = update(DELIVERIES).where(*_CLAIMS_GIVEN, _UNATTEMPTED).values(_QUEUED_AGAIN)
_RELEASE_REFUSED = update(DELIVERIES).where(*_CLAIMS_GIVEN).values(_QUEUED_AGAIN)
_DEFER = (
    update(DELIVERIES)
    .where(
        _COLUMNS.id == bindparam("b_id"),
        _COLUMNS.status == DeliveryStatus.SENDING,
        _COLUMNS.claimed_by == bindparam("sender"),
        _UNATTEMPTED,
    )
    .values({**_QUEUED_AGAIN, "not_before": bindparam("b_until")})
)
