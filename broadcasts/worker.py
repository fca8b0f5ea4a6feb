"""The delivery worker `segbot run` keeps going: on start it settles what a crash left
(`sending` becomes `unknown`), then sends every run that is sending, a batch of each in
turn, and sleeps when there is nothing due until woken (a run started) or a second passed
(a run resumed from another process, a quiet-hours wait ended)."""

import asyncio
import logging
from contextlib import suppress

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.runs import mark_interrupted_unknown
from broadcasts.sender import BatchResult, Sender, sending_runs

logger = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(
        self,
        sender: Sender,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        idle_seconds: float = 1.0,
    ) -> None:
        self._sender = sender
        self._sessionmaker = sessionmaker
        self._idle_seconds = idle_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled."""
        async with self._sessionmaker() as session:
            interrupted = await mark_interrupted_unknown(session)
        if interrupted:
            logger.warning("%d deliveries were interrupted by a stop: marked unknown", interrupted)
        while True:
            self._wake.clear()
            if not await self._round():
                with suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_seconds):
                        await self._wake.wait()

    async def _round(self) -> bool:
        """One batch of every sending run; True if anything went out."""
        async with self._sessionmaker() as session:
            runs = await sending_runs(session)
        sent = False
        for run_id in runs:
            sent |= await self._sender.send_batch(run_id) is BatchResult.SENT
        return sent
