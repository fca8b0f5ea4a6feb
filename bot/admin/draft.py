"""The broadcast wizard's draft: what the admin has chosen so far, kept as JSON in the
FSM storage between steps, and turned into a `CampaignSpec` at the end.

No aiogram here. Approaches are one place: to add one, add it to `Approach`, give it a
picker step, and map it in `targets()` and `spec()`; `choose()` clears the other
approaches' choices. Personas (at most `MAX_PERSONAS`) become ordinary campaign targets:
each is its source segment or its rule, labelled after the persona (`persona_target`).
"""

import enum
import re
from collections.abc import Collection
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, ValidationError

from broadcasts.button_spec import MESSAGE_BUTTONS
from broadcasts.personas import QUERY_LABEL, persona_audience, persona_label
from broadcasts.schedule_spec import ScheduleMissedError
from broadcasts.spec import (
    NAME_PATTERN,
    NUMBER_NAME,
    ButtonSpec,
    CampaignSpec,
    ScheduleSpec,
    TargetSpec,
    VariantSpec,
)
from core.errors import SegbotError
from core.zones import zone_or_none
from segments.ai.personas import MAX_PERSONA_TARGETS, PersonaAudience

MAX_PERSONAS = MAX_PERSONA_TARGETS
_ONE_WORD_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T")  # 2026-10-25T02:30+02:00
_BUTTON_LINE = re.compile(r"^(?P<text>.+?)\s+[|—-]\s+(?P<url>\S+)$")


class DraftError(SegbotError):
    """What the admin gave does not fit this step; the message says what it expects."""


class Approach(enum.StrEnum):
    SEGMENTS = "segments"
    QUERY = "query"
    PERSONAS = "personas"


APPROACH_LABELS = {
    Approach.SEGMENTS: "Saved segments",
    Approach.QUERY: "A query (one-off rule)",
    Approach.PERSONAS: f"Personas (up to {MAX_PERSONAS})",
}


class When(enum.StrEnum):
    NOW = "now"
    AT = "at"
    RECURRING = "recurring"
    LOCAL = "local"
    BEST_HOUR = "best_hour"


WHEN_LABELS = {
    When.NOW: "Now",
    When.AT: "At a time",
    When.RECURRING: "Recurring",
    When.LOCAL: "Their local time",
    When.BEST_HOUR: "Best hour",
}
WHEN_ASKS = {
    When.AT: (
        "Send the date and time, and a timezone if not UTC, e.g. 2026-05-01 10:00 Europe/Madrid"
    ),
    When.RECURRING: (
        "Send a cron line (minute hour day month weekday) and a timezone if not UTC, "
        "e.g. 0 10 * * 1 Europe/Madrid for Mondays at 10:00"
    ),
    When.LOCAL: (
        "Send the day and the time each subscriber should get it on their own clock, "
        "e.g. 2026-05-01 10:00"
    ),
    When.BEST_HOUR: (
        "Send the day: each audience gets it at the hour it engages most, e.g. 2026-05-01"
    ),
}


class DraftMessage(BaseModel):
    text: str | None = None  # HTML template
    photo: str | None = None  # file_id
    caption: str = ""  # HTML template
    buttons: list[ButtonSpec] = Field(default_factory=list)

    @property
    def body(self) -> str:
        return self.text if self.text is not None else self.caption


class Target(BaseModel):
    label: str
    segment: str | None = None
    query: str | None = None
    persona: str | None = None  # the persona this target reaches, on that approach


def persona_target(name: str, label: str, audience: PersonaAudience) -> Target:
    """Persona `name` as a campaign target (`broadcasts.personas.persona_audience`)."""
    segment, query = persona_audience(audience)
    return Target(label=label, segment=segment, query=query, persona=name)


