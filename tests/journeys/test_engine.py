"""The engine moves a crowd on a batch at a time, whatever the sizes of its reads and
batches, each step once per enrolment: a step that comes round again (a move between
versions) keeps its first log row and does not do its effects again."""

from sqlalchemy import delete, func, select, update

from core.models import SubscriberTag
from journeys.engine import Engine
from journeys.models import Enrolment, JourneyStep
from tests.journeys.harness import Journeys

CROWD = """
name: crowd
trigger: subscribed
steps:
  - id: pause
    wait: 1d
  - id: tagged
    add_tag: welcomed
  - id: later
    wait: 2d
"""
PEOPLE = 20


async def crowd(world: Journeys) -> list[int]:
    """PEOPLE subscribers inside CROWD, a day later: `pause` is due."""
    await world.save(CROWD)
    people = [await world.subscribe(chat) for chat in range(1, PEOPLE + 1)]
    await world.round()
    world.clock.advance(days=1, seconds=1)
    return people


async def logged(world: Journeys) -> dict[str, int]:
    async with world.sessionmaker() as session:
        rows = await session.execute(
            select(JourneyStep.step, func.count()).group_by(JourneyStep.step)
        )
        return dict(rows.all())


async def tagged(world: Journeys) -> int:
    async with world.sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(SubscriberTag.tag == "welcomed"))
        return int(count or 0)


async def test_reads_and_batches_smaller_than_the_crowd_move_everyone_once(
    world: Journeys,
) -> None:
    people = await crowd(world)
    engine = Engine(world.sessionmaker, clock=world.clock, batch=3, read=7)

    advanced = await engine.advance()
    again = await engine.advance()

    assert advanced.moved == 2 * PEOPLE  # past the wait, then past the tag
    assert again.moved == 0
    assert await logged(world) == {"pause": PEOPLE, "tagged": PEOPLE}
    assert await tagged(world) == PEOPLE
    for who in people:
        (enrolment,) = await world.enrolments(who)
        assert enrolment.step == "later"


async def test_a_step_that_comes_round_again_is_logged_and_done_once(world: Journeys) -> None:
    await crowd(world)
    engine = Engine(world.sessionmaker, clock=world.clock, batch=4, read=9)
    await engine.advance()
    async with world.sessionmaker() as session:
        first = dict((await session.execute(select(JourneyStep.id, JourneyStep.happened_at))).all())
        await session.execute(delete(SubscriberTag))
        await session.execute(  # as a move to a version that has these steps again
            update(Enrolment).values(step="pause", next_due_at=world.clock())
        )
        await session.commit()
    world.clock.advance(minutes=1)

    advanced = await engine.advance()

    assert advanced.moved == 2 * PEOPLE  # everyone went on again...
    async with world.sessionmaker() as session:
        after = dict((await session.execute(select(JourneyStep.id, JourneyStep.happened_at))).all())
    assert after == first  # ...but each step happened once: its first log row stays
    assert await tagged(world) == 0  # and the tag step's effect was not done again
