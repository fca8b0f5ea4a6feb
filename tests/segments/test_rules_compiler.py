"""The compiled SQL agrees with the Python evaluation, on SQLite and PostgreSQL alike."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segments.rules import Rule, predicates
from segments.rules.compiler import count, subscriber_ids
from segments.rules.evaluator import SubscriberFacts, evaluate
from tests.segments.population import NOW, populations, store
from tests.segments.rule_strategies import rules


async def selected(
    session: AsyncSession, rule: Rule, segments: dict[str, Rule] | None = None
) -> set[int]:
    return set((await session.scalars(subscriber_ids(rule, now=NOW, segments=segments))).all())


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(population=populations, checked=st.lists(rules(max_leaves=4), min_size=5, max_size=12))
async def test_compiled_sql_agrees_with_python_evaluation(
    sessionmaker: async_sessionmaker[AsyncSession],
    population: list[SubscriberFacts],
    checked: list[Rule],
) -> None:
    async with sessionmaker() as session:
        ids = await store(session, population)
        leaves = [leaf for rule in checked for leaf in predicates(rule)]
        for rule in [*checked, *leaves]:
            expected = {
                subscriber_id
                for subscriber_id, facts in zip(ids, population, strict=True)
                if evaluate(rule, facts, now=NOW)
            }
            assert await selected(session, rule) == expected, rule
            assert await session.scalar(count(rule, now=NOW)) == len(expected)