class Draft(BaseModel):
    name: str | None = None
    approach: Approach | None = None
    segments: list[str] = Field(default_factory=list)
    offered: list[str] = Field(default_factory=list)  # the picker's buttons, by position
    query: str | None = None
    personas: list[str] = Field(default_factory=list)  # chosen, in order of priority
    persona_labels: dict[str, str] = Field(default_factory=dict)  # by persona, while chosen
    persona_targets: list[Target] = Field(default_factory=list)  # resolved when chosen
    messages: dict[str, DraftMessage] = Field(default_factory=dict)  # by target label
    target: int = 0  # the target whose message is being written
    when: When | None = None
    schedule: ScheduleSpec | None = None

    def choose(self, approach: Approach) -> None:
        """Switching approach clears what the other one chose (and its messages)."""
        if approach is not self.approach:
            self.segments, self.query, self.messages = [], None, {}
            self.personas, self.persona_labels, self.persona_targets = [], {}, []
        self.approach = approach

    def toggle_persona(self, name: str) -> None:
        """Choose persona `name`, or drop it when chosen; DraftError past the limit."""
        if name in self.personas:
            self.personas.remove(name)
            self.messages.pop(self.persona_labels.pop(name, ""), None)
        elif len(self.personas) >= MAX_PERSONAS:
            raise DraftError(
                f"A campaign targets at most {MAX_PERSONAS} personas: drop one to add {name!r}."
            )
        else:
            self.personas.append(name)
            self.persona_labels[name] = persona_label(name, self.persona_labels.values())
        self.persona_targets = []  # resolved again when the choice is done

    def resolve_personas(self, audiences: Collection[PersonaAudience]) -> None:
        """The chosen personas' targets, from their audiences (in the same order)."""
        self.persona_targets = [
            persona_target(name, self.persona_labels[name], audience)
            for name, audience in zip(self.personas, audiences, strict=True)
        ]

    def targets(self) -> list[Target]:
        if self.approach is Approach.SEGMENTS:
            return [Target(label=name, segment=name) for name in self.segments]
        if self.approach is Approach.QUERY and self.query:
            return [Target(label=QUERY_LABEL, query=self.query)]
        if self.approach is Approach.PERSONAS:
            return list(self.persona_targets)
        return []

    def current(self) -> Target:
        return self.targets()[self.target]

    def spec(self) -> CampaignSpec:
        """The campaign to save; DraftError if a step is still missing."""
        targets = self.targets()
        missing = [t.label for t in targets if t.label not in self.messages]
        if self.name is None or not targets or missing or self.schedule is None:
            raise DraftError("the draft is not complete: go back and finish each step")
        audience = [
            TargetSpec(
                segment=target.segment,
                query=target.query,
                label=None if target.label == target.segment else target.label,
                variants=[_variant(self.messages[target.label])],
            )
            for target in targets
        ]
        try:
            return CampaignSpec(name=self.name, audience=audience, schedule=self.schedule)
        except ValidationError as error:
            raise DraftError(_first_problem(error)) from None


def _variant(message: DraftMessage) -> VariantSpec:
    return VariantSpec(
        text=message.text, photo=message.photo, caption=message.caption, buttons=message.buttons
    )


def _first_problem(error: ValidationError) -> str:
    detail = error.errors()[0]
    return str(detail["msg"]).removeprefix("Value error, ")


def check_name(text: str) -> str:
    """The name as a campaign file would take it, refused at the first step rather than
    at Confirm (digits alone name the campaign of that id)."""
    name = text.strip()
    if not NAME_PATTERN.match(name):
        raise DraftError(
            "A campaign name is 1-64 letters, digits, _ . or - (no spaces). Try again."
        )
    if name.isdigit():
        raise DraftError(f"{NUMBER_NAME[0].upper()}{NUMBER_NAME[1:]}. Try another.")
    return name


def parse_buttons(text: str) -> list[ButtonSpec]:
    """One button per line: `Text | https://link`."""
    buttons = []
    for number, line in enumerate(filter(None, (raw.strip() for raw in text.splitlines())), 1):
        match = _BUTTON_LINE.match(line)
        if match is None:
            raise DraftError(f"Line {number} is not `Text | https://link`: {line!r}")
        try:
            buttons.append(ButtonSpec(text=match["text"].strip(), url=match["url"]))
        except ValidationError as error:
            raise DraftError(f"Line {number}: {_first_problem(error)}") from None
    if not buttons:
        raise DraftError("Send at least one line `Text | https://link`, or tap No buttons.")
    if len(buttons) >= MESSAGE_BUTTONS:
        raise DraftError(
            f"{len(buttons)} buttons: a message has at most {MESSAGE_BUTTONS - 1} of your own "
            "(the Unsubscribe button makes it Telegram's 100)."
        )
    return buttons


