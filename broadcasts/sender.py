"""The sender: works through a run's outbox at the rate budget, exactly once or not at all.

Nobody gets a run's message twice; a message may be lost, never doubled. Deliveries are
claimed (committed `sending`) in batches of at most CLAIM_CAP, and each message is marked
attempted, in a group commit, before its request is handed over: while the rate budget
waits for its slot (the protocol: broadcasts/claims.py). When a sender stops or crashes,
its claims are settled: attempted messages may have arrived and become `unknown` (never
resent); the others go back to the queue and are sent later.

The pipeline (broadcasts/pipeline.py): claimed messages wait in a pool, and the next
batch is claimed when the pool holds at most one claim (`batch_seconds` of sending,
CLAIM_CAP at most): claimed, not yet on their way, are at most two claims.
Each is sent by a task of its own (broadcasts/attempts.py), at most `in_flight` at once
and at most `ahead` of them waiting for a slot: a slow or hung request holds only its own
permit, until `send_timeout` (then it is `unknown`: the request went out). Results are
written in group commits by one writer (broadcasts/recorder.py). The runs' statuses are
read every half second: a paused or cancelled run's pooled messages go back to the queue.

The bounds grow with the rate up to SIZING_CEILING, Telegram's paid ceiling and about
what one process can send: above it, more messages waiting for slots would only wake up
too late for them (each miss costs a fresh slot and another wait), and more requests out
would only open more connections. MAX_IN_FLIGHT is the messenger's pool of connections
(bot/messenger.py), so a request handed over never waits for one; at the paid ceiling it
holds a quarter second of waiting and answers of a quarter second on average: slower
answers, or many hung requests, slow the paid lane rather than open more connections.

Paid broadcasts (when enabled, for a campaign with a Stars budget) go at the paid rate
with allow_paid_broadcast; Telegram charges 0.1 Star a message. Each claim's Stars are
reserved with it, rounded up to whole Stars, so the budget is never exceeded even across
a crash; once it is spent the run goes on at the free rate.

Failure cases: if the database or the messenger fails, the pipeline stops and the next
call raises; `close` then settles what is left (the worker restarts it). A finished run
logs its counts, blocked included; faults are logged as they come, bursts summarised.
"""

import asyncio
import enum
import logging
import math
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.attempts import AttemptRules, Pending
from broadcasts.claims import Settled, claim, of_sender, settle
from broadcasts.compose import PreparedVariant, prepare_variants, recipients
from broadcasts.fault_log import FaultLog
from broadcasts.messenger import Messenger
from broadcasts.models import Campaign, DeliveryStatus, Run, RunStatus
from broadcasts.pacing import RateBudget
from broadcasts.pipeline import Bounds, Pipeline
from broadcasts.recorder import MESSAGES_PER_STAR
from broadcasts.runs import finish_if_complete, progress
from broadcasts.uploads import UPLOAD_PATIENCE, FileIds, UploadOnce
from core.clock import Clock, utcnow
from core.errors import SegbotError

logger = logging.getLogger(__name__)

CLAIM_CAP = 200  # deliveries claimed at once, whatever the rate
PAID_CLAIM_CAP = 500  # in the paid lane (a multiple of MESSAGES_PER_STAR)
AHEAD_SECONDS = 0.25  # of sending that may wait for its slot at once
ANSWER_SECONDS = 0.5  # in flight: room for the usual answer time, and for...
HUNG_SHARE = 0.05  # ...this share of the requests hanging until the send timeout
SIZING_CEILING = 1000.0  # messages/s the bounds grow with, at most
MAX_IN_FLIGHT = 500  # messages on their way at once, whatever the rate and settings


@dataclass(frozen=True, slots=True)
class SenderSettings:
    public_url: str
    secret: str
    transient_attempts: int = 3  # sends of one message that may end in a 5xx
    backoff_seconds: float = 0.5  # before the 2nd attempt; doubles after
    flood_attempts: int = 8  # 429s one message may meet before it goes back in the queue
    batch_seconds: float = 0.5  # the sending one claim covers, at most
    paid_broadcasts: bool = False  # campaigns with a Stars budget may use allow_paid_broadcast
    send_timeout: float = 10.0  # SEGBOT_SEND_TIMEOUT: past it, a request's outcome is unknown
    in_flight: int | None = None  # requests at once; None: from the rates and the timeout
    stop_grace: float = 2.0  # seconds a stopping sender waits for answers to requests out
    token_pause: float = 60.0  # every send waits this long after Telegram refuses the token
    outage_after: int = 10  # requests in a row without an answer: the Bot API is down...
    outage_pause: float = 10.0  # ...and every send waits this long, then tries again


