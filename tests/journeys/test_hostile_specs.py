"""Journey files built to break the parser are refused when read, each with one line
saying where and what: never a traceback, never pydantic's insides."""

import pytest

from journeys.spec import JourneyFileError, parse_journey

STEPS = "steps: [{id: a, wait: 1d}]\n"


def mistake(text: str) -> str:
    with pytest.raises(JourneyFileError) as error:
        parse_journey(text, source="j.yaml")
    return str(error.value)


def test_nesting_deeper_than_any_journey_is_refused_on_its_line() -> None:
    text = f"name: x\ntrigger: replied\n{STEPS}foo: {'[' * 1000}{']' * 1000}\n"
    assert (
        mistake(text)
        == "j.yaml: not valid YAML at line 4, column 37: nested more than 32 levels deep"
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            f"name: a\ntrigger: replied\nname: b\n{STEPS}",
            "line 3, column 1: 'name' is given twice (first on line 1)",
        ),
        (
            "name: x\ntrigger: replied\nsteps:\n  - id: a\n    wait: 1d\n    wait: 2d\n",
            "line 6, column 5: 'wait' is given twice (first on line 5)",
        ),
    ],
)
def test_a_key_given_twice_is_refused_not_replaced(text: str, said: str) -> None:
    assert mistake(text) == f"j.yaml: not valid YAML at {said}"


@pytest.mark.parametrize("reentry", ["P0D", "P2000D", "2000d"])
def test_a_reentry_duration_out_of_range_is_told_plainly(reentry: str) -> None:
    text = f"name: x\ntrigger: replied\nentry: {{reentry: {reentry}}}\n{STEPS}"
    assert mistake(text) == (
        f"j.yaml: line 3, entry.reentry: reentry '{reentry}': a duration is longer than 0s "
        "and at most 1098d"
    )


@pytest.mark.parametrize(
    ("field", "said"),
    [
        ("holdout: true", "line 3, holdout: Input should be a valid integer"),
        (
            "trigger: {date: {attribute: birthday, days: 3660}}",
            "date: days before or after a date every year are -366 to 366",
        ),
        ("trigger: {date: {after: subscribed, days: 1.5}}", "Input should be a valid integer"),
    ],
)
def test_a_number_that_means_something_else_is_refused(field: str, said: str) -> None:
    text = f"name: x\ntrigger: replied\n{field}\n{STEPS}"
    if field.startswith("trigger:"):
        text = f"name: x\n{field}\n{STEPS}"
    assert said in mistake(text)
