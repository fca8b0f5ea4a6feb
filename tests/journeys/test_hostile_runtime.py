"""Journeys at run time under hostile conditions: a segment deleted under an entry rule, a
/stop stamped before the entry it must end, a click while the journey was paused, a wait
until a time the clock shows twice, a birthday on 29 February, a round failing as the
runner stops; simulations of a paused journey, amid other people's messages and through a
step that cannot happen; `segbot journey` and `segbot report journey` given files they
cannot use."""

import asyncio
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from cli.app import app
from core.models import EventType, Subscriber
from journeys.models import EnrolmentStatus, ExitReason, JourneyStatus
from journeys.simulate import simulate
from journeys.store import CLI_ACTOR, set_status
from tests.broadcasts.audience import drop_segment
from tests.cli.conftest import invoke
from tests.journeys.harness import SERIES, SETTINGS, Journeys
from tests.stopping import fail_when_cancelled, stop

FOR_VIPS = """
name: vips
trigger: replied
entry: {rule: "in segment vip"}
steps:
  - id: hello
    send: {text: Hello VIP}
"""
WELCOME = """
name: welcome
trigger: subscribed
steps:
  - id: hi
    send: {text: Hi}
"""


async def test_an_entry_rule_naming_a_deleted_segment_keeps_no_other_journey_waiting(
    world: Journeys,
) -> None:
    await world.segment("vip", "lang = en")
    await world.save(FOR_VIPS)
    await world.save(WELCOME)
    async with world.sessionmaker() as session:
        await drop_segment(session, "vip")
    ana = await world.subscribe(1)
    await world.log(ana, EventType.MESSAGE, {"kind": "text"})

    done = await world.round()

    assert done.entered.entered == 1  # the welcome; nobody can enter vips
    assert world.texts(1) == ["Hi"]


async def test_a_stop_stamped_before_the_entry_still_ends_it(world: Journeys) -> None:
    await world.save(SERIES)
    await world.subscribe(1)
    stopped_at = world.clock.advance(seconds=1)
    entered_at = world.clock.advance(seconds=1)
    await world.round()  # enters: the /stop below is not committed yet
    world.clock.now = stopped_at  # the bot stamped it before the entry
    await world.stop(1)
    world.clock.now = entered_at
    await world.round()
    world.clock.advance(hours=1)
    ana = await world.subscribe(1)  # back: the journey they left does not go on
    await world.round()
    world.clock.advance(days=1, seconds=1)
    await world.round()

    (enrolment,) = await world.enrolments(ana)
    assert (enrolment.status, enrolment.exit_reason) == (
        EnrolmentStatus.ENDED,
        ExitReason.UNSUBSCRIBED,
    )
    assert world.texts(1) == ["Hello"]


LOOKED = """
name: looked
trigger: subscribed
steps:
  - id: hello
    send: {text: "New: https://shop.example/new"}
  - id: looked
    wait_for: {clicked: {step: hello}}
    within: 3d
    then: thanks
    else: nudge
  - id: nudge
    send: {text: Nudge}
    next: end
  - id: thanks
    send: {text: Thanks}
"""


async def test_a_click_while_the_journey_was_paused_counts_when_it_resumes(
    world: Journeys,
) -> None:
    await world.save(LOOKED)
    ana = await world.subscribe(1)
    await world.subscribe(2)
    await world.round()
    async with world.sessionmaker() as session:
        await set_status(
            session, name="looked", status=JourneyStatus.PAUSED, now=world.clock(), actor=CLI_ACTOR
        )
    world.clock.advance(hours=1)
    await world.click(ana, step="hello")
    await world.round()
    assert (len(world.texts(1)), len(world.texts(2))) == (1, 1)  # paused: nobody moves on

    world.clock.advance(hours=1)
    async with world.sessionmaker() as session:
        await set_status(
            session, name="looked", status=JourneyStatus.LIVE, now=world.clock(), actor=CLI_ACTOR
        )
    await world.round()
    assert world.texts(1)[1:] == ["Thanks"]
    assert world.texts(2)[1:] == []  # no click: waits its three days
    world.clock.advance(days=3)
    await world.round()
    assert world.texts(2)[1:] == ["Nudge"]


AT_HALF_PAST_ONE = """
name: night
trigger: subscribed
timezone: America/New_York
steps:
  - id: hello
    send: {text: Hello}
  - id: night
    wait: {until: "01:30"}
  - id: later
    send: {text: Later}
"""


async def test_a_wait_until_a_time_the_clock_shows_twice_waits_for_the_next(
    world: Journeys,
) -> None:
    # 06:10 UTC on 1 November 2026 is 01:10 in New York, after the clocks went back from
    # 02:00 to 01:00: 01:30 comes again at 06:30 UTC.
    world.clock.now = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)
    await world.save(AT_HALF_PAST_ONE)
    await world.subscribe(1)
    await world.round()
    world.clock.advance(minutes=15)
    await world.round()
    assert world.texts(1) == ["Hello"]
    world.clock.advance(minutes=10)
    await world.round()
    assert world.texts(1) == ["Hello", "Later"]


