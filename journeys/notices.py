"""Notify steps: a message to the admins about a subscriber (its text a template, filled in
with the subscriber's variables as a campaign's), sent at most once.

A notice is queued in the step's transaction (journeys.steps) and sent after it commits:
claimed (`sending`, committed) before the request goes, then `sent` or `failed`. A notice
left `sending` by a stop may have arrived: `settle` makes it `unknown`, never resent. It
goes to the owners (SEGBOT_ADMIN_IDS) and the admins with the owner or marketer role, one
after another.

Flood control (a 429) or a server error before any admin got the notice puts it back in
the queue, and no notice goes until the wait Telegram asked for (or RETRY_SECONDS) is
over: a burst of notices to one admin waits its turn rather than being lost. Once one
admin got it, it is `sent`.
"""

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ScalarSelect, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.compose import subscriber_context
from broadcasts.messenger import Messenger, OutgoingMessage, RetryAfter, Sent, TransientError
from broadcasts.templates import compile_template, render
from core.clock import Clock, utcnow
from core.errors import SegbotError
from core.models import Admin, AdminRole
from journeys.models import Enrolment, Notice, NoticeStatus
from journeys.versions import Versions

logger = logging.getLogger(__name__)

TOLD = (AdminRole.OWNER, AdminRole.MARKETER)
BATCH = 100
RETRY_SECONDS = 5.0  # after a server error, before notices go again


@dataclass(frozen=True, slots=True)
class Later:
    """Not sent to anyone yet: try again in `seconds`."""

    seconds: float


class Notifier:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        messenger: Messenger,
        *,
        owners: Collection[int],
        clock: Clock = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._messenger = messenger
        self._owners = tuple(owners)
        self._versions = Versions()
        self._clock = clock
        self._resume_at = 0.0  # the event loop's time before which no notice goes

    async def settle(self) -> int:
        """What a stop left `sending` becomes `unknown` (call once, before sending)."""
        async with self._sessionmaker() as session:
            result = await session.execute(
                update(Notice)
                .where(Notice.status == NoticeStatus.SENDING)
                .values(status=NoticeStatus.UNKNOWN)
            )
            await session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def send_queued(self) -> int:
        """Send the queued notices, unless Telegram asked to wait; how many went out."""
        loop = asyncio.get_running_loop()
        sent = 0
        while loop.time() >= self._resume_at:
            async with self._sessionmaker() as session:
                claimed = await session.execute(
                    update(Notice)
                    .where(Notice.id.in_(_queued()))
                    .values(status=NoticeStatus.SENDING)
                    .returning(Notice.id, Notice.version_id, Notice.step, Notice.enrolment_id)
                    .execution_options(synchronize_session=False)
                )
                notices = claimed.all()
                await session.commit()
            if not notices:
                return sent
            admins = await self._admins()
            for index, (notice_id, version_id, step, enrolment_id) in enumerate(notices):
                if loop.time() < self._resume_at:  # this one and the rest wait their turn
                    await self._mark([row[0] for row in notices[index:]], NoticeStatus.QUEUED)
                    break
                outcome = await self._send(version_id, step, enrolment_id, admins)
                if isinstance(outcome, Later):
                    self._resume_at = loop.time() + outcome.seconds
                    await self._mark([notice_id], NoticeStatus.QUEUED)
                else:
                    sent += outcome
                    status = NoticeStatus.SENT if outcome else NoticeStatus.FAILED
                    await self._mark([notice_id], status)
        return sent

    async def _mark(self, notice_ids: list[int], status: NoticeStatus) -> None:
        async with self._sessionmaker() as session:
            sent_at = self._clock() if status is NoticeStatus.SENT else None
            await session.execute(
                update(Notice)
                .where(Notice.id.in_(notice_ids))
                .values(status=status, sent_at=sent_at)
            )
            await session.commit()

    async def _admins(self) -> list[int]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(select(Admin.user_id).where(Admin.role.in_(TOLD)))
            return sorted({*self._owners, *rows.all()})

    async def _send(
        self, version_id: int, step: str, enrolment_id: int, admins: list[int]
    ) -> bool | Later:
        """Whether the notice reached at least one admin; Later when Telegram asked to wait
        (or failed) before any did."""
        async with self._sessionmaker() as session:
            version = await self._versions.get(session, version_id)
            subscriber_id = await session.scalar(
                select(Enrolment.subscriber_id).where(Enrolment.id == enrolment_id)
            )
            context = None
            if subscriber_id is not None:
                context = await subscriber_context(
                    session, subscriber_id=subscriber_id, campaign=version.campaign
                )
        text = version.spec.step(step).notify
        if context is None or text is None:
            return False
        try:
            body = render(compile_template(text), context)
        except SegbotError as error:
            logger.warning("journey notice %s could not be written: %s", step, error)
            return False
        reached = False
        for admin in admins:
            outcome = await self._messenger.send(OutgoingMessage(chat_id=admin, text=body))
            reached = reached or isinstance(outcome, Sent)
            if isinstance(outcome, RetryAfter | TransientError):
                wait = outcome.seconds if isinstance(outcome, RetryAfter) else RETRY_SECONDS
                if not reached:
                    return Later(wait)
                self._resume_at = asyncio.get_running_loop().time() + wait
                break  # the admins after this one miss it: it reached one
        return reached


def _queued() -> ScalarSelect[int]:
    """The oldest queued notices, a batch of them."""
    queued = select(Notice.id).where(Notice.status == NoticeStatus.QUEUED)
    return queued.order_by(Notice.id).limit(BATCH).scalar_subquery()
