"""Which sync run is live: a lock per connector, held by the process running the sync and
let go by the operating system or the database server when that process ends, however
it ends (a crash, a kill, a lost machine).

A run is "running" only while its process holds the connector's lock. So the next run
takes the lock first: if it gets it, any run still marked running lost its process, and
is marked abandoned at once; if it cannot, that run is alive, and the new one is refused.
A heartbeat could only guess: a slow batch looks like a dead process, and a dead process
blocks every sync until its heartbeat is old enough.

- PostgreSQL: a session-level advisory lock, on a connection of the run's own in
  autocommit (no transaction stays open for the run's length). The server drops it when
  that connection ends, and the connection ends with its process.
- SQLite: an exclusive `flock` on a file beside the database (`segbot.db.crm-sync-shop.lock`),
  which the kernel drops when its process exits. The processes sharing a SQLite file
  share a machine, so a file lock reaches all of them.
- An in-memory SQLite database lives and dies with its one process: a run marked running
  there is alive, and the unique index on running runs refuses a second one.
"""

import enum
import fcntl
import hashlib
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path

from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # a connector name fit for a file name
_FLAGS = os.O_RDWR | os.O_CREAT


class Lock(enum.Enum):
    HELD = "held"  # by this run: a run still marked running lost its process
    BUSY = "busy"  # by a live run, in this process or another
    UNNEEDED = "unneeded"  # an in-memory database: a run marked running is alive


@asynccontextmanager
async def connector_lock(
    sessionmaker: async_sessionmaker[AsyncSession], connector: str
) -> AsyncIterator[Lock]:
    """Hold the lock of `connector` for the block, if it is free."""
    async with sessionmaker() as probe:
        url = probe.get_bind().engine.url
    if url.get_backend_name() == "postgresql":
        async with _advisory_lock(sessionmaker, connector) as held:
            yield Lock.HELD if held else Lock.BUSY
    elif (path := _database_file(url)) is None:
        yield Lock.UNNEEDED
    else:
        with _file_lock(path, connector) as held:
            yield Lock.HELD if held else Lock.BUSY


@asynccontextmanager
async def _advisory_lock(
    sessionmaker: async_sessionmaker[AsyncSession], connector: str
) -> AsyncIterator[bool]:
    key = _key(connector)
    async with sessionmaker() as session:
        connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        held = bool(await connection.scalar(_TRY_LOCK, {"key": key}))
        try:
            yield held
        finally:
            if held:
                try:
                    await connection.execute(_UNLOCK, {"key": key})
                except Exception:  # the connection broke: its end lets go of the lock
                    await _discard(session)
                except BaseException:  # cancelled while letting go
                    await _discard(session)
                    raise


async def _discard(session: AsyncSession) -> None:
    """Close the session's connection instead of pooling it: a connection that may still
    hold the lock must not go back to the pool, where it would keep it."""
    with suppress(Exception):
        await session.invalidate()


def _key(connector: str) -> int:
    """A signed 64-bit key for `connector`, the same in every process (unlike `hash`)."""
    digest = hashlib.blake2b(f"segbot crm sync {connector}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def _file_lock(database: Path, connector: str) -> Iterator[bool]:
    """An exclusive, non-blocking flock on the connector's lock file beside `database`."""
    name = connector if _SAFE_NAME.fullmatch(connector) else str(_key(connector))
    descriptor = os.open(database.with_name(f"{database.name}.crm-sync-{name}.lock"), _FLAGS, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # closing the file lets go of the lock


def _database_file(url: URL) -> Path | None:
    """The SQLite database's file; None for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    return Path(database.removeprefix("file:"))
