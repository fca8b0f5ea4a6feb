"""A journey whose every number is known: entries at each step, messages in each state,
reads, clicks, replies, an unsubscribe, a block, the goal met, a holdout, a re-entry.

Journey `welcome` (holdout 30 %, goal: any purchase within 7 days), steps
hello (send) -> pause (wait 1d) -> clicked (wait_for a click on hello, 2d; then thanks,
else nudge) -> nudge (send, next settle) -> thanks (send) -> settle (wait 3d).
Everything happens from T0; the report is taken at T0 + 10 days.

| who | entry | what happened                                            | now            |
|-----|-------|----------------------------------------------------------|----------------|
| s1  | 1     | hello sent, click +1 h, reply +2 h; pause; clicked yes;  | ended (goal)   |
|     |       | thanks sent +1 d; order 100 at +2 d (last touch: thanks) | at settle      |
| s2  | 1     | hello sent; pause; clicked no; nudge sent +3 d           | at settle      |
| s3  | 1     | hello sent; unsubscribes +5 h (a sign of reading)        | ended at pause |
| s4  | 1     | hello blocked at send                                    | ended at pause |
| s5  | 1     | hello sent, reacts +1 h; pause                           | at clicked     |
| s6  | 1     | just entered                                             | at hello       |
| s7  | 1     | holdout; order 40 at +1 d (goal met)                     | holdout        |
| s8  | 1     | holdout                                                  | holdout        |
| s9  | 1, 2  | holdout, then entered again                              | at hello       |
| s10 | 1     | holdout                                                  | holdout        |
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, CampaignTarget, Delivery, DeliveryStatus, Run, RunStatus
from core.models import Event, EventType
from crm_sync.models import Customer, Order
from journeys.models import (
    Enrolment,
    EnrolmentStatus,
    ExitReason,
    JourneyRun,
    JourneyStatus,
    JourneyStep,
    JourneyVersion,
)
from journeys.spec import parse_journey
from journeys.store import CLI_ACTOR, save_journey, set_status
from tests.broadcasts.audience import NOW, add_subscribers

T0 = NOW
REPORTED_AT = T0 + timedelta(days=10)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
WELCOME = """
name: welcome
trigger: subscribed
goal: {purchased: any, within: 7d}
holdout: 30
steps:
  - id: hello
    send: {text: "Welcome! https://shop.example/"}
  - id: pause
    wait: 1d
  - id: clicked
    wait_for: {clicked: {step: hello}}
    within: 2d
    then: thanks
    else: nudge
  - id: nudge
    send: {text: "Still there?"}
    next: settle
  - id: thanks
    send: {text: "Thanks for looking"}
  - id: settle
    wait: 3d
