"""Audience analytics on hostile data: RFM, the ladder, activity, AI segments, personas
and lookalikes on empty, tied, odd and invalid inputs."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from cli.subscribers import app as subscribers_app
from core.models import Subscriber
from crm_sync.facts import refresh_facts
from crm_sync.models import Customer, Order
from segments.ai.config import AiConfig
from segments.ai.generate import ClusterRangeError, generate_ai_segments
from segments.ai.lookalike import build_lookalike
from segments.ai.personas import PersonaError, create_persona
from segments.config import LadderConfig
from segments.ladder import refresh_ladder
from segments.models import ContentFormat, LadderStage
from tests.cli.conftest import invoke, runner  # noqa: F401  (the CLI tests' runner)
from tests.segments.ai.planted import NOW, plant
from tests.segments.rfm.ties import add_shop

CONFIG = AiConfig(k_min=2, k_max=3)


@pytest.mark.parametrize("age", [1e308, -1e308, 1e39, 1e20])
async def test_an_absurd_age_is_unknown_to_ai_segments_and_lookalikes(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, age: float
) -> None:
    """An age no person has (a typo, junk from an import) counts as no age at all rather
    than overflowing the clustering."""
    members = list(await plant(session, per_group=15))
    await session.execute(
        update(Subscriber).where(Subscriber.id.in_(members[:20])).values(attributes={"age": age})
    )
    await session.execute(
        update(Subscriber).where(Subscriber.id.in_(members[20:])).values(attributes={"age": 30})
    )
    await session.commit()
    result = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG)
    assert sum(profile.size for profile in result.profiles) == len(members)
    seed = result.profiles[0].name
    made = await build_lookalike(sessionmaker, seed=seed, size=5, now=NOW, config=CONFIG)
    assert made.size == 5


@pytest.mark.parametrize("zone", ["Europe", "America", "Nowhere/Land"])
async def test_a_time_zone_that_is_no_zone_counts_as_utc(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, zone: str
) -> None:
    """A region ("Europe") or an unknown name as a subscriber's time zone is unknown: their
    hours are read in UTC, as for no zone, and clustering goes on."""
    members = list(await plant(session, per_group=15))
    await session.execute(
        update(Subscriber).where(Subscriber.id.in_(members[:20])).values(timezone=zone)
    )
    await session.commit()
    result = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG)
    assert sum(profile.size for profile in result.profiles) == len(members)


LADDER = LadderConfig.model_validate(
    {"window_days": 90, "step_down_after_days": 30, "evidence": {"most_aware": [{"crm": "order"}]}}
)


async def test_a_future_dated_order_is_no_ladder_evidence_yet(session: AsyncSession) -> None:
    """An order dated after now (a CRM typo) neither lifts anyone up the ladder nor dates
    their evidence; an earlier real order still counts, with its own date."""
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    ids = await add_shop(session, [(1, 2, 1, 50.0), (2, -400, 1, 10.0)], now=now)  # 2: future
    session.add(
        Order(
            source="shop", external_id="1-future", customer_id=ids[1],
            ordered_at=now + timedelta(days=400), amount=10.0, created_at=now, updated_at=now,
        )
    )  # fmt: skip
    await refresh_facts(session, customer_ids=ids.values())
    await session.commit()

    await refresh_ladder(session, now=now, config=LADDER)
    staged = await session.execute(
        select(Customer.external_id, LadderStage.stage, LadderStage.evidence_at).join(
            LadderStage, LadderStage.subscriber_id == Customer.subscriber_id
        )
    )
    assert [(number, stage, at.astimezone(UTC)) for number, stage, at in staged] == [
        ("1", 4, datetime(2026, 10, 30, 12, tzinfo=UTC))
    ]


@pytest.mark.parametrize(("attributes", "shown"), [([1, 2], "[1, 2]"), ("text", "text")])
async def test_show_prints_attributes_that_are_not_an_object(
    runner: CliRunner,  # noqa: F811
    session: AsyncSession,
    attributes: object,
    shown: str,
) -> None:
    """Attributes stored as a list or a bare value (by hand, or an old import) are shown as
    they are instead of crashing `segbot subscribers show`."""
    session.add(
        Subscriber(telegram_id=5, chat_id=5, subscribed_at=NOW, last_seen_at=NOW, attributes={})
    )
    await session.commit()
    await session.execute(update(Subscriber).values(attributes=attributes))
    await session.commit()
    result = await invoke(runner, subscribers_app, "show", "tg:5")
    assert result.exit_code == 0, result.output
    assert f"answers: {shown}" in result.output


async def test_a_tone_too_long_for_a_persona_is_refused_not_cut(session: AsyncSession) -> None:
    """A hand-made persona's tone longer than it can be stored is an error naming the
    limit, rather than silently cut short."""
    with pytest.raises(PersonaError, match="tone is 1-64 characters"):
        await create_persona(
            session, name="Long", main_problem="p", preferred_format=ContentFormat.TEXT,
            tone="x" * 65, best_offer="o", example_customer="e", now=NOW, rule_text="lang = es",
        )  # fmt: skip
    saved = await create_persona(
        session, name="Fits", main_problem="p", preferred_format=ContentFormat.TEXT,
        tone="y" * 64, best_offer="o", example_customer="e", now=NOW, rule_text="lang = es",
    )  # fmt: skip
    assert saved.tone == "y" * 64


@pytest.mark.parametrize(("k_min", "k_max"), [(2, 51), (2, 100_000), (60, 70)])
async def test_more_clusters_than_the_config_allows_are_refused_up_front(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, k_min: int, k_max: int
) -> None:
    """`--k-max` is held to the bound `ai.k_max` has (50): every k tried costs k-means
    runs, so a huge one would run for hours instead of failing."""
    await plant(session, per_group=15)
    with pytest.raises(ClusterRangeError, match="k-max <= 50"):
        await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG, k_min=k_min, k_max=k_max)
