"""What steps do: a send picks the first target whose segment takes the person and splits
its variants; tags and attributes change; a notice reaches the admins once."""

import asyncio
from collections import Counter

import pytest
from sqlalchemy import select, update

from broadcasts.messenger import RetryAfter
from broadcasts.models import Run, RunStatus
from core.models import Admin, AdminRole, EventType, Subscriber, SubscriberTag
from journeys.models import JourneyVersion, Notice, NoticeStatus
from journeys.notices import Notifier
from journeys.runner import JourneyRunner
from journeys.spec import parse_journey, stored_spec
from tests.broadcasts.fake_messenger import FakeMessenger
from tests.journeys.harness import Journeys

TARGETED = """
name: targeted
trigger: replied
steps:
  - id: offer
    send:
      audience:
        - segment: vip
          text: VIP offer
        - query: "lang = es"
          label: spanish
          variants:
            - {name: a, split: 50, text: Oferta A}
            - {name: b, split: 50, text: Oferta B}
"""


async def test_a_send_takes_the_first_target_that_matches_and_splits_its_variants(
    world: Journeys,
) -> None:
    await world.segment("vip", "tag:vip")
    await world.save(TARGETED)
    people = [await world.subscribe(chat) for chat in range(1, 41)]
    async with world.sessionmaker() as session:
        for who in people[:30]:
            row = await session.get(Subscriber, who)
            assert row is not None
            row.language_code = "es"
        session.add(SubscriberTag(subscriber_id=people[0], tag="vip", added_at=world.clock()))
        await session.commit()
    for who in people:
        await world.log(who, EventType.MESSAGE, {"kind": "text"})
    await world.round()

    got = Counter(text for chat in range(1, 41) for text in world.texts(chat))
    assert world.texts(1) == ["VIP offer"]  # Spanish too, but VIP comes first
    assert got["Oferta A"] + got["Oferta B"] == 29
    assert got["Oferta A"] > 0
    assert got["Oferta B"] > 0
    assert world.texts(40) == []  # no default: not Spanish, not VIP, no message
    for who in people:  # and everyone went on
        assert (await world.enrolments(who))[0].exit_reason == "completed"


CHANGES = """
name: changes
trigger: replied
steps:
  - id: plan
    set: {attribute: plan, value: pro}
  - id: tagged
    add_tag: pro
  - id: untagged
    remove_tag: trial
  - id: tell
    notify: "{{ first_name }} went pro ({{ attr.plan }})"
"""


async def test_tags_attributes_and_a_notice_to_the_admins(world: Journeys) -> None:
    admins = FakeMessenger()
    world.runner = JourneyRunner(
        world.sessionmaker,
        clock=world.clock,
        notifier=Notifier(world.sessionmaker, admins, owners=[900], clock=world.clock),
    )
    await world.save(CHANGES)
    ana = await world.subscribe(1)
    async with world.sessionmaker() as session:
        session.add(SubscriberTag(subscriber_id=ana, tag="trial", added_at=world.clock()))
        session.add(Admin(user_id=901, role=AdminRole.MARKETER, added_at=world.clock()))
        session.add(Admin(user_id=902, role=AdminRole.VIEWER, added_at=world.clock()))
        await session.commit()
    await world.log(ana, EventType.MESSAGE, {"kind": "text"})
    await world.round()
    await world.round()

    async with world.sessionmaker() as session:
        row = await session.get(Subscriber, ana, populate_existing=True)
        tags = set((await session.scalars(select(SubscriberTag.tag))).all())
        notices = list((await session.scalars(select(Notice.status))).all())
    assert row is not None
    assert row.attributes["plan"] == "pro"
    assert tags == {"pro"}
    assert notices == [NoticeStatus.SENT]
    assert [(m.chat_id, m.text) for m in admins.sent] == [
        (900, "User1 went pro (pro)"),
        (901, "User1 went pro (pro)"),
    ]


NOTIFY = """
name: notify
trigger: replied
steps:
  - id: tell
    notify: "{{ first_name }} replied"
"""


