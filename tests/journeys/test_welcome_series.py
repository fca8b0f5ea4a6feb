"""A welcome series on a controlled clock: a message at once, a day to click its link,
then thanks or a nudge; each person gets the right messages at the right times."""

from tests.journeys.harness import Journeys

WELCOME = """
name: welcome
trigger: subscribed
steps:
  - id: hello
    send: {text: "Hello {{ first_name }}! See https://shop.example/new"}
  - id: looked
    wait_for: {clicked: {step: hello}}
    within: 1d
    then: thanks
    else: nudge
  - id: nudge
    send: {text: "Did you see our new things?"}
    next: end
  - id: thanks
    send: {text: "Glad you liked it"}
"""


async def test_a_welcome_series_branches_on_the_click(world: Journeys) -> None:
    await world.save(WELCOME)
    ana = await world.subscribe(101)
    bob = await world.subscribe(102)

    await world.round()
    (hello,) = world.texts(101)
    assert hello.startswith("Hello User101! See http://bot.test/r/")  # a tracked link
    assert len(world.texts(102)) == 1

    world.clock.advance(hours=3)
    await world.click(ana, step="hello")
    await world.round()
    assert world.texts(101)[1:] == ["Glad you liked it"]
    assert world.texts(102)[1:] == []

    world.clock.advance(hours=20)
    await world.round()
    assert world.texts(102)[1:] == []  # a day is not over yet

    world.clock.advance(hours=1, seconds=1)
    await world.round()
    assert world.texts(102)[1:] == ["Did you see our new things?"]
    assert world.texts(101)[1:] == ["Glad you liked it"]
    for who in (ana, bob):
        (enrolment,) = await world.enrolments(who)
        assert enrolment.status == "ended"
        assert enrolment.exit_reason == "completed"


async def test_a_click_after_the_day_is_too_late_though_the_runner_was_down_then(
    world: Journeys,
) -> None:
    """The runner is down as the day ends; the click comes after it and before the runner
    is back: the wait went unanswered, so the nudge, not the thanks."""
    await world.save(WELCOME)
    ana = await world.subscribe(101)
    bob = await world.subscribe(102)
    await world.round()
    world.clock.advance(hours=23)
    await world.click(bob, step="hello")  # within the day
    world.clock.advance(hours=4)
    await world.click(ana, step="hello")  # a day and three hours after the message
    world.clock.advance(hours=2)
    await world.round()  # back
    assert world.texts(101)[1:] == ["Did you see our new things?"]
    assert world.texts(102)[1:] == ["Glad you liked it"]
