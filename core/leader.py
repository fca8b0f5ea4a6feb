"""Leader election for work exactly one process may do at a time (the scheduler).

On PostgreSQL the leader is whoever holds a session-level advisory lock on a connection
of its own. PostgreSQL releases the lock when that connection ends, so when the leader
dies (even by SIGKILL, once the server notices the closed socket) a standby's next try
succeeds: hand-over takes at most `retry_seconds` plus that notice. The leader checks its
connection every `check_seconds`; if it is gone, so is the lock, and the work is stopped
before another process can start it twice.

A database that cannot be reached (restarting, the network down) while a process tries
for the lock is logged and tried again every `retry_seconds`: the process stands by until
the database is back, rather than ending.

SQLite is the one-process default: there the caller is always the leader.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger(__name__)

SCHEDULER_LOCK = 0x5E6B07_0001  # an arbitrary 64-bit key, segbot's scheduler
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
# What a database that is down, restarting or out of reach raises (asyncpg's refused or
# reset connection is an OSError; a server shutting down is an OperationalError).
_UNREACHABLE = (OperationalError, InterfaceError, OSError, TimeoutError)


async def lead(
    engine: AsyncEngine,
    work: Callable[[], Awaitable[None]],
    *,
    key: int = SCHEDULER_LOCK,
    retry_seconds: float = 2.0,
    check_seconds: float = 2.0,
) -> None:
    """Run `work` whenever this process is the leader, until cancelled.

    `work` should run until cancelled; if it returns or fails while leading, leadership
    is given up (and the exception, if any, raised) so that a healthy process takes over;
    a failure that says the database cannot be reached is logged and the lock tried for
    again once the database is back.
    """
    if engine.dialect.name != "postgresql":
        await work()
        return
    while True:
        try:
            await _try_to_lead(engine, work, key=key, check_seconds=check_seconds)
        except _UNREACHABLE as error:
            logger.warning(
                "the database cannot be reached (%s); trying for the lock %#x again in %g s",
                type(error).__name__,
                key,
                retry_seconds,
            )
        await asyncio.sleep(retry_seconds)


async def _try_to_lead(
    engine: AsyncEngine, work: Callable[[], Awaitable[None]], *, key: int, check_seconds: float
) -> None:
    """Take the lock if nobody holds it and run `work` while it is held; return when the
    lock is lost (or was not free). What `work` or the database raises is raised."""
    async with engine.connect() as connection:
        # Autocommit: a lock held for hours must not hold a transaction open with it.
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        if not await connection.scalar(_TRY_LOCK, {"key": key}):
            return
        logger.info("this process is now the leader (lock %#x)", key)
        try:
            await _while_holding(connection, work, check_seconds)
        finally:
            with suppress(Exception):  # the connection may be the thing that broke
                await asyncio.shield(connection.execute(_UNLOCK, {"key": key}))
        logger.warning("leadership lost (lock %#x); standing by", key)


async def _while_holding(
    connection: AsyncConnection, work: Callable[[], Awaitable[None]], check_seconds: float
) -> None:
    """Run `work` until it ends or the lock's connection stops answering."""
    task = asyncio.ensure_future(work())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=check_seconds)
            if done:
                task.result()  # raises what the work raised
                return
            try:
                await connection.execute(text("SELECT 1"))
            except Exception as error:
                logger.error("the leader's connection failed: %s", type(error).__name__)
                return
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
