"""The quiz's answers as the profile keeps them: an option stores its id or its `value`,
and a profile field (timezone above all) only what it can hold."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from core.profiles import answer_question
from core.quiz import Question
from core.subscribers import Profile, subscribe

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
WHERE = Question.model_validate(
    {
        "id": "where",
        "text": {"en": "Where are you?", "es": "¿Dónde estás?"},
        "attribute": "timezone",
        "options": [
            {"id": "spain", "label": "Spain", "value": "Europe/Madrid"},
            {"id": "mexico", "label": "Mexico", "value": "America/Mexico_City"},
        ],
    }
)


async def test_a_timezone_answer_stores_the_zone_its_option_gives(session: AsyncSession) -> None:
    ann = Profile(telegram_id=501, chat_id=501, first_name="Ann")
    await subscribe(session, profile=ann, source=None, now=T0)
    answered = await answer_question(
        session, telegram_id=501, question=WHERE, option_ids=["mexico"], now=T0
    )
    assert answered.timezone == "America/Mexico_City"


@pytest.mark.parametrize(
    ("question", "refusal"),
    [
        (
            {"attribute": "timezone", "options": [{"id": "europe_madrid", "label": "Madrid"}]},
            "store no IANA time zone: give each its zone as `value:`",
        ),
        (
            {"attribute": "timezone", "options": [{"id": "x", "label": "X", "value": "Mars/Base"}]},
            "options ['x'] store no IANA time zone",
        ),
        (
            {"attribute": "country", "multiple": True, "options": [{"id": "es", "label": "ES"}]},
            "country holds one answer",
        ),
    ],
)
def test_a_profile_field_is_given_only_what_it_holds(
    question: dict[str, object], refusal: str
) -> None:
    with pytest.raises(ValidationError, match=refusal.replace("[", r"\[").replace("]", r"\]")):
        Question.model_validate({"id": "q", "text": "Q?", **question})
