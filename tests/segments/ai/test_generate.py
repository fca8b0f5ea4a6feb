"""AI segment generation on planted groups: recovered, profiled by the planted traits,
reproducible, and replaced on regeneration."""

from collections import Counter

import pytest
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Subscriber
from segments.ai.chart import cluster_chart_png
from segments.ai.config import AiConfig
from segments.ai.describe import DescriptionError
from segments.ai.generate import ClusterRangeError, generate_ai_segments
from segments.ai.stability import AudienceTooSmallError
from segments.membership import refresh_memberships
from segments.models import Segment, SegmentKind, SegmentMember
from tests.segments.ai.planted import NOW, PLANTED_TRAITS, plant

CONFIG = AiConfig(k_min=2, k_max=5)


async def _members(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(
        select(SegmentMember.subscriber_id, Segment.name)
        .join(Segment, Segment.id == SegmentMember.segment_id)
        .where(Segment.kind == SegmentKind.AI)
    )
    return dict(rows.all())


async def test_clusters_recover_the_planted_groups_and_name_their_traits(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    planted = await plant(session)
    generation = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG)

    assert generation.k == 3
    assert generation.removed == []
    found = await _members(session)
    ids = sorted(planted)
    assert adjusted_rand_score([planted[i] for i in ids], [found[i] for i in ids]) >= 0.8
    for profile in generation.profiles:
        members = [planted[i] for i, name in found.items() if name == profile.name]
        group = Counter(members).most_common(1)[0][0]
        keys = {trait.key for trait in profile.traits}
        assert PLANTED_TRAITS[group] <= keys, (group, keys)
        assert profile.name.startswith(f"AI {profile.number}: ")
        assert profile.pain_points
        assert profile.section("geography")


async def test_regeneration_replaces_every_ai_segment_and_refreshes_keep_members(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await plant(session)
    first = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG)
    members = await _members(session)
    await refresh_memberships(sessionmaker, now=NOW)  # a scheduled refresh changes nothing
    assert await _members(session) == members

    second = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG)

    assert second.removed == sorted(profile.name for profile in first.profiles)
    assert [p.name for p in second.profiles] == [p.name for p in first.profiles]  # same seed
    assert await _members(session) == members
    kinds = (await session.scalars(select(Segment.kind))).all()
    assert sorted(kinds) == [SegmentKind.AI] * second.k


async def test_a_description_narrows_the_audience_and_the_features(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    planted = await plant(session)
    result = await generate_ai_segments(
        sessionmaker,
        now=NOW,
        config=CONFIG,
        description="by engagement and interests where lang = es",
    )
    assert result.groups == ("engagement", "interests")
    assert result.where == "lang = es"
    found = await _members(session)
    spanish = (
        await session.scalars(select(Subscriber.id).where(Subscriber.language_code == "es"))
    ).all()
    assert sorted(found) == sorted(spanish)
    assert len(found) < len(planted)
    with pytest.raises(DescriptionError, match="keywords"):
        await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG, description="nice ones")
    with pytest.raises(ClusterRangeError):
        await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG, k_min=5, k_max=3)
    with pytest.raises(ClusterRangeError, match="got k-min 0,"):  # 0 is asked for, not unset
        await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG, k_min=0)


async def test_too_small_an_audience_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await plant(session, per_group=1)
    with pytest.raises(AudienceTooSmallError):
        await generate_ai_segments(sessionmaker, now=NOW, config=AiConfig(k_min=3, k_max=4))


async def test_the_cluster_chart_is_a_png(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await plant(session, per_group=20)
    result = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG)
    assert cluster_chart_png(result).startswith(b"\x89PNG\r\n\x1a\n")
