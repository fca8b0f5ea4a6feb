"""The delivery worker `segbot run` keeps going: on start it settles what a crash left
(`sending` becomes `unknown`), then sends every run that is sending, a batch of each in
turn, and sleeps when there is nothing due until woken (a run started) or a second passed
(a run resumed from another process, a quiet-hours wait ended). `keep_running` restarts
it after a crash (logged), so a bad moment of the database does not stop broadcasts.

With several sender processes, each also settles, every minute, claims older than
`SENDING_LEASE`: those of a sender that was killed while the others kept running."""

import asyncio
import logging
from contextlib import suppress
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.runs import mark_interrupted_unknown
from broadcasts.sender import BatchResult, Sender, sending_runs
from core.clock import Clock, utcnow

logger = logging.getLogger(__name__)
SENDING_LEASE = timedelta(minutes=5)
SETTLE_EVERY = timedelta(minutes=1)


class DeliveryWorker:
    def __init__(
        self,
        sender: Sender,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        idle_seconds: float = 1.0,
        restart_seconds: float = 5.0,
        clock: Clock = utcnow,
    ) -> None:
        self._clock = clock
        self._sender = sender
        self._sessionmaker = sessionmaker
        self._idle_seconds = idle_seconds
        self._restart_seconds = restart_seconds
        self._wake = asyncio.Event()
        self.crashes = 0

    def wake(self) -> None:
        self._wake.set()

    async def keep_running(self) -> None:
        """`run`, restarted `restart_seconds` after any crash, until cancelled. What the
        crash left claimed becomes `unknown` on the restart, as after a process crash."""
        while True:
            try:
                await self.run()
            except Exception:
                self.crashes += 1
                logger.exception(
                    "the delivery worker crashed; restarting in %.0f s", self._restart_seconds
                )
                await asyncio.sleep(self._restart_seconds)

    async def run(self) -> None:
        """Until cancelled."""
        async with self._sessionmaker() as session:
            interrupted = await mark_interrupted_unknown(session)
        if interrupted:
            logger.warning("%d deliveries were interrupted by a stop: marked unknown", interrupted)
        next_settle = self._clock() + SETTLE_EVERY
        try:
            while True:
                if self._clock() >= next_settle:
                    await self._settle_abandoned()
                    next_settle = self._clock() + SETTLE_EVERY
                self._wake.clear()
                if not await self._round():
                    with suppress(TimeoutError):
                        async with asyncio.timeout(self._idle_seconds):
                            await self._wake.wait()
        finally:
            await self._sender.settle()  # what was sent is recorded, even on a stop

    async def _settle_abandoned(self) -> None:
        async with self._sessionmaker() as session:
            abandoned = await mark_interrupted_unknown(
                session, claimed_before=self._clock() - SENDING_LEASE
            )
        if abandoned:
            logger.warning("%d deliveries claimed by a stopped sender: marked unknown", abandoned)

    async def _round(self) -> bool:
        """One batch of every sending run; True if anything went out."""
        async with self._sessionmaker() as session:
            runs = await sending_runs(session)
        sent = False
        for run_id in runs:
            sent |= await self._sender.send_batch(run_id) is BatchResult.SENT
        return sent
