"""How the bot behaves, from segbot.yaml: the quiz, what the event log keeps, the region
phones are read in. Validated when the bot starts, so a bad file never fails mid-chat."""

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from core.config import ConfigSections
from core.errors import ConfigError
from core.quiz import Quiz
from crm_sync.config import load_crm_config

M = TypeVar("M", bound=BaseModel)

DEFAULT_QUIZ = Path(__file__).parent / "default_quiz.yaml"


class Tracking(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    store_message_text: bool = False  # keep what subscribers write in the event log


@dataclass(frozen=True, slots=True)
class Behaviour:
    quiz: Quiz
    tracking: Tracking
    phone_region: str  # ISO country whose numbers may be written without +code


def load_behaviour(sections: ConfigSections) -> Behaviour:
    quiz_section = sections.get("quiz")
    if quiz_section is None:
        quiz_section = yaml.safe_load(DEFAULT_QUIZ.read_text(encoding="utf-8"))
    return Behaviour(
        quiz=_validated(Quiz, quiz_section, "quiz"),
        tracking=_validated(Tracking, sections.get("tracking") or {}, "tracking"),
        phone_region=load_crm_config(sections).default_region,
    )


def _validated(model: type[M], content: object, section: str) -> M:
    try:
        return model.model_validate(content)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"segbot.yaml [{section}] {where}: {first['msg']}") from None
