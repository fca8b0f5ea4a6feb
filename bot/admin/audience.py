"""The wizard's view of a draft's audience: who each target takes (in order, each
subscriber going to the first target that matches, as the planner does), and a real
member of each target to render its preview for. No aiogram here."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import false, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.admin.draft import Target
from core.models import Subscriber, SubscriberStatus
from segments.rules import parse
from segments.rules.compiler import SegmentRules, condition
from segments.saved import RfmNames, UnknownSegmentError, saved_rules


def _conditions(
    targets: Sequence[Target], rules: SegmentRules, now: datetime, rfm_names: RfmNames
) -> list[ColumnElement[bool]]:
    found = []
    for target in targets:
        if target.segment is not None:
            if target.segment not in rules:
                raise UnknownSegmentError(f"no segment named {target.segment!r} any more")
            found.append(condition(rules[target.segment], now=now, segments=rules))
        elif target.query is not None:
            rule = parse(target.query, rfm_segments=rfm_names)
            found.append(condition(rule, now=now, segments=rules))
    return found


async def audience_counts(
    session: AsyncSession, targets: Sequence[Target], *, now: datetime, rfm_names: RfmNames
) -> list[int]:
    """Active subscribers each target would message (earlier targets take precedence)."""
    rules = await saved_rules(session, rfm_segments=rfm_names)
    taken: ColumnElement[bool] = false()
    counts = []
    for matches in _conditions(targets, rules, now, rfm_names):
        where = matches & not_(taken) & (Subscriber.status == SubscriberStatus.ACTIVE)
        counts.append(int(await session.scalar(select(func.count()).where(where)) or 0))
        taken = taken | matches
    return counts


async def sample_member(
    session: AsyncSession, target: Target, *, now: datetime, rfm_names: RfmNames
) -> Subscriber | None:
    """The first active subscriber the target matches (the one a preview is rendered for)."""
    rules = await saved_rules(session, rfm_segments=rfm_names)
    (matches,) = _conditions([target], rules, now, rfm_names)
    active = matches & (Subscriber.status == SubscriberStatus.ACTIVE)
    return await session.scalar(select(Subscriber).where(active).order_by(Subscriber.id).limit(1))
