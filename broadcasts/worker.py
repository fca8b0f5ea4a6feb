"""The delivery worker `segbot run` keeps going: it sends every run that is sending, a
batch of each in turn, and sleeps when there is nothing due until woken (a run started)
or a second passed (a run resumed from another process, a quiet-hours wait ended).

It settles what stopped senders left claimed (broadcasts/claims.py): attempted
deliveries become `unknown` (their request may have left), the others go back to the
queue. On start, a sender alone (`exclusive`: SQLite, or `--role all`) settles every
claim at once, so a restarted process resends at once; one of several senders settles
its own and those of senders whose heartbeat is stale. While running it beats every
BEAT_SECONDS, and settles the claims of senders that stopped beating meanwhile (after
STALE_AFTER). On a stop, the sender abandons what is in flight and settles its own.

`keep_running` restarts it after a crash (logged), so a bad moment of the database does
not stop broadcasts; a failure while it stops (settling what was in flight) is logged and
the stop goes on: a worker told to stop never starts again. A run whose messages cannot
be prepared (a link the database refuses) is logged and set aside for SET_ASIDE_SECONDS
instead: it never holds up the others."""

import asyncio
import logging

from sqlalchemy import true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.claims import (
    BEAT_SECONDS,
    Settled,
    beat,
    forget,
    forget_stopped,
    of_sender,
    of_stopped_senders,
    settle,
)
from broadcasts.sender import BatchResult, RunNotPreparedError, Sender, sending_runs
from core.clock import Clock, utcnow
from core.wakeups import end_if_stopping, woken_within

logger = logging.getLogger(__name__)
SET_ASIDE_SECONDS = 60.0  # a run whose messages cannot be prepared waits this long to retry


class DeliveryWorker:
    def __init__(
        self,
        sender: Sender,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        exclusive: bool = False,
        idle_seconds: float = 1.0,
        restart_seconds: float = 5.0,
        clock: Clock = utcnow,
    ) -> None:
        self._clock = clock
        self._sender = sender
        self._sessionmaker = sessionmaker
        self._exclusive = exclusive  # no other sender shares this database
        self._idle_seconds = idle_seconds
        self._restart_seconds = restart_seconds
        self._wake = asyncio.Event()
        self._set_aside: dict[int, float] = {}  # run id -> when it is tried again
        self.crashes = 0

    def wake(self) -> None:
        self._wake.set()

    async def keep_running(self) -> None:
        """`run`, restarted `restart_seconds` after any crash, until cancelled."""
        while True:
            try:
                await self.run()
            except Exception:
                end_if_stopping(logger, "the delivery worker")
                self.crashes += 1
                logger.exception(
                    "the delivery worker crashed; restarting in %.0f s", self._restart_seconds
                )
                await asyncio.sleep(self._restart_seconds)

    async def run(self) -> None:
        """Until cancelled."""
        me = self._sender.id
        logger.info("broadcast sender %s starting", me)
        async with self._sessionmaker() as session:
            await beat(session, sender=me, clock=self._clock)  # before claiming anything
            stopped = true() if self._exclusive else of_stopped_senders(self._clock(), but=me)
            _log_settled("left by a stop", await settle(session, stopped | of_sender(me)))
        beating = asyncio.create_task(self._keep_beating())
        try:
            while True:
                self._wake.clear()
                if not await self._round():
                    await woken_within(self._wake, self._idle_seconds)
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            _log_settled("in flight at this stop", await self._sender.close())
            async with self._sessionmaker() as session:
                await forget(session, sender=me)

    async def _keep_beating(self) -> None:
        """Beat; settle the claims of senders that stopped beating. A failure is logged
        and tried again at the next beat (the sending itself fails loudly enough)."""
        while True:
            await asyncio.sleep(BEAT_SECONDS)
            try:
                async with self._sessionmaker() as session:
                    now = await beat(session, sender=self._sender.id, clock=self._clock)
                    stopped = of_stopped_senders(now, but=self._sender.id)
                    _log_settled("of a stopped sender", await settle(session, stopped))
                    await forget_stopped(session, now=now)
            except Exception as error:
                logger.warning("the sender's heartbeat failed: %s", type(error).__name__)

    async def _round(self) -> bool:
        """A batch of every sending run; True if any was claimed. A run whose messages
        cannot be prepared is set aside for SET_ASIDE_SECONDS, so the others go on."""
        async with self._sessionmaker() as session:
            runs = await sending_runs(session)
        now = asyncio.get_running_loop().time()
        sent = False
        for run_id in runs:
            if self._set_aside.get(run_id, now) > now:
                continue
            try:
                sent |= await self._sender.send_batch(run_id) is BatchResult.SENT
            except RunNotPreparedError as error:
                self._set_aside[run_id] = now + SET_ASIDE_SECONDS
                logger.error("%s; tried again in %.0f s", error, SET_ASIDE_SECONDS)
        return sent


def _log_settled(whose: str, settled: Settled) -> None:
    if settled:
        logger.warning(
            "deliveries %s: %d unknown (their request may have left, never resent), "
            "%d back in the queue",
            whose,
            settled.unknown,
            settled.requeued,
        )