def bounds(budget: RateBudget, settings: SenderSettings) -> Bounds:
    claim_size = min(CLAIM_CAP, max(1, math.ceil(budget.per_second * settings.batch_seconds)))
    paid_claim, rate = 0, budget.per_second
    if settings.paid_broadcasts and budget.paid_per_second is not None:
        stars = math.ceil(budget.paid_per_second * settings.batch_seconds / MESSAGES_PER_STAR)
        paid_claim = min(PAID_CLAIM_CAP, MESSAGES_PER_STAR * stars)
        rate += budget.paid_per_second
    rate = min(rate, SIZING_CEILING)  # above it, more waiting would only mean more misses
    ahead = max(2, math.ceil(rate * AHEAD_SECONDS))
    flying = ahead + math.ceil(rate * (ANSWER_SECONDS + HUNG_SHARE * settings.send_timeout))
    return Bounds(claim_size, paid_claim, ahead, min(settings.in_flight or flying, MAX_IN_FLIGHT))


class RunNotPreparedError(SegbotError):
    """A run's messages could not be made ready (its links registered, its templates
    compiled); nothing of it was claimed. Its cause's first line says why."""

    def __init__(self, run_id: int, cause: Exception) -> None:
        said = str(cause).strip()
        why = f": {said.splitlines()[0][:300]}" if said else ""
        super().__init__(f"run {run_id}'s messages cannot be prepared: {type(cause).__name__}{why}")


class BatchResult(enum.StrEnum):
    SENT = "sent"  # a batch was claimed and is on its way
    WAITING = "waiting"  # nothing due yet (quiet hours, local times, answers to come)
    STOPPED = "stopped"  # the run is paused, cancelled or gone
    FINISHED = "finished"  # nothing left to send: the run is done


