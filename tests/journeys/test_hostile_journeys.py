"""Journeys written or driven to break them: a bad definition is refused when saved, each
mistake at its place in words a marketer reads (never pydantic's timedelta parser, never a
database error); two saves at the same moment both land, one version after the other; two
triggers at once enrol once, and someone forgotten meanwhile is never messaged."""

import asyncio

import pytest
from sqlalchemy import select

from core.models import EventType
from core.subscribers import forget
from journeys.models import EnrolmentStatus, JourneyVersion
from journeys.spec import JourneyFileError, parse_journey
from tests.journeys.harness import Journeys


def mistake(text: str) -> str:
    with pytest.raises(JourneyFileError) as error:
        parse_journey(text, source="j.yaml")
    return str(error.value)


UNITS = "a duration is a number and a unit: 30s, 15m, 2h, 1d, 2w"


@pytest.mark.parametrize(
    ("step", "said"),
    [
        ("{id: a, wait: 0s}", f"line 3, steps.0.wait.duration: {UNITS} (not '0s')"),
        ("{id: a, wait: -5m}", f"line 3, steps.0.wait.duration: {UNITS} (not '-5m')"),
        ("{id: a, wait: 1e9 days}", f"line 3, steps.0.wait.duration: {UNITS} (not '1e9 days')"),
        (
            "{id: a, wait: 1000000000000s}",
            f"line 3, steps.0.wait.duration: {UNITS} (not '1000000000000s')",
        ),
        (
            "{id: a, wait: 999999d}",
            "line 3, steps.0.wait.duration: a duration is longer than 0s and at most 1098d",
        ),
        (
            "{id: a, wait: P999999999999D}",
            "line 3, steps.0.wait.duration: 'P999999999999D' is not a duration that can be read",
        ),
        (
            "{id: a, wait_for: replied, within: 0d}",
            f"line 3, steps.0.within: {UNITS} (not '0d')",
        ),
    ],
)
def test_a_wait_out_of_range_or_misspelt_is_told_as_the_format_wanted(step: str, said: str) -> None:
    assert mistake(f"name: x\ntrigger: replied\nsteps: [{step}]\n") == f"j.yaml: {said}"


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("trigger: {inactive: 0d}\n", f"line 2, trigger.inactive: {UNITS} (not '0d')"),
        (
            "trigger: replied\ngoal: {replied: any, within: -1d}\n",
            f"line 3, goal.within: {UNITS} (not '-1d')",
        ),
    ],
)
def test_a_trigger_or_goal_span_out_of_range_is_told_plainly(where: str, said: str) -> None:
    assert mistake(f"name: x\n{where}steps: [{{id: a, wait: 1d}}]\n") == f"j.yaml: {said}"


TRIGGERS = (
    "clicked, pressed, answered, reacted, replied, purchased, subscribed, entered_segment, "
    "left_segment, date, inactive, rfm, stage, manual"
)
DONE = "clicked, pressed, answered, reacted, replied, purchased"


@pytest.mark.parametrize(
    ("trigger", "said"),
    [
        ("bogus", f"'bogus' is not a trigger: give one of {TRIGGERS}"),
        ("{bogus: 1}", f"'bogus' is not a trigger: give one of {TRIGGERS}"),
        ("5", f"give a trigger: one of {TRIGGERS}"),
        ("[replied]", f"give a trigger: one of {TRIGGERS}"),
        ("inactive", "'inactive' needs what it is about after it (inactive: ...)"),
        ("{entered_segment: }", "'entered_segment' needs what it is about after it "
         "(entered_segment: ...)"),
    ],
)  # fmt: skip
def test_an_unknown_or_incomplete_trigger_is_named_with_those_there_are(
    trigger: str, said: str
) -> None:
    text = f"name: x\ntrigger: {trigger}\nsteps: [{{id: a, wait: 1d}}]\n"
    assert mistake(text) == f"j.yaml: line 2, trigger: {said}"