async def test_a_round_that_fails_as_the_runner_stops_does_not_start_it_again(
    world: Journeys,
) -> None:
    """Stopping cancels the round, and cleaning up after it fails (the database locked):
    the runner must stop, not take it for a failed round and run another."""
    started = asyncio.Event()
    world.runner.run_round = partial(fail_when_cancelled, started)  # type: ignore[method-assign]
    running = asyncio.create_task(world.runner.keep_running())
    await started.wait()
    await stop(running)
    assert running.cancelled()


async def test_a_paused_journey_is_simulated_as_if_it_were_live(world: Journeys) -> None:
    await world.save(SERIES)
    ana = await world.subscribe(1)
    async with world.sessionmaker() as session:
        await set_status(
            session, name="series", status=JourneyStatus.PAUSED, now=world.clock(), actor=CLI_ACTOR
        )

    result = await simulate(
        world.sessionmaker, name="series", subscriber_id=ana, start=world.clock(),
        settings=SETTINGS, rfm_segments=(),
    )  # fmt: skip

    assert result.status is JourneyStatus.PAUSED
    assert [(step.step, step.outcome) for step in result.steps] == [
        ("hello", "sent"),
        ("pause", "done"),
        ("later", "sent"),
    ]
    assert result.ended == ExitReason.COMPLETED


PERSONAL = """
name: personal
trigger: subscribed
steps:
  - id: hello
    send: {text: "Hello {{ first_name }}"}
  - id: pause
    wait: 1h
  - id: later
    send: {text: "Later {{ first_name }}"}
"""
OTHER = """
name: other
trigger: subscribed
steps:
  - id: pause
    wait: 1h
  - id: news
    send: {text: "News for {{ first_name }}"}
"""


async def test_a_simulation_shows_only_its_own_messages_to_its_subscriber(
    world: Journeys,
) -> None:
    await world.save(PERSONAL)
    await world.subscribe(2)  # Bob is due his second message when Ana is simulated
    await world.round()
    await world.save(OTHER)
    ana = await world.subscribe(1)  # and Ana one of another journey's
    await world.round()

    result = await simulate(
        world.sessionmaker, name="personal", subscriber_id=ana,
        start=world.clock.advance(hours=2), settings=SETTINGS, rfm_segments=(),
    )  # fmt: skip

    messages = [step.message.text for step in result.steps if step.message is not None]
    assert messages == ["Hello User1", "Later User1"]


async def test_create_says_in_a_line_that_a_folder_or_a_file_not_in_utf8_cannot_be_read(
    runner: CliRunner, tmp_path: Path
) -> None:
    folder = await invoke(runner, app, "journey", "create", str(tmp_path))
    assert folder.exit_code == 2
    assert "is a directory" in folder.stderr
    latin = tmp_path / "journey.yaml"
    latin.write_bytes("name: café\n".encode("latin-1"))
    undecodable = await invoke(runner, app, "journey", "create", str(latin))
    assert undecodable.exit_code == 2
    assert undecodable.stderr.count("\n") == 1
    assert f"error: {latin}: cannot be read as UTF-8 text" in undecodable.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs a device that is always full")
async def test_a_report_file_that_cannot_be_written_is_named(
    runner: CliRunner, world: Journeys
) -> None:
    await world.save(SERIES)
    full = await invoke(runner, app, "report", "journey", "series", "--csv", "/dev/full")
    assert full.exit_code == 1
    assert "error: cannot write /dev/full: No space left on device" in full.stderr


BIRTHDAY = """
name: birthday
trigger: {date: {attribute: born, days: 0}}
entry: {reentry: every_time}
steps:
  - id: wish
    send: {text: Happy birthday}
"""
IF_VIP = """
name: branch
trigger: subscribed
steps:
  - id: hello
    send: {text: Hello}
  - id: check
    if: "in segment vip"
  - id: bye
    send: {text: Bye}
"""


async def test_a_simulation_stops_at_a_step_that_cannot_happen_and_says_why(
    world: Journeys,
) -> None:
    await world.segment("vip", "lang = en")
    await world.save(IF_VIP)
    async with world.sessionmaker() as session:
        await drop_segment(session, "vip")
    ana = await world.subscribe(1)

    result = await simulate(
        world.sessionmaker, name="branch", subscriber_id=ana, start=world.clock(),
        settings=SETTINGS, rfm_segments=(),
    )  # fmt: skip

    assert [(step.step, step.outcome) for step in result.steps] == [("hello", "sent")]
    assert result.stuck == "step check cannot happen (no segment named 'vip')"


async def test_a_29_february_birthday_comes_on_28_february_in_other_years(
    world: Journeys,
) -> None:
    world.clock.now = datetime(2027, 2, 26, 12, 0, tzinfo=UTC)  # 2027 has no 29 February
    ana = await world.subscribe(1)
    async with world.sessionmaker() as session:
        await session.execute(
            update(Subscriber).where(Subscriber.id == ana).values(attributes={"born": "2000-02-29"})
        )
        await session.commit()
    await world.save(BIRTHDAY)
    for day in (27, 28):
        world.clock.now = datetime(2027, 2, day, 0, 5, tzinfo=UTC)
        await world.round()
        assert world.texts(1) == ([] if day == 27 else ["Happy birthday"])
    world.clock.now = datetime(2027, 3, 1, 0, 5, tzinfo=UTC)
    await world.round()
    assert world.texts(1) == ["Happy birthday"]
