"""A journey's steps as the marketer writes them: each has an `id` and one action (send,
wait, wait_for, if, add_tag, remove_tag, set, notify, exit); `then`, `else` and `next`
jump forward (journeys.spec checks where to). See the README's "Journeys" section.
"""

import enum
import math
from typing import Annotated, Any, Self

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from broadcasts.spec import ClockTime, DefaultSpec, TargetSpec
from journeys.happenings import Happening, StepId, Strict
from journeys.triggers_spec import Span, span_text

AttributeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]
TagName = Annotated[str, Field(min_length=1, max_length=64)]


class Weekday(enum.StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def number(self) -> int:
        """Monday 0 .. Sunday 6, as `date.weekday()`."""
        return list(Weekday).index(self)


class SendSpec(Strict):
    """A message as in a campaign: targets in order (segment or query, variants with their
    split), and a default for whoever no target takes. One message on its own is the
    default: `send: {text: Hi}`."""

    audience: list[TargetSpec] = Field(default_factory=list)
    default: DefaultSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _inline(cls, value: Any) -> Any:
        if isinstance(value, dict) and not {"audience", "default"} & value.keys():
            return {"default": value}
        return value

    @model_validator(mode="after")
    def _someone(self) -> Self:
        if not self.audience and self.default is None:
            raise ValueError("send: give an audience, a default, or both")
        labels = [target.name for target in self.audience]
        if len(set(labels)) != len(labels):
            raise ValueError("send: audience targets need different labels")
        if "default" in labels:
            raise ValueError("send: 'default' is the default target's label")
        return self


class WaitSpec(Strict):
    """A duration (`wait: 1d`), or until a local time of day (`until: "09:00"`), on a
    weekday (`weekday: monday`), in the subscriber's timezone (else the journey's)."""

    duration: Span | None = None
    until: ClockTime | None = None
    weekday: Weekday | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_duration(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {"duration": value}

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.duration is None) == (self.until is None and self.weekday is None):
            raise ValueError("wait: give a duration (1d), or until (a time) and/or weekday")
        return self

    def describe(self) -> str:
        if self.duration is not None:
            return f"wait {span_text(self.duration)}"
        return " ".join(["wait until", *(part for part in (self.weekday, self.until) if part)])


class SetAttribute(Strict):
    attribute: AttributeName
    value: str | int | float | bool | None

    @model_serializer(mode="wrap")
    def _null_kept(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Null is a value `set` sets, not an absence: kept when a dump leaves out what is
        None (a journey's stored spec)."""
        return {**handler(self), "value": self.value}

    @field_validator("value")
    @classmethod
    def _finite(cls, value: str | int | float | bool | None) -> str | int | float | bool | None:
        """NaN and infinity are no JSON: PostgreSQL would refuse the journey's stored spec
        (and SQLite would keep them in subscribers' attributes) instead of a named place.
        A whole number past what a double holds (10**400) is JSON, but a rule comparing
        the attribute reads it as a double: PostgreSQL would fail every refresh of every
        segment whose rule reads it."""
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                float(value)
            except OverflowError:
                raise ValueError(
                    f"set: a number of {len(str(abs(value)))} digits is more than an "
                    "attribute can hold (at most 308)"
                ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"set: {value} is not a number an attribute can hold")
        return value


class StepSpec(Strict):
    id: StepId
    send: SendSpec | None = None
    wait: WaitSpec | None = None
    wait_for: Happening | None = None
    if_: Annotated[Annotated[str, Field(min_length=1)] | None, Field(alias="if")] = None
    add_tag: TagName | None = None
    remove_tag: TagName | None = None
    set: SetAttribute | None = None
    notify: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    exit: bool = False
    within: Span | None = None  # wait_for: how long to wait
    then: StepId | None = None  # wait_for: it happened; if: the rule holds
    else_: Annotated[StepId | None, Field(alias="else")] = None
    next: StepId | None = None  # any other step: go on there instead of the step below

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        actions = self.actions()
        if len(actions) != 1:
            raise ValueError(
                "a step has exactly one of send, wait, wait_for, if, add_tag, remove_tag, "
                "set, notify, exit" + (f" (this one has {', '.join(actions)})" if actions else "")
            )
        branching = self.wait_for is not None or self.if_ is not None
        if (self.wait_for is None) == (self.within is not None):
            raise ValueError("wait_for needs within (how long to wait), and only it has one")
        if not branching and (self.then is not None or self.else_ is not None):
            raise ValueError("then and else go with wait_for and if")
        if branching and self.next is not None:
            raise ValueError("wait_for and if go on with then and else, not next")
        if self.exit and self.next is not None:
            raise ValueError("an exit step ends the journey: it has no next")
        return self

    def actions(self) -> list[str]:
        fields = ("send", "wait", "wait_for", "if_", "add_tag", "remove_tag", "set", "notify")
        given = [name.rstrip("_") for name in fields if getattr(self, name) is not None]
        return [*given, "exit"] if self.exit else given

    @property
    def action(self) -> str:
        return self.actions()[0]

    def jumps(self) -> list[str]:
        return [target for target in (self.then, self.else_, self.next) if target is not None]

    def describe(self) -> str:
        """What the step does, in a few words: `wait 1d`, `add tag engaged`."""
        if self.send is not None:
            labels = [target.name for target in self.send.audience]
            return "send" + (f" ({', '.join(labels)}, default)" if labels else "")
        if self.wait is not None:
            return self.wait.describe()
        if self.wait_for is not None and self.within is not None:
            return f"wait for {self.wait_for.describe()}, up to {span_text(self.within)}"
        if self.if_ is not None:
            return f"if {self.if_}"
        if self.set is not None:
            return f"set {self.set.attribute} = {self.set.value!r}"
        if self.add_tag is not None:
            return f"add tag {self.add_tag}"
        if self.remove_tag is not None:
            return f"remove tag {self.remove_tag}"
        return self.action
