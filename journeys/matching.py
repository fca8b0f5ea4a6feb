"""Whether something a subscriber did is a happening a journey names, two ways that mean
the same: in Python for an event the trigger feed reads (triggers and goals), and in SQL
for "did they, since they reached this step" (wait_for steps). tests/journeys holds them
to each other on the same events.
"""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Boolean, ColumnElement, and_, exists, literal, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core.models import Event
from crm_sync.models import Customer, Order
from journeys.happenings import (
    EVENT_TYPES,
    Answered,
    Clicked,
    Happening,
    Kind,
    Pressed,
    Purchased,
    Reacted,
)
from journeys.models import Enrolment, JourneyStep
from segments.rules.sql_json import json_array_has, json_text


def event_matches(happening: Happening, event_type: str, payload: Mapping[str, Any]) -> bool:
    """Whether a logged event (its type and payload) is `happening` (not a purchase: those
    are orders, `order_matches`)."""
    kind = happening.kind
    if kind is Kind.PURCHASED or EVENT_TYPES[kind].value != event_type:
        return False
    detail = happening.detail
    if isinstance(detail, Clicked):
        return detail.tag is None or detail.tag in _texts(payload.get("tags"))
    if isinstance(detail, Pressed):
        return detail.button is None or payload.get("data") == detail.button
    if isinstance(detail, Answered):
        return (detail.question is None or payload.get("question") == detail.question) and (
            detail.answer is None or detail.answer in _texts(payload.get("answers"))
        )
    if isinstance(detail, Reacted):
        return detail.emoji is None or detail.emoji in _texts(payload.get("emoji"))
    return True  # replied: any message


def order_matches(purchase: Purchased, *, amount: float, first: bool) -> bool:
    """Whether a counted order (its amount; whether it is the subscriber's first) is it."""
    if purchase.first and not first:
        return False
    return purchase.over is None or amount > purchase.over


def _texts(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def happened_since_step(happening: Happening, *, within: timedelta) -> ColumnElement[bool]:
    """SQL, per enrolment: the subscriber did it at or after reaching their current step
    (`step_since`), and no later than `within` after: what came after the wait ended (the
    runner was down, or the journey paused, when it ended) came too late."""
    if happening.kind is Kind.PURCHASED:
        return _purchased(happening.detail, within)  # type: ignore[arg-type]
    conditions = [
        Event.subscriber_id == Enrolment.subscriber_id,
        Event.type == EVENT_TYPES[happening.kind].value,
        Event.occurred_at >= Enrolment.step_since,
        _NoLaterThan(Event.occurred_at, Enrolment.step_since, within),
        _payload_condition(happening),
    ]
    return exists().where(*conditions)


class _NoLaterThan(FunctionElement[bool]):
    """`moment <= start + span`, in each database's own date arithmetic (SQLite keeps
    timestamps as text); `span` is bound as seconds."""

    type = Boolean()
    inherit_cache = True
    name = "no_later_than"

    def __init__(self, moment: Any, start: Any, span: timedelta) -> None:
        super().__init__(moment, start, literal(span.total_seconds()))


@compiles(_NoLaterThan, "sqlite")
def _sqlite_no_later_than(element: _NoLaterThan, compiler: SQLCompiler, **kw: Any) -> str:
    moment, start, seconds = (compiler.process(each, **kw) for each in element.clauses)
    return f"julianday({moment}) <= julianday({start}) + {seconds} / 86400.0"


@compiles(_NoLaterThan, "postgresql")
def _postgresql_no_later_than(element: _NoLaterThan, compiler: SQLCompiler, **kw: Any) -> str:
    moment, start, seconds = (compiler.process(each, **kw) for each in element.clauses)
    return f"{moment} <= {start} + {seconds} * INTERVAL '1 second'"


def _payload_condition(happening: Happening) -> ColumnElement[bool]:
    detail = happening.detail
    conditions: list[ColumnElement[bool]] = []
    if isinstance(detail, Clicked):
        if detail.tag is not None:
            conditions.append(json_array_has(Event.payload, "tags", detail.tag))
        if detail.step is not None:  # a link of the message that step sent this enrolment
            sent = select(JourneyStep.delivery_id).where(
                JourneyStep.enrolment_id == Enrolment.id, JourneyStep.step == detail.step
            )
            conditions.append(Event.delivery_id.in_(sent.scalar_subquery()))
    elif isinstance(detail, Pressed) and detail.button is not None:
        conditions.append(json_text(Event.payload, "data") == detail.button)
    elif isinstance(detail, Answered):
        if detail.question is not None:
            conditions.append(json_text(Event.payload, "question") == detail.question)
        if detail.answer is not None:
            conditions.append(json_array_has(Event.payload, "answers", detail.answer))
    elif isinstance(detail, Reacted) and detail.emoji is not None:
        conditions.append(json_array_has(Event.payload, "emoji", detail.emoji))
    return and_(true(), *conditions)


def counted_orders() -> ColumnElement[bool]:
    """Orders that are purchases (crm_sync.facts counts the same)."""
    return Order.counts_as_purchase & (Order.amount > 0)


def _purchased(purchase: Purchased, within: timedelta) -> ColumnElement[bool]:
    conditions = [
        Customer.subscriber_id == Enrolment.subscriber_id,
        counted_orders(),
        Order.ordered_at >= Enrolment.step_since,
        _NoLaterThan(Order.ordered_at, Enrolment.step_since, within),
    ]
    if purchase.over is not None:
        conditions.append(Order.amount > purchase.over)
    if purchase.first:
        conditions.append(~earlier_order())
    return exists().where(Order.customer_id == Customer.id, *conditions)


def earlier_order() -> ColumnElement[bool]:
    """Another counted order of the same subscriber (as `Customer`'s) before `Order`."""
    other, owner = aliased(Order), aliased(Customer)
    return exists().where(
        other.customer_id == owner.id,
        owner.subscriber_id == Customer.subscriber_id,
        other.counts_as_purchase,
        other.amount > 0,
        (other.ordered_at < Order.ordered_at)
        | ((other.ordered_at == Order.ordered_at) & (other.id < Order.id)),
    )
