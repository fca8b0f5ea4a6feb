"""The journey diagram's shape: steps in order, a branching step's two ways side by side
until they meet again, each step drawn once, and where each way ends."""

from bot.console.journey_diagram import Box, Branch, End, GoTo, Item, diagram
from bot.console.journey_messages import StepMessage
from journeys.reports import StepReport
from journeys.reports.counts import StepPlaces
from journeys.reports.messages import StepMessages
from journeys.spec import parse_journey

Shape = str | tuple[str, list["Shape"], list["Shape"]]


def shape(items: tuple[Item, ...]) -> list[Shape]:
    """Steps by id, branches as (id, yes, no), `→id` for a way that goes on elsewhere."""
    drawn: list[Shape] = []
    for item in items:
        if isinstance(item, Box):
            drawn.append(item.step)
        elif isinstance(item, Branch):
            drawn.append((item.box.step, shape(item.yes), shape(item.no)))
        elif isinstance(item, GoTo):
            drawn.append(f"→{item.step}")
        else:
            assert isinstance(item, End)
            drawn.append("exit" if item.exit else "end")
    return drawn


def drawn(steps: str) -> list[Shape]:
    spec = parse_journey(f"name: j\ntrigger: subscribed\nsteps:\n{steps}")
    return shape(diagram(spec, {}, {}))


def test_a_journey_without_branches_is_a_line() -> None:
    steps = """
  - {id: hello, send: {text: Hi}}
  - {id: later, wait: 1d}
  - {id: done, add_tag: welcomed}
"""
    assert drawn(steps) == ["hello", "later", "done", "end"]


def test_the_two_ways_of_a_wait_for_meet_again_where_both_go_on() -> None:
    steps = """
  - {id: hello, send: {text: Hi}}
  - {id: clicked, wait_for: {clicked: {step: hello}}, within: 2d, then: thanks, else: nudge}
  - {id: nudge, send: {text: "Still there?"}, next: settle}
  - {id: thanks, send: {text: Thanks}}
  - {id: settle, wait: 3d}
"""
    assert drawn(steps) == ["hello", ("clicked", ["thanks"], ["nudge"]), "settle", "end"]


def test_a_way_that_exits_makes_each_way_draw_its_own_end() -> None:
    steps = """
  - {id: start, send: {text: Hi}}
  - {id: check, if: "lang = es", then: es, else: other}
  - {id: es, send: {text: Hola}, next: done}
  - {id: other, exit: true}
  - {id: done, add_tag: finished}
"""
    assert drawn(steps) == ["start", ("check", ["es", "done", "end"], ["other", "exit"])]


def test_a_way_straight_to_where_they_meet_is_empty() -> None:
    steps = """
  - {id: check, if: "lang = es", then: last}
  - {id: extra, add_tag: not_spanish}
  - {id: last, send: {text: Bye}}
"""
    assert drawn(steps) == [("check", [], ["extra"]), "last", "end"]


def test_a_jump_to_the_end_ends_that_way() -> None:
    steps = """
  - {id: wait_click, wait_for: {clicked: {}}, within: 1d, else: end}
  - {id: thanks, send: {text: Thanks}}
"""
    assert drawn(steps) == [("wait_click", ["thanks", "end"], ["end"])]


def test_a_step_both_ways_reach_is_drawn_once() -> None:
    steps = """
  - {id: split, if: "lang = es", then: a, else: b}
  - {id: a, add_tag: a, next: c}
  - {id: b, wait_for: {clicked: {}}, within: 1d, then: c, else: x}
  - {id: x, exit: true}
  - {id: c, send: {text: Hi}}
"""
    assert drawn(steps) == [
        ("split", ["a", "c", "end"], [("b", ["→c"], ["x", "exit"])]),
    ]


def test_each_box_has_its_counts_words_and_message() -> None:
    spec = parse_journey(
        "name: j\ntrigger: subscribed\nsteps:\n"
        "  - {id: hello, send: {text: Hi}}\n"
        "  - {id: clicked, wait_for: {clicked: {step: hello}}, within: 2d}\n"
    )
    places = StepPlaces(reached=3, waiting=1, outcomes={"yes": 2, "no": 1})
    counts = {"clicked": StepReport("clicked", "wait_for", True, places, StepMessages())}
    messages = {"hello": StepMessage("Hi", "text", 0)}
    hello, clicked = diagram(spec, counts, messages)
    assert hello == Box("hello", "send", "send", 0, 0, "", messages["hello"])
    assert isinstance(clicked, Branch)
    assert clicked.box == Box(
        "clicked", "wait_for", "wait for clicked (step hello), up to 2d", 3, 1,
        "yes 2, no 1", None,
    )  # fmt: skip
    assert (clicked.yes_label, clicked.no_label) == ("yes: it happened", "no: not within 2d")
    assert clicked.yes == clicked.no == (End(exit=False),)
