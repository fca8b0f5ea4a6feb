"""The journey report: the journey as a whole and each of its steps, and the lift of the
goal against the holdout, as of a moment.

- Entries, reach, exits and goal conversions come from the enrolments and the step log
  (journeys.reports.counts); what the messages did, and the revenue their attributed
  orders brought, from the campaign funnel of the journey's deliveries
  (journeys.reports.messages).
- Steps are listed in the latest version's order; a step that only an older version has
  follows, marked, when anyone reached it. A step id shared by versions is one step.
- Lift is counted in people, with the campaign reports' statistics: the share of the
  people in the journey who met the goal against the share of the holdout who did
  (each within the goal's window of entering), Newcombe's interval of the difference and
  the z-test, or Fisher's exact test on small counts (broadcasts.reports.significance).
"""

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.reports.config import DEFAULT_ATTRIBUTION_DAYS
from broadcasts.reports.lift import Lift
from broadcasts.reports.significance import compare_rates
from broadcasts.reports.stats import CONFIDENCE, difference_interval
from journeys.models import JourneyStatus, JourneyVersion
from journeys.reports.counts import Entries, People, StepPlaces, entries, people, step_places
from journeys.reports.messages import StepMessages, step_messages
from journeys.spec import JourneySpec, stored_spec
from journeys.store import get_journey
from journeys.triggers_spec import span_text

DEFAULT_WINDOW = timedelta(days=DEFAULT_ATTRIBUTION_DAYS)


@dataclass(frozen=True, slots=True)
class StepReport:
    step: str  # its id
    action: str  # send, wait, wait_for, if, add_tag, remove_tag, set, notify, exit
    in_latest: bool  # False: only an older version has it
    places: StepPlaces
    messages: StepMessages


@dataclass(frozen=True, slots=True)
class JourneyReport:
    journey: str
    status: JourneyStatus
    version: int  # the latest
    trigger: str  # in words
    goal: str | None  # in words, with its window; None: the journey has no goal
    holdout_percent: int
    generated_at: datetime
    window: timedelta  # attribution window of the messages' orders
    window_open: bool  # orders may still come for the latest messages
    entries: Entries
    steps: tuple[StepReport, ...]
    lift: Lift | None  # None without a holdout
    currencies: tuple[str, ...]  # of the attributed orders; revenue mixes them if several

    @property
    def messages(self) -> StepMessages:
        """Every step's messages added up."""
        names = [item.name for item in fields(StepMessages)]
        totals = {name: sum(getattr(row.messages, name) for row in self.steps) for name in names}
        return StepMessages(**totals)


async def journey_report(
    session: AsyncSession,
    *,
    name: str,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    confidence: float = CONFIDENCE,
) -> JourneyReport:
    """The report of the journey called `name` as of `now` (UnknownJourneyError if there
    is none); orders attributed to its messages within `window` of each."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if window <= timedelta(0):
        raise ValueError(f"the attribution window must be positive, got {window}")
    journey = await get_journey(session, name=name)
    versions = await _specs(session, journey.id)
    latest = versions[0]
    places = await step_places(session, journey_id=journey.id)
    messages = await step_messages(session, journey_id=journey.id, window=window, now=now)
    steps = [
        StepReport(
            step=step_id,
            action=action,
            in_latest=in_latest,
            places=places.get(step_id, StepPlaces()),
            messages=messages.by_step.get(step_id, StepMessages()),
        )
        for step_id, action, in_latest in _steps(versions)
        if in_latest or step_id in places or step_id in messages.by_step
    ]
    goal = latest.goal
    return JourneyReport(
        journey=journey.name,
        status=journey.status,
        version=journey.version,
        trigger=latest.trigger.describe(),
        goal=None if goal is None else f"{goal.describe()} within {span_text(goal.within)}",
        holdout_percent=latest.holdout,
        generated_at=now,
        window=window,
        window_open=messages.window_open,
        entries=(await entries(session, journey_ids=[journey.id])).get(journey.id, Entries()),
        steps=tuple(steps),
        lift=_lift(journey.name, await people(session, journey_id=journey.id), confidence),
        currencies=messages.currencies,
    )


async def _specs(session: AsyncSession, journey_id: int) -> list[JourneySpec]:
    """Every version's spec, the latest first."""
    rows = await session.scalars(
        select(JourneyVersion.spec)
        .where(JourneyVersion.journey_id == journey_id)
        .order_by(JourneyVersion.version.desc())
    )
    return [stored_spec(data) for data in rows.all()]


def _steps(versions: list[JourneySpec]) -> list[tuple[str, str, bool]]:
    """(step id, action, in the latest version) of every version's steps, each id once:
    the latest version's in order, then older versions' others."""
    seen: dict[str, tuple[str, str, bool]] = {}
    for place, spec in enumerate(versions):
        for step in spec.steps:
            seen.setdefault(step.id, (step.id, step.action, place == 0))
    return list(seen.values())


def _lift(name: str, group: People, confidence: float) -> Lift | None:
    if not group.holdout:
        return None
    counts = (group.in_journey_converted, group.in_journey, group.holdout_converted, group.holdout)
    both = group.in_journey > 0
    return Lift(
        target=name,
        run_id=None,
        messaged=group.in_journey,
        messaged_converted=group.in_journey_converted,
        holdout=group.holdout,
        holdout_converted=group.holdout_converted,
        confidence=confidence,
        difference=difference_interval(*counts, confidence=confidence) if both else None,
        significance=compare_rates(*counts) if both else None,
    )
