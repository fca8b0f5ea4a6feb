"""segbot.yaml, read once: every section validated into one typed `AppConfig`.

The entry point (`segbot run`, each CLI command, the demo) loads it and passes it down:
the bot's handlers find it in the Dispatcher's workflow data as `config`, the jobs and
the admin console get the sections they use. A mistake in any section stops the process
at start-up with one line naming the key (`core.config.validated`), so a bad file never
fails mid-chat. Each package owns the model of its sections:

| section | model | what it says |
|---|---|---|
| `quiz` | `core.quiz.Quiz` | the onboarding quiz (default: bot/default_quiz.yaml) |
| `tracking` | `Tracking` (here) | what the event log keeps |
| `crm` | `crm_sync.config.CrmConfig` | connectors, default region, refunds |
| `segments`, `rfm`, `ladder`, `activity` | `segments.config.SegmentsConfig` | refresh, scoring |
| `ai` | `segments.ai.config.AiConfig` | AI segments and trait meanings |
| `broadcasts` | `broadcasts.config.BroadcastsConfig` | scheduling, best hour, paid lane |
| `reports` | `broadcasts.reports.ReportsConfig` | attribution window |
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from broadcasts.config import BroadcastsConfig, load_broadcasts_config
from broadcasts.reports.config import ReportsConfig, load_reports_config
from core.config import ConfigSections, load_config_file, validated
from core.errors import ConfigError
from core.quiz import Quiz
from core.settings import DEFAULT_CONFIG_FILE
from crm_sync.config import CrmConfig, load_crm_config
from segments.ai.config import AiConfig, load_ai_config
from segments.config import SegmentsConfig, load_segments_config

DEFAULT_QUIZ = Path(__file__).parent / "default_quiz.yaml"
SECTIONS = (
    "quiz", "tracking", "crm", "segments", "rfm", "ladder", "activity", "ai", "broadcasts",
    "reports",
)  # fmt: skip


class Tracking(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    store_message_text: bool = False  # keep what subscribers write in the event log


def _default_quiz() -> Quiz:
    return validated(Quiz, yaml.safe_load(DEFAULT_QUIZ.read_text(encoding="utf-8")), "quiz")


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Every section of segbot.yaml, validated; `AppConfig()` is the shipped defaults."""

    quiz: Quiz = field(default_factory=_default_quiz)
    tracking: Tracking = field(default_factory=Tracking)
    crm: CrmConfig = field(default_factory=lambda: load_crm_config({}))
    segments: SegmentsConfig = field(default_factory=lambda: load_segments_config({}))
    ai: AiConfig = field(default_factory=lambda: load_ai_config({}))
    broadcasts: BroadcastsConfig = field(default_factory=BroadcastsConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)

    @property
    def phone_region(self) -> str:
        """The ISO country whose phone numbers may be written without +code."""
        return self.crm.default_region

    @property
    def rfm_names(self) -> tuple[str, ...]:
        return self.segments.rfm.segment_map().names


def parse_app_config(sections: ConfigSections, *, path: Path | None = None) -> AppConfig:
    """Every section validated; a section segbot does not know (a key YAML reads as a
    number, null or true/false included) is a mistake too, told as in the file at `path`."""
    unknown = sorted(str(name) for name in sections if name not in SECTIONS)
    if unknown:
        raise ConfigError(
            f"{path or DEFAULT_CONFIG_FILE}: unknown section {', '.join(unknown)} "
            f"(known: {', '.join(SECTIONS)})"
        )
    quiz = sections.get("quiz")
    return AppConfig(
        quiz=_default_quiz() if quiz is None else validated(Quiz, quiz, "quiz"),
        tracking=validated(Tracking, sections.get("tracking") or {}, "tracking"),
        crm=load_crm_config(sections),
        segments=load_segments_config(sections),
        ai=load_ai_config(sections),
        broadcasts=load_broadcasts_config(sections),
        reports=load_reports_config(sections),
    )


def load_app_config(path: Path | None) -> AppConfig:
    """segbot.yaml at `path` (SEGBOT_CONFIG), or every default when there is none."""
    return parse_app_config(load_config_file(path), path=path)