"""


@dataclass(frozen=True, slots=True)
class Scenario:
    journey_id: int
    version_id: int
    subscribers: list[int]  # s1..s10 at 0..9


async def save(session: AsyncSession, text: str = WELCOME) -> JourneyVersion:
    saved = await save_journey(
        session, spec=parse_journey(text), source=text, now=T0, actor=CLI_ACTOR
    )
    return saved.version


async def build(session: AsyncSession, *, paused: bool = False) -> Scenario:
    """The scenario; `paused`: the journey is paused before anyone is in it (so a running
    bot moves nobody)."""
    s = await add_subscribers(session, 10, first_id=1)
    version = await save(session)
    if paused:
        await set_status(
            session, name="welcome", status=JourneyStatus.PAUSED, now=T0, actor=CLI_ACTOR
        )
    journey_id = version.journey_id
    active, ended, holdout = EnrolmentStatus.ACTIVE, EnrolmentStatus.ENDED, EnrolmentStatus.HOLDOUT
    goal_at = T0 + 2 * DAY
    rows = [  # subscriber, entry, status, step, exit reason, converted at
        (s[0], 1, ended, "settle", ExitReason.GOAL, goal_at),
        (s[1], 1, active, "settle", None, None),
        (s[2], 1, ended, "pause", ExitReason.UNSUBSCRIBED, None),
        (s[3], 1, ended, "pause", ExitReason.BLOCKED, None),
        (s[4], 1, active, "clicked", None, None),
        (s[5], 1, active, "hello", None, None),
        (s[6], 1, holdout, None, None, T0 + DAY),
        (s[7], 1, holdout, None, None, None),
        (s[8], 1, holdout, None, None, None),
        (s[8], 2, active, "hello", None, None),
        (s[9], 1, holdout, None, None, None),
    ]
    enrolments = await session.scalars(
        insert(Enrolment).returning(Enrolment.id),
        [
            {
                "journey_id": journey_id,
                "version_id": version.id,
                "subscriber_id": who,
                "entry": entry,
                "trigger_key": f"subscribed:{entry}",
                "status": status,
                "step": step,
                "step_since": T0,
                "next_due_at": T0 if status is active else None,
                "entered_at": T0,
                "ended_at": T0 + DAY if status is ended else None,
                "exit_reason": reason,
                "converted_at": converted,
            }
            for who, entry, status, step, reason, converted in rows
        ],
    )
    enrolment = dict(zip([(row[0], row[1]) for row in rows], enrolments.all(), strict=True))
    targets = await _targets(session, version.campaign_id)
    sent, blocked = DeliveryStatus.SENT, DeliveryStatus.BLOCKED
    hello = await _deliveries(
        session,
        version,
        "hello",
        targets["hello"],
        [(s[0], sent), (s[1], sent), (s[2], sent), (s[3], blocked), (s[4], sent)],
        at=T0,
    )
    nudge = await _deliveries(
        session, version, "nudge", targets["nudge"], [(s[1], sent)], at=T0 + 3 * DAY
    )
    thanks = await _deliveries(
        session, version, "thanks", targets["thanks"], [(s[0], sent)], at=T0 + DAY
    )
    log = [  # subscriber, step, outcome, delivery
        *((who, "hello", "sent", hello[who]) for who in s[:5]),
        *((who, "pause", "done", None) for who in (s[0], s[1], s[4])),
        (s[0], "clicked", "yes", None),
        (s[1], "clicked", "no", None),
        (s[1], "nudge", "sent", nudge[s[1]]),
        (s[0], "thanks", "sent", thanks[s[0]]),
    ]
    await session.execute(
        insert(JourneyStep),
        [
            {
                "enrolment_id": enrolment[(who, 1)],
                "journey_id": journey_id,
                "version_id": version.id,
                "step": step,
                "outcome": outcome,
                "happened_at": T0,
                "delivery_id": delivery,
            }
            for who, step, outcome, delivery in log
        ],
    )
    await _events(session, s, hello)
    await _orders(session, s)
    await session.commit()
    return Scenario(journey_id, version.id, s)


async def _targets(session: AsyncSession, campaign_id: int) -> dict[str, tuple[int, int]]:
    """(target id, its one variant's id) by step."""
    campaign = await session.get(Campaign, campaign_id)
    assert campaign is not None
    found: dict[str, tuple[int, int]] = {}
    for target in await session.scalars(
        select(CampaignTarget).where(CampaignTarget.campaign_id == campaign_id)
    ):
        found[target.label.split("/")[0]] = (target.id, target.variants[0].id)
    return found


async def _deliveries(
    session: AsyncSession,
    version: JourneyVersion,
    step: str,
    target: tuple[int, int],
    rows: list[tuple[int, DeliveryStatus]],
    *,
    at: datetime,
) -> dict[int, int]:
    """A run of the step's own (as the runner makes them) and its deliveries; the delivery
    id of each subscriber."""
    run = Run(
        campaign_id=version.campaign_id, status=RunStatus.DONE, scheduled_for=at, started_at=at
    )
    session.add(run)
    await session.flush()
    session.add(JourneyRun(version_id=version.id, step=step, entry=1, run_id=run.id))
    ids = await session.scalars(
        insert(Delivery).returning(Delivery.id),
        [
            {
                "run_id": run.id,
                "subscriber_id": who,
                "target_id": target[0],
                "variant_id": target[1],
                "status": status,
                "attempts": 1,
                "sent_at": at if status is DeliveryStatus.SENT else None,
            }
            for who, status in rows
        ],
    )
    return dict(zip([who for who, _ in rows], ids.all(), strict=True))


async def _events(session: AsyncSession, s: list[int], hello: dict[int, int]) -> None:
    def event(
        who: int, kind: EventType, after: timedelta, delivery: int | None = None
    ) -> dict[str, object]:
        return {
            "subscriber_id": who,
            "type": kind.value,
            "occurred_at": T0 + after,
            "delivery_id": delivery,
            "payload": {},
        }

    await session.execute(
        insert(Event),
        [
            event(s[0], EventType.LINK_CLICK, HOUR, hello[s[0]]),
            event(s[0], EventType.MESSAGE, 2 * HOUR),
            event(s[2], EventType.UNSUBSCRIBED, 5 * HOUR),
            event(s[4], EventType.REACTION, HOUR),
            event(s[1], EventType.MESSAGE, -HOUR),  # before any message: not a read
        ],
    )


async def _orders(session: AsyncSession, s: list[int]) -> None:
    customers = {
        who: Customer(
            source="shop", external_id=f"C{who}", subscriber_id=who, created_at=T0, updated_at=T0
        )
        for who in (s[0], s[6])
    }
    session.add_all(customers.values())
    await session.flush()
    session.add_all(
        Order(
            source="shop",
            external_id=f"O{who}",
            customer_id=customers[who].id,
            ordered_at=T0 + after,
            amount=amount,
            currency="EUR",
            status="completed",
            created_at=T0,
            updated_at=T0,
            counts_as_purchase=True,
        )
        for who, after, amount in ((s[0], 2 * DAY, 100.0), (s[6], DAY, 40.0))
    )