def _zone(name: str) -> str:
    if zone_or_none(name) is None:
        raise DraftError(f"Unknown timezone {name!r}: use an IANA name like Europe/Madrid.")
    return name


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DraftError(f"{text!r} is not a day like 2026-05-01.") from None


def _future_day(text: str, now: datetime) -> date:
    day = _day(text)
    if day < now.date():
        raise DraftError(f"{day} has passed; give today or a later day.")
    return day


def _moment(text: str) -> datetime:
    """A date and time in one word (2026-10-25T02:30:00+02:00), as the advice for a time
    the zone's clocks show twice writes it: its offset says which of the two."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise DraftError(f"{text!r} is not a moment like 2026-10-25T02:30+02:00.") from None


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise DraftError(f"{text!r} is not a time like 10:00.") from None


def parse_schedule(when: When, text: str, *, now: datetime) -> ScheduleSpec:
    """The schedule an admin typed for `when`; DraftError saying what was expected, or
    that the run would start too late: a local-time or best-hour run starts where the
    day comes first (UTC+14), so today is over there already."""
    schedule = _typed_schedule(when, text, now=now)
    try:
        schedule.refuse_missed(now)
    except ScheduleMissedError:
        raise DraftError(
            f"{schedule.day} has begun where the day comes first (UTC+14), and the run "
            "starts there: give a later day."
        ) from None
    return schedule


def _typed_schedule(when: When, text: str, *, now: datetime) -> ScheduleSpec:
    words = text.split()
    try:
        if when is When.NOW:
            return ScheduleSpec(now=True)
        if when is When.AT and len(words) in (1, 2) and _ONE_WORD_MOMENT.match(words[0]):
            moment = _moment(words[0])
            return _at(moment, _zone(words[1]) if len(words) == 2 else "UTC", now=now)
        if when is When.AT and len(words) in (2, 3):
            day, at = _day(words[0]), _clock(words[1])
            zone = _zone(words[2]) if len(words) == 3 else "UTC"
            return _at(datetime.combine(day, at), zone, now=now)
        if when is When.RECURRING and len(words) in (5, 6):
            zone = _zone(words[5]) if len(words) == 6 else "UTC"
            return ScheduleSpec(cron=" ".join(words[:5]), timezone=zone)
        if when is When.LOCAL and len(words) == 2:
            day, at = _future_day(words[0], now), _clock(words[1])
            return ScheduleSpec(local=f"{at:%H:%M}", day=day)
        if when is When.BEST_HOUR and len(words) == 1:
            return ScheduleSpec(best_hour=True, day=_future_day(words[0], now))
    except ValidationError as error:
        raise DraftError(_first_problem(error)) from None
    raise DraftError(f"That is not it. {WHEN_ASKS[when]}")


def _at(written: datetime, zone: str, *, now: datetime) -> ScheduleSpec:
    """Send at `written` (a wall-clock time in `zone`, or a moment with its offset).
    Checked as a campaign file's: refused if the zone's clocks skip it or show it twice,
    or if it is past the last day a moment can have."""
    moment = ScheduleSpec(at=written, timezone=zone).moment()
    if moment is None or moment <= now:
        shown = written.isoformat(" ", "minutes") if written.tzinfo else f"{written:%Y-%m-%d %H:%M}"
        raise DraftError(f"{shown} {zone} has passed; give a later time.")
    return ScheduleSpec(at=moment.astimezone(UTC), timezone=zone)


def describe_schedule(schedule: ScheduleSpec) -> str:
    if schedule.cron is not None:
        return f"every {schedule.cron} ({schedule.timezone})"
    if schedule.local is not None:
        return f"on {schedule.day} at {schedule.local}, each subscriber's own time"
    if schedule.best_hour:
        return f"on {schedule.day} at each audience's best hour"
    moment = schedule.moment()
    if schedule.at is not None and moment is not None:
        local = moment.astimezone(ZoneInfo(schedule.timezone))
        return f"at {local:%Y-%m-%d %H:%M} {schedule.timezone}"
    return "now"
