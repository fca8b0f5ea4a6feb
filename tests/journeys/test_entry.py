"""Who enters: re-entry policies (once ever, once per a duration, every time) and never
while inside; the entry rule; the manual enrolment of a segment."""

import pytest

from core.models import EventType, Subscriber
from journeys.manual import enroll_segment
from journeys.store import CLI_ACTOR
from tests.journeys.harness import Journeys

ON_REPLY = """
name: reply
trigger: replied
entry: {rule: "lang = en", reentry: POLICY}
steps:
  - id: hello
    send: {text: Hello}
  - id: pause
    wait: 1d
"""


@pytest.mark.parametrize(
    ("policy", "entries"),
    [("once", 1), ("every_time", 3), ("3d", 2)],
)
async def test_re_entry_policies_hold(world: Journeys, policy: str, entries: int) -> None:
    await world.save(ON_REPLY.replace("POLICY", policy))
    ana = await world.subscribe(1)
    for _ in range(2):  # inside: a second reply enters nobody, whatever the policy
        await world.log(ana, EventType.MESSAGE, {"kind": "text"})
        await world.round()
    for _ in range(2):  # then a reply each two days, each after the last enrolment ended
        world.clock.advance(days=2)
        await world.round()
        await world.log(ana, EventType.MESSAGE, {"kind": "text"})
        await world.round()

    enrolments = await world.enrolments(ana)
    assert [enrolment.entry for enrolment in enrolments] == list(range(1, entries + 1))
    assert world.texts(1) == ["Hello"] * entries


async def test_the_entry_rule_keeps_others_out(world: Journeys) -> None:
    await world.save(ON_REPLY.replace("POLICY", "once"))
    ana = await world.subscribe(1)
    async with world.sessionmaker() as session:
        row = await session.get(Subscriber, ana)
        assert row is not None
        row.language_code = "es"
        await session.commit()
    await world.log(ana, EventType.MESSAGE, {"kind": "text"})
    done = await world.round()
    assert done.entered.entered == 0


async def test_a_segment_enrolled_by_hand_enters_once_per_policy(world: Journeys) -> None:
    manual = ON_REPLY.replace("trigger: replied", "trigger: manual")
    await world.save(manual.replace("POLICY", "once"))
    for chat in (1, 2, 3):
        await world.subscribe(chat)
    await world.segment("everyone", "status = active")
    async with world.sessionmaker() as session:
        first = await enroll_segment(
            session, name="reply", segment="everyone", now=world.clock(), actor=CLI_ACTOR
        )
        again = await enroll_segment(
            session, name="reply", segment="everyone", now=world.clock(), actor=CLI_ACTOR
        )
    await world.round()
    assert (first.entered, again.entered) == (3, 0)
    assert [world.texts(chat) for chat in (1, 2, 3)] == [["Hello"]] * 3
