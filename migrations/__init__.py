"""Alembic migrations, and the functions segbot calls to apply and inspect them."""

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import ConfigError


def alembic_config() -> Config:
    """Alembic's configuration without an ini file: the scripts live in this package."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_apply, command.upgrade, revision)


async def make_ready(engine: AsyncEngine, *, upgrade_in_place: bool) -> None:
    """Before a command uses the database: migrate it (SQLite, the one-process default), or
    insist it is already at the latest revision (PostgreSQL is migrated by an operator)."""
    if upgrade_in_place:
        await upgrade(engine)
        return
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise ConfigError(
            f"the database schema is at revision {current or 'none'}, this segbot needs "
            f"{head}: run `segbot db upgrade` first"
        )


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_apply, command.downgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def _apply(connection: Connection, action: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection  # env.py migrates on this connection
    action(config, revision)