@pytest.mark.parametrize(
    ("where", "place"),
    [
        ("steps: [{id: a, wait_for: subscribed, within: 1d}]\n", "line 3, steps.0.wait_for"),
        ("goal: {subscribed: any}\nsteps: [{id: a, wait: 1d}]\n", "line 3, goal"),
    ],
)
def test_waiting_for_or_aiming_at_no_thing_done_is_named(where: str, place: str) -> None:
    assert mistake(f"name: x\ntrigger: replied\n{where}") == (
        f"j.yaml: {place}: 'subscribed' is not something a subscriber does: give one of {DONE}"
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "name: wélcome\ntrigger: replied\nsteps: [{id: a, wait: 1d}]\n",
            "line 1, name: a journey name is 1 to 48 of A-Z a-z 0-9 _ . - (not 'wélcome')",
        ),
        (
            "name: x\ntrigger: replied\nsteps: [{id: шаг, wait: 1d}]\n",
            "line 3, steps.0.id: a step id is 1 to 32 of A-Z a-z 0-9 _ - (not 'шаг')",
        ),
        (
            "name: x\ntrigger: replied\nsteps: [{id: a, if: buyer, then: 'the end'}]\n",
            "line 3, steps.0.then: a step id is 1 to 32 of A-Z a-z 0-9 _ - (not 'the end')",
        ),
    ],
)
def test_a_name_of_other_characters_says_which_it_may_have(text: str, said: str) -> None:
    assert mistake(text) == f"j.yaml: {said}"


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_setting_an_attribute_to_no_finite_number_is_refused_on_its_line(value: str) -> None:
    text = (
        f"name: x\ntrigger: replied\nsteps:\n  - id: a\n    set: {{attribute: a, value: {value}}}\n"
    )
    written = {".nan": "nan", ".inf": "inf", "-.inf": "-inf"}[value]
    assert mistake(text) == (
        f"j.yaml: line 5, steps.0.set.value: set: {written} is not a number an attribute can hold"
    )


def test_setting_an_attribute_to_a_number_past_a_double_is_refused_on_its_line() -> None:
    """A rule reads the attribute as a double: PostgreSQL would fail its segments'
    refreshes."""
    value = "9" * 400
    text = (
        f"name: x\ntrigger: replied\nsteps:\n  - id: a\n    set: {{attribute: a, value: {value}}}\n"
    )
    assert mistake(text) == (
        "j.yaml: line 5, steps.0.set.value: set: a number of 400 digits is more than an "
        "attribute can hold (at most 308)"
    )
    parse_journey(text.replace("9" * 400, "9" * 300), source="j.yaml")  # fits


async def test_one_journey_saved_twice_at_the_same_moment_makes_two_versions(
    world: Journeys,
) -> None:
    text = "name: twice\ntrigger: replied\nsteps: [{id: a, send: {text: hi}}]\n"
    for _ in range(3):
        await asyncio.gather(world.save(text), world.save(text))
    async with world.sessionmaker() as session:
        versions = await session.scalars(select(JourneyVersion.version))
        assert sorted(versions.all()) == [1, 2, 3, 4, 5, 6]


SERIES = """
name: series
trigger: replied
entry: {reentry: every_time}
steps:
  - {id: hello, send: {text: hello}}
  - {id: later, wait: 1d}
  - {id: bye, send: {text: bye}}
"""


async def test_two_triggers_at_once_enrol_once_and_send_each_step_once(world: Journeys) -> None:
    await world.save(SERIES)
    ana = await world.subscribe(1)
    await world.log(ana, EventType.MESSAGE)
    await world.log(ana, EventType.MESSAGE)
    await world.round()
    world.clock.advance(days=1, seconds=1)
    await world.round()
    await world.round()
    assert world.texts(1) == ["hello", "bye"]
    assert [each.status for each in await world.enrolments(ana)] == [EnrolmentStatus.ENDED]


@pytest.mark.parametrize("when", ["before the round", "inside the journey"])
async def test_someone_forgotten_meanwhile_is_never_messaged(world: Journeys, when: str) -> None:
    await world.save(SERIES)
    ana = await world.subscribe(1)
    await world.log(ana, EventType.MESSAGE)
    if when == "inside the journey":
        await world.round()
    async with world.sessionmaker() as session:
        await forget(session, telegram_id=1, now=world.clock())
        await session.commit()
    world.clock.advance(days=1, seconds=1)
    await world.round()
    await world.round()
    tried = [message.text for message in world.messenger.calls]  # to any chat, erased too
    assert tried == ([] if when == "before the round" else ["hello"])
