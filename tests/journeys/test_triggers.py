"""What starts a journey: each trigger that is an event, the first message queued in the
round that reads it; the same event never enrols twice, even read again; a journey
reacts only to what happens once it exists, and while it is live."""

import pytest
from sqlalchemy import update

from core.models import EventType
from journeys.models import FeedPosition, JourneyStatus
from journeys.runner import JourneyRunner
from journeys.store import CLI_ACTOR, set_status
from tests.journeys.harness import Journeys

HELLO = "steps:\n  - id: hello\n    send: {text: Hello}\n"


def journey(trigger: str, name: str = "j") -> str:
    return f"name: {name}\ntrigger: {trigger}\n{HELLO}"


@pytest.mark.parametrize(
    ("trigger", "kind", "payload", "other"),
    [
        ("{entered_segment: vip}", EventType.SEGMENT_ENTERED, {"segment": "vip"}, {"segment": "x"}),
        ("{left_segment: vip}", EventType.SEGMENT_LEFT, {"segment": "vip"}, {"segment": "x"}),
        ("{clicked: {tag: sale}}", EventType.LINK_CLICK, {"tags": ["sale"]}, {"tags": ["new"]}),
        ("{pressed: {button: 'yes'}}", EventType.BUTTON, {"data": "yes"}, {"data": "no"}),
        (
            "{answered: {question: goal, answer: fit}}",
            EventType.QUIZ_ANSWER,
            {"question": "goal", "answers": ["fit"]},
            {"question": "goal", "answers": ["fun"]},
        ),
        ("{reacted: {emoji: '🔥'}}", EventType.REACTION, {"emoji": ["🔥"]}, {"emoji": ["👍"]}),
        ("replied", EventType.MESSAGE, {"kind": "text"}, None),
        ("{stage: most_aware}", EventType.STAGE_CHANGED, {"to": "most_aware"}, {"to": "unaware"}),
    ],
)
async def test_an_event_trigger_enrols_whoever_it_names_and_only_them(
    world: Journeys,
    trigger: str,
    kind: EventType,
    payload: dict[str, object],
    other: dict[str, object] | None,
) -> None:
    ana, bob = await world.subscribe(1), await world.subscribe(2)
    await world.round()
    await world.segment("vip", "tag:vip")
    await world.save(journey(trigger))
    await world.log(ana, kind, payload)
    if other is not None:
        await world.log(bob, kind, other)
    await world.log(bob, EventType.COMMAND, {"command": "/help"})

    done = await world.round()

    assert (done.entered.entered, done.advanced.queued) == (1, 1)
    assert world.texts(1) == ["Hello"]
    assert world.texts(2) == []


async def test_subscribing_from_a_source_enrols_those_who_came_from_it(world: Journeys) -> None:
    await world.save(journey("{subscribed: {source: instagram}}"))
    await world.subscribe(1, source="instagram")
    await world.subscribe(2, source="facebook")
    await world.round()
    assert (world.texts(1), world.texts(2)) == (["Hello"], [])


async def test_the_same_events_read_again_enrol_nobody_twice(world: Journeys) -> None:
    await world.save(journey("{clicked: any}"))
    ana = await world.subscribe(1)
    await world.log(ana, EventType.LINK_CLICK, {"tags": []})
    await world.round()
    async with world.sessionmaker() as session:  # as after a crash before a saved position
        await session.execute(update(FeedPosition).values(position=0))
        await session.commit()
    world.runner = JourneyRunner(world.sessionmaker, clock=world.clock)

    done = await world.round()

    assert done.events >= 1
    assert done.entered.entered == 0
    assert len(await world.enrolments(ana)) == 1
    assert world.texts(1) == ["Hello"]


async def test_a_journey_reacts_to_what_happens_after_it_is_saved_while_it_is_live(
    world: Journeys,
) -> None:
    ana, bob, cid = await world.subscribe(1), await world.subscribe(2), await world.subscribe(3)
    await world.log(ana, EventType.MESSAGE, {"kind": "text"})
    world.clock.advance(seconds=1)
    await world.save(journey("replied"))
    async with world.sessionmaker() as session:
        await set_status(
            session, name="j", status=JourneyStatus.PAUSED, now=world.clock(), actor=CLI_ACTOR
        )
    await world.log(bob, EventType.MESSAGE, {"kind": "text"})
    await world.round()
    async with world.sessionmaker() as session:
        await set_status(
            session, name="j", status=JourneyStatus.LIVE, now=world.clock(), actor=CLI_ACTOR
        )
    await world.log(cid, EventType.MESSAGE, {"kind": "text"})
    await world.round()

    assert [world.texts(chat) for chat in (1, 2, 3)] == [[], [], ["Hello"]]
