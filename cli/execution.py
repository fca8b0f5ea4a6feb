"""What every `segbot` command shares: settings, a ready database, an event loop, and
expected failures said in one line on stderr (never a traceback).

Exit codes: 2 when a setting or an argument is wrong (fix it and try again), 1 when the
command could not do its work (e.g. the database is unreachable).
"""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import NoReturn, TypeVar

import typer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import migrations
from bot.config import AppConfig, load_app_config
from core.db import create_engine, create_sessionmaker
from core.errors import SegbotError
from core.settings import Settings, load_settings

T = TypeVar("T")

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(*, to_run_the_bot: bool = False) -> Settings:
    try:
        settings = load_settings()
        if to_run_the_bot:
            settings.require_for_run()
    except SegbotError as error:
        fail(str(error))
    return settings


def config_or_exit(settings: Settings) -> AppConfig:
    """segbot.yaml (SEGBOT_CONFIG), every section validated; a mistake is one line, exit 2."""
    try:
        return load_app_config(settings.config_path)
    except SegbotError as error:
        fail(str(error))


def execute(
    work: Coroutine[object, object, T], *, explain: Callable[[SegbotError], str] = str
) -> T:
    """Run `work`; a SegbotError becomes `explain(error)` on one line, exit 2."""
    try:
        return asyncio.run(work)
    except SegbotError as error:
        fail(explain(error))
    except (OSError, DBAPIError) as error:
        reason = getattr(error, "orig", None) or error
        fail(f"cannot use the database: {type(reason).__name__}: {reason}", EXIT_FAILURE)


async def on_database(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    """`work` on a ready database (SQLite migrated in place; PostgreSQL must be at head)."""
    engine = create_engine(settings.database_url)
    try:
        await migrations.make_ready(engine, upgrade_in_place=settings.is_sqlite)
        return await work(create_sessionmaker(engine))
    finally:
        await engine.dispose()
