"""The sender: works through a run's outbox at the rate budget, exactly once or not at all.

Each batch of deliveries is claimed as `sending` in a committed transaction before any
API call, and each is finished after its answer. A crash between the two leaves `sending`
rows, which become `unknown` on the next start (`runs.mark_interrupted_unknown`) and are
never resent: a missed message is better than a duplicate. Batches last a fraction of a
second at the configured rate, and the run's status is read before each, so pause and
cancel take effect within a second. A batch's results are written while the next batch
is claimed and sent (one batch in writing at a time), so the rate budget's slots are not
lost to the database.

Paid broadcasts (when enabled, for a campaign with a Stars budget) go at the paid rate
with allow_paid_broadcast; Telegram charges 0.1 Star a message. Each batch's Stars are
reserved with its claim, rounded up to whole Stars, so the budget is never exceeded
even across a crash; once it is spent the run goes on at the free rate.

Answers: 429 pauses every send for retry_after, then the same message goes again; 403
marks the subscriber blocked (or deactivated) and the delivery blocked; "chat not found"
and other refusals fail it; 5xx and connections that never opened are retried a few times
with backoff, then fail it; a request that went out unanswered is `unknown`.
"""

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.compose import PreparedVariant, Recipient, compose, prepare_variants, recipients
from broadcasts.messenger import (
    Blocked,
    ChatNotFound,
    Messenger,
    Outcome,
    Rejected,
    RetryAfter,
    Sent,
    TransientError,
    Unknown,
)
from broadcasts.models import Campaign, Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.pacing import RateBudget
from broadcasts.runs import finish_if_complete
from broadcasts.templates import RenderError
from core.clock import Clock, utcnow
from core.metrics import MESSAGES, RETRY_AFTER
from core.models import Event, EventType, Subscriber, SubscriberStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SenderSettings:
    public_url: str
    secret: str
    transient_attempts: int = 3  # sends of one message that may end in a 5xx
    backoff_seconds: float = 0.5  # before the 2nd attempt; doubles after
    flood_attempts: int = 8  # 429s one message may meet before it goes back in the queue
    batch_seconds: float = 0.5  # how much sending one claim covers (pause: within a second)
    paid_broadcasts: bool = False  # campaigns with a Stars budget may use allow_paid_broadcast


class BatchResult(StrEnum):
    SENT = "sent"  # a batch went out
    WAITING = "waiting"  # nothing due yet (quiet hours, local times)
    STOPPED = "stopped"  # the run is paused, cancelled or gone
    FINISHED = "finished"  # nothing left to send: the run is done


@dataclass(frozen=True, slots=True)
class _Requeue:
    """Flood control went on too long for this message: back in the queue, unsent."""


@dataclass(frozen=True, slots=True)
class _Unrenderable:
    reason: str


_Final = Outcome | _Requeue | _Unrenderable
MESSAGES_PER_STAR = 10  # Telegram charges 0.1 Star per paid broadcast message


