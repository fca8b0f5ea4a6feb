"""When journey messages go: quiet hours in the subscriber's own timezone, the frequency
cap shared with broadcasts (each counts the other's messages), waits until a local time
of day or a weekday."""

from sqlalchemy import update

from broadcasts.planner import plan_run
from core.models import EventType, Subscriber
from tests.broadcasts.audience import campaign_from
from tests.journeys.harness import T0, Journeys

QUIET = """
name: quiet
trigger: replied
quiet_hours: {start: "22:00", end: "08:00"}
frequency_cap: {messages: 2, hours: 24}
steps:
  - id: first
    send: {text: First}
  - id: second
    send: {text: Second}
"""


async def zone(world: Journeys, subscriber_id: int, name: str) -> None:
    async with world.sessionmaker() as session:
        await session.execute(
            update(Subscriber).where(Subscriber.id == subscriber_id).values(timezone=name)
        )
        await session.commit()


async def test_quiet_hours_in_their_own_timezone_hold_messages_back(world: Journeys) -> None:
    await world.save(QUIET)
    madrid, tokyo = await world.subscribe(1), await world.subscribe(2)
    await zone(world, madrid, "Europe/Madrid")
    await zone(world, tokyo, "Asia/Tokyo")  # noon UTC is 21:00 in Tokyo...
    world.clock.advance(hours=1, minutes=30)  # ...and 13:30 UTC is 22:30 there
    for who in (madrid, tokyo):
        await world.log(who, EventType.MESSAGE, {"kind": "text"})
    done = await world.round()
    assert done.advanced.postponed == 1
    assert (world.texts(1), world.texts(2)) == (["First", "Second"], [])

    world.clock.now = T0.replace(hour=23)  # 08:00 in Tokyo
    await world.round()
    assert world.texts(2) == ["First", "Second"]


async def test_the_frequency_cap_counts_broadcasts_and_journeys_alike(world: Journeys) -> None:
    await world.save(QUIET.replace("quiet_hours", "# quiet_hours"))
    ana = await world.subscribe(1)
    async with world.sessionmaker() as session:
        promo = await campaign_from(session, "name: promo\ndefault: {text: Promo}\n", now=T0)
        await plan_run(session, campaign=promo, now=T0)
    await world.send_queued()  # the broadcast: 1 of 2 in 24 h

    world.clock.advance(hours=1)
    await world.log(ana, EventType.MESSAGE, {"kind": "text"})
    await world.round()
    assert world.texts(1) == ["Promo", "First"]  # 2 of 2: "second" waits

    world.clock.advance(hours=22)
    await world.round()
    assert world.texts(1) == ["Promo", "First"]
    world.clock.advance(hours=1, seconds=1)  # the broadcast leaves the window
    await world.round()
    assert world.texts(1) == ["Promo", "First", "Second"]

    async with world.sessionmaker() as session:  # and the broadcast's cap counts them
        again = await campaign_from(session, "name: again\ndefault: {text: Again}\n", now=T0)
        plan = await plan_run(session, campaign=again, now=world.clock())
    assert plan.excluded == {"capped": 1}


LOCAL = """
name: local
trigger: replied
steps:
  - id: morning
    wait: {until: "09:00"}
  - id: hello
    send: {text: Good morning}
  - id: tuesday
    wait: {weekday: tuesday, until: "10:00"}
  - id: tip
    send: {text: Tuesday tip}
"""


async def test_waits_until_a_local_time_and_a_weekday(world: Journeys) -> None:
    await world.save(LOCAL)
    ana = await world.subscribe(1)
    await zone(world, ana, "America/New_York")  # noon UTC Monday is 07:00 there
    await world.log(ana, EventType.MESSAGE, {"kind": "text"})
    await world.round()
    assert world.texts(1) == []

    world.clock.now = T0.replace(hour=13, minute=59)
    await world.round()
    assert world.texts(1) == []
    world.clock.now = T0.replace(hour=14)  # 09:00 in New York
    await world.round()
    assert world.texts(1) == ["Good morning"]

    world.clock.now = T0.replace(day=3, hour=14, minute=59)  # Tuesday, 09:59 there
    await world.round()
    assert world.texts(1) == ["Good morning"]
    world.clock.now = T0.replace(day=3, hour=15)
    await world.round()
    assert world.texts(1) == ["Good morning", "Tuesday tip"]
