"""Notify steps: a message to the admins about a subscriber (its text a template, filled in
with the subscriber's variables as a campaign's), sent at most once.

A notice is queued in the step's transaction (journeys.steps) and sent after it commits:
claimed (`sending`, committed) before the request goes, then `sent` or `failed`. A notice
left `sending` by a stop may have arrived: `settle` makes it `unknown`, never resent. It
goes to the owners (SEGBOT_ADMIN_IDS) and the admins with the owner or marketer role.
"""

import logging
from collections.abc import Collection

from sqlalchemy import ScalarSelect, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.compose import subscriber_context
from broadcasts.messenger import Messenger, OutgoingMessage, Sent
from broadcasts.templates import compile_template, render
from core.clock import Clock, utcnow
from core.errors import SegbotError
from core.models import Admin, AdminRole
from journeys.models import Enrolment, Notice, NoticeStatus
from journeys.versions import Versions

logger = logging.getLogger(__name__)

TOLD = (AdminRole.OWNER, AdminRole.MARKETER)
BATCH = 100


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
        """Send the queued notices; how many went out."""
        sent = 0
        while True:
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
            for notice_id, version_id, step, enrolment_id in notices:
                ok = await self._send(version_id, step, enrolment_id, admins)
                sent += ok
                async with self._sessionmaker() as session:
                    await session.execute(
                        update(Notice)
                        .where(Notice.id == notice_id)
                        .values(
                            status=NoticeStatus.SENT if ok else NoticeStatus.FAILED,
                            sent_at=self._clock() if ok else None,
                        )
                    )
                    await session.commit()

    async def _admins(self) -> list[int]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(select(Admin.user_id).where(Admin.role.in_(TOLD)))
            return sorted({*self._owners, *rows.all()})

    async def _send(self, version_id: int, step: str, enrolment_id: int, admins: list[int]) -> bool:
        """Whether the notice reached at least one admin."""
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
        outcomes = [
            await self._messenger.send(OutgoingMessage(chat_id=admin, text=body))
            for admin in admins
        ]
        return any(isinstance(outcome, Sent) for outcome in outcomes)


def _queued() -> ScalarSelect[int]:
    """The oldest queued notices, a batch of them."""
    queued = select(Notice.id).where(Notice.status == NoticeStatus.QUEUED)
    return queued.order_by(Notice.id).limit(BATCH).scalar_subquery()
