"""Personas (from an AI segment, by hand, the limit of 5 per campaign) and lookalikes."""

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segments.ai.config import AiConfig
from segments.ai.generate import generate_ai_segments
from segments.ai.lookalike import LookalikeError, build_lookalike
from segments.ai.personas import (
    PersonaError,
    TooManyPersonasError,
    check_persona_targets,
    create_persona,
    persona_audience,
    persona_from_segment,
    persona_targets,
)
from segments.models import ContentFormat, Segment, SegmentKind, SegmentMember
from segments.saved import SegmentNameError, count_matching, save_segment
from tests.segments.ai.planted import NOW, plant

CONFIG = AiConfig(k_min=2, k_max=4)


def test_a_campaign_targets_at_most_five_different_personas() -> None:
    check_persona_targets(["a", "b", "c", "d", "e"])
    with pytest.raises(TooManyPersonasError, match="at most 5"):
        check_persona_targets(["a", "b", "c", "d", "e", "f"])
    with pytest.raises(PersonaError, match="twice"):
        check_persona_targets(["a", "a"])
    with pytest.raises(PersonaError):
        check_persona_targets([])


async def test_personas_from_an_ai_segment_and_by_hand(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await plant(session, per_group=30)
    result = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG)
    largest = result.profiles[0]
    persona = await persona_from_segment(session, segment=largest.name, now=NOW)
    assert persona.main_problem == largest.pain_points[0]
    assert persona.preferred_format == largest.preferred_format
    assert persona.example_customer.startswith("someone like: ")
    audience = await persona_audience(session, persona)
    assert (audience.segment, audience.rule_text) == (largest.name, None)
    assert (
        await count_matching(session, rule_text=f'in segment "{largest.name}"', now=NOW)
        == largest.size
    )

    await create_persona(
        session, name="Spanish shoppers", main_problem="too busy", tone="warm",
        preferred_format=ContentFormat.CAROUSEL, best_offer="free delivery",
        example_customer="Ana, 30, Madrid", now=NOW, rule_text="lang = es",
    )  # fmt: skip
    targets = await persona_targets(session, names=["Spanish shoppers", persona.name])
    assert [(t.segment, t.rule_text) for t in targets] == [
        (None, "lang = es"),
        (largest.name, None),
    ]
    with pytest.raises(PersonaError, match="exactly one"):
        await create_persona(
            session, name="x", main_problem="p", preferred_format=ContentFormat.TEXT, tone="t",
            best_offer="o", example_customer="e", now=NOW,
        )  # fmt: skip

    await create_persona(
        session, name="Ruled", main_problem="p", preferred_format=ContentFormat.TEXT, tone="t",
        best_offer="o", example_customer="e", now=NOW, rule_text=f'in segment "{largest.name}"',
    )  # fmt: skip
    regenerated = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG)
    assert regenerated.orphaned_personas == sorted([persona.name, "Ruled"])
    await session.refresh(persona)
    with pytest.raises(PersonaError, match="lost its source segment") as lost:
        await persona_audience(session, persona)
    assert "(it was deleted, or replaced by a regeneration or a new lookalike)" in str(lost.value)


async def test_a_lookalike_ranks_the_planted_lookalikes_first(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    planted = await plant(session, per_group=40, buyers_in="news readers")
    await save_segment(session, name="buyers", rule_text="buyer", now=NOW)
    readers = {i for i, group in planted.items() if group == "news readers"}
    buyers = set(sorted(readers)[:20])
    result = await build_lookalike(sessionmaker, seed="buyers", size=20, now=NOW, config=CONFIG)

    assert (result.seed_size, result.size, result.replaced) == (20, 20, False)
    segment = await session.scalar(select(Segment).where(Segment.name == result.name))
    assert segment is not None
    assert segment.kind is SegmentKind.LOOKALIKE
    members = set((await session.scalars(
        select(SegmentMember.subscriber_id).where(SegmentMember.segment_id == segment.id)
    )).all())  # fmt: skip
    assert not members & buyers  # none of the seed itself...
    assert members <= readers  # ...but every other news reader, before anyone else
    assert len(members) == 20

    again = await build_lookalike(sessionmaker, seed="buyers", size=10, now=NOW, config=CONFIG)
    assert again.replaced
    with pytest.raises(LookalikeError, match="pick another name"):
        await build_lookalike(
            sessionmaker, seed="buyers", size=5, now=NOW, config=CONFIG, name="buyers"
        )


async def test_a_lookalike_of_everyone_or_with_a_name_too_long_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await plant(session, per_group=10)
    await save_segment(session, name="everyone", rule_text="status = active", now=NOW)
    with pytest.raises(LookalikeError, match="nobody is left to look like them"):
        await build_lookalike(sessionmaker, seed="everyone", size=5, now=NOW, config=CONFIG)
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    with pytest.raises(SegmentNameError, match="1-64 printable characters"):
        await build_lookalike(
            sessionmaker, seed="spanish", size=5, now=NOW, config=CONFIG, name="x" * 65
        )
