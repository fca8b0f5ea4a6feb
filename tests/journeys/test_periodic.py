"""Triggers the clock brings: days after subscribing, a yearly date attribute, inactivity,
and a rescore moving someone into an RFM segment; each fires once, never for what
crossed its line before the journey existed."""

from datetime import date

from sqlalchemy import update

from core.models import Subscriber
from crm_sync.models import Customer
from segments.models import RfmRun, RfmScore
from tests.journeys.harness import T0, Journeys

HELLO = "steps:\n  - id: hello\n    send: {text: Hello}\n"


def journey(trigger: str) -> str:
    return f"name: dated\ntrigger: {trigger}\nentry: {{reentry: every_time}}\n{HELLO}"


async def test_days_after_subscribing(world: Journeys) -> None:
    await world.subscribe(1)
    await world.save(journey("{date: {after: subscribed, days: 7}}"))
    world.clock.advance(days=6, hours=23)
    await world.round()
    assert world.texts(1) == []
    world.clock.advance(hours=2)
    await world.round()
    world.clock.advance(days=3)
    await world.round()
    assert world.texts(1) == ["Hello"]


async def test_a_yearly_date_attribute_on_its_day_only(world: Journeys) -> None:
    ana, bob = await world.subscribe(1), await world.subscribe(2)
    async with world.sessionmaker() as session:
        for who, birthday in ((ana, "1990-11-05"), (bob, "11-07")):
            await session.execute(
                update(Subscriber)
                .where(Subscriber.id == who)
                .values(attributes={"birthday": birthday})
            )
        await session.commit()
    await world.save(journey("{date: {attribute: birthday, days: -1}}"))  # the day before
    for day in range(3, 9):
        world.clock.now = T0.replace(day=day, hour=0, minute=5)
        await world.round()
        world.clock.now = T0.replace(day=day, hour=12)
        await world.round()
        if day == 4:
            assert (world.texts(1), world.texts(2)) == (["Hello"], [])
    assert (world.texts(1), world.texts(2)) == (["Hello"], ["Hello"])


async def test_inactivity_for_a_number_of_days(world: Journeys) -> None:
    await world.subscribe(1)
    await world.save(journey("{inactive: 30d}"))
    world.clock.advance(days=29)
    await world.round()
    assert world.texts(1) == []
    world.clock.advance(days=1, minutes=1)
    await world.round()
    world.clock.advance(days=1)
    await world.round()
    assert world.texts(1) == ["Hello"]  # once: they have not been seen since


async def rescored(world: Journeys, customer_id: int, segment: str) -> None:
    async with world.sessionmaker() as session:
        score = await session.get(RfmScore, customer_id)
        if score is None:
            session.add(
                RfmScore(
                    customer_id=customer_id, last_ordered_at=T0, frequency=1, monetary=10.0,
                    r=3, f=3, m=3, segment=segment, changed_at=world.clock(),
                )
            )  # fmt: skip
        else:
            score.segment, score.changed_at = segment, world.clock()
        session.add(
            RfmRun(
                as_of=date(2026, 11, 2), scored_at=world.clock(), customers=1, changed=1,
                segments={segment: 1},
            )
        )  # fmt: skip
        await session.commit()


async def test_a_rescore_moving_someone_into_an_rfm_segment(world: Journeys) -> None:
    ana = await world.subscribe(1)
    async with world.sessionmaker() as session:
        customer = Customer(
            source="shop", external_id="c1", subscriber_id=ana, attributes={}, created_at=T0,
            updated_at=T0,
        )  # fmt: skip
        session.add(customer)
        await session.commit()
        customer_id = customer.id
    await world.save(journey("{rfm: at_risk}"))
    world.clock.advance(minutes=5)
    await rescored(world, customer_id, "at_risk")  # the first look: where everyone is
    await world.round()
    world.clock.advance(days=1)
    await rescored(world, customer_id, "hibernating")
    await world.round()
    world.clock.advance(days=1)
    await rescored(world, customer_id, "at_risk")  # moved into it
    await world.round()
    world.clock.advance(days=1)
    await world.round()
    assert world.texts(1) == ["Hello"]
