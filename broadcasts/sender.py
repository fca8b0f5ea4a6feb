"""The sender: works through a run's outbox at the rate budget, exactly once or not at all.

Each batch of deliveries is claimed as `sending` in a committed transaction before any
API call, and each is finished after its answer. A crash between the two leaves `sending`
rows, which become `unknown` on the next start (`runs.mark_interrupted_unknown`) and are
never resent: a missed message is better than a duplicate. Batches last a fraction of a
second at the configured rate, and the run's status is read before each, so pause and
cancel take effect within a second.

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
from core.models import Event, EventType, Subscriber, SubscriberStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SenderSettings:
    public_url: str
    secret: str
    transient_attempts: int = 3  # sends of one message that may end in a 5xx
    backoff_seconds: float = 0.5  # before the 2nd attempt; doubles after
    flood_attempts: int = 8  # 429s one message may meet before it goes back in the queue
    batch_seconds: float = 0.25  # how much sending one claim covers


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
        self._prepared: dict[int, tuple[Campaign, dict[int, PreparedVariant]]] = {}

    async def deliver(self, run_id: int) -> BatchResult:
        """Send the run until it is done, stopped, or only has deliveries due later."""
        while (result := await self.send_batch(run_id)) is BatchResult.SENT:
            pass
        return result

    async def send_batch(self, run_id: int) -> BatchResult:
        async with self._sessionmaker() as session:
            run = await session.get(Run, run_id, populate_existing=True)
            if run is None or run.status is not RunStatus.SENDING:
                self._prepared.pop(run_id, None)
                return BatchResult.STOPPED
            campaign, variants = await self._variants(session, run)
            claimed = await self._claim(session, run_id)
            if not claimed:
                if await finish_if_complete(session, run=run, now=self._clock()):
                    self._prepared.pop(run_id, None)
                    return BatchResult.FINISHED
                return BatchResult.WAITING
            batch = await recipients(session, delivery_ids=claimed, campaign=campaign)
        outcomes = await asyncio.gather(
            *(self._send(campaign, variants[r.variant_id], r) for r in batch)
        )
        await self._finish(list(zip(batch, outcomes, strict=True)))
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

    async def _claim(self, session: AsyncSession, run_id: int) -> list[int]:
        """Mark the next due deliveries `sending` and commit: from here on, a crash can
        only lose them, never send them twice."""
        now = self._clock()
        due = (
            select(Delivery.id)
            .where(
                Delivery.run_id == run_id,
                Delivery.status == DeliveryStatus.QUEUED,
                (Delivery.not_before.is_(None)) | (Delivery.not_before <= now),
            )
            .order_by(Delivery.id)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )
        ids = list((await session.scalars(due)).all())
        if not ids:
            return []
        claimed = await session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.QUEUED)
            .values(status=DeliveryStatus.SENDING, claimed_at=now)
            .returning(Delivery.id)
        )
        result = sorted(claimed.all())
        await session.commit()
        return result

    async def _send(self, campaign: Campaign, variant: PreparedVariant, to: Recipient) -> _Final:
        try:
            message = compose(
                to,
                variant,
                public_url=self._settings.public_url,
                secret=self._settings.secret,
                unsubscribe_button=campaign.unsubscribe_button,
            )
        except RenderError as error:
            logger.warning("delivery %s not sent: %s", to.delivery_id, error)
            return _Unrenderable("template")
        attempts = floods = 0
        while True:
            await self._budget.take(message.chat_id)
            outcome = await self._messenger.send(message)
            if isinstance(outcome, RetryAfter):
                self._budget.pause(outcome.seconds)
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
