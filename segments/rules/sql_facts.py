"""SQL for the facts about a subscriber that live outside `subscribers`: tags, events, linked
CRM customers and their purchase facts, RFM scores, ladder stage and activity level.

Each function returns an expression correlated to the enclosing `subscribers` row and never
NULL (EXISTS, or a COALESCEd aggregate), so rules stay two-valued.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    SQLColumnExpression,
    Subquery,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
)

from core.models import Event, EventType, Subscriber, SubscriberTag
from crm_sync.models import Customer, SubscriberPurchases
from segments.models import ActivityLevel, LadderStage, RfmScore
from segments.rules.fields import Level, PurchaseFact, RfmFact
from segments.rules.sql_json import json_array_has
from segments.rules.tree import EVENT_TYPES, Action

Where = Callable[[SQLColumnExpression[Any]], ColumnElement[bool]]

_PURCHASE_COLUMNS = {
    PurchaseFact.COUNT: SubscriberPurchases.orders_count,
    PurchaseFact.TOTAL: SubscriberPurchases.total_spent,
    PurchaseFact.LAST: SubscriberPurchases.last_order_at,
}
_RFM_COLUMNS = {
    RfmFact.SEGMENT: RfmScore.segment,
    RfmFact.R: RfmScore.r,
    RfmFact.F: RfmScore.f,
    RfmFact.M: RfmScore.m,
}


def tagged(names: tuple[str, ...], *, via_clicks: bool) -> ColumnElement[bool]:
    """The subscriber has one of the tags `names`; with `via_clicks`, or clicked a link
    tagged with one of them."""
    has_tag = exists().where(
        SubscriberTag.subscriber_id == Subscriber.id, SubscriberTag.tag.in_(names)
    )
    if not via_clicks:
        return has_tag
    clicked_tagged = exists().where(
        Event.subscriber_id == Subscriber.id,
        Event.type == EventType.LINK_CLICK.value,
        json_array_has(Event.payload, "tags", *names),
    )
    return or_(has_tag, clicked_tagged)


def _events(action: Action, since: datetime | None, campaign: int | None) -> list[Any]:
    """The events of `action` (since `since`, on `campaign`), by any subscriber."""
    conditions: list[Any] = [Event.type == EVENT_TYPES[action]]
    if since is not None:
        conditions.append(Event.occurred_at >= since)
    if campaign is not None:
        conditions.append(Event.campaign_id == campaign)
    return conditions


def event_exists(
    action: Action, *, since: datetime | None, campaign: int | None
) -> ColumnElement[bool]:
    return exists().where(Event.subscriber_id == Subscriber.id, *_events(action, since, campaign))


def event_counts(
    action: Action,
    *,
    since: datetime | None,
    campaign: int | None,
    among: Select[int] | None = None,
) -> Subquery:
    """Per subscriber with such events: `subscriber_id`, `events` (how many, a BIGINT as
    COUNT is: a count in a rule may be up to 10^15, past a 32-bit INTEGER). With `among`
    (a SELECT of subscriber ids), only theirs are counted: a rule asked about a few
    subscribers then counts a few subscribers' events, not everyone's."""
    conditions = _events(action, since, campaign)
    if among is not None:
        conditions.append(Event.subscriber_id.in_(among))
    return (
        select(Event.subscriber_id, func.count(type_=BigInteger).label("events"))
        .where(*conditions)
        .group_by(Event.subscriber_id)
        .subquery("event_counts")
    )


def purchase_totals(*facts: PurchaseFact) -> Subquery:
    """Per subscriber linked to a CRM customer, over their customers: a column named after
    each of `facts` (count, total or last), read from the sums the CRM sync keeps."""
    return select(
        SubscriberPurchases.subscriber_id,
        *(_PURCHASE_COLUMNS[fact].label(fact.value) for fact in facts),
    ).subquery("purchase_totals")


def money(amount: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """`amount` to the cent, as `comparison.money`: a sum of cents is exact in PostgreSQL's
    NUMERIC but a few units in the last place off in SQLite's floats (0.1 + 0.2)."""
    return _as_money(_cents(amount))


