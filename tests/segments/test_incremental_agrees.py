"""Following changes is a second implementation of membership: on random subscribers and
random rules it agrees with the Python evaluation and with a full refresh, for the
subscribers it is told about, and leaves everyone else as they were."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Event, EventType
from segments.changes import changed
from segments.incremental import follow_changes
from segments.membership import refresh_memberships
from segments.models import Segment, SegmentMember
from segments.rules import Rule, to_json, to_text
from segments.rules.dependencies import EVERYTHING
from segments.rules.evaluator import SubscriberFacts, evaluate
from tests.segments.population import NOW, populations, store
from tests.segments.rule_strategies import rules

BASELINE = NOW - timedelta(hours=1)


async def two_segments_with(session: AsyncSession, rule: Rule, members: set[int]) -> None:
    """`followed` and `refreshed`: the same rule, refreshed before with `members`."""
    await session.execute(delete(SegmentMember))
    await session.execute(delete(Segment))
    for name in ("followed", "refreshed"):
        segment = Segment(
            name=name, rule=to_json(rule), rule_text=to_text(rule), version=1,
            created_at=BASELINE, updated_at=BASELINE, refreshed_at=BASELINE, size=len(members),
        )  # fmt: skip
        session.add(segment)
        await session.flush()
        session.add_all(
            SegmentMember(segment_id=segment.id, subscriber_id=who, entered_at=BASELINE)
            for who in members
        )
    await session.commit()


async def state(session: AsyncSession, name: str) -> tuple[set[int], set[int], set[int]]:
    """The segment's members, and who entered and who left it."""
    segment = await session.scalar(select(Segment).where(Segment.name == name))
    assert segment is not None
    members = await session.scalars(
        select(SegmentMember.subscriber_id).where(SegmentMember.segment_id == segment.id)
    )
    crossed = await session.execute(
        select(Event.type, Event.subscriber_id).where(
            Event.type.in_([EventType.SEGMENT_ENTERED, EventType.SEGMENT_LEFT]),
            Event.payload["segment_id"].as_integer() == segment.id,
        )
    )
    rows = crossed.all()
    entered = {who for kind, who in rows if kind == EventType.SEGMENT_ENTERED}
    left = {who for kind, who in rows if kind == EventType.SEGMENT_LEFT}
    return set(members), entered, left


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(population=populations, rule=rules(max_leaves=4), data=st.data())
async def test_following_agrees_with_the_evaluator_and_a_full_refresh(
    sessionmaker: async_sessionmaker[AsyncSession],
    population: list[SubscriberFacts],
    rule: Rule,
    data: st.DataObject,
) -> None:
    async with sessionmaker() as session:
        ids = await store(session, population)
        before = data.draw(st.sets(st.sampled_from(ids)), label="members before")
        told = data.draw(st.sets(st.sampled_from(ids), min_size=1), label="told about")
        await two_segments_with(session, rule, before)
    matches = {
        who for who, facts in zip(ids, population, strict=True) if evaluate(rule, facts, now=NOW)
    }

    await follow_changes(sessionmaker, changes=changed(told, EVERYTHING), now=NOW)
    await refresh_memberships(sessionmaker, now=NOW, names=["refreshed"])

    async with sessionmaker() as session:
        assert await state(session, "refreshed") == (matches, matches - before, before - matches)
        assert await state(session, "followed") == (
            (before - told) | (matches & told),
            (matches & told) - before,
            (before & told) - matches,
        )
