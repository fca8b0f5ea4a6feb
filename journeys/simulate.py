"""Walking one subscriber through a journey on a fast clock (`segbot journey simulate`):
what each step would do to them, when, and each message as it would be composed.

It runs the real engine and the real sender against a database it may change (the CLI
gives it a throwaway copy) with a messenger that only records: nothing reaches Telegram.
The person enters as a trigger would enter them, but whatever the entry rule, re-entry
policy and holdout say (the simulation says whether the rule holds); the clock jumps to
each step's due time; what a wait_for step waits for does not happen (its else branch is
taken when its time is up). Quiet hours and the frequency cap hold as they would. A
paused or archived journey is walked through as if it were live (on the copy); the walk
stops at a step that cannot happen (a rule naming a segment since deleted), saying why.
Nobody else moves on in the copy (it may hold many people inside journeys).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.messenger import Outcome, OutgoingMessage, Sent
from broadcasts.models import Run, RunStatus
from broadcasts.pacing import LocalSlots, RateBudget
from broadcasts.sender import Sender, SenderSettings
from core.models import Subscriber
from journeys.engine import Engine
from journeys.enrol import Candidate, enrol
from journeys.models import (
    Enrolment,
    EnrolmentStatus,
    ExitReason,
    Journey,
    JourneyStatus,
    JourneyStep,
    ending,
)
from journeys.spec import JourneySpec
from journeys.store import get_journey, latest_version
from journeys.triggers_spec import EntrySpec, Reentry
from journeys.versions import load_version
from segments.rules import parse
from segments.rules.compiler import SegmentRules, condition
from segments.saved import saved_rules

MAX_STEPS = 500  # a journey has at most 100 steps; rounds beyond this are a bug's


@dataclass(frozen=True, slots=True)
class SimulatedStep:
    at: datetime
    step: str
    action: str
    outcome: str  # sent, skipped, yes, no, done
    message: OutgoingMessage | None = None


@dataclass
class Simulation:
    rule_holds: bool  # the entry rule (if any) holds for them now
    steps: list[SimulatedStep] = field(default_factory=list)
    ended: str | None = None  # the exit reason; None: still inside when it stopped
    entered: bool = True  # False: not active, so they could not enter
    status: JourneyStatus = JourneyStatus.LIVE  # the journey's: walked through as if live
    stuck: str | None = None  # a step that cannot happen (why): the walk stopped there


class _Recorder:
    """A messenger that sends nothing: every message arrives, and those to `chat_id` (the
    simulated subscriber's) are kept."""

    def __init__(self, chat_id: int | None) -> None:
        self.chat_id = chat_id
        self.sent: list[OutgoingMessage] = []
        self._count = 0

    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        self._count += 1
        if message.chat_id == self.chat_id:
            self.sent.append(message)
        return Sent(message_id=self._count)


@dataclass
class _Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def simulate(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    name: str,
    subscriber_id: int,
    start: datetime,
    settings: SenderSettings,
    rfm_segments: tuple[str, ...],
) -> Simulation:
    """Walk the subscriber through the journey's latest version (see the module
    docstring). Changes the database: give it a copy."""
    clock = _Clock(start)
    async with sessionmaker() as session:
        recorder = _Recorder(
            await session.scalar(select(Subscriber.chat_id).where(Subscriber.id == subscriber_id))
        )
        journey = await get_journey(session, name=name)
        status, journey.status = journey.status, JourneyStatus.LIVE  # the engine moves live ones
        latest = await latest_version(session, journey=journey)
        version = await load_version(session, latest.id)
        rules = await saved_rules(session, rfm_segments=rfm_segments)
        spec = version.spec
        holds = await _rule_holds(session, spec, subscriber_id, start, rules, rfm_segments)
        await session.execute(
            update(Enrolment)
            .where(Enrolment.journey_id == journey.id, Enrolment.subscriber_id == subscriber_id)
            .where(Enrolment.status == EnrolmentStatus.ACTIVE)
            .values(ending(ExitReason.ARCHIVED, start))
        )
        await _only_them(session, journey.id, subscriber_id)
        everyone = EntrySpec(reentry=Reentry.EVERY_TIME)
        anyone = spec.model_copy(update={"holdout": 0, "entry": everyone})
        entered = await enrol(
            session, journey_id=journey.id, version_id=version.id, spec=anyone,
            candidates=[Candidate(subscriber_id, f"simulate:{start:%Y%m%dT%H%M%S}")], now=start,
            rules=rules, rfm_segments=rfm_segments,
        )  # fmt: skip
        await session.commit()
    result = Simulation(rule_holds=holds, entered=bool(entered.entered), status=status)
    if not result.entered:
        return result
    engine = Engine(sessionmaker, clock=clock, rfm_segments=rfm_segments)
    budget = RateBudget(1_000_000, chat_spacing=0, slots=LocalSlots(start_after=0))
    sender = Sender(sessionmaker, recorder, budget, settings, clock=clock)
    try:
        for _ in range(MAX_STEPS):
            advanced = await engine.advance()
            async with sessionmaker() as session:
                for run_id in await _runs_of(session, version.campaign.id):
                    await sender.deliver(run_id)
            enrolment = await _latest(sessionmaker, journey.id, subscriber_id)
            await _note_steps(sessionmaker, enrolment, spec, recorder, result)
            if advanced.stuck:
                result.stuck = advanced.stuck[0]
                break
            if enrolment.status is not EnrolmentStatus.ACTIVE or enrolment.next_due_at is None:
                result.ended = enrolment.exit_reason
                break
            clock.now = max(clock.now, enrolment.next_due_at)
    finally:
        await sender.close()
    return result


async def _only_them(session: AsyncSession, journey_id: int, subscriber_id: int) -> None:
    """Nobody else moves on: the other journeys are paused, the others inside this one
    are due never (the engine moves every live journey's due enrolments)."""
    await session.execute(
        update(Journey)
        .where(Journey.id != journey_id, Journey.status == JourneyStatus.LIVE)
        .values(status=JourneyStatus.PAUSED)
    )
    await session.execute(
        update(Enrolment)
        .where(
            Enrolment.journey_id == journey_id,
            Enrolment.subscriber_id != subscriber_id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
        )
        .values(next_due_at=None)
    )


async def _runs_of(session: AsyncSession, campaign_id: int) -> list[int]:
    """The journey version's runs with messages to send (only those: the copy may hold
    other journeys' and broadcasts' messages, to the simulated subscriber too)."""
    rows = await session.scalars(
        select(Run.id)
        .where(Run.status == RunStatus.SENDING, Run.campaign_id == campaign_id)
        .order_by(Run.id)
    )
    return list(rows.all())


async def _rule_holds(
    session: AsyncSession, spec: JourneySpec, subscriber_id: int, now: datetime,
    rules: SegmentRules, rfm_segments: tuple[str, ...],
) -> bool:  # fmt: skip
    if spec.entry.rule is None:
        return True
    rule = condition(parse(spec.entry.rule, rfm_segments=rfm_segments), now=now, segments=rules)
    return bool(await session.scalar(select(exists().where(Subscriber.id == subscriber_id, rule))))


async def _latest(
    sessionmaker: async_sessionmaker[AsyncSession], journey_id: int, subscriber_id: int
) -> Enrolment:
    async with sessionmaker() as session:
        found = await session.scalar(
            select(Enrolment)
            .where(Enrolment.journey_id == journey_id, Enrolment.subscriber_id == subscriber_id)
            .order_by(Enrolment.id.desc())
            .limit(1)
        )
    if found is None:
        raise LookupError("the simulated enrolment is gone")
    return found


async def _note_steps(
    sessionmaker: async_sessionmaker[AsyncSession], enrolment: Enrolment, spec: JourneySpec,
    recorder: _Recorder, result: Simulation,
) -> None:  # fmt: skip
    """The steps logged since the last look, each with the message it sent, if any."""
    async with sessionmaker() as session:
        rows = await session.execute(
            select(JourneyStep.step, JourneyStep.outcome, JourneyStep.happened_at)
            .where(JourneyStep.enrolment_id == enrolment.id)
            .order_by(JourneyStep.id)
            .offset(len(result.steps))
        )
    messages = iter(recorder.sent[sum(1 for step in result.steps if step.message) :])
    for step, outcome, at in rows.all():
        message = next(messages, None) if outcome == "sent" else None
        result.steps.append(SimulatedStep(at, step, spec.step(step).action, outcome, message))