async def test_notices_telegram_asks_to_wait_for_wait_their_turn_and_are_not_lost(
    world: Journeys,
) -> None:
    """Flood control on the first notice: it and the rest go back in the queue, nothing
    goes during the wait Telegram asked for, and every notice arrives after it."""
    admins = FakeMessenger()
    admins.script[900] = [RetryAfter(0.3)]
    notifier = Notifier(world.sessionmaker, admins, owners=[900], clock=world.clock)
    world.runner = JourneyRunner(world.sessionmaker, clock=world.clock, notifier=notifier)
    await world.save(NOTIFY)
    for chat in (1, 2, 3):
        await world.log(await world.subscribe(chat), EventType.MESSAGE, {"kind": "text"})
    await world.round()
    assert (len(admins.calls), admins.sent) == (1, [])  # the 429, then nothing
    assert await notifier.send_queued() == 0  # still within the wait
    await asyncio.sleep(0.3)
    assert await notifier.send_queued() == 3
    async with world.sessionmaker() as session:
        notices = list((await session.scalars(select(Notice.status))).all())
    assert notices == [NoticeStatus.SENT] * 3
    assert sorted(m.text for m in admins.sent) == [f"User{n} replied" for n in (1, 2, 3)]


LONGEST = """
name: longest
trigger: subscribed
entry: {reentry: 400d}
goal: {purchased: any, within: 1098d}
steps:
  - id: hello
    send: {text: Welcome}
  - id: year
    wait: 53w
  - id: again
    send: {text: A year with us}
"""
CLEARS = """
name: clears
trigger: replied
steps:
  - id: clear
    set: {attribute: plan, value: null}
"""


async def test_waits_of_a_year_or_more_and_a_null_value_run_as_saved(world: Journeys) -> None:
    await world.save(LONGEST)
    await world.save(CLEARS)
    ana = await world.subscribe(1)
    async with world.sessionmaker() as session:
        row = await session.get_one(Subscriber, ana)
        row.attributes = {"plan": "pro"}
        await session.commit()
    await world.log(ana, EventType.MESSAGE, {"kind": "text"})
    await world.round()
    await world.round()

    assert world.texts(1) == ["Welcome"]
    async with world.sessionmaker() as session:
        row = await session.get_one(Subscriber, ana, populate_existing=True)
    assert row.attributes == {"plan": None}


def test_a_version_stored_without_its_null_value_reads_as_null() -> None:
    data = parse_journey(CLEARS).stored()
    assert data["steps"][0]["set"] == {"attribute": "plan", "value": None}
    del data["steps"][0]["set"]["value"]  # as versions were stored before null was kept
    step = stored_spec(data).steps[0]
    assert step.set is not None
    assert (step.set.attribute, step.set.value) == ("plan", None)


async def test_a_journey_whose_stored_version_cannot_be_read_stops_no_other(
    world: Journeys, caplog: pytest.LogCaptureFixture
) -> None:
    saved = await world.save(CLEARS)
    await world.save(LONGEST)
    async with world.sessionmaker() as session:
        broken = await session.get_one(JourneyVersion, saved.version.id)
        broken.spec = {**broken.spec, "steps": [{"id": "clear", "wait": "soon"}]}
        await session.commit()
    await world.subscribe(1)
    await world.round()
    await world.round()

    assert world.texts(1) == ["Welcome"]
    unreadable = [r.message for r in caplog.records if "cannot be read" in r.message]
    assert unreadable == [
        f"journey {saved.journey.id} version {saved.version.id} cannot be read "
        "(at steps.0.wait.duration), so it is left out"
    ]


async def test_a_run_the_sender_closed_while_a_step_queued_into_it_sends_again(
    world: Journeys,
) -> None:
    await world.save(TARGETED.replace("        - segment: vip\n          text: VIP offer\n", ""))
    ana = await world.subscribe(1)
    async with world.sessionmaker() as session:
        row = await session.get(Subscriber, ana)
        assert row is not None
        row.language_code = "es"
        await session.commit()
    await world.log(ana, EventType.MESSAGE, {"kind": "text"})
    await world.runner.run_round()  # queued, not sent yet...
    async with world.sessionmaker() as session:  # ...when the sender closed its run
        await session.execute(update(Run).values(status=RunStatus.DONE))
        await session.commit()

    await world.round()

    assert world.texts(1)[0].startswith("Oferta")
