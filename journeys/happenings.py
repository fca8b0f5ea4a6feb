"""What a subscriber can do that a journey reacts to, as a marketer writes it in YAML: the
vocabulary a trigger, a `wait_for` step and a goal share.

Each kind is one key with its optional details; `any` (or nothing) means any such event::

    clicked: {tag: sale}          # a tracked link (with this tag); in wait_for, `step: ID`
                                  # narrows it to the links of that send step's message
    pressed: {button: "yes"}      # an inline button (with this callback data)
    answered: {question: goal, answer: lose_weight}   # a quiz question (with this answer)
    reacted: any                  # a reaction to a message
    replied: any                  # any message they wrote to the bot
    purchased: {first: true, over: 50}   # a CRM order (their first; over an amount)

`purchased: first` and `purchased: any` are short for the first two forms.
"""

import enum
import re
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from core.models import EventType


def name_like(pattern: str, what: str) -> AfterValidator:
    """A name matching `pattern`, else a mistake saying what it may be made of (`what`) and
    what was written, where pydantic would quote the regular expression."""
    matches = re.compile(pattern).fullmatch

    def checked(value: str) -> str:
        if not matches(value):
            raise ValueError(f"{what} (not {value!r})")
        return value

    return AfterValidator(checked)


StepId = Annotated[
    str, name_like(r"[A-Za-z0-9_-]{1,32}", "a step id is 1 to 32 of A-Z a-z 0-9 _ -")
]
Word = Annotated[str, Field(min_length=1, max_length=64)]


class Strict(BaseModel):
    """Every journey model: unknown keys are mistakes, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Kind(enum.StrEnum):
    """The kinds of happening, each the event type it is logged as (purchases are orders,
    not events)."""

    CLICKED = "clicked"
    PRESSED = "pressed"
    ANSWERED = "answered"
    REACTED = "reacted"
    REPLIED = "replied"
    PURCHASED = "purchased"


EVENT_TYPES: dict[Kind, EventType] = {
    Kind.CLICKED: EventType.LINK_CLICK,
    Kind.PRESSED: EventType.BUTTON,
    Kind.ANSWERED: EventType.QUIZ_ANSWER,
    Kind.REACTED: EventType.REACTION,
    Kind.REPLIED: EventType.MESSAGE,
}


def _any(value: Any) -> Any:
    """`any` or nothing: no details."""
    return {} if value is None or value == "any" else value


class Clicked(Strict):
    tag: Word | None = None
    step: StepId | None = None  # wait_for only: a link of that send step's message

    _shorthand = model_validator(mode="before")(_any)


class Pressed(Strict):
    button: Annotated[str, Field(pattern=r"^[A-Za-z0-9_:.-]{1,64}$")] | None = None

    _shorthand = model_validator(mode="before")(_any)


class Answered(Strict):
    question: Word | None = None
    answer: Word | None = None

    _shorthand = model_validator(mode="before")(_any)

    @model_validator(mode="after")
    def _answer_of_a_question(self) -> Self:
        if self.answer is not None and self.question is None:
            raise ValueError("answered: an answer needs its question")
        return self


class Reacted(Strict):
    emoji: Annotated[str, Field(min_length=1, max_length=16)] | None = None

    _shorthand = model_validator(mode="before")(_any)


class Replied(Strict):
    _shorthand = model_validator(mode="before")(_any)


class Purchased(Strict):
    first: bool = False  # only a subscriber's first counted order
    over: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value == "first":
            return {"first": True}
        return _any(value)


Detail = Clicked | Pressed | Answered | Reacted | Replied | Purchased


class Happening(Strict):
    """Exactly one kind, with its details."""

    clicked: Clicked | None = None
    pressed: Pressed | None = None
    answered: Answered | None = None
    reacted: Reacted | None = None
    replied: Replied | None = None
    purchased: Purchased | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_kinds(cls, value: Any) -> Any:
        """`replied` alone, or `clicked:` with nothing after it, is that kind, any."""
        known_kinds(cls, value, what="something a subscriber does")
        if isinstance(value, str):
            return {value: {}}
        return {key: {} if detail is None else detail for key, detail in value.items()}

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = self.kinds()
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(Kind)}")
        return self

    def kinds(self) -> list[Kind]:
        return [kind for kind in Kind if getattr(self, kind.value) is not None]

    @property
    def kind(self) -> Kind:
        return self.kinds()[0]

    @property
    def detail(self) -> Detail:
        detail: Detail = getattr(self, self.kind.value)
        return detail

    def describe(self) -> str:
        """In words, for listings and simulations: `clicked (tag sale)`."""
        details = described(self.detail.model_dump(mode="json", exclude_defaults=True))
        return f"{self.kind.value} ({details})" if details else self.kind.value


def known_kinds(model: type[BaseModel], value: Any, *, what: str) -> None:
    """ValueError unless `value` is a kind `model` knows (a name, or a mapping of names to
    details), naming what was written and the kinds there are: pydantic would say "Extra
    inputs are not permitted" or "Input should be a valid dictionary". `within` is a
    goal's time, not a kind: allowed, not listed."""
    kinds = ", ".join(name for name in model.model_fields if name != "within")
    if not isinstance(value, str | dict):
        raise ValueError(f"give {what}: one of {kinds}")
    unknown = [
        name
        for name in ([value] if isinstance(value, str) else value)
        if name not in model.model_fields
    ]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not {what}: give one of {kinds}")


def described(details: dict[str, Any]) -> str:
    """Details in words: `first, over 50` for {first: true, over: 50}."""
    words = [
        key if value is True else f"{key} {value}"
        for key, value in details.items()
        if value is not None and value is not False
    ]
    return ", ".join(words)
