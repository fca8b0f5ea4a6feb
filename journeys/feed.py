"""Reading what is new in an append-only table (the event log, the orders), in id order,
each row at least once, without scanning the table: how triggers follow what is logged,
whichever process or code path logged it.

The position saved (`FeedPosition`) is a watermark: every row with an id up to it has been
handed over. Above it, the feed remembers which ids it has seen. On SQLite writes are
serial, so ids become visible in order and the watermark is the highest id seen. On
PostgreSQL a transaction may commit a lower id after a higher one is visible (ids are
taken when rows are written, not when they commit): the ids missing below the highest seen
are gaps, looked at again on every read, and the watermark passes a read's highest id only
once every transaction that was running at that read has ended (its snapshot's `xmax` is
below a later snapshot's `xmin`), when no gap below it can fill any more.

After a restart the feed starts again from the saved watermark, so rows above it may be
handed over twice: whoever reads must be idempotent (journeys' enrolments are keyed by the
row that triggered them). A new feed starts at the table's current end: history is not
replayed; it starts when the first journey is saved (`begin_feeds`), so nothing logged
after that is missed however late the runner starts.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from core.db import upsert
from core.models import Event
from crm_sync.models import Order
from journeys.models import FeedPosition

MAX_GAPS = 64  # ranges of missing ids looked at again; beyond, the oldest are merged
_SNAPSHOT = text(
    "SELECT CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text),"
    " CAST(pg_snapshot_xmax(pg_current_snapshot()) AS text)"
)
Query = Callable[[ColumnElement[bool]], Select[Any]]


class Feed:
    def __init__(self, name: str, key: InstrumentedAttribute[int]) -> None:
        self.name = name
        self._key = key
        self.watermark: int | None = None  # None: not loaded yet
        self._top = 0  # the highest id seen
        self._seen: set[int] = set()  # ids above the watermark handed over
        self._gaps: list[tuple[int, int]] = []  # ranges above the watermark not seen yet
        self._pending: list[tuple[int, int]] = []  # (top at a read, that read's xmax)

    async def read(
        self, sessionmaker: async_sessionmaker[AsyncSession], query: Query, *, limit: int
    ) -> list[tuple[Any, ...]]:
        """The rows not handed over yet, in id order, at most `limit` (the row's first
        column must be its id). `save` the position with what was done with them."""
        async with sessionmaker() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            if postgres:  # one snapshot for both statements
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            if self.watermark is None:
                await self._load(session)
            snapshot = (await session.execute(_SNAPSHOT)).one() if postgres else None
            statement = query(self._unseen()).order_by(self._key).limit(limit)
            rows = [tuple(row) for row in (await session.execute(statement)).all()]
            await session.rollback()
        fresh = [row for row in rows if row[0] not in self._seen]
        self._note([row[0] for row in rows])
        if snapshot is None:
            self.watermark = self._top
        elif len(rows) < limit:  # a full read may have left gap rows for the next
            self._advance(int(snapshot[0]), int(snapshot[1]))
        return fresh

    async def save(self, session: AsyncSession, now: datetime) -> None:
        """Stage the watermark in `session` (the caller commits it with its work)."""
        if self.watermark is not None:
            row = {"name": self.name, "position": self.watermark, "updated_at": now}
            await upsert(session, FeedPosition, [row], key=["name"])

    async def begin(self, session: AsyncSession, now: datetime) -> None:
        """Stage the position at the table's current end, unless there is one (the
        caller commits)."""
        end = int(await session.scalar(select(func.max(self._key))) or 0)
        row = {"name": self.name, "position": end, "updated_at": now}
        await upsert(session, FeedPosition, [row], key=["name"], update=())

    def forget(self) -> None:
        """Start again from the saved watermark at the next read (after a failure)."""
        self.watermark = None

    async def _load(self, session: AsyncSession) -> None:
        saved = await session.get(FeedPosition, self.name)
        if saved is None:
            position = await session.scalar(select(func.max(self._key)))
            self.watermark = int(position or 0)
        else:
            self.watermark = saved.position
        self._top, self._seen, self._gaps, self._pending = self.watermark, set(), [], []

    def _unseen(self) -> ColumnElement[bool]:
        gaps = [self._key.between(low, high) for low, high in self._gaps]
        return or_(self._key > self._top, *gaps)

    def _note(self, ids: list[int]) -> None:
        """Mark `ids` seen; the ids missing between the old top and the new become gaps."""
        self._seen.update(ids)
        self._gaps = [gap for low, high in self._gaps for gap in _without(low, high, set(ids))]
        above = sorted(each for each in ids if each > self._top)
        previous = self._top
        for each in above:
            if each > previous + 1:
                self._gaps.append((previous + 1, each - 1))
            previous = each
        self._top = max(self._top, previous)
        if len(self._gaps) > MAX_GAPS:
            oldest = self._gaps[: len(self._gaps) - MAX_GAPS + 1]
            self._gaps = [(oldest[0][0], oldest[-1][1]), *self._gaps[len(oldest) :]]
        self._gaps.sort()

    def _advance(self, xmin: int, xmax: int) -> None:
        """PostgreSQL: move the watermark past every read whose running transactions have
        all ended (none of its gaps can fill any more; this read saw what filled them)."""
        self._pending.append((self._top, xmax))
        settled = [top for top, horizon in self._pending if horizon <= xmin]
        if settled and self.watermark is not None:
            self.watermark = max(self.watermark, *settled)
        mark = self.watermark or 0
        self._pending = [(top, horizon) for top, horizon in self._pending if top > mark]
        self._seen = {each for each in self._seen if each > mark}
        self._gaps = [(max(low, mark + 1), high) for low, high in self._gaps if high > mark]


def _without(low: int, high: int, ids: set[int]) -> list[tuple[int, int]]:
    """The range low..high less `ids`, as ranges."""
    if not any(low <= each <= high for each in ids):
        return [(low, high)]
    ranges, start = [], low
    for each in sorted(each for each in ids if low <= each <= high):
        if each > start:
            ranges.append((start, each - 1))
        start = each + 1
    if start <= high:
        ranges.append((start, high))
    return ranges


def journey_feeds() -> tuple[Feed, Feed]:
    """What journeys follow: the event log, and the CRM's orders."""
    return Feed("events", Event.id), Feed("orders", Order.id)


async def begin_feeds(session: AsyncSession, now: datetime) -> None:
    """Start journeys' feeds here, unless they have started (the caller commits)."""
    for feed in journey_feeds():
        await feed.begin(session, now)
