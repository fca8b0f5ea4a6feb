"""The segment builder's live count: how many subscribers a rule selects now, how many of
them are active, and a sample of them, each with why it is in (every predicate of the rule,
held or not, by `segments.explain`). A rule that selects nobody because its CRM customers
are not linked to subscribers says so (`crm_sync.reports.why_empty`).

The same queries as the chat's `/segment QUERY` (`bot.admin.segment_commands`): the rule
parsed, `in segment` resolved against the saved segments, one compiled condition.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import for_audience_queries
from core.models import Subscriber, SubscriberStatus
from crm_sync.reports import why_empty
from segments.explain import PredicateCheck, explain
from segments.rules import Rule, parse, to_text
from segments.rules.compiler import SegmentRules, condition
from segments.rules.fields import asks_about_customers
from segments.saved import saved_rules

SAMPLE = 5


@dataclass(frozen=True, slots=True)
class Member:
    """A sampled subscriber, named by its row id (never its Telegram id in a URL)."""

    id: int
    name: str
    username: str | None
    status: str
    checks: tuple[PredicateCheck, ...]


@dataclass(frozen=True, slots=True)
class Preview:
    rule: str  # the rule's canonical text
    total: int
    active: int
    sample: list[Member]
    why_none: str | None  # why it selects nobody, when that is the CRM's links


async def preview(
    session: AsyncSession,
    *,
    rule_text: str,
    now: datetime,
    rfm_segments: Collection[str],
    sample: int = SAMPLE,
) -> Preview:
    """What `rule_text` selects at `now`; RuleError (with the position) if it cannot."""
    rule = parse(rule_text, rfm_segments=rfm_segments)
    segments = await saved_rules(session, rfm_segments=rfm_segments)
    where = condition(rule, now=now, segments=segments)
    await for_audience_queries(session)
    # Both figures in one pass: the rule, the costly part, is evaluated once.
    active = func.count(case((Subscriber.status == SubscriberStatus.ACTIVE, 1)))
    counted = select(func.count(), active).select_from(Subscriber).where(where)
    total, reachable = (await session.execute(counted)).one()
    members = await _sample(session, where, rule, now, segments, sample) if total else []
    reason = None
    if total == 0 and asks_about_customers(rule, segments=segments):
        reason = (await why_empty(session, {"": 0}, asking={""})).get("")
    return Preview(to_text(rule), int(total), int(reachable), members, reason)


async def _sample(
    session: AsyncSession,
    where: ColumnElement[bool],
    rule: Rule,
    now: datetime,
    segments: SegmentRules,
    size: int,
) -> list[Member]:
    """The first `size` subscribers the rule selects, each with why it is in."""
    found = await session.scalars(
        select(Subscriber).where(where).order_by(Subscriber.id).limit(size)
    )
    members = []
    for subscriber in found.all():
        why = await explain(
            session, subscriber_id=subscriber.id, rule=rule, now=now, segments=segments
        )
        name = " ".join(filter(None, (subscriber.first_name, subscriber.last_name)))
        members.append(
            Member(subscriber.id, name, subscriber.username, subscriber.status.value, why.checks)
        )
    return members
