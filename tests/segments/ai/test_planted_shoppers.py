"""AI segments on a planted population of four kinds of shoppers with 30 % noise: the
number of clusters found is the planted one and the members are recovered for five
different seeds, and every trait in a segment's name holds for a clear majority of its
members, checked here against the features without the trait code."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segments.ai.config import AiConfig
from segments.ai.features import build_features
from segments.ai.generate import generate_ai_segments
from segments.ai.profiles import NAME_MAJORITY, Profile
from segments.levels import STAGES
from segments.models import Segment, SegmentKind, SegmentMember
from tests.segments.ai.shoppers import GROUPS, NOW, PLANTED_TRAITS, plant_shoppers


def holds(frame: pd.DataFrame, key: str) -> pd.Series:
    """Whether the trait `key` is true of each subscriber, as the README defines it: having
    the tag, value or stage; for `NUMBER:high` (`:low`), more of the audience below (above)
    them than above (below); for `buyer:high` (`:low`), buying (not buying)."""
    kind, _, value = key.partition(":")
    if kind in ("tag", "clicked"):
        return frame[key] == 1
    if kind == "stage":
        return frame["stage"] == STAGES.index(value)
    if value not in ("high", "low"):
        return frame[kind] == value
    if kind == "buyer":
        return frame["buyer"] == (1 if value == "high" else 0)
    numbers = frame[kind].to_numpy(dtype=np.float64)
    known = numbers[~np.isnan(numbers)]
    below = (known[None, :] < numbers[:, None]).sum(axis=1)
    above = (known[None, :] > numbers[:, None]).sum(axis=1)
    return pd.Series(below > above if value == "high" else above > below, index=frame.index)


def name_traits(profile: Profile) -> list[str]:
    """The keys of the traits a statistical name is made of ("AI 1: ES, deals")."""
    labels = profile.name.split(": ", 1)[1].split(", ")
    common = {trait.label: trait.key for trait in reversed(profile.held_by_most)}
    return [common[label] for label in labels]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_the_planted_groups_are_found_and_named_only_by_what_most_share(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, seed: int
) -> None:
    population = await plant_shoppers(session, per_group=500, noise=0.3, seed=seed)
    config = AiConfig(k_min=2, k_max=8, seed=1000 * seed + 7)

    generation = await generate_ai_segments(sessionmaker, now=NOW, config=config)

    assert (generation.k, generation.choice.replicated) == (GROUPS, True)
    rows = await session.execute(
        select(SegmentMember.subscriber_id, Segment.name)
        .join(Segment, Segment.id == SegmentMember.segment_id)
        .where(Segment.kind == SegmentKind.AI)
    )
    members: dict[int, str] = dict(rows.all())
    ids = sorted(members)
    assert ids == sorted(population.ids)
    assert adjusted_rand_score(population.of(ids), [members[i] for i in ids]) >= 0.95

    frame = (await build_features(session, now=NOW, window_days=config.window_days)).frame
    for profile in generation.profiles:
        own = [i for i in ids if members[i] == profile.name]
        keys = name_traits(profile)
        assert keys, profile.name
        for key in keys:
            share = float(holds(frame, key).loc[own].mean())
            assert share >= NAME_MAJORITY, (profile.name, key, share)
            trait = next(trait for trait in profile.traits if trait.key == key)
            assert trait.share == pytest.approx(share)
            assert f"{share:.0%}" in trait.text
        group = Counter(population.of(own)).most_common(1)[0][0]
        assert PLANTED_TRAITS[group] <= {trait.key for trait in profile.traits}, profile.name
