"""Walking one subscriber through a journey on a fast clock (`segbot journey simulate`):
what each step would do to them, when, and each message as it would be composed.

It runs the real engine and the real sender against a database it may change (the CLI
gives it a throwaway copy) with a messenger that only records: nothing reaches Telegram.
The person enters as a trigger would enter them, but whatever the entry rule, re-entry
policy and holdout say (the simulation says whether the rule holds); the clock jumps to
each step's due time; what a wait_for step waits for does not happen (its else branch is
taken when its time is up). Quiet hours and the frequency cap hold as they would.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.messenger import Outcome, OutgoingMessage, Sent
from broadcasts.pacing import LocalSlots, RateBudget
from broadcasts.sender import Sender, SenderSettings, sending_runs
from core.models import Subscriber
from journeys.engine import Engine
from journeys.enrol import Candidate, enrol
from journeys.models import Enrolment, EnrolmentStatus, ExitReason, JourneyStep, ending
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


class _Recorder:
    """A messenger that sends nothing: every message arrives, and is kept."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> Outcome:
        self.sent.append(message)
        return Sent(message_id=len(self.sent))


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
    clock, recorder = _Clock(start), _Recorder()
    async with sessionmaker() as session:
        journey = await get_journey(session, name=name)
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
        everyone = EntrySpec(reentry=Reentry.EVERY_TIME)
        anyone = spec.model_copy(update={"holdout": 0, "entry": everyone})
        entered = await enrol(
            session, journey_id=journey.id, version_id=version.id, spec=anyone,
            candidates=[Candidate(subscriber_id, f"simulate:{start:%Y%m%dT%H%M%S}")], now=start,
            rules=rules, rfm_segments=rfm_segments,
        )  # fmt: skip
        await session.commit()
    result = Simulation(rule_holds=holds, entered=bool(entered.entered))
    if not result.entered:
        return result
    engine = Engine(sessionmaker, clock=clock, rfm_segments=rfm_segments)
    budget = RateBudget(1_000_000, chat_spacing=0, slots=LocalSlots(start_after=0))
    sender = Sender(sessionmaker, recorder, budget, settings, clock=clock)
    try:
        for _ in range(MAX_STEPS):
            await engine.advance()
            async with sessionmaker() as session:
                for run_id in await sending_runs(session):
                    await sender.deliver(run_id)
            enrolment = await _latest(sessionmaker, journey.id, subscriber_id)
            await _note_steps(sessionmaker, enrolment, spec, recorder, result)
            if enrolment.status is not EnrolmentStatus.ACTIVE or enrolment.next_due_at is None:
                result.ended = enrolment.exit_reason
                break
            clock.now = max(clock.now, enrolment.next_due_at)
    finally:
        await sender.close()
    return result


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
