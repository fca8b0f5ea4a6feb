"""A campaign as a marketer writes it (YAML): validated shape, before it meets the database.

See the README's "Campaigns" section for the format. Everything here is checked
without a database (each message by broadcasts.message_spec, its media files included);
`broadcasts.campaigns.save_campaign` then checks templates, segment names and rules
against the saved segments. Errors name the YAML line and the path to the mistake.
"""

import re
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from broadcasts.button_spec import ButtonSpec
from broadcasts.local_time import clock_time, is_quiet
from broadcasts.message_spec import VariantSpec
from broadcasts.models import Goal
from broadcasts.schedule_spec import ClockTime, ScheduleSpec, known_zone
from broadcasts.yaml_places import place_of, problems_at_places
from core.errors import SegbotError
from core.languages import LanguageCode
from core.yaml_loading import YamlFileError, load_yaml

__all__ = [
    "NAME_PATTERN",
    "NUMBER_NAME",
    "ButtonSpec",
    "CampaignFileError",
    "CampaignSpec",
    "ClockTime",
    "DefaultSpec",
    "ScheduleSpec",
    "TargetSpec",
    "VariantSpec",
    "parse_campaign",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# A campaign is named by its id or its name wherever one is asked for: digits are the id.
NUMBER_NAME = "a campaign's name is not digits alone (a number names the campaign of that id)"
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=NAME_PATTERN.pattern)]
MAX_PERSONAS = 5
DEFAULT_LABEL = "default"  # the default target's label: whoever no other target took
# A count as written: YAML reads yes, on and true as booleans, which pydantic would take for 1.
Count = StrictInt


