"""A journey's trigger, entry and goal as the marketer writes them (README "Journeys").

Trigger, exactly one of::

    subscribed: {source: instagram}      # subscribed (from that /start source); or `subscribed`
    entered_segment: vip                 # a saved segment's membership
    left_segment: vip
    clicked | pressed | answered | reacted | replied | purchased: ...   (journeys.happenings)
    date: {attribute: birthday, days: -3}   # yearly, 3 days before attr.birthday (YYYY-MM-DD)
    date: {after: subscribed, days: 7}      # or after: last_purchase
    inactive: 30d                        # nothing heard from them for 30 days
    rfm: at_risk                         # a rescore moved them into this RFM segment
    stage: most_aware                    # the ladder moved them to this stage
    manual                               # only `segbot journey enroll NAME SEGMENT`
"""

import enum
import re
from datetime import timedelta
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from journeys.happenings import (
    Happening,
    Kind,
    Strict,
    Word,
    described,
    known_kinds,
)

_SPAN = re.compile(r"^([1-9][0-9]{0,5})([smhdw])$")
# As a stored spec holds durations: pydantic writes 371 days as P1Y6D (a year of 365 days).
_ISO_SPAN = re.compile(r"^P[0-9YWDTHMS.]+$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_SPAN = timedelta(days=3 * 366)
YEAR_DAYS = 366  # the most days a yearly date's trigger may come before or after it


def _span(value: Any) -> Any:
    """`30s`, `15m`, `2h`, `1d`, `2w` as a timedelta (ISO 8601, as stored, passes through).
    Anything else is told as the format wanted, not as pydantic's timedelta parser saw it
    (`0s`, `-5m`, `1e9 days` would be "day identifier ... not correctly formatted")."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and (found := _SPAN.match(value.strip())):
        return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    if isinstance(value, str) and _ISO_SPAN.match(value):
        try:
            return _TIMEDELTAS.validate_python(value)
        except ValidationError:
            raise ValueError(f"{value!r} is not a duration that can be read") from None
    raise ValueError(f"a duration is a number and a unit: 30s, 15m, 2h, 1d, 2w (not {value!r})")


def _in_range(span: timedelta) -> timedelta:
    if not timedelta(0) < span <= MAX_SPAN:
        raise ValueError(f"a duration is longer than 0s and at most {span_text(MAX_SPAN)}")
    return span


_TIMEDELTAS: TypeAdapter[timedelta] = TypeAdapter(timedelta)
Span = Annotated[timedelta, BeforeValidator(_span), AfterValidator(_in_range)]
_SPANS: TypeAdapter[timedelta] = TypeAdapter(Span)


def span_text(span: timedelta) -> str:
    """A duration as the marketer writes it: 30d, 2h, 90s."""
    seconds = int(span.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Subscribed(Strict):
    source: Word | None = None  # the /start source (core.sources), any when absent

    @model_validator(mode="before")
    @classmethod
    def _any(cls, value: Any) -> Any:
        return {} if value is None or value == "any" else value


class Anchor(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    LAST_PURCHASE = "last_purchase"


class DateTrigger(Strict):
    attribute: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")] | None = None
    after: Anchor | None = None
    days: Annotated[StrictInt, Field(ge=-366, le=3660)] = 0

    @model_validator(mode="after")
    def _one_anchor(self) -> Self:
        if (self.attribute is None) == (self.after is None):
            raise ValueError("date: give either attribute (a date every year) or after")
        if self.after is not None and self.days < 1:
            raise ValueError("date: after needs days of 1 or more")
        if self.attribute is not None and abs(self.days) > YEAR_DAYS:
            raise ValueError(
                f"date: days before or after a date every year are -{YEAR_DAYS} to {YEAR_DAYS}"
            )
        return self


class TriggerSpec(Happening):
    """Exactly one trigger: a happening (Happening's fields), or one of these."""

    subscribed: Subscribed | None = None
    entered_segment: Word | None = None
    left_segment: Word | None = None
    date: DateTrigger | None = None
    inactive: Span | None = None
    rfm: Word | None = None
    stage: Word | None = None
    manual: bool = False

    @model_validator(mode="before")
    @classmethod
    def _bare_kinds(cls, value: Any) -> Any:
        """`manual`, `subscribed` (or a happening such as `replied`) on their own."""
        known_kinds(cls, value, what="a trigger")
        if value == "manual":
            return {"manual": True}
        given = {value: None} if isinstance(value, str) else value
        bare = {"subscribed", *Kind}
        for key, detail in given.items():
            if detail is None and key not in {*bare, "manual"}:
                raise ValueError(f"{key!r} needs what it is about after it ({key}: ...)")
        return {key: {} if detail is None else detail for key, detail in given.items()}

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if len(self._given()) + self.manual != 1:
            raise ValueError(f"give exactly one trigger: {', '.join(type(self).model_fields)}")
        if self.clicked is not None and self.clicked.step is not None:
            raise ValueError("clicked: step is for wait_for, not for a trigger")
        return self

    def happening(self) -> Happening | None:
        """The trigger when it is something the subscriber did (clicked, ..., purchased)."""
        kinds = self.kinds()
        if not kinds:
            return None
        return Happening.model_validate({kinds[0].value: self.detail.model_dump()})

    def _given(self) -> dict[str, Any]:
        """The trigger given (manual aside), as JSON: {name: details}."""
        shown = self.model_dump(mode="json", exclude_none=True, exclude={"manual"})
        return {name: value for name, value in shown.items() if getattr(self, name) is not None}

    def describe(self) -> str:
        """In words, for listings and simulations: `entered_segment vip`."""
        if self.manual:
            return "manual enrolment"
        happening = self.happening()
        if happening is not None:
            return happening.describe()
        if self.inactive is not None:
            return f"inactive {span_text(self.inactive)}"
        ((name, value),) = self._given().items()
        return f"{name} {described(value) if isinstance(value, dict) else value}".strip()


class Reentry(enum.StrEnum):
    ONCE = "once"  # a person enters once, ever
    EVERY_TIME = "every_time"  # whenever the trigger fires and they are not inside


class EntrySpec(Strict):
    rule: Annotated[str, Field(min_length=1)] | None = None  # a segment rule they must match
    # once, every_time, or a duration: at most once per that long (counted from entering)
    reentry: Reentry | Span = Reentry.ONCE

    @field_validator("reentry", mode="before")
    @classmethod
    def _policy_or_duration(cls, value: Any) -> Any:
        """`reentry: 30d` is a duration; once and every_time are policies."""
        if value in Reentry.__members__.values() or isinstance(value, timedelta):
            return value
        written = isinstance(value, str) and (_SPAN.match(value.strip()) or _ISO_SPAN.match(value))
        if not written:
            raise ValueError("reentry is once, every_time or a duration such as 30d")
        try:
            return _SPANS.validate_python(value)
        except ValidationError:
            raise ValueError(
                f"reentry {value!r}: a duration is longer than 0s and at most {span_text(MAX_SPAN)}"
            ) from None


class GoalSpec(Happening):
    """A happening that ends the journey as converted, counted within `within` of entering
    (for the holdout too, so lift compares like with like)."""

    within: Span = timedelta(days=7)

    @model_validator(mode="after")
    def _no_step(self) -> Self:
        if self.clicked is not None and self.clicked.step is not None:
            raise ValueError("clicked: step is for wait_for, not for a goal")
        return self
