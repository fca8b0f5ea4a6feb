"""The `rfm`, `ladder` and `activity` sections of segbot.yaml; each has a shipped default.

```yaml
rfm:
  min_customers: 20          # fewer customers with orders: nothing is scored, and it says so
  segments:                  # names for the R/F grid: each of the 25 cells exactly once
    champions: {r: 5, f: 4-5}
    loyal: {r: 3-4, f: 4-5}
    ...
ladder:
  window_days: 90            # evidence older than this does not count
  step_down_after_days: 30   # one stage down per this many days without hearing from them
  evidence:                  # per stage, any of: link_tag, tag, quiz, start_source, button, crm
    problem_aware: [{link_tag: problem}, {quiz: need=problem}]
    most_aware: [{button: add_to_cart}, {crm: order}]
activity:
  window_days: 30            # engagement events counted over this window
  dormant_after_days: 90     # no engagement for this long: dormant (else cold)
  very_active: 10            # events in the window for each level
  active: 4
  passive: 1
  events: [message, button, reaction, link_click, read, quiz_answer]
```
"""

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config import MINUTES_IN_A_WEEK, ConfigSections, validated
from core.errors import ConfigError
from core.models import EventType
from segments.levels import STAGES
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP, MIN_CUSTOMERS, SegmentMap

Days = Annotated[int, Field(gt=0, le=3650)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
StageName = Literal["problem_aware", "solution_aware", "product_aware", "most_aware"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Evidence(_Strict):
    """One signal that a subscriber has reached a stage; exactly one field is given."""

    link_tag: Name | None = None  # clicked a tracked link with this tag
    tag: Name | None = None  # carries this tag (e.g. from a quiz answer), since it was added
    quiz: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,24}=[a-z0-9_]{1,24}$")] | None = None
    start_source: Name | None = None  # came in through /start with this source
    button: Name | None = None  # pressed an inline button with this callback data
    crm: Literal["order", "customer"] | None = None  # a counted order; a CRM record (a lead)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name, value in self if value is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(type(self).model_fields)}")
        return self


def _evidence(*items: dict[str, str]) -> tuple[Evidence, ...]:
    return tuple(Evidence.model_validate(item) for item in items)


# Works with the shipped quiz (its "need" question tags answers ladder:<stage>) and with
# broadcasts whose links carry the tags below.
DEFAULT_EVIDENCE: dict[StageName, tuple[Evidence, ...]] = {
    "problem_aware": _evidence({"tag": "ladder:problem_aware"}, {"link_tag": "problem"}),
    "solution_aware": _evidence(
        {"tag": "ladder:solution_aware"}, {"link_tag": "solution"}, {"link_tag": "guide"}
    ),
    "product_aware": _evidence(
        {"tag": "ladder:product_aware"},
        {"link_tag": "product"},
        {"link_tag": "pricing"},
        {"button": "ask_price"},
    ),
    "most_aware": _evidence(
        {"tag": "ladder:most_aware"},
        {"link_tag": "checkout"},
        {"button": "add_to_cart"},
        {"crm": "order"},
    ),
}


class LadderConfig(_Strict):
    window_days: Days = 90
    step_down_after_days: Days | None = 30  # None: never step down for silence
    evidence: dict[StageName, tuple[Evidence, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_EVIDENCE)
    )

    def stage_evidence(self) -> list[tuple[int, Evidence]]:
        """(stage number, evidence) for every configured signal."""
        return [
            (STAGES.index(stage), item) for stage, items in self.evidence.items() for item in items
        ]


DEFAULT_ENGAGEMENT = (
    EventType.MESSAGE,
    EventType.BUTTON,
    EventType.REACTION,
    EventType.LINK_CLICK,
    EventType.READ,
    EventType.QUIZ_ANSWER,
)


class ActivityConfig(_Strict):
    window_days: Days = 30
    dormant_after_days: Days = 90
    very_active: Annotated[int, Field(gt=0)] = 10
    active: Annotated[int, Field(gt=0)] = 4
    passive: Annotated[int, Field(gt=0)] = 1
    events: tuple[EventType, ...] = DEFAULT_ENGAGEMENT

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.very_active > self.active > self.passive:
            raise ValueError("thresholds must fall: very_active > active > passive")
        if self.dormant_after_days < self.window_days:
            raise ValueError("dormant_after_days must be at least window_days")
        return self


class RfmConfig(_Strict):
    """`min_customers: N`, the fewest customers with a counted order worth scoring in
    quintiles (at least 1); `segments: {name: {r: SPAN, f: SPAN}}` where a span is `5` or
    `3-4`."""

    min_customers: Annotated[int, Field(ge=1, strict=True)] = MIN_CUSTOMERS
    segments: dict[Name, dict[Literal["r", "f"], int | str]] | None = None

    def segment_map(self) -> SegmentMap:
        if self.segments is None:
            return DEFAULT_SEGMENT_MAP
        return SegmentMap(
            {
                name: (_span(name, cells.get("r", "1-5")), _span(name, cells.get("f", "1-5")))
                for name, cells in self.segments.items()
            }
        )


def _span(name: str, value: int | str) -> tuple[int, int]:
    low, _, high = str(value).partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise ConfigError(
            f"rfm.segments.{name}: {value!r} is not a score or a span like 3-4"
        ) from None


class RefreshConfig(_Strict):
    """`segments: {refresh_every_minutes: N}`: how often the running bot rescores RFM,
    restages the ladder, recomputes activity levels and refreshes every saved segment."""

    refresh_every_minutes: Annotated[int, Field(gt=0, le=MINUTES_IN_A_WEEK)] = 15


class SegmentsConfig(_Strict):
    refresh: RefreshConfig = RefreshConfig()
    rfm: RfmConfig = RfmConfig()
    ladder: LadderConfig = LadderConfig()
    activity: ActivityConfig = ActivityConfig()


def load_segments_config(sections: ConfigSections) -> SegmentsConfig:
    """The validated sections (defaults where absent); a mistake is one ConfigError."""
    config = SegmentsConfig(
        refresh=validated(RefreshConfig, sections.get("segments") or {}, "segments"),
        rfm=validated(RfmConfig, sections.get("rfm") or {}, "rfm"),
        ladder=validated(LadderConfig, sections.get("ladder") or {}, "ladder"),
        activity=validated(ActivityConfig, sections.get("activity") or {}, "activity"),
    )
    config.rfm.segment_map()  # a map with gaps or overlaps fails here, at start-up
    return config