class Sender:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        messenger: Messenger,
        budget: RateBudget,
        settings: SenderSettings,
        *,
        clock: Clock = utcnow,
    ) -> None:
        if settings.paid_broadcasts and budget.paid_per_second is None:
            raise ValueError("paid broadcasts need a rate budget with a paid lane")
        self.id = uuid.uuid4().hex[:16]  # whose claims are whose (broadcasts/claims.py)
        self.bounds = bounds(budget, settings)
        self._sessionmaker = sessionmaker
        # Local files go up once, then by file id (broadcasts/uploads.py).
        files = FileIds(sessionmaker, clock=clock)
        patience = settings.send_timeout * UPLOAD_PATIENCE
        self._messenger = UploadOnce(messenger, files, patience=patience, pause=budget.pause)
        self._budget = budget
        self._settings = settings
        self._clock = clock
        self._faults = FaultLog(logger)
        self._prepared: dict[int, tuple[Campaign, dict[int, PreparedVariant]]] = {}
        self._budget_spent: set[int] = set()  # runs told their Stars budget ran out
        self._writing = asyncio.Lock()  # one write at a time (broadcasts/recorder.py)
        self._pipeline = self._new_pipeline()

    async def deliver(self, run_id: int) -> BatchResult:
        """Send the run until it is done, stopped, or has only deliveries due later; every
        result is written when this returns."""
        while True:
            result = await self.send_batch(run_id)
            if result is BatchResult.SENT:
                continue
            answers_to_come = self._pipeline.outstanding(run_id)
            await self._pipeline.drain(run_id)
            if not (result is BatchResult.WAITING and answers_to_come):
                return result

    async def send_batch(self, run_id: int) -> BatchResult:
        """Claim the run's next due deliveries into the pipeline, once it has room."""
        pipeline = self._pipeline
        await pipeline.until(pipeline.has_room)
        async with self._sessionmaker() as session:
            run = await session.get(Run, run_id, populate_existing=True)
            if run is None or run.status is not RunStatus.SENDING:
                self._prepared.pop(run_id, None)
                await pipeline.stopped(run_id, None if run is None else run.status)
                return BatchResult.STOPPED
            campaign, variants = await self._variants(session, run)
            claimed, paid = await self._claim(session, run, campaign)
            if not claimed:
                if pipeline.outstanding(run_id):
                    return BatchResult.WAITING
                if not await finish_if_complete(session, run=run, now=self._clock()):
                    return BatchResult.WAITING
                self._prepared.pop(run_id, None)
                await _log_finished(session, run_id)
                return BatchResult.FINISHED
            batch = await recipients(
                session, delivery_ids=claimed, campaign=campaign, variants=variants
            )
        await pipeline.add(
            run_id, [Pending(run_id, campaign, variants[to.variant_id], to, paid) for to in batch]
        )
        return BatchResult.SENT

    async def close(self) -> Settled:
        """Stop: nothing more is sent, requests out have `stop_grace` to be answered (then
        are abandoned), the results known are written, and this sender's claims are
        settled (attempted: unknown; the rest: queued). It may start again after."""
        pipeline, self._pipeline = self._pipeline, self._new_pipeline()
        self._prepared.clear()
        await pipeline.close(grace=self._settings.stop_grace)
        async with self._sessionmaker() as session:
            return await settle(session, of_sender(self.id))

    def _new_pipeline(self) -> Pipeline:
        settings = self._settings
        rules = AttemptRules(
            settings.public_url, settings.secret, settings.send_timeout,
            settings.transient_attempts, settings.backoff_seconds, settings.flood_attempts,
            settings.token_pause, settings.outage_after, settings.outage_pause,
        )  # fmt: skip
        return Pipeline(
            self._sessionmaker, self._messenger, self._budget, rules, sender=self.id,
            bounds=self.bounds, faults=self._faults, clock=self._clock, writing=self._writing,
        )  # fmt: skip

    async def _variants(
        self, session: AsyncSession, run: Run
    ) -> tuple[Campaign, dict[int, PreparedVariant]]:
        run_id = run.id
        if run_id not in self._prepared:
            try:
                campaign = await session.get(Campaign, run.campaign_id)
                if campaign is None:
                    raise LookupError(f"run {run_id} has no campaign")
                variants = await prepare_variants(session, campaign=campaign, now=self._clock())
                await session.commit()
            except Exception as error:
                await session.rollback()
                raise RunNotPreparedError(run_id, error) from error
            self._prepared[run_id] = (campaign, variants)
        return self._prepared[run_id]

    async def _claim(
        self, session: AsyncSession, run: Run, campaign: Campaign
    ) -> tuple[list[int], bool]:
        """Claim the next due deliveries (reserving their Stars, when paid) and commit;
        the ids, and whether they go paid."""
        paid_left = self._paid_messages_left(run, campaign)
        limit = min(self.bounds.paid_claim, paid_left) if paid_left else self.bounds.claim
        async with self._writing:
            while True:  # a batch of subscribers all gone meanwhile is no batch: the next
                now = self._clock()
                claimed = await claim(session, run_id=run.id, limit=limit, sender=self.id, now=now)
                if claimed.ids or not claimed.excluded:
                    break
            ids = claimed.ids
            if paid_left and ids:
                stars = math.ceil(len(ids) / MESSAGES_PER_STAR)
                await session.execute(
                    update(Run).where(Run.id == run.id).values(stars_spent=Run.stars_spent + stars)
                )
            await session.commit()
        return ids, bool(paid_left)

    def _paid_messages_left(self, run: Run, campaign: Campaign) -> int:
        """How many more messages of this run may go paid (0: send at the free rate)."""
        if not (self.bounds.paid_claim and campaign.paid_broadcast and campaign.stars_budget):
            return 0
        left = (campaign.stars_budget - run.stars_spent) * MESSAGES_PER_STAR
        if left <= 0 and run.id not in self._budget_spent:
            self._budget_spent.add(run.id)
            logger.info(
                "run %s spent its budget of %d Stars: going on at the free rate",
                run.id,
                campaign.stars_budget,
            )
        return max(0, left)


async def _log_finished(session: AsyncSession, run_id: int) -> None:
    counts = (await progress(session, run_id=run_id)).counts
    logger.info(
        "run %d finished: %d sent, %d blocked, %d failed, %d unknown",
        run_id,
        *(counts.get(status, 0) for status in _REPORTED),
    )


_REPORTED = (
    DeliveryStatus.SENT,
    DeliveryStatus.BLOCKED,
    DeliveryStatus.FAILED,
    DeliveryStatus.UNKNOWN,
)


async def sending_runs(session: AsyncSession) -> list[int]:
    """Runs the sender should work on, oldest first."""
    rows = await session.scalars(
        select(Run.id).where(Run.status == RunStatus.SENDING).order_by(Run.id)
    )
    return list(rows.all())
