"""Why a subscriber is or is not in a segment: each predicate of the rule, held or not.

Every predicate is evaluated by the same SQL the segment's query uses, in one SELECT.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import SegbotError
from core.models import Subscriber
from segments.rules import Rule, predicates, to_text
from segments.rules.compiler import SegmentRules, condition


class UnknownSubscriberError(SegbotError):
    """No subscriber has the id given."""


@dataclass(frozen=True, slots=True)
class PredicateCheck:
    predicate: str  # in the rule's text form
    held: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    subscriber_id: int
    rule: str
    matches: bool  # the whole rule, `not`, `and` and `or` applied
    checks: tuple[PredicateCheck, ...]  # each predicate on its own, left to right


async def explain(
    session: AsyncSession,
    *,
    subscriber_id: int,
    rule: Rule,
    now: datetime,
    segments: SegmentRules | None = None,
) -> Explanation:
    """Evaluate `rule` and each of its predicates for one subscriber at `now`."""
    leaves = list(dict.fromkeys(predicates(rule)))  # each distinct predicate once
    columns = [
        condition(leaf, now=now, segments=segments).label(f"p{number}")
        for number, leaf in enumerate(leaves)
    ]
    whole = condition(rule, now=now, segments=segments).label("whole")
    statement = (
        select(whole, *columns).select_from(Subscriber).where(Subscriber.id == subscriber_id)
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        raise UnknownSubscriberError(f"no subscriber with id {subscriber_id}")
    return Explanation(
        subscriber_id=subscriber_id,
        rule=to_text(rule),
        matches=bool(row[0]),
        checks=tuple(
            PredicateCheck(to_text(leaf), bool(held))
            for leaf, held in zip(leaves, row[1:], strict=True)
        ),
    )
