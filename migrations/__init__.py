"""Alembic migrations, and the functions segbot calls to apply and inspect them."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.errors import ConfigError, SegbotError

# What opens a migration's transaction. SQLite's driver would begin it only at the first
# INSERT, UPDATE or DELETE (core.db), committing each table change before that one by one;
# BEGIN IMMEDIATE also takes the write lock. PostgreSQL: a lock held until the commit.
VERSION_TABLE = "alembic_version"  # alembic's, holding the database's revision
MIGRATION_LOCK = 0x5E6B07_0002  # an arbitrary 64-bit key (core.leader has 0x5E6B07_0001)
_ONE_AT_A_TIME = {
    "sqlite": "BEGIN IMMEDIATE",
    "postgresql": f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})",
}


class RevisionError(SegbotError):
    """A revision `upgrade` cannot go to: one there is not, or one the database is past."""


def alembic_config() -> Config:
    """Alembic's configuration without an ini file: the scripts live in this package."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revisions() -> list[str]:
    """Every revision this segbot has, oldest first (the history is one line)."""
    scripts = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    return [script.revision for script in scripts][::-1]


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply the migrations up to `revision`: "head" (the latest) or a revision's id."""
    async with migrating(engine) as connection:
        await connection.run_sync(_check_upgrade, revision)
        await connection.run_sync(_apply, command.upgrade, revision)


async def make_ready(engine: AsyncEngine, *, upgrade_in_place: bool) -> None:
    """Before a command uses the database: migrate it (SQLite, the one-process default), or
    insist it is already at the latest revision (PostgreSQL is migrated by an operator).
    A database already at the latest revision is only read: a migration's write lock,
    taken by every command, would queue a report or a search behind the bot's writes."""
    current, head = await current_revision(engine), head_revision()
    if upgrade_in_place:
        if current != head:
            await upgrade(engine)
        return
    if current is not None and current not in revisions():
        raise ConfigError(_newer(current))
    if current != head:
        raise ConfigError(
            f"the database schema is at revision {current or 'none'}, this segbot needs "
            f"{head}: run `segbot db upgrade` first"
        )


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with migrating(engine) as connection:
        await connection.run_sync(_apply, command.downgrade, revision)


@asynccontextmanager
async def migrating(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction to migrate in, one at a time: a second migration waits for the first
    to end (then finds done what is done), and a migration that fails changes nothing.
    On SQLite, foreign keys are off until it ends: a batch operation copies a table and
    drops the old one, and with them on the drop would delete every row referring to the
    table (0002 copies customers: every order went with them)."""
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            await _enforce_foreign_keys(connection, enforce=False)
        try:
            async with connection.begin():
                await connection.exec_driver_sql(_ONE_AT_A_TIME[connection.dialect.name])
                yield connection
        finally:
            if sqlite:
                await _enforce_foreign_keys(connection, enforce=True)


async def _enforce_foreign_keys(connection: AsyncConnection, *, enforce: bool) -> None:
    """SQLite's foreign keys on or off for `connection`, outside any transaction (a PRAGMA
    foreign_keys inside one does nothing)."""
    await connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if enforce else 'OFF'}")
    await connection.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision; None when it has none yet (RevisionError: see `_revision`)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_revision)


def _revision(connection: Connection) -> str | None:
    """The revision `alembic_version` holds; None without the table or a row. One that
    holds no revision, or several (written by hand, or by another tool), is a
    RevisionError saying so: alembic would fail on it with a traceback, or upgrade as if
    the database were new and add a row of its own."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()  # noqa: S608
    if len(rows) > 1 or None in rows:
        held = ", ".join("none" if row is None else repr(row) for row in rows)
        raise RevisionError(
            f"the table {VERSION_TABLE} should hold one revision, and holds {held}: "
            "keep the row of the revision the schema is at, by hand"
        )
    current = MigrationContext.configure(connection).get_current_revision()
    return None if current is None else str(current)


def _newer(current: str) -> str:
    return (
        f"the database is at revision {current!r}, which this segbot does not have: "
        "is it from a newer version?"
    )


def _check_upgrade(connection: Connection, revision: str) -> None:
    """RevisionError unless the database can be upgraded to `revision`: a revision there is
    (not one of alembic's relative or range forms), at or after the database's own."""
    known = revisions()
    current = _revision(connection)
    if current is not None and current not in known:
        raise RevisionError(_newer(current))
    if revision == "head":
        return
    if revision not in known:
        raise RevisionError(
            f"no revision {revision!r}: the revisions are {known[0]} to {known[-1]}, or head"
        )
    if current is not None and known.index(current) > known.index(revision):
        raise RevisionError(
            f"the database is at revision {current}, already past {revision}: "
            "upgrade does not go back"
        )


def _apply(connection: Connection, action: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection  # env.py migrates on this connection
    action(config, revision)