@dataclass(frozen=True, slots=True)
class _Claim:
    delivery_ids: list[int]
    paid: bool


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
        self._sessionmaker = sessionmaker
        self._messenger = messenger
        self._budget = budget
        self._settings = settings
        self._clock = clock
        self._batch = max(1, math.ceil(budget.per_second * settings.batch_seconds))
        self._paid_batch = 0
        if settings.paid_broadcasts:
            if budget.paid_per_second is None:
                raise ValueError("paid broadcasts need a rate budget with a paid lane")
            # A multiple of MESSAGES_PER_STAR, so no reserved Star goes half used.
            stars = math.ceil(budget.paid_per_second * settings.batch_seconds / MESSAGES_PER_STAR)
            self._paid_batch = MESSAGES_PER_STAR * stars
        self._prepared: dict[int, tuple[Campaign, dict[int, PreparedVariant]]] = {}
        self._budget_spent: set[int] = set()  # runs told their Stars budget ran out
        self._finishing: asyncio.Task[None] | None = None  # the last batch's results

    async def deliver(self, run_id: int) -> BatchResult:
        """Send the run until it is done, stopped, or only has deliveries due later."""
        while (result := await self.send_batch(run_id)) is BatchResult.SENT:
            pass
        return result

    async def settle(self) -> None:
        """Wait until the last batch's results are written (raising what writing raised)."""
        if self._finishing is not None:
            finishing, self._finishing = self._finishing, None
            await finishing

    async def send_batch(self, run_id: int) -> BatchResult:
        async with self._sessionmaker() as session:
            run = await session.get(Run, run_id, populate_existing=True)
            if run is None or run.status is not RunStatus.SENDING:
                self._prepared.pop(run_id, None)
                await self.settle()
                return BatchResult.STOPPED
            campaign, variants = await self._variants(session, run)
            claim = await self._claim(session, run, campaign)
            if not claim.delivery_ids:
                await self.settle()
                if await finish_if_complete(session, run=run, now=self._clock()):
                    self._prepared.pop(run_id, None)
                    return BatchResult.FINISHED
                return BatchResult.WAITING
            batch = await recipients(session, delivery_ids=claim.delivery_ids, campaign=campaign)
        try:
            outcomes = await asyncio.gather(
                *(self._send(campaign, variants[r.variant_id], r, paid=claim.paid) for r in batch)
            )
        finally:
            await self.settle()  # the batch before, written however this one ends
        self._finishing = asyncio.create_task(self._finish(list(zip(batch, outcomes, strict=True))))
        return BatchResult.SENT

    async def _variants(
        self, session: AsyncSession, run: Run
    ) -> tuple[Campaign, dict[int, PreparedVariant]]:
        if run.id not in self._prepared:
            campaign = await session.get(Campaign, run.campaign_id)
            if campaign is None:
                raise LookupError(f"run {run.id} has no campaign")
            variants = await prepare_variants(session, campaign=campaign, now=self._clock())
            await session.commit()
            self._prepared[run.id] = (campaign, variants)
        return self._prepared[run.id]

    async def _claim(self, session: AsyncSession, run: Run, campaign: Campaign) -> _Claim:
        """Mark the next due deliveries `sending` (and reserve their Stars, when paid) and
        commit: from here on, a crash can only lose them, never send them twice."""
        now = self._clock()
        paid_left = self._paid_messages_left(run, campaign)
        limit = min(self._paid_batch, paid_left) if paid_left else self._batch
        due = (
            select(Delivery.id)
            .where(
                Delivery.run_id == run.id,
                Delivery.status == DeliveryStatus.QUEUED,
                (Delivery.not_before.is_(None)) | (Delivery.not_before <= now),
            )
            .order_by(Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list((await session.scalars(due)).all())
        if not ids:
            return _Claim([], paid=False)
        claimed = await session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.QUEUED)
            .values(status=DeliveryStatus.SENDING, claimed_at=now)
            .returning(Delivery.id)
        )
        result = sorted(claimed.all())
        if paid_left and result:
            stars = math.ceil(len(result) / MESSAGES_PER_STAR)
            await session.execute(
                update(Run).where(Run.id == run.id).values(stars_spent=Run.stars_spent + stars)
            )
        await session.commit()
        return _Claim(result, paid=bool(paid_left))

    def _paid_messages_left(self, run: Run, campaign: Campaign) -> int:
        """How many more messages of this run may go paid (0: send at the free rate)."""
        if not (self._paid_batch and campaign.paid_broadcast and campaign.stars_budget):
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

    async def _send(
        self, campaign: Campaign, variant: PreparedVariant, to: Recipient, *, paid: bool
    ) -> _Final:
        try:
            message = compose(
                to,
                variant,
                public_url=self._settings.public_url,
                secret=self._settings.secret,
                unsubscribe_button=campaign.unsubscribe_button,
                paid=paid,
            )
        except RenderError as error:
            logger.warning("delivery %s not sent: %s", to.delivery_id, error)
            return _Unrenderable("template")
        attempts = floods = 0
        while True:
            await self._budget.take(message.chat_id, paid=paid)
            outcome = await self._messenger.send(message)
            MESSAGES.labels(outcome=type(outcome).__name__.lower()).inc()
            if isinstance(outcome, RetryAfter):
                RETRY_AFTER.labels(client="broadcasts").inc()
                await self._budget.pause(outcome.seconds)
                floods += 1
                if floods >= self._settings.flood_attempts:
                    return _Requeue()
                continue
            attempts += 1
            if isinstance(outcome, TransientError) and attempts < self._settings.transient_attempts:
                await asyncio.sleep(self._settings.backoff_seconds * 2 ** (attempts - 1))
                continue
            return outcome

    async def _finish(self, results: list[tuple[Recipient, _Final]]) -> None:
        now = self._clock()
        rows = [_row(recipient.delivery_id, outcome, now) for recipient, outcome in results]
        blocked = [
            (recipient.subscriber_id, outcome.deactivated)
            for recipient, outcome in results
            if isinstance(outcome, Blocked)
        ]
        async with self._sessionmaker() as session:
            await session.execute(update(Delivery), rows)
            if blocked:
                await _mark_blocked(session, blocked, now)
            await session.commit()


def _row(delivery_id: int, outcome: _Final, now: datetime) -> dict[str, object]:
    row: dict[str, object] = {"id": delivery_id}
    if isinstance(outcome, Sent):
        return row | {
            "status": DeliveryStatus.SENT,
            "sent_at": now,
            "message_id": outcome.message_id,
        }
    if isinstance(outcome, _Requeue):
        return row | {"status": DeliveryStatus.QUEUED, "claimed_at": None}
    if isinstance(outcome, Blocked):
        reason = "deactivated" if outcome.deactivated else "blocked"
        return row | {"status": DeliveryStatus.BLOCKED, "reason": reason}
    if isinstance(outcome, Unknown):
        return row | {"status": DeliveryStatus.UNKNOWN, "reason": "no_answer"}
    reasons = {ChatNotFound: "chat_not_found", Rejected: "rejected", TransientError: "server_error"}
    reason = outcome.reason if isinstance(outcome, _Unrenderable) else reasons[type(outcome)]
    return row | {"status": DeliveryStatus.FAILED, "reason": reason}


async def _mark_blocked(
    session: AsyncSession, blocked: list[tuple[int, bool]], now: datetime
) -> None:
    """A 403 says as much as my_chat_member would: the subscriber is blocked (or gone)."""
    for deactivated in (False, True):
        ids = [subscriber for subscriber, gone in blocked if gone is deactivated]
        if not ids:
            continue
        status = SubscriberStatus.DEACTIVATED if deactivated else SubscriberStatus.BLOCKED
        kind = EventType.DEACTIVATED if deactivated else EventType.BLOCKED
        changed = await session.scalars(
            update(Subscriber)
            .where(Subscriber.id.in_(ids), Subscriber.status == SubscriberStatus.ACTIVE)
            .values(status=status)
            .returning(Subscriber.id)
        )
        events: list[dict[str, object]] = [
            {"subscriber_id": sid, "type": kind.value, "occurred_at": now, "payload": {}}
            for sid in changed.all()
        ]
        if events:
            await session.execute(insert(Event), events)


async def sending_runs(session: AsyncSession) -> list[int]:
    """Runs the sender should work on, oldest first."""
    rows = await session.scalars(
        select(Run.id).where(Run.status == RunStatus.SENDING).order_by(Run.id)
    )
    return list(rows.all())