class CampaignFileError(SegbotError):
    """The campaign file is not valid YAML or not a valid campaign; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _variants(data: Any) -> Any:
    """A target (or the default) may give one message inline instead of a variants list."""
    if not isinstance(data, dict) or "variants" in data:
        return data
    inline = {key: value for key, value in data.items() if key in VariantSpec.model_fields}
    if not inline:
        return data
    rest = {key: value for key, value in data.items() if key not in inline}
    return {**rest, "variants": [inline]}


def _check_splits(variants: list[VariantSpec], where: str) -> None:
    names = [variant.name for variant in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: variant names must differ")
    if sum(variant.split for variant in variants) != 100:
        raise ValueError(f"{where}: variant splits must add up to 100")


class TargetSpec(_Strict):
    segment: Name | None = None  # a saved segment
    query: str | None = None  # or a one-off rule
    # or a persona, by its name: its segment or rule when saved (broadcasts.personas)
    persona: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    label: Name | None = None  # in reports and utm_content (default: the segment name)
    variants: Annotated[list[VariantSpec], Field(min_length=1)]

    _inline = model_validator(mode="before")(_variants)

    @model_validator(mode="after")
    def _one_audience(self) -> Self:
        if [self.segment, self.query, self.persona].count(None) != 2:
            raise ValueError("a target has one of segment, query or persona")
        if self.query is not None and self.label is None:
            raise ValueError("a query target needs a label")
        _check_splits(self.variants, self.name)
        return self

    @property
    def name(self) -> str:
        return self.label or self.segment or self.persona or ""


class DefaultSpec(_Strict):
    variants: Annotated[list[VariantSpec], Field(min_length=1)]

    _inline = model_validator(mode="before")(_variants)

    @model_validator(mode="after")
    def _splits(self) -> Self:
        _check_splits(self.variants, "default")
        return self


class FrequencyCap(_Strict):
    messages: Annotated[Count, Field(ge=1, le=100)] = 1
    hours: Annotated[Count, Field(ge=1, le=24 * 30)] = 24


class QuietHours(_Strict):
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _some_length(self) -> Self:
        """Equal ends could mean all day (nothing ever sent) or no time at all: refused
        rather than read as either."""
        if self.start == self.end:
            raise ValueError(
                f"start and end are both {self.start}: quiet hours end at another time "
                "than they start (leave them out for none)"
            )
        return self


class PaidBroadcast(_Strict):
    stars_budget: Annotated[Count, Field(ge=1)]


class CampaignSpec(_Strict):
    name: Name
    goal: Goal = Goal.CLICKS
    audience: list[TargetSpec] = Field(default_factory=list)
    personas: Annotated[list[Name], Field(max_length=MAX_PERSONAS)] = Field(default_factory=list)
    default: DefaultSpec | None = None
    holdout: Annotated[Count, Field(ge=0, le=50)] = 0  # percent kept as a control group
    frequency_cap: FrequencyCap = FrequencyCap()
    quiet_hours: QuietHours | None = None
    timezone: str = "UTC"  # for subscribers whose timezone is unknown
    language: LanguageCode = "en"  # whose texts go to subscribers of a language not given
    unsubscribe_button: bool = True
    paid_broadcast: PaidBroadcast | None = None
    schedule: ScheduleSpec | None = None
    # The YAML line of each message's text or caption, by (target, variant) position (the
    # default's target position: after the audience's), when read from a file.
    _lines: dict[tuple[int, int], int] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _not_a_number(cls, name: str) -> str:
        if name.isdigit():
            raise ValueError(NUMBER_NAME)
        return name

    @model_validator(mode="after")
    def _someone_to_message(self) -> Self:
        if self.personas:
            raise ValueError(
                "personas: name each persona as an audience target with its message "
                "(- persona: NAME), as a segment is"
            )
        if not self.audience and self.default is None:
            raise ValueError("give an audience, a default, or both")
        # A persona target without a label gets one unlike the others' when saved.
        labels = [t.name for t in self.audience if t.persona is None or t.label is not None]
        if len(set(labels)) != len(labels):
            raise ValueError("audience targets need different labels")
        if DEFAULT_LABEL in labels:
            raise ValueError(f"{DEFAULT_LABEL!r} is the default target's label")
        return self

    @field_validator("schedule")
    @classmethod
    def _local_time_not_quiet(
        cls, schedule: ScheduleSpec | None, info: ValidationInfo
    ) -> ScheduleSpec | None:
        """A local-time schedule sends at the same clock time for everyone: inside the
        quiet hours (validated before it), every message would wait until they end."""
        local, quiet = schedule.local if schedule else None, info.data.get("quiet_hours")
        if local is not None and isinstance(quiet, QuietHours):
            start, end = clock_time(quiet.start), clock_time(quiet.end)
            if is_quiet(clock_time(local), start, end):
                raise ValueError(
                    f"local {local} is inside the quiet hours ({quiet.start} to {quiet.end}): "
                    f"every message would wait until {quiet.end}; give a time outside them"
                )
        return schedule

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    def message_line(self, target: int, variant: int) -> int | None:
        """The YAML line of the text (or caption) of a target's variant, by position."""
        return self._lines.get((target, variant))

    def note_lines(self, text: str) -> None:
        """Remember the line of each message's text (or caption) in `text`, its YAML."""
        targets: list[tuple[tuple[str | int, ...], list[VariantSpec]]] = [
            (("audience", number), target.variants) for number, target in enumerate(self.audience)
        ]
        if self.default is not None:
            targets.append((("default",), self.default.variants))
        for number, (where, variants) in enumerate(targets):
            for index, variant in enumerate(variants):
                field = "text" if variant.text is not None else "caption"
                line = place_of(text, (*where, "variants", index, field)).line
                if line is not None:
                    self._lines[number, index] = line


def parse_campaign(
    text: str, *, source: str = "campaign", base: Path | None = None
) -> CampaignSpec:
    """A campaign from YAML text, its media file paths relative to `base` (default: the
    working directory); CampaignFileError naming the line and place of any problem."""
    try:
        data = load_yaml(text)
    except YamlFileError as error:
        raise CampaignFileError(f"{source}: {error}") from None
    if not isinstance(data, dict):
        raise CampaignFileError(f"{source}: expected a mapping (name, audience, ...)")
    if data.get("schedule") == "now":
        data["schedule"] = {"now": True}
    language = data.get("language", "en")  # checked as the campaign's `language`
    if isinstance(language, str):
        language = language.lower()  # as the texts' codes are read
    context = {"base": base or Path.cwd(), "language": language}
    try:
        spec = CampaignSpec.model_validate(data, context=context)
    except ValidationError as error:
        raise CampaignFileError(f"{source}: {problems_at_places(text, data, error)}") from None
    spec.note_lines(text)
    return spec