def average_money(
    spent: SQLColumnExpression[Any], orders: SQLColumnExpression[Any]
) -> ColumnElement[Any]:
    """`spent` / `orders` (orders > 0) to the cent, half a cent up, as
    `comparison.average_money`: whole cents divided in integers, exact in both databases."""
    return _as_money((2 * _cents(spent) + orders) // (2 * orders))


def _cents(amount: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """Whole cents in `amount` (>= 0), half a cent up, as `comparison.money` counts them."""
    return cast(func.round(amount * 100), BigInteger)


def _as_money(cents: ColumnElement[int]) -> ColumnElement[Any]:
    """Whole `cents` over a DOUBLE PRECISION 100: the double nearest the amount, the one a
    literal such as 0.3 reads as."""
    return cents / literal(100.0, Float())


def aggregate_holds(
    per_subscriber: Subquery,
    holds: Callable[[Subquery], ColumnElement[bool]],
    *,
    holds_without_row: bool,
) -> ColumnElement[bool]:
    """`holds` on the subscriber's row of `per_subscriber` (one row per subscriber_id, made
    by `event_counts` or `purchase_totals`); a subscriber without a row satisfies it
    exactly when `holds_without_row`.

    The aggregate is computed once for everyone and joined (a semi- or anti-join), where a
    correlated subquery would aggregate again for each of a million subscribers.
    """
    of_subscriber = per_subscriber.c.subscriber_id == Subscriber.id
    if holds_without_row:
        return not_(exists().where(of_subscriber, not_(holds(per_subscriber))))
    return exists().where(of_subscriber, holds(per_subscriber))


def buyer() -> ColumnElement[bool]:
    """Some customer linked to the subscriber has bought."""
    return exists().where(
        SubscriberPurchases.subscriber_id == Subscriber.id, SubscriberPurchases.orders_count > 0
    )


def customer_exists(
    where: Callable[[SQLColumnExpression[Any]], ColumnElement[bool]],
) -> ColumnElement[bool]:
    """Some CRM customer linked to the subscriber has attributes for which `where` holds."""
    return exists().where(Customer.subscriber_id == Subscriber.id, where(Customer.attributes))


def purchase_fact(fact: PurchaseFact) -> ColumnElement[Any]:
    """Over all linked customers: orders count and total spend (0 without any), last order
    time (NULL without any), as a correlated subquery (for one subscriber at a time; a rule
    over everyone uses `purchase_totals`)."""
    value = select(_PURCHASE_COLUMNS[fact]).where(
        SubscriberPurchases.subscriber_id == Subscriber.id
    )
    if fact is PurchaseFact.LAST:
        return value.scalar_subquery()
    return func.coalesce(value.scalar_subquery(), 0)


def rfm_segment() -> ColumnElement[Any]:
    """The RFM segment of the subscriber's best-scored linked customer (NULL without one)."""
    return (
        select(RfmScore.segment)
        .join(Customer, Customer.id == RfmScore.customer_id)
        .where(Customer.subscriber_id == Subscriber.id)
        .order_by(RfmScore.r.desc(), RfmScore.f.desc(), RfmScore.customer_id)
        .limit(1)
        .scalar_subquery()
    )


def rfm_exists(fact: RfmFact | None, where: Where) -> ColumnElement[bool]:
    """Some linked customer has a current RFM score whose `fact` satisfies `where`
    (`fact=None`: has a score at all)."""
    conditions = [Customer.subscriber_id == Subscriber.id]
    if fact is not None:
        conditions.append(where(_RFM_COLUMNS[fact]))
    return exists(
        select(RfmScore.customer_id)
        .join(Customer, Customer.id == RfmScore.customer_id)
        .where(*conditions)
    )


def level_holds(level: Level, where: Where, *, holds_without_row: bool) -> ColumnElement[bool]:
    """`where` on the subscriber's stage or activity level; a subscriber without a row
    satisfies it exactly when `holds_without_row`."""
    table, column = (
        (LadderStage, LadderStage.stage)
        if level is Level.STAGE
        else (ActivityLevel, ActivityLevel.level)
    )
    if holds_without_row:  # true for the default: only a row that fails excludes them
        return not_(exists().where(table.subscriber_id == Subscriber.id, not_(where(column))))
    return exists().where(table.subscriber_id == Subscriber.id, where(column))
