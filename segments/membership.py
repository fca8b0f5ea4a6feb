"""Live membership: each saved segment's members materialised, refreshed on demand or on a
schedule. Entering and leaving are `segment_entered` / `segment_left` events, and every
refresh records the segment's size.

A segment's first refresh sets its baseline: the members are stored (with `entered_at`)
and the size history counts them as entered, but no per-member events are logged, since
nobody crossed into the segment; they were in it when it was made. (A later feature that
messages people on entering must not greet a whole new segment of existing people, and a
segment of a million would write a million events.) Every later refresh, a new version
of the rule included, logs each entry and exit.

A refresh evaluates the rule once and diffs its matches against the stored members in
the database (`segments.member_diff`): on PostgreSQL one statement per segment, on
SQLite a few set-based ones over a temporary table of the matches. No subscriber id
reaches Python, and the size is the number of matches, not counted again. Each segment's
refresh is one transaction holding the segment's lock, and on PostgreSQL two segments
refresh at once (a statement that writes never runs in parallel, so it takes two to keep
both cores of a small server busy).

Between refreshes, membership follows events (`segments.incremental`): the subscribers a
change touched are re-evaluated, through the same diff under the same lock, so a
crossing is logged once whoever finds it first. This refresh stays the safety net, and is
what notices the moves that happen with the clock alone (`clicked within 7d` ending).
An incremental update adjusts `Segment.size` but adds no size-history row and leaves
`refreshed_at` alone: the history's entered and left count what each refresh found
itself, and the events count every crossing.
"""

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import failure_kind, for_audience_queries
from segments import member_diff
from segments.models import Segment, SegmentSize
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import RuleError
from segments.rules.compiler import SegmentRules, condition
from segments.saved import UnknownSegmentError, broken_rules, saved_rules

logger = logging.getLogger(__name__)

# Segments refreshed at once on PostgreSQL: the two cores of a small server.
PARALLEL_REFRESHES = 2
# The problem reported for a segment whose refresh failed in the database (the log has the
# error itself, which is not for a chat or a terminal).
REFRESH_FAILED = "the refresh failed (the log has the error)"


@dataclass(frozen=True, slots=True)
class MembershipRefresh:
    segment: str
    size: int
    entered: int
    left: int
    # The rule could not be used (e.g. an RFM name since removed), or the refresh failed.
    error: str | None = None


async def refresh_memberships(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    names: Collection[str] | None = None,
    rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
    parallel: int = PARALLEL_REFRESHES,
) -> list[MembershipRefresh]:
    """Refresh the named saved segments (all when None), each in its own transaction; a
    segment whose rule no longer compiles, or whose statements fail, is rolled back,
    logged and reported, and the rest go on.

    On PostgreSQL up to `parallel` segments refresh at once, each on its own connection
    (a refresh is mostly the server's work, one core per connection); SQLite has one
    writer, so its segments refresh one after another. Outcomes come in name order.
    A name no saved segment has is an UnknownSegmentError, before anything is refreshed.
    """
    async with sessionmaker() as session:
        segments = (await session.scalars(select(Segment).order_by(Segment.name))).all()
        broken = await broken_rules(session, rfm_segments=rfm_segments)
        if session.get_bind().dialect.name != "postgresql":
            parallel = 1
    chosen = [segment for segment in segments if names is None or segment.name in names]
    if names is not None and (missing := sorted(set(names) - {s.name for s in chosen})):
        raise UnknownSegmentError(f"no segment named {', '.join(map(repr, missing))}")
    slots = asyncio.Semaphore(max(parallel, 1))

    async def refresh_one(segment: Segment) -> MembershipRefresh:
        async with slots, sessionmaker() as session:
            try:
                if segment.name in broken:
                    raise RuleError(broken[segment.name])
                rules = await saved_rules(session, rfm_segments=rfm_segments)
                return await refresh_segment(session, segment=segment, rules=rules, now=now)
            except RuleError as error:
                await session.rollback()
                logger.warning("segment %s not refreshed: %s", segment.name, error)
                return MembershipRefresh(segment.name, segment.size or 0, 0, 0, str(error))
            except (SQLAlchemyError, ArithmeticError, ValueError) as error:
                # A statement failed (a DBAPIError) or a value could not be sent (an
                # OverflowError, a UnicodeEncodeError): this segment alone is not refreshed.
                # A database gone away (an OSError) stops the refresh, as it stops them all.
                # The error's own words may quote a subscriber's value: at DEBUG only.
                await session.rollback()
                logger.error("segment %s not refreshed: %s", segment.name, failure_kind(error))
                logger.debug("segment %s not refreshed", segment.name, exc_info=True)
                return MembershipRefresh(segment.name, segment.size or 0, 0, 0, REFRESH_FAILED)

    try:
        async with asyncio.TaskGroup() as group:  # one failing refresh cancels the others
            tasks = [group.create_task(refresh_one(segment)) for segment in chosen]
    except ExceptionGroup as failures:  # raised as a refresh one at a time would raise it
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


async def refresh_segment(
    session: AsyncSession, *, segment: Segment, rules: SegmentRules, now: datetime
) -> MembershipRefresh:
    """Bring one segment's members up to date with its rule at `now`; commits."""
    await for_audience_queries(session)
    await member_diff.prepare(session)
    live = await member_diff.lock_segment(session, segment.id)
    if live is None:  # deleted since the refresh began
        await session.rollback()
        return MembershipRefresh(segment.name, 0, 0, 0, "the segment was deleted")
    matches = condition(rules[segment.name], now=now, segments=rules)
    size, entered, left = await member_diff.refresh_all(session, live, matches, now)
    session.add(
        SegmentSize(segment_id=segment.id, measured_at=now, size=size, entered=entered, left=left)
    )
    live.size, live.refreshed_at = size, now
    await session.commit()
    return MembershipRefresh(segment.name, size, entered, left)


async def size_history(session: AsyncSession, *, segment_id: int) -> list[SegmentSize]:
    rows = await session.scalars(
        select(SegmentSize)
        .where(SegmentSize.segment_id == segment_id)
        .order_by(SegmentSize.measured_at, SegmentSize.id)
    )
    return list(rows.all())
