"""When a campaign goes out, as its file says (`schedule:`), and the names of timezones."""

from datetime import date, datetime, time
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from broadcasts import crontab

ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


def known_zone(name: str) -> str:
    """`name` if it is an IANA timezone; ValueError saying what to give otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name, e.g. Europe/Madrid)"
        ) from None
    return name


class ScheduleSpec(BaseModel):
    """Exactly one of: now (as soon as the scheduler sees it), at (a moment), cron (every
    occurrence in `timezone`), local (a time of day on `day`, in each subscriber's own
    timezone), best_hour (on `day`, at the hour each target's audience engaged most over
    the last days, in each subscriber's own timezone). A file without `schedule` is sent
    by hand."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
                crontab.trigger(self.cron, timezone=self.timezone)
            except ValueError as error:
                raise ValueError(f"cron {self.cron!r}: {error}") from None
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    def moment(self) -> datetime | None:
        """AT: the moment (a time without zone is in `timezone`). LOCAL, BEST_HOUR: midnight
        of the day in `timezone`, the day each subscriber's own local time falls on."""
        zone = ZoneInfo(self.timezone)
        if self.at is not None:
            return self.at if self.at.tzinfo else self.at.replace(tzinfo=zone)
        if self.day is not None:
            return datetime.combine(self.day, time(), tzinfo=zone)
        return None
