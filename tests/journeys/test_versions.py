"""Editing a live journey: a new version for whoever enters next; people inside keep the
version they entered, or (with move) go on in the new one at the step with the same id;
those whose step the new version lacks stay where they are."""

from tests.journeys.harness import Journeys

V1 = """
name: series
trigger: subscribed
steps:
  - id: hello
    send: {text: v1 hello}
  - id: pause
    wait: 1d
  - id: bye
    send: {text: v1 bye}
"""
V2 = """
name: series
trigger: subscribed
steps:
  - id: hello
    send: {text: v2 hello}
  - id: pause
    wait: 1d
  - id: extra
    send: {text: v2 extra}
  - id: bye
    send: {text: v2 bye}
"""
V3_WITHOUT_PAUSE = """
name: series
trigger: subscribed
steps:
  - id: hello
    send: {text: v3 hello}
  - id: bye
    send: {text: v3 bye}
"""


async def test_people_inside_keep_their_version_by_default(world: Journeys) -> None:
    await world.save(V1)
    await world.subscribe(1)
    await world.round()
    saved = await world.save(V2)
    await world.subscribe(2)
    await world.round()
    world.clock.advance(days=1, seconds=1)
    await world.round()

    assert saved.moved == 0
    assert world.texts(1) == ["v1 hello", "v1 bye"]
    assert world.texts(2) == ["v2 hello", "v2 extra", "v2 bye"]


async def test_moving_takes_people_on_by_step_id_and_leaves_the_rest(world: Journeys) -> None:
    await world.save(V1)
    await world.subscribe(1)
    await world.round()
    moved = await world.save(V2, move=True)
    await world.subscribe(2)
    await world.round()
    kept = await world.save(V3_WITHOUT_PAUSE, move=True)  # no "pause": both stay
    world.clock.advance(days=1, seconds=1)
    await world.round()

    assert (moved.moved, kept.moved) == (1, 0)
    assert world.texts(1) == ["v1 hello", "v2 extra", "v2 bye"]  # went on in version 2
    assert world.texts(2) == ["v2 hello", "v2 extra", "v2 bye"]
