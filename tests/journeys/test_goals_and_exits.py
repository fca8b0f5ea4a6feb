"""How journeys end: the goal (a CRM purchase) converts wherever the person is, the
holdout too; /stop and a block end every journey of that person; an exit step, the last
step, archiving. Purchase triggers: first, any, over an amount."""

from sqlalchemy import func, select

from broadcasts.models import Delivery, DeliveryStatus
from core.models import AuditLog, EventType, SubscriberTag
from core.subscribers import forget, record_block
from journeys.models import Enrolment, EnrolmentStatus, ExitReason, Journey, JourneyStatus, Notice
from journeys.reports.report import journey_report
from journeys.store import CLI_ACTOR, set_status
from tests.journeys.harness import Journeys

SERIES = """
name: series
trigger: subscribed
goal: {purchased: {over: 20}, within: 7d}
holdout: {holdout}
steps:
  - id: hello
    send: {text: Hello}
  - id: pause
    wait: 2d
  - id: later
    send: {text: Later}
"""


async def test_a_purchase_converts_whoever_entered_and_ends_the_journey_of_those_inside(
    world: Journeys,
) -> None:
    await world.save(SERIES.replace("{holdout}", "50"))
    people = {chat: await world.subscribe(chat) for chat in range(1, 11)}
    await world.round()
    held = {chat for chat in people if not world.texts(chat)}
    assert 0 < len(held) < 10  # the holdout got nothing

    bought_at = world.clock.advance(hours=5)
    for chat, who in people.items():
        await world.buy(who, "10.00" if chat == 1 else "25.00", order=f"o{chat}")
    await world.round()
    world.clock.advance(days=3)
    await world.round()

    for chat, who in people.items():
        (enrolment,) = await world.enrolments(who)
        if chat == 1:  # 10 is not over 20
            assert enrolment.converted_at is None
        else:
            assert enrolment.converted_at == bought_at
        if chat in held:
            assert enrolment.status == EnrolmentStatus.HOLDOUT
        elif chat == 1:
            assert world.texts(chat) == ["Hello", "Later"]
        else:
            assert (enrolment.status, enrolment.exit_reason) == ("ended", ExitReason.GOAL)
            assert world.texts(chat) == ["Hello"]


async def test_a_purchase_past_the_goals_window_ends_the_journey_but_converts_nobody(
    world: Journeys,
) -> None:
    await world.save(SERIES.replace("{holdout}", "0").replace("wait: 2d", "wait: 30d"))
    ana = await world.subscribe(1)
    await world.round()
    world.clock.advance(days=10)
    await world.buy(ana, "30.00")
    await world.round()
    (enrolment,) = await world.enrolments(ana)
    assert enrolment.exit_reason == ExitReason.GOAL  # beyond 7 days, but inside
    assert enrolment.converted_at is None  # as for the holdout: lift compares like with like


PURCHASED = """
name: thanks
trigger: {purchased: {trigger}}
steps:
  - id: thanks
    send: {text: Thank you}
"""


async def test_purchase_triggers_first_any_and_over_an_amount(world: Journeys) -> None:
    ana = await world.subscribe(1)
    await world.save(PURCHASED.replace("{trigger}", "first").replace("thanks\n", "first\n", 1))
    await world.save(PURCHASED.replace("{trigger}", "any").replace("thanks\n", "any\n", 1))
    await world.save(PURCHASED.replace("{trigger}", "{over: 100}").replace("thanks\n", "big\n", 1))
    await world.buy(ana, "30.00", order="o1")
    await world.round()
    await world.buy(ana, "150.00", order="o2")
    await world.round()

    async with world.sessionmaker() as session:
        rows = await session.execute(
            select(Journey.name, func.count())
            .join(Enrolment, Enrolment.journey_id == Journey.id)
            .group_by(Journey.name)
        )
        by_journey = dict(rows.all())
    assert by_journey == {"first": 1, "any": 1, "big": 1}  # "any" once: once per person


async def test_stop_and_a_block_end_every_journey_of_that_person(world: Journeys) -> None:
    await world.save(SERIES.replace("{holdout}", "0"))
    await world.save(SERIES.replace("{holdout}", "0").replace("series", "other"))
    ana, bob = await world.subscribe(1), await world.subscribe(2)
    await world.round()
    await world.stop(1)
    async with world.sessionmaker() as session:
        await record_block(session, telegram_id=2, blocked=True, now=world.clock())
    await world.round()
    world.clock.advance(days=3)
    await world.round()

    for who, reason in ((ana, ExitReason.UNSUBSCRIBED), (bob, ExitReason.BLOCKED)):
        assert [e.exit_reason for e in await world.enrolments(who)] == [reason, reason]
    assert world.texts(1) == ["Hello", "Hello"]


