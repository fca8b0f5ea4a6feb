"""Membership that follows events: re-evaluate only what a change can move.

`follow_changes` takes what changed for whom (`segments.changes`) and, for each saved
segment whose rule reads any of it (`segments.rules.dependencies`, `in segment`
expanded), re-evaluates the rule for those subscribers alone and stores the difference,
logging `segment_entered` / `segment_left` exactly as a full refresh does: the same diff
(`segments.member_diff`) under the same per-segment lock, so a crossing found by both is
logged once, whichever comes first, and no exit is lost to a refresh running alongside.

What it promises and what it leaves:
- A segment never refreshed is not updated: its first refresh sets the baseline without
  events (`segments.membership`), and an update before it would greet people who were in
  it all along. Such segments are named in the outcome (`not_refreshed`).
- Moves that come with the clock alone (`clicked within 7d` a week after the click,
  `subscribed within 30d`, `not replied within 30d` by a reply that never came) have no
  change to follow: the periodic full refresh finds them, as it finds anything a caller
  did not report.
- Segments are locked in id order, all in one transaction; one that is being fully
  refreshed is waited for. A transaction that loses out to concurrent work (SQLite's
  lock held past its timeout, a PostgreSQL deadlock) is tried again a few times, then
  raised.
- `Segment.size` moves with each crossing; `refreshed_at` and the size history are the
  full refresh's.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import is_contention
from segments import member_diff
from segments.changes import Changes
from segments.models import Segment
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import RuleError
from segments.rules.compiler import condition
from segments.rules.dependencies import Fact, dependencies, depends_on
from segments.saved import saved_rules

logger = logging.getLogger(__name__)

# A transaction that lost out to concurrent work is tried again this many times, after
# pauses of this many seconds, doubling.
RETRIES = 3
BACKOFF = 0.2


@dataclass(frozen=True, slots=True)
class SegmentUpdate:
    """One segment re-evaluated: for how many subscribers, how many entered and left."""

    segment: str
    checked: int
    entered: int
    left: int


@dataclass(frozen=True, slots=True)
class MembershipUpdate:
    updated: tuple[SegmentUpdate, ...] = ()  # the segments re-evaluated, by id
    not_refreshed: tuple[str, ...] = ()  # depend on the change, wait for their first refresh

    @property
    def checked(self) -> list[str]:
        """The names of the segments re-evaluated."""
        return [update.segment for update in self.updated]


@dataclass(frozen=True, slots=True)
class _Plan:
    segment_id: int
    name: str
    subscribers: list[int]
    matches: ColumnElement[bool]


async def follow_changes(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    changes: Changes,
    now: datetime,
    rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
) -> MembershipUpdate:
    """Bring the members of every saved segment whose rule reads what changed up to date
    for the subscribers it changed for, at `now`; commits (see the module docstring)."""
    attempt = 0
    while True:
        try:
            async with sessionmaker() as session:
                return await _follow(session, changes, now, rfm_segments)
        except (DBAPIError, PoolTimeoutError) as error:
            if attempt == RETRIES or not is_contention(error):
                raise
        await asyncio.sleep(BACKOFF * 2**attempt)
        attempt += 1


async def _follow(
    session: AsyncSession, changes: Changes, now: datetime, rfm_segments: Collection[str]
) -> MembershipUpdate:
    plans = await _plan(session, changes, now, rfm_segments)
    updated, not_refreshed = [], []
    staged: list[int] | None = None
    for plan in plans:
        await member_diff.prepare(session)
        if plan.subscribers != staged:
            await member_diff.scope(session, plan.subscribers)
            staged = plan.subscribers
        live = await member_diff.lock_segment(session, plan.segment_id)
        if live is None:  # deleted since it was planned
            continue
        if live.refreshed_at is None:
            not_refreshed.append(plan.name)
            continue
        await member_diff.collect_matches(session, plan.matches)
        entered, left = await member_diff.apply_changes(session, live, now, scoped=True)
        live.size = (live.size or 0) + entered - left
        updated.append(SegmentUpdate(plan.name, len(plan.subscribers), entered, left))
    if plans:
        await member_diff.clear(session)
        await session.commit()
    return MembershipUpdate(tuple(updated), tuple(not_refreshed))


async def _plan(
    session: AsyncSession, changes: Changes, now: datetime, rfm_segments: Collection[str]
) -> list[_Plan]:
    """Per saved segment whose rule reads something that changed, in id order: the
    subscribers it changed for, and the rule's condition for them. A rule that no longer
    compiles is left to the full refresh, which reports it."""
    by_change: dict[frozenset[Fact], list[int]] = defaultdict(list)
    for subscriber, facts in changes.items():
        if facts:
            by_change[frozenset(facts)].append(subscriber)
    if not by_change:
        return []
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    segments = await session.execute(select(Segment.id, Segment.name).order_by(Segment.id))
    plans = []
    for segment_id, name in segments.all():
        if name not in rules:
            continue
        read = dependencies(rules[name], segments=rules)
        touched = sorted(
            subscriber
            for facts, subscribers in by_change.items()
            if depends_on(read, facts)
            for subscriber in subscribers
        )
        if not touched:
            continue
        try:
            rule = condition(rules[name], now=now, segments=rules, among=member_diff.SCOPE)
        except RuleError as error:
            logger.warning("segment %s not followed: %s", name, error)
            continue
        matches = and_(member_diff.in_scope(), rule)
        plans.append(_Plan(segment_id, name, touched, matches))
    return plans
