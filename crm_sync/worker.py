"""The sync worker: runs one connector, batch by batch, and records the run.

`run_sync` is the service boundary and the one place that commits. Before anything is
stored the connector checks what it can (every file's columns), so a source read with the
wrong columns fails the run having changed nothing. Each batch commits with its cursor,
so a crash loses at most the batch in flight and the next run resumes after the last
stored one; stored rows read again come back "unchanged", never twice. A run that fails
part way keeps the batches it stored, and its summary says which (`SyncSummary.kept`).
A stream into a table holding no row (a first import) fills it with the table's
secondary indexes set aside, and puts them back when it ends (`crm_sync.bulk_load`); on
PostgreSQL a run that wrote much of a table vacuums it once recorded (`crm_sync.vacuum`).

At most one run per connector at a time, across processes, and no run stays "running"
after its process died: a run holds its connector's lock (`crm_sync.run_lock`), which
ends with the process. The next run takes the lock, marks a run left "running" abandoned,
and goes on; while the lock is held, a new run is refused with the live run's progress.
Every write of a run requires it to be still running, so a run whose lock was lost (its
database connection ended) and that another process took over stops at its next batch.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utcnow
from core.db import analyze_if_due, one_connection, upsert
from core.errors import NotPossibleError, SegbotError
from crm_sync.bulk_load import filling, restore
from crm_sync.connectors.base import Batch, Connector, Cursor
from crm_sync.facts import follow_order_changes, refresh_facts_since
from crm_sync.fields import Stream
from crm_sync.matching import MatchOutcome, erase_late_links, rematch
from crm_sync.models import (
    Customer,
    Order,
    RejectedRow,
    SubscriberPurchases,
    SyncCursor,
    SyncRun,
)
from crm_sync.records import ID_LENGTH, Rejection, repeat_reason
from crm_sync.run_lock import Lock, connector_lock
from crm_sync.staging import bulk_writes
from crm_sync.store import CUSTOMERS, ORDERS, WriteCounts, store_customers, store_orders
from crm_sync.vacuum import vacuum_if_due

logger = logging.getLogger(__name__)

REASON_LENGTH = 255
STREAM_TABLES: dict[Stream, Table] = {"customers": CUSTOMERS, "orders": ORDERS}


class SyncAlreadyRunningError(NotPossibleError):
    """Another run of the same connector has not finished."""


class SyncRunLostError(SegbotError):
    """The run was marked abandoned by another process while it went on: it lost its lock."""


@dataclass(slots=True)
class StreamCounts:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0  # rows left out
    fields_dropped: int = 0  # values left out of rows stored without them
    stub_customers: int = 0
    refunds: int = 0  # orders stored that are refunds: never counted as purchases
    ignored_columns: list[str] = field(default_factory=list)  # source columns not read
    complete: bool = False  # the whole stream was read and stored


@dataclass(frozen=True, slots=True)
class SyncSummary:
    run_id: int
    connector: str
    status: str  # succeeded or failed
    streams: dict[str, StreamCounts]
    error: str | None = None
    matching: MatchOutcome | None = None

    def total(self, name: str) -> int:
        return sum(int(getattr(counts, name)) for counts in self.streams.values())

    def kept(self) -> str | None:
        """What the run stored, stream by stream (None: nothing); for a failed run, exactly
        what stays."""
        parts = []
        for stream, counts in self.streams.items():
            written = counts.inserted + counts.updated + counts.unchanged
            if not written:
                continue
            how = "complete" if counts.complete else "up to where it stopped"
            parts.append(
                f"{stream}: {counts.inserted} inserted, {counts.updated} updated, "
                f"{counts.unchanged} unchanged ({how})"
            )
        return "; ".join(parts) or None


SyncedHook = Callable[[SyncSummary], Awaitable[None]]
Progress = Callable[[Batch], None]


async def no_hook(summary: SyncSummary) -> None:
    """The default after-sync hook: nothing (segmentation plugs RFM rescoring in here)."""


@dataclass(slots=True)
class _Run:
    id: int
    connector: str
    full: bool
    cursors: dict[str, Cursor]
    create_customers: bool = False
    # When the first batch whose purchase facts were left to `_finish` was stored.
    facts_pending_since: datetime | None = None
    streams: dict[str, StreamCounts] = field(default_factory=dict)
    # The orders rejected as they were stored: id -> the rejection (its row, its reason).
    orders_not_stored: dict[str, Rejection] = field(default_factory=dict)


async def run_sync(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    connector: Connector,
    trigger: str = "manual",
    full: bool = False,
    on_synced: SyncedHook = no_hook,
    clock: Clock = utcnow,
    progress: Progress | None = None,
    create_customers: bool = False,
) -> SyncSummary:
    """Sync `connector` from its cursors (`full`: from the beginning) and record the run.

    An order naming a customer the source does not have is rejected, unless
    `create_customers` creates that customer bare. A failing source fails the run with its
    reason (told in the summary; the caller reports it) and leaves the cursors at the
    last stored batch. Purchase facts follow each batch that changed stored orders; after
    a successful run, the facts of new orders and identity links are brought up to date
    and `on_synced` is called. Raises SyncAlreadyRunningError if the connector is busy.
    """
    async with connector_lock(sessionmaker, connector.name) as lock:
        if lock is Lock.BUSY:
            raise SyncAlreadyRunningError(await _busy(sessionmaker, connector.name))
        abandon = lock is Lock.HELD
        run = await _start(sessionmaker, connector.name, trigger, full, clock, abandon=abandon)
        run.create_customers = create_customers
        summary = await _sync(sessionmaker, connector, run, clock, progress)
    if summary.status == "succeeded":
        try:
            await on_synced(summary)
        except Exception:  # the sync itself is done and recorded; the hook's failure is its own
            logger.exception("the after-sync hook failed for crm sync %s", connector.name)
    return summary


async def _sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    connector: Connector,
    run: _Run,
    clock: Clock,
    progress: Progress | None,
) -> SyncSummary:
    try:
        await connector.check()
        # One session on one connection for the whole run (its settings and staging
        # tables live on the connection); every batch commits on its own.
        async with one_connection(sessionmaker) as session, bulk_writes(session):
            # What a run that died in a first import left set aside, put back first.
            await restore(session, STREAM_TABLES.values())
            for stream in connector.streams:
                run.streams.setdefault(stream, StreamCounts())
                async with filling(session, STREAM_TABLES[stream]):
                    async for batch in connector.batches(stream, run.cursors.get(stream)):
                        await _store_batch(session, run, batch, clock)
                        if progress is not None:
                            progress(batch)
                run.streams[stream].complete = True
            matching = await _finish(session, run, clock)
            await _vacuum(session, run)
    except asyncio.CancelledError:
        await _fail(sessionmaker, run, "cancelled (segbot stopped)", clock)
        raise
    except Exception as error:  # recorded on the run; anything unexpected is raised again
        reason = _reason(error)
        await _fail(sessionmaker, run, reason, clock)
        if not isinstance(error, SegbotError | DBAPIError | OSError):
            raise
        return SyncSummary(run.id, connector.name, "failed", run.streams, error=reason)
    return SyncSummary(run.id, connector.name, "succeeded", run.streams, matching=matching)


async def _busy(sessionmaker: async_sessionmaker[AsyncSession], connector: str) -> str:
    """Why a run of `connector` is refused: the live run, and how far it got."""
    async with sessionmaker() as session:
        live = await session.scalar(
            select(SyncRun).where(SyncRun.connector == connector, SyncRun.status == "running")
        )
    if live is None:
        return f"connector {connector!r} is already syncing; try again when that run ends"
    rows = "1 row" if live.read_count == 1 else f"{live.read_count} rows"
    return (
        f"connector {connector!r} is already syncing: run #{live.id}, started "
        f"{live.started_at:%Y-%m-%d %H:%M} UTC, {rows} read by "
        f"{live.heartbeat_at:%H:%M:%S} UTC; try again when it ends"
    )


async def _start(
    sessionmaker: async_sessionmaker[AsyncSession],
    connector: str,
    trigger: str,
    full: bool,
    clock: Clock,
    *,
    abandon: bool,
) -> _Run:
    """Record a new running run; `abandon` (the connector's lock is held) first marks a
    run still marked running abandoned: it lost its process."""
    async with sessionmaker() as session:
        now = clock()
        if abandon:
            await session.execute(
                update(SyncRun)
                .where(SyncRun.connector == connector, SyncRun.status == "running")
                .values(
                    status="abandoned",
                    finished_at=now,
                    error="its process ended before the run did",
                )
            )
        stored = await session.scalars(select(SyncCursor).where(SyncCursor.connector == connector))
        cursors: dict[str, Cursor] = {} if full else {c.stream: c.value for c in stored}
        run = SyncRun(
            connector=connector,
            trigger=trigger,
            status="running",
            started_at=now,
            heartbeat_at=now,
            read_count=0,
            inserted_count=0,
            updated_count=0,
            unchanged_count=0,
            rejected_count=0,
            details={"full": full},
            cursor_before=cursors,
            cursor_after=cursors,
        )
        session.add(run)
        try:
            await session.commit()
        except IntegrityError:  # a process that runs syncs without taking the lock
            await session.rollback()
            raise SyncAlreadyRunningError(
                f"connector {connector!r} is already syncing; try again when that run ends"
            ) from None
        return _Run(id=run.id, connector=connector, full=full, cursors=dict(cursors))


async def _store_batch(session: AsyncSession, run: _Run, batch: Batch, clock: Clock) -> None:
    """Store one batch, its rejections, its cursor and the run's counts; commit them as one."""
    now = clock()
    rejected = batch.rejected
    if batch.stream == "customers":
        counts = await store_customers(
            session, source=run.connector, records=batch.records, now=now
        )
    else:
        writes = await store_orders(
            session,
            source=run.connector,
            records=batch.records,
            now=now,
            create_customers=run.create_customers,
        )
        counts = writes.counts
        if writes.matched:  # the facts follow the changes in this batch's commit
            await follow_order_changes(session)
        elif counts.inserted and run.facts_pending_since is None:
            run.facts_pending_since = now  # new orders only: left to `_finish`
        run.orders_not_stored |= {r.external_id: r for r in writes.rejected if r.external_id}
        rejected = [_repeat_of_not_stored(rejection, run) for rejection in rejected]
        rejected = sorted([*rejected, *writes.rejected], key=lambda r: r.row_number or 0)
    if rejected:
        await session.execute(
            insert(RejectedRow),
            [
                {
                    "run_id": run.id,
                    "kind": batch.stream,
                    "row_number": rejection.row_number,
                    # Cut to fit: an id too long is one of the reasons to reject a row.
                    "external_id": (rejection.external_id or "")[:ID_LENGTH] or None,
                    "raw": rejection.raw,
                    "reason": rejection.reason[:REASON_LENGTH],
                    "field": rejection.field,
                }
                for rejection in rejected
            ],
        )
    await upsert(
        session,
        SyncCursor,
        [
            {
                "connector": run.connector,
                "stream": batch.stream,
                "value": batch.cursor,
                "updated_at": now,
            }
        ],
        key=("connector", "stream"),
    )
    run.cursors[batch.stream] = batch.cursor
    _count(run, batch, rejected, counts)
    await _update_run(session, run, **_progress(run, now))
    await session.commit()


def _repeat_of_not_stored(rejection: Rejection, run: _Run) -> Rejection:
    """`rejection`, or, when it repeats the id of an order rejected as it was stored (the
    first row of an id is checked as it is stored), the same saying why that one was."""
    first = run.orders_not_stored.get(rejection.external_id or "")
    if first is None or first.row_number is None:
        return rejection
    if rejection.reason != repeat_reason("order", first.row_number):
        return rejection
    told = repeat_reason("order", first.row_number, why_first_is_not_kept=first.reason)
    return replace(rejection, reason=told)


async def _finish(session: AsyncSession, run: _Run, clock: Clock) -> MatchOutcome:
    """Purchase facts for the orders whose batches left them here (this run's, and every
    order stored by earlier runs since the last that finished), then identity matching,
    then fresh planner statistics for the tables the run changed much (PostgreSQL); the
    run is marked succeeded in the same commit."""
    history = await session.execute(
        select(SyncRun.id, SyncRun.started_at, SyncRun.details)
        .where(SyncRun.connector == run.connector, SyncRun.id < run.id)
        .order_by(SyncRun.id.desc())
        .limit(1000)
    )
    since = run.facts_pending_since
    for row in history:
        if row.details.get("facts_refreshed"):
            break
        since = row.started_at if since is None else min(since, row.started_at)
    if since is not None:
        await refresh_facts_since(session, source=run.connector, since=since)
    matching = await rematch(session, source=run.connector, clock=clock)
    await analyze_if_due(session, _written(run))
    now = clock()
    values = _progress(run, now, facts_refreshed=True, matching=asdict(matching))
    await _update_run(session, run, status="succeeded", finished_at=now, **values)
    await session.commit()
    await erase_late_links(session)
    return matching


async def _vacuum(session: AsyncSession, run: _Run) -> None:
    """Vacuum the tables the run wrote much of (PostgreSQL). The run is recorded as
    succeeded already: a failure here is logged, and autovacuum is left to it."""
    try:
        await vacuum_if_due(session, _written(run))
    except DBAPIError:
        logger.exception("could not vacuum after crm sync %s", run.connector)
        await session.rollback()


async def _update_run(session: AsyncSession, run: _Run, **values: object) -> None:
    """Write the run's row, if it is still running; else it was taken over: stop."""
    result = await session.execute(
        update(SyncRun).where(SyncRun.id == run.id, SyncRun.status == "running").values(**values)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise SyncRunLostError(
            f"run #{run.id} was marked abandoned by another process while it went on "
            "(its lock ended with the database connection that held it); it stops here"
        )


async def _fail(
    sessionmaker: async_sessionmaker[AsyncSession], run: _Run, reason: str, clock: Clock
) -> None:
    async with sessionmaker() as session:
        now = clock()
        await session.execute(
            update(SyncRun)
            .where(SyncRun.id == run.id, SyncRun.status == "running")  # not one taken over
            .values(status="failed", finished_at=now, error=reason, **_progress(run, now))
        )
        await session.commit()


def _count(run: _Run, batch: Batch, rejected: list[Rejection], counts: WriteCounts) -> None:
    totals = run.streams.setdefault(batch.stream, StreamCounts())
    totals.read += batch.read
    totals.inserted += counts.inserted
    totals.updated += counts.updated
    totals.unchanged += counts.unchanged
    dropped = sum(1 for rejection in rejected if rejection.field is not None)
    totals.rejected += len(rejected) - dropped
    totals.fields_dropped += dropped
    totals.stub_customers += counts.stub_customers
    totals.refunds += counts.refunds
    totals.ignored_columns += [c for c in batch.ignored_columns if c not in totals.ignored_columns]


def _written(run: _Run) -> dict[str, int]:
    """About how many rows of each table the run changed, for `analyze_if_due`: purchase
    facts, on customers and summed per subscriber, move with every order written."""
    customers = run.streams.get("customers", StreamCounts())
    orders = run.streams.get("orders", StreamCounts())
    orders_written = orders.inserted + orders.updated
    facts = customers.inserted + customers.updated + orders.stub_customers + orders_written
    return {
        Order.__tablename__: orders_written,
        Customer.__tablename__: facts,
        SubscriberPurchases.__tablename__: facts,
    }


def _progress(run: _Run, now: datetime, **details: object) -> dict[str, object]:
    """The run's columns as they stand: counts, cursors, heartbeat."""
    counts = list(run.streams.values())
    return {
        "heartbeat_at": now,
        "read_count": sum(c.read for c in counts),
        "inserted_count": sum(c.inserted for c in counts),
        "updated_count": sum(c.updated for c in counts),
        "unchanged_count": sum(c.unchanged for c in counts),
        "rejected_count": sum(c.rejected for c in counts),
        "details": {
            "full": run.full,
            **{name: asdict(c) for name, c in run.streams.items()},
            **details,
        },
        "cursor_after": dict(run.cursors),
    }


def _reason(error: BaseException) -> str:
    """One line fit for an operator: no SQL, no parameters (they may hold personal data)."""
    if isinstance(error, DBAPIError):
        original = error.orig if error.orig is not None else error
        first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
        return f"database error: {type(original).__name__}: {first_line}"[:500]
    if isinstance(error, SegbotError):
        return str(error)[:500]
    return f"{type(error).__name__}: {error}"[:500]