EXITS = """
name: exits
trigger: replied
steps:
  - id: check
    if: "tag:vip"
    then: vip
  - id: bye
    exit: true
  - id: vip
    add_tag: welcomed
  - id: tell
    notify: "{{ first_name }} is a VIP"
  - id: wait
    wait: 1d
"""


async def test_an_exit_step_the_last_step_and_archiving_end_enrolments(world: Journeys) -> None:
    await world.save(EXITS)
    ana, bob = await world.subscribe(1), await world.subscribe(2)
    async with world.sessionmaker() as session:
        session.add(SubscriberTag(subscriber_id=bob, tag="vip", added_at=world.clock()))
        await session.commit()
    for who in (ana, bob):
        await world.log(who, EventType.MESSAGE, {"kind": "text"})
    await world.round()

    (ana_in,) = await world.enrolments(ana)
    (bob_in,) = await world.enrolments(bob)
    assert (ana_in.exit_reason, ana_in.step) == (ExitReason.EXIT, "bye")
    assert (bob_in.status, bob_in.step) == (EnrolmentStatus.ACTIVE, "wait")
    async with world.sessionmaker() as session:
        ended = await set_status(
            session, name="exits", status=JourneyStatus.ARCHIVED, now=world.clock(),
            actor=CLI_ACTOR,
        )  # fmt: skip
        notices = await session.scalar(select(func.count()).select_from(Notice))
    assert ended == 1
    assert notices == 1
    (bob_in,) = await world.enrolments(bob)
    assert bob_in.exit_reason == ExitReason.ARCHIVED


PROMO = """
name: promo
trigger: subscribed
steps:
  - id: hello
    send: {text: "Spring sale"}
  - id: later
    wait: 2d
  - id: again
    send: {text: "Last day of the sale"}
"""


async def test_archiving_cancels_the_messages_queued_for_those_inside(world: Journeys) -> None:
    await world.save(PROMO)
    ana, bob = await world.subscribe(1), await world.subscribe(2)
    await world.runner.run_round()  # queued; the sender has not taken them yet
    async with world.sessionmaker() as session:
        ended = await set_status(
            session, name="promo", status=JourneyStatus.ARCHIVED, now=world.clock(),
            actor=CLI_ACTOR,
        )  # fmt: skip
    await world.send_queued()

    assert ended == 2
    assert (world.texts(1), world.texts(2)) == ([], [])
    async with world.sessionmaker() as session:
        statuses = (await session.scalars(select(Delivery.status))).all()
        detail = await session.scalar(
            select(AuditLog.detail).where(AuditLog.action == "journey.archive")
        )
    assert statuses == [DeliveryStatus.CANCELLED, DeliveryStatus.CANCELLED]
    assert detail == {"journey": "promo", "ended": 2, "cancelled": 2}
    for who in (ana, bob):
        (inside,) = await world.enrolments(who)
        assert inside.exit_reason == ExitReason.ARCHIVED


async def test_a_forgotten_person_leaves_the_journey_and_its_counts_stay(
    world: Journeys,
) -> None:
    await world.save(SERIES.replace("{holdout}", "0"))
    ana, bob = await world.subscribe(1), await world.subscribe(2)
    await world.round()
    await world.buy(ana, "30.00")
    await world.round()
    async with world.sessionmaker() as session:
        before = await journey_report(session, name="series", now=world.clock())
        for chat in (1, 2):
            await forget(session, telegram_id=chat, now=world.clock())
        await session.commit()
    world.clock.advance(days=3)
    await world.round()

    assert (world.texts(1), world.texts(2)) == (["Hello"], ["Hello"])
    (ana_in,) = await world.enrolments(ana)
    (bob_in,) = await world.enrolments(bob)
    assert ana_in.exit_reason == ExitReason.GOAL
    assert (bob_in.status, bob_in.exit_reason) == ("ended", ExitReason.UNSUBSCRIBED)
    async with world.sessionmaker() as session:
        after = await journey_report(session, name="series", now=world.clock())
    assert (before.entries.entered, before.entries.converted) == (2, 1)
    assert (after.entries.entered, after.entries.converted) == (2, 1)
