"""The two readings of "did they do it": Python on the events the feed reads (triggers,
goals) and SQL on the event log (wait_for steps) agree, happening by happening, on the
same events; and neither counts what happened before the step began."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.models import EventType
from journeys.happenings import Happening
from journeys.matching import event_matches, happened_since_step
from journeys.models import Enrolment
from tests.journeys.harness import Journeys

WAITING = """
name: waiting
trigger: replied
steps:
  - id: wait
    wait: 30d
"""
EVENTS: list[tuple[EventType, dict[str, Any]]] = [
    (EventType.LINK_CLICK, {"tags": ["sale", "shoes"]}),
    (EventType.LINK_CLICK, {"tags": "sale"}),  # not a list: no tag
    (EventType.BUTTON, {"data": "yes"}),
    (EventType.QUIZ_ANSWER, {"question": "goal", "answers": ["fit", "fun"]}),
    (EventType.REACTION, {"emoji": ["🔥"]}),
    (EventType.COMMAND, {"command": "/help"}),
]
HAPPENINGS = [
    "clicked",
    {"clicked": {"tag": "sale"}},
    {"clicked": {"tag": "hats"}},
    "pressed",
    {"pressed": {"button": "yes"}},
    {"pressed": {"button": "no"}},
    {"answered": {"question": "goal"}},
    {"answered": {"question": "goal", "answer": "fun"}},
    {"answered": {"question": "goal", "answer": "zen"}},
    {"answered": {"question": "age"}},
    "reacted",
    {"reacted": {"emoji": "🔥"}},
    {"reacted": {"emoji": "👍"}},
    "replied",
]


@pytest.mark.parametrize("index", range(len(EVENTS)))
async def test_python_and_sql_agree_on_each_happening(world: Journeys, index: int) -> None:
    await world.save(WAITING)
    ana = await world.subscribe(1)
    kind, payload = EVENTS[index]
    await world.log(ana, kind, payload)  # before the step began: never counted
    await world.log(ana, EventType.MESSAGE, {"kind": "text"})  # the trigger
    world.clock.advance(minutes=1)
    await world.round()
    (enrolment,) = await world.enrolments(ana)
    world.clock.advance(minutes=1)
    await world.log(ana, kind, payload)

    for written in HAPPENINGS:
        happening = Happening.model_validate(written)
        in_python = event_matches(happening, kind.value, payload)
        async with world.sessionmaker() as session:
            in_sql = await session.scalar(
                select(happened_since_step(happening, within=timedelta(days=1))).where(
                    Enrolment.id == enrolment.id
                )
            )
        assert bool(in_sql) == in_python, (written, kind, payload)
