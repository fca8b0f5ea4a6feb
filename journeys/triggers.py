"""What the logged events and the CRM's orders mean for journeys, batch by batch (as the
feeds hand them over, journeys.feed): who enters which journey, who converts, whose
journeys end (unsubscribed, blocked, deactivated), whose wait_for steps may be over.

`react` decides in Python, from the rows alone; `apply` writes it. Event triggers key an
enrolment by the event's id (`event:ID`), purchase triggers by the order's (`order:ID`),
so a row read twice enrols nobody twice. A journey only reacts to what happened since it
was created; a paused one to goals and exits only.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import EventType, Subscriber, SubscriberStatus
from journeys.enrol import Candidate
from journeys.happenings import EVENT_TYPES, Kind, Purchased
from journeys.matching import event_matches, order_matches
from journeys.models import Enrolment, EnrolmentStatus, ExitReason, JourneyStatus, ending
from journeys.spec import JourneySpec
from journeys.triggers_spec import TriggerSpec

STOPS = {
    EventType.UNSUBSCRIBED.value: ExitReason.UNSUBSCRIBED,
    EventType.BLOCKED.value: ExitReason.BLOCKED,
    EventType.DEACTIVATED.value: ExitReason.DEACTIVATED,
    EventType.FORGOTTEN.value: ExitReason.UNSUBSCRIBED,  # /forget unsubscribes, then erases
}
_KIND_OF_TYPE = {event_type.value: kind.value for kind, event_type in EVENT_TYPES.items()}


@dataclass(frozen=True, slots=True)
class LoggedRow:
    """An event as the feed reads it."""

    id: int
    subscriber_id: int
    type: str
    occurred_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OrderRow:
    """A counted order of a subscriber's (through a linked customer), as the feed reads it."""

    id: int
    subscriber_id: int
    amount: float
    ordered_at: datetime
    first: bool  # their first counted order


@dataclass(frozen=True, slots=True)
class LiveJourney:
    id: int
    status: JourneyStatus
    created_at: datetime
    version_id: int
    spec: JourneySpec


@dataclass
class Reactions:
    candidates: dict[int, list[Candidate]] = field(default_factory=dict)  # by journey
    conversions: list[tuple[int, int, datetime]] = field(default_factory=list)  # journey, who, when
    stops: list[tuple[int, datetime, ExitReason]] = field(default_factory=list)  # who, when, why
    wakes: dict[str, set[int]] = field(default_factory=dict)  # kind waited for: subscribers


def react(
    journeys: Sequence[LiveJourney], events: Sequence[LoggedRow], orders: Sequence[OrderRow]
) -> Reactions:
    """What the rows mean for the journeys (see the module docstring)."""
    found = Reactions()
    for event in events:
        if event.type in STOPS:
            found.stops.append((event.subscriber_id, event.occurred_at, STOPS[event.type]))
        if event.type in _KIND_OF_TYPE:
            found.wakes.setdefault(_KIND_OF_TYPE[event.type], set()).add(event.subscriber_id)
        for journey in journeys:
            if event.occurred_at < journey.created_at:
                continue
            goal = journey.spec.goal
            if goal is not None and event_matches(goal, event.type, event.payload):
                found.conversions.append((journey.id, event.subscriber_id, event.occurred_at))
            if journey.status is JourneyStatus.LIVE and _triggers(journey.spec.trigger, event):
                key = Candidate(event.subscriber_id, f"event:{event.id}")
                found.candidates.setdefault(journey.id, []).append(key)
    for order in orders:
        found.wakes.setdefault(Kind.PURCHASED.value, set()).add(order.subscriber_id)
        for journey in journeys:
            if order.ordered_at < journey.created_at:
                continue
            goal = journey.spec.goal
            if goal is not None and goal.purchased is not None and _bought(goal.purchased, order):
                found.conversions.append((journey.id, order.subscriber_id, order.ordered_at))
            purchase = journey.spec.trigger.purchased
            live = journey.status is JourneyStatus.LIVE
            if live and purchase is not None and _bought(purchase, order):
                key = Candidate(order.subscriber_id, f"order:{order.id}")
                found.candidates.setdefault(journey.id, []).append(key)
    return found


def _bought(purchase: Purchased, order: OrderRow) -> bool:
    return order_matches(purchase, amount=order.amount, first=order.first)


def _triggers(trigger: TriggerSpec, event: LoggedRow) -> bool:
    """Whether the event is the journey's trigger (purchases, dates, inactivity and RFM
    triggers are not events: see `react` and journeys.periodic)."""
    kind, payload = event.type, event.payload
    if trigger.subscribed is not None:
        source = trigger.subscribed.source
        return kind == EventType.SUBSCRIBED and (source is None or payload.get("source") == source)
    for segment, logged in (
        (trigger.entered_segment, EventType.SEGMENT_ENTERED),
        (trigger.left_segment, EventType.SEGMENT_LEFT),
    ):
        if segment is not None:
            return kind == logged and payload.get("segment") == segment
    if trigger.stage is not None:
        return kind == EventType.STAGE_CHANGED and payload.get("to") == trigger.stage
    happening = trigger.happening()
    return happening is not None and event_matches(happening, kind, payload)


async def end_stopped(
    session: AsyncSession, stops: Sequence[tuple[int, datetime, ExitReason]]
) -> int:
    """/stop, a block or a deleted account ends every journey the person entered before
    it, and every journey of a person who has not come back since (an entry stamped
    after the stop by a clock ahead of the bot's, or made while the stop was being
    committed); how many enrolments ended (the caller commits)."""
    ended = 0
    for who, when, reason in stops:
        gone = select(Subscriber.id).where(
            Subscriber.id == who, Subscriber.status != SubscriberStatus.ACTIVE
        )
        result = await session.execute(
            update(Enrolment)
            .where(
                Enrolment.subscriber_id == who,
                Enrolment.status == EnrolmentStatus.ACTIVE,
                (Enrolment.entered_at <= when) | Enrolment.subscriber_id.in_(gone),
            )
            .values(ending(reason, when))
            .execution_options(synchronize_session=False)
        )
        ended += int(result.rowcount)  # type: ignore[attr-defined]
    return ended


async def convert(
    session: AsyncSession,
    journeys: Sequence[LiveJourney],
    conversions: Sequence[tuple[int, int, datetime]],
) -> int:
    """The goal happened: it converts the person's entries into the journey within the
    goal's window before it (holdout included), and ends the one they are inside wherever
    they are (exit reason `goal`, converted only within the window, as the holdout's
    are); how many enrolments converted (the caller commits)."""
    windows = {journey.id: journey.spec.goal.within for journey in journeys if journey.spec.goal}
    converted = 0
    for journey_id, who, when in conversions:
        theirs = (
            (Enrolment.journey_id == journey_id)
            & (Enrolment.subscriber_id == who)
            & (Enrolment.entered_at <= when)
        )
        counted = await session.execute(
            update(Enrolment)
            .where(
                theirs,
                Enrolment.converted_at.is_(None),
                Enrolment.entered_at >= when - windows[journey_id],
            )
            .values(converted_at=when)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(Enrolment)
            .where(theirs, Enrolment.status == EnrolmentStatus.ACTIVE)
            .values(ending(ExitReason.GOAL, when))
            .execution_options(synchronize_session=False)
        )
        converted += int(counted.rowcount)  # type: ignore[attr-defined]
    return converted
