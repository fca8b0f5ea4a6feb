"""A campaign as a marketer writes it (YAML): validated shape, before it meets the database.

See the README's "Campaigns" section for the format. Everything here is checked
without a database; `broadcasts.campaigns.save_campaign` then checks templates, segment
names and rules against the saved segments.
"""

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from broadcasts.models import Goal
from core.config import yaml_mistake
from core.errors import SegbotError

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
MAX_PERSONAS = 5
_CALLBACK_DATA = re.compile(r"^[A-Za-z0-9_:.-]{1,64}$")


class CampaignFileError(SegbotError):
    """The campaign file is not valid YAML or not a valid campaign; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ButtonSpec(_Strict):
    text: Annotated[str, Field(min_length=1, max_length=64)]
    url: Annotated[str, Field(pattern=r"^(https?|tg)://\S+$")] | None = None
    data: str | None = None  # callback data a press sends back (logged as a button event)

    @model_validator(mode="after")
    def _url_or_data(self) -> Self:
        if (self.url is None) == (self.data is None):
            raise ValueError("a button has either url or data")
        if self.data is not None and not _CALLBACK_DATA.match(self.data):
            raise ValueError("button data is 1-64 characters of A-Z a-z 0-9 _ : . -")
        return self


class VariantSpec(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] = "a"
    split: Annotated[int, Field(ge=1, le=100)] = 100  # percent of the target's audience
    text: str | None = None  # a template: HTML text
    photo: str | None = None  # URL or file_id
    caption: str = ""  # a template: the photo's HTML caption
    buttons: list[ButtonSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _text_or_photo(self) -> Self:
        if (self.text is None) == (self.photo is None):
            raise ValueError("a variant has either text or photo (with an optional caption)")
        return self

    @property
    def body(self) -> str:
        return self.text if self.text is not None else self.caption


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
    label: Name | None = None  # in reports and utm_content (default: the segment name)
    variants: Annotated[list[VariantSpec], Field(min_length=1)]

    _inline = model_validator(mode="before")(_variants)

    @model_validator(mode="after")
    def _one_audience(self) -> Self:
        if (self.segment is None) == (self.query is None):
            raise ValueError("a target has either segment or query")
        if self.segment is None and self.label is None:
            raise ValueError("a query target needs a label")
        _check_splits(self.variants, self.name)
        return self

    @property
    def name(self) -> str:
        return self.label or self.segment or ""


class DefaultSpec(_Strict):
    variants: Annotated[list[VariantSpec], Field(min_length=1)]

    _inline = model_validator(mode="before")(_variants)

    @model_validator(mode="after")
    def _splits(self) -> Self:
        _check_splits(self.variants, "default")
        return self


class FrequencyCap(_Strict):
    messages: Annotated[int, Field(ge=1, le=100)] = 1
    hours: Annotated[int, Field(ge=1, le=24 * 30)] = 24


class QuietHours(_Strict):
    start: ClockTime
    end: ClockTime


class PaidBroadcast(_Strict):
    stars_budget: Annotated[int, Field(ge=1)]


class ScheduleSpec(_Strict):
    """Exactly one of: now (as soon as the scheduler sees it), at (a moment), cron (every
    occurrence in `timezone`), local (a time of day on `day`, in each subscriber's own
    timezone), best_hour (on `day`, at the hour each target's audience engaged most over
    the last days, in each subscriber's own timezone). A file without `schedule` is sent
    by hand."""

    now: bool = False
    at: datetime | None = None
    cron: str | None = None
    local: ClockTime | None = None
    best_hour: bool = False
    day: date | None = None
    timezone: str = "UTC"
    grace_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 60

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [self.now, self.at is not None, self.cron is not None, self.local is not None]
        if sum([*given, self.best_hour]) != 1:
            raise ValueError("give exactly one of now, at, cron, local, best_hour")
        if self.local is not None and self.day is None:
            raise ValueError("local needs the day: day: YYYY-MM-DD")
        if self.best_hour and self.day is None:
            raise ValueError("best_hour needs the day: day: YYYY-MM-DD")
        if self.day is not None and self.local is None and not self.best_hour:
            raise ValueError("day goes with local or best_hour")
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))
            except ValueError as error:
                raise ValueError(f"cron {self.cron!r}: {error}") from None
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)

    def moment(self) -> datetime | None:
        """AT: the moment (a time without zone is in `timezone`). LOCAL, BEST_HOUR: midnight
        of the day in `timezone`, the day each subscriber's own local time falls on."""
        zone = ZoneInfo(self.timezone)
        if self.at is not None:
            return self.at if self.at.tzinfo else self.at.replace(tzinfo=zone)
        if self.day is not None:
            return datetime.combine(self.day, time(), tzinfo=zone)
        return None


class CampaignSpec(_Strict):
    name: Name
    goal: Goal = Goal.CLICKS
    audience: list[TargetSpec] = Field(default_factory=list)
    personas: Annotated[list[Name], Field(max_length=MAX_PERSONAS)] = Field(default_factory=list)
    default: DefaultSpec | None = None
    holdout: Annotated[int, Field(ge=0, le=50)] = 0  # percent kept as a control group
    frequency_cap: FrequencyCap = FrequencyCap()
    quiet_hours: QuietHours | None = None
    timezone: str = "UTC"  # for subscribers whose timezone is unknown
    unsubscribe_button: bool = True
    paid_broadcast: PaidBroadcast | None = None
    schedule: ScheduleSpec | None = None

    @model_validator(mode="after")
    def _someone_to_message(self) -> Self:
        if self.personas:
            raise ValueError("personas cannot be targeted yet: use audience segments")
        if not self.audience and self.default is None:
            raise ValueError("give an audience, a default, or both")
        labels = [target.name for target in self.audience]
        if len(set(labels)) != len(labels):
            raise ValueError("audience targets need different labels")
        if "default" in labels:
            raise ValueError("'default' is the default target's label")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name, e.g. Europe/Madrid)"
        ) from None
    return name


def parse_campaign(text: str, *, source: str = "campaign") -> CampaignSpec:
    """A campaign from YAML text; CampaignFileError naming the place of any problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CampaignFileError(
            f"{source}: not valid YAML at {yaml_mistake(text, error)}"
        ) from None
    if not isinstance(data, dict):
        raise CampaignFileError(f"{source}: expected a mapping (name, audience, ...)")
    if data.get("schedule") == "now":
        data["schedule"] = {"now": True}
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            place = ".".join(str(part) for part in detail["loc"])
            message = str(detail["msg"]).removeprefix("Value error, ")
            problems.append(f"{place}: {message}" if place else message)
        raise CampaignFileError(f"{source}: {'; '.join(problems)}") from None
