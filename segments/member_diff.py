"""Bringing a segment's stored members in line with its rule, one crossing one event.

Shared by the full refresh (`segments.membership`: every subscriber) and the incremental
update (`segments.incremental`: the few an event touched), so both store the same rows
and log the same `segment_entered` / `segment_left` events, and neither can log one the
other has.

The promise: a subscriber's crossing is logged once. Every writer of a segment's members
takes the segment's lock first (`lock_segment`), in the transaction that then evaluates
the rule and diffs it against the members: PostgreSQL locks the segment's row (FOR
UPDATE; the transaction is READ COMMITTED, so what it reads next includes everything
committed before it got the lock), SQLite's writers are serial (`prepare` starts the
write transaction). So whoever comes second sees the first's members and logs only what
is still different, and nothing evaluated before the lock is trusted after it.

The rule is evaluated once, into a temporary table of matches, then diffed in set-based
statements: events for those leaving, delete them; the matches not yet members into a
second temporary table, events for them, insert them. Only subscriber ids reach Python.
"""

from datetime import datetime

from sqlalchemy import (
    JSON,
    Insert,
    Select,
    Table,
    delete,
    exists,
    insert,
    literal,
    not_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.elements import ColumnElement

from core.frames import copy_records, fill_temporary, temporary_table
from core.models import Event, EventType, Subscriber
from segments.models import Segment, SegmentMember

# Per connection (session) on both databases, emptied before each use: the subscribers the
# rule selects and those of them not members yet (both emptied after, too), and the
# subscribers an update of a few is about.
_matches = temporary_table("segment_refresh_matches", "subscriber_id")
_entering = temporary_table("segment_refresh_entering", "subscriber_id")
_scope = temporary_table("segment_refresh_scope", "subscriber_id")


async def prepare(session: AsyncSession) -> None:
    """Empty staging tables for one segment. On SQLite this is the transaction's first
    write, so it starts the write transaction (BEGIN IMMEDIATE, see `core.db`) before any
    member or rule is read."""
    connection = await session.connection()
    for table in (_matches, _entering):
        await connection.execute(CreateTable(table, if_not_exists=True))
    await _empty(session, _matches, _entering)


async def lock_segment(session: AsyncSession, segment_id: int) -> Segment | None:
    """The segment as it is now, locked for the rest of the transaction (PostgreSQL;
    SQLite's write transaction is already exclusive); None if it was deleted."""
    return await session.scalar(
        select(Segment)
        .where(Segment.id == segment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# The subscribers an update is about, as `scope` staged them.
SCOPE: Select[int] = select(_scope.c.subscriber_id)


async def scope(session: AsyncSession, subscriber_ids: list[int]) -> None:
    """Stage the subscribers an update is about (read back by `SCOPE`)."""
    await fill_temporary(session, _scope, [(id_,) for id_ in subscriber_ids])


def in_scope() -> ColumnElement[bool]:
    """The `subscribers` row is one `scope` staged."""
    return Subscriber.id.in_(SCOPE)


async def collect_matches(
    session: AsyncSession, matches: ColumnElement[bool], *, everyone: bool
) -> None:
    """Stage the ids of the subscribers `matches` holds for. `everyone`: a rule over the
    whole audience, read out and copied back on PostgreSQL (see below)."""
    matching = select(Subscriber.id).where(matches)
    if not everyone or session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(_matches).from_select(["subscriber_id"], matching))
        return
    # PostgreSQL never runs the SELECT of an INSERT ... SELECT with parallel workers; a
    # plain SELECT may, and copying the ids back costs less than it saves (a rule over a
    # million subscribers on two cores: 4.0 s instead of 6.6 s).
    found = (await (await session.connection()).execute(matching)).scalars().all()
    await copy_records(session, _matches.name, ["subscriber_id"], [(id_,) for id_ in found])
    # Never auto-analysed, a temporary table is planned blind; sampling it costs little.
    await session.execute(text(f"ANALYZE {_matches.name}"))


async def apply_changes(
    session: AsyncSession, segment: Segment, now: datetime, *, scoped: bool
) -> tuple[int, int]:
    """Members who no longer match leave, matches not yet members enter, each with its
    event; how many entered and left. `scoped`: only the subscribers `scope` staged were
    evaluated, so only they may leave."""
    member = SegmentMember.segment_id == segment.id
    matching = exists().where(_matches.c.subscriber_id == SegmentMember.subscriber_id)
    gone = [member, not_(matching)]
    if scoped:
        gone.append(SegmentMember.subscriber_id.in_(SCOPE))
    leaving = select(SegmentMember.subscriber_id).where(*gone)
    # A member whose subscriber row is gone just goes: there is nobody to log it for.
    still_here = leaving.join(Subscriber, Subscriber.id == SegmentMember.subscriber_id)
    await session.execute(_events(still_here, EventType.SEGMENT_LEFT, segment, now))
    left = await session.execute(delete(SegmentMember).where(*gone))

    # Those entering are set apart first, so the inserts below read them alone (had they
    # tested membership while inserting members, PostgreSQL could plan a nested loop
    # rescanning the growing segment_members per row), and a refresh where few enter writes
    # little however many match.
    already_member = exists().where(member, SegmentMember.subscriber_id == _matches.c.subscriber_id)
    await session.execute(
        insert(_entering).from_select(
            ["subscriber_id"], select(_matches.c.subscriber_id).where(not_(already_member))
        )
    )
    entering = select(_entering.c.subscriber_id)
    await session.execute(_events(entering, EventType.SEGMENT_ENTERED, segment, now))
    entered = await add_members(session, segment, now, baseline=False)
    return entered, int(left.rowcount)  # type: ignore[attr-defined]


async def add_members(
    session: AsyncSession, segment: Segment, now: datetime, *, baseline: bool
) -> int:
    """Make members of those entering (`baseline`: of every match, the first refresh);
    how many."""
    source = _matches if baseline else _entering
    added = await session.execute(
        insert(SegmentMember).from_select(
            ["segment_id", "subscriber_id", "entered_at"],
            select(
                literal(segment.id),
                source.c.subscriber_id,
                literal(now, SegmentMember.entered_at.type),
            ),
        )
    )
    return int(added.rowcount)  # type: ignore[attr-defined]


async def clear(session: AsyncSession) -> None:
    """Empty the staging tables after use (they live as long as the pooled connection)."""
    await _empty(session, _matches, _entering)


async def _empty(session: AsyncSession, *tables: Table) -> None:
    """PostgreSQL: TRUNCATE (instant, and no dead rows left in a table autovacuum never
    visits); SQLite: DELETE."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"TRUNCATE {', '.join(table.name for table in tables)}"))
    else:
        for table in tables:
            await session.execute(delete(table))


def _events(subscribers: Select[int], kind: EventType, segment: Segment, now: datetime) -> Insert:
    payload = {"segment": segment.name, "segment_id": segment.id}
    rows = subscribers.add_columns(
        literal(kind.value),
        literal(now, Event.occurred_at.type),
        literal(payload, JSON),
    )
    return insert(Event).from_select(["subscriber_id", "type", "occurred_at", "payload"], rows)
