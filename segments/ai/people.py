"""The audience and the features each subscriber's own row gives: demographics, geography,
the ladder stage and days subscribed, plus their time zone for the hours features.

Texts are categoricals ("unknown" when missing), read in chunks (`columns.read_columns`):
a million subscribers' texts never sit in memory as Python strings.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Float, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from core.models import Subscriber
from segments.ai.columns import Array, read_columns
from segments.models import LadderStage
from segments.rules import Rule
from segments.rules.compiler import condition
from segments.rules.sql_json import json_number, json_text
from segments.saved import saved_rules

DEMOGRAPHICS = ("lang", "gender", "age_band", "income", "education")
GEOGRAPHY = ("country", "city")
ATTRIBUTES = ("age_band", "gender", "income", "education")  # texts among the attributes
UNKNOWN = "unknown"
MAX_AGE = 150  # years: an age outside 0-MAX_AGE is a typo or junk, so unknown


@dataclass(frozen=True)
class People:
    index: pd.Index  # their ids, ascending, named "id"
    # Feature columns: DEMOGRAPHICS and GEOGRAPHY (categoricals), age (NaN when unknown
    # or outside 0-MAX_AGE), stage (0-4) and tenure.
    facts: dict[str, Array | pd.Categorical]
    tenure: Array  # days subscribed
    zones: pd.Categorical  # time zone names, "" when unknown


async def read_people(
    session: AsyncSession, now: datetime, audience: Rule | None, rfm_segments: Collection[str]
) -> People:
    """Every subscriber `audience` selects at `now` (everyone if None), by id."""
    statement = select(
        Subscriber.id,
        json_number(Subscriber.attributes, "age"),
        func.coalesce(LadderStage.stage, 0),
        _days_since(Subscriber.subscribed_at, now, session.get_bind().dialect.name),
        Subscriber.language_code,
        Subscriber.country,
        Subscriber.city,
        *(json_text(Subscriber.attributes, key) for key in ATTRIBUTES),
        func.coalesce(Subscriber.timezone, ""),  # "", not UNKNOWN: no zone at all
    ).outerjoin(LadderStage, LadderStage.subscriber_id == Subscriber.id)
    if audience is not None:
        rules = await saved_rules(session, rfm_segments=rfm_segments)
        statement = statement.where(condition(audience, now=now, segments=rules))
    numbers, categoricals = await read_columns(
        session, statement.order_by(Subscriber.id), ["int", "float", "int", "float"],
        len(ATTRIBUTES) + 4, missing=UNKNOWN,
    )  # fmt: skip
    ids, age, stage, tenure = numbers
    age = np.where((age >= 0) & (age <= MAX_AGE), age, np.nan)  # NaN stays unknown
    lang, country, city, *attributes, zones = categoricals
    tenure = np.maximum(tenure, 0)
    facts: dict[str, Array | pd.Categorical] = {
        "lang": lang,
        "country": country,
        "city": city,
        "age": age,
        **dict(zip(ATTRIBUTES, attributes, strict=True)),
        "stage": stage,
        "tenure": tenure,
    }
    return People(index=pd.Index(ids, name="id"), facts=facts, tenure=tenure, zones=zones)


def _days_since(
    moment: InstrumentedAttribute[datetime], now: datetime, dialect: str
) -> ColumnElement[float]:
    """Days (fractional) from `moment` to `now`, computed by the database: no timestamps
    cross into Python."""
    at = literal(now, moment.type)
    if dialect == "postgresql":
        return cast(func.extract("epoch", at - moment) / 86_400, Float)
    return cast(func.julianday(at) - func.julianday(moment), Float)
