"""A journey as a marketer writes it (YAML): validated shape, before it meets the database.

See the README's "Journeys" section for the format. Everything here is checked without a
database; `journeys.store.save_journey` then checks templates, segment names, rules, RFM
segment and stage names against what is saved and configured.

Steps run in order; each has an `id` and one action: send, wait, wait_for (with `within`,
`then`, `else`), if (a segment rule, with `then`, `else`), add_tag, remove_tag, set,
notify, exit. `then`, `else` and `next` jump to a later step (or `end`): jumps only go
forward, so each step happens at most once per enrolment and every journey ends.
"""

from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import Field, StrictInt, ValidationError, field_validator, model_validator

from broadcasts.schedule_spec import known_zone
from broadcasts.spec import FrequencyCap, QuietHours
from broadcasts.yaml_places import composed, place_in, problems_at_places
from core.errors import SegbotError
from core.languages import LanguageCode
from core.yaml_loading import YamlFileError, load_yaml
from journeys.happenings import Kind, Strict, name_like
from journeys.steps_spec import StepSpec
from journeys.triggers_spec import EntrySpec, GoalSpec, TriggerSpec

JourneyName = Annotated[
    str, name_like(r"[A-Za-z0-9_.-]{1,48}", "a journey name is 1 to 48 of A-Z a-z 0-9 _ . -")
]
END = "end"  # a jump target: the journey ends there, completed
MAX_STEPS = 100


class JourneyFileError(SegbotError):
    """The journey file is not valid YAML or not a valid journey; the message says where."""


class JourneySpec(Strict):
    name: JourneyName
    description: Annotated[str, Field(max_length=500)] | None = None
    trigger: TriggerSpec
    entry: EntrySpec = EntrySpec()
    steps: Annotated[list[StepSpec], Field(min_length=1, max_length=MAX_STEPS)]
    goal: GoalSpec | None = None
    holdout: Annotated[StrictInt, Field(ge=0, le=50)] = 0  # percent kept out, for lift
    frequency_cap: FrequencyCap | None = None  # shared with broadcasts (README)
    quiet_hours: QuietHours | None = None
    timezone: str = "UTC"  # for subscribers whose timezone is unknown
    language: LanguageCode = "en"  # whose texts go to subscribers of a language not given
    unsubscribe_button: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @model_validator(mode="after")
    def _forward_jumps(self) -> Self:
        ids = [step.id for step in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("steps need different ids")
        if END in ids:
            raise ValueError(f"{END!r} is the end of a journey: not a step id")
        sends = set()
        for place, step in enumerate(self.steps):
            for target in step.jumps():
                if target != END and target not in ids[place + 1 :]:
                    raise ValueError(
                        f"step {step.id}: {target!r} is not a step below it (jumps go forward)"
                    )
            if step.wait_for is not None and step.wait_for.kind is Kind.CLICKED:
                clicked_step = step.wait_for.detail.model_dump().get("step")
                if clicked_step is not None and clicked_step not in sends:
                    raise ValueError(f"step {step.id}: {clicked_step!r} is no send step above it")
            if step.send is not None:
                sends.add(step.id)
        return self

    def step(self, step_id: str) -> StepSpec:
        return next(step for step in self.steps if step.id == step_id)

    def after(self, step_id: str) -> str | None:
        """Where an enrolment goes on after a step that does not branch (None: it ends)."""
        place = [step.id for step in self.steps].index(step_id)
        step = self.steps[place]
        if step.next is not None:
            return None if step.next == END else step.next
        return self.steps[place + 1].id if place + 1 < len(self.steps) else None

    def where_next(self, step_id: str) -> str:
        """Where people go from a step, in words: `nudge`, `yes: thanks, no: nudge`."""
        step = self.step(step_id)
        if step.exit:
            return "exit"
        if step.if_ is not None or step.wait_for is not None:
            yes, no = self.branch(step_id, holds=True), self.branch(step_id, holds=False)
            return f"yes: {yes or END}, no: {no or END}"
        return self.after(step_id) or END

    def branch(self, step_id: str, *, holds: bool) -> str | None:
        """Where a wait_for or if step goes: `then` when it holds, else `else` (either
        defaulting to the step below)."""
        step = self.step(step_id)
        target = step.then if holds else step.else_
        if target is None:
            return self.after(step_id)
        return None if target == END else target

    def stored(self) -> dict[str, Any]:
        """As JSON, for `JourneyVersion.spec` (read back with `stored_spec`)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_journey(text: str, *, source: str = "journey", base: Path | None = None) -> JourneySpec:
    """A journey from YAML text, its media file paths relative to `base` (default: the
    working directory); JourneyFileError naming the line and place of every problem."""
    try:
        data = load_yaml(text)
    except YamlFileError as error:
        raise JourneyFileError(f"{source}: {error}") from None
    if not isinstance(data, dict):
        raise JourneyFileError(f"{source}: expected a mapping (name, trigger, steps, ...)")
    # What the messages' own checks need (broadcasts.message_spec): where media files are,
    # and the language of texts given without one.
    language = data.get("language", "en")
    context = {
        "base": base or Path.cwd(),
        "language": language.lower() if isinstance(language, str) else language,
    }
    try:
        return JourneySpec.model_validate(data, context=context)
    except ValidationError as error:
        raise JourneyFileError(f"{source}: {problems_at_places(text, data, error)}") from None


def stored_spec(data: dict[str, Any]) -> JourneySpec:
    """A version's spec as `JourneySpec.stored` kept it, for running it: each message is
    left a placeholder text (the messages are its hidden campaign's variants,
    journeys.messages), so media files checked when it was saved are not looked for again
    wherever it runs. Targets, variant names and splits stay."""
    steps = [
        {**step, "send": _placeholders(step["send"])} if "send" in step else step
        for step in map(_null_kept, data["steps"])
    ]
    return JourneySpec.model_validate({**data, "steps": steps}, context={"language": "en"})


def _null_kept(step: dict[str, Any]) -> dict[str, Any]:
    """A stored step; versions saved before `stored` kept a `set` value of null lack it."""
    if "set" in step and "value" not in step["set"]:
        return {**step, "set": {**step["set"], "value": None}}
    return step


def _placeholders(send: dict[str, Any]) -> dict[str, Any]:
    def variants(holder: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"name": each["name"], "split": each["split"], "text": _IN_CAMPAIGN}
            for each in holder["variants"]
        ]

    audience = [{**target, "variants": variants(target)} for target in send.get("audience", [])]
    if send.get("default") is None:
        return {"audience": audience}
    return {"audience": audience, "default": {"variants": variants(send["default"])}}


_IN_CAMPAIGN = "(a message of the hidden campaign)"


class SourceLines:
    """Where places are in a journey's YAML (None: not known), so that a mistake found
    after parsing (a template, a segment name) is told with its line, as parsing's are."""

    def __init__(self, source: str | None) -> None:
        self._node = None if source is None else composed(source)

    def at(self, place: str, *paths: tuple[str | int, ...]) -> str:
        """`place` ("step hi, notify"), after "line N, " when the YAML has one of `paths`
        (("steps", 0, "notify"),): the line of the deepest of them it has, as a thing
        may be written in more than one way (`send: {text: Hi}`, or with `default`)."""
        found = [place_in(self._node, path).line for path in paths]
        line = max((line for line in found if line is not None), default=None)
        return place if line is None else f"line {line}, {place}"


NO_LINES = SourceLines(None)  # for a journey known only as a spec (stored, say)
