"""The onboarding quiz: in-chat self-segmentation, defined in the `quiz` section of
segbot.yaml (segbot ships `bot/default_quiz.yaml`).

Each question has single- or multi-choice options. An answer can set an attribute
(`attribute: age_band`; the names country, region, city and timezone set those profile
fields, from one choice; an option stores its id, or its `value:`, which a timezone
option must give as an IANA zone) and add tags (`tags: [interest:sport]`). Texts are
given per language (`{en: ..., es: ...}`, core.languages: a subscriber reads their own
language's, else English, else the first) or as one string for all; none may be empty.
"""

import re
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.languages import NonBlankLocalized
from core.zones import zone_or_none

# Attributes that are columns of Subscriber rather than entries of its attributes JSON.
PROFILE_FIELDS = frozenset({"country", "region", "city", "timezone"})
_ID = r"^[a-z0-9_]{1,24}$"
_TAG = re.compile(r"^[\w:.-]{1,64}$")

Text = NonBlankLocalized


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=_ID)]
    label: Text
    tags: tuple[str, ...] = ()
    # What choosing it stores in the question's attribute (default: the id), e.g. the IANA
    # zone `Europe/Madrid` for `attribute: timezone`, which an id cannot spell.
    value: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @property
    def stored(self) -> str:
        return self.value if self.value is not None else self.id

    @model_validator(mode="after")
    def _valid_tags(self) -> Self:
        bad = [tag for tag in self.tags if not _TAG.match(tag)]
        if bad:
            raise ValueError(f"option {self.id!r}: tags must be 1-64 of [A-Za-z0-9_:.-]: {bad}")
        return self


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=_ID)]
    text: Text
    multiple: bool = False
    attribute: Annotated[str, Field(pattern=_ID)] | None = None
    options: Annotated[tuple[Option, ...], Field(min_length=1, max_length=12)]

    @model_validator(mode="after")
    def _unique_options(self) -> Self:
        ids = [option.id for option in self.options]
        if len(ids) != len(set(ids)):
            raise ValueError(f"question {self.id!r}: option ids must be unique")
        return self

    @model_validator(mode="after")
    def _profile_field_values(self) -> Self:
        """A profile field holds one value, and `timezone` an IANA zone: quiet hours,
        local-time sends and journey waits read it."""
        if self.attribute not in PROFILE_FIELDS:
            return self
        if self.multiple:
            raise ValueError(f"question {self.id!r}: {self.attribute} holds one answer")
        if self.attribute == "timezone":
            bad = [o.id for o in self.options if zone_or_none(o.stored) is None]
            if bad:
                raise ValueError(
                    f"question {self.id!r}: options {bad} store no IANA time zone: give each "
                    "its zone as `value:` (value: Europe/Madrid)"
                )
        return self

    def option(self, option_id: str) -> Option | None:
        return next((option for option in self.options if option.id == option_id), None)


class Quiz(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    ask_phone: bool = True  # offer the "share my phone" button when the quiz ends
    questions: Annotated[tuple[Question, ...], Field(max_length=20)] = ()

    @model_validator(mode="after")
    def _unique_questions(self) -> Self:
        ids = [question.id for question in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError("quiz question ids must be unique")
        return self

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def after(self, question_id: str) -> Question | None:
        """The question that follows `question_id`, if any."""
        ids = [question.id for question in self.questions]
        position = ids.index(question_id) + 1 if question_id in ids else len(ids)
        return self.questions[position] if position < len(ids) else None
