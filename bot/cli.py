"""The `segbot` command line. Every command has --help; a bad setting is one line, exit 2."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from importlib.metadata import version as package_version
from typing import Annotated, NoReturn, TypeVar

import typer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from core.db import create_engine
from core.errors import SegbotError
from core.settings import Settings, load_settings

T = TypeVar("T")

EXIT_CONFIG = 2  # a setting or an argument is wrong: fix it and try again
EXIT_FAILURE = 1  # the command could not do its work (e.g. the database is unreachable)

app = typer.Typer(
    help="segbot: a Telegram marketing bot with in-chat audience segmentation.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema: apply and inspect migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings(*, to_run_the_bot: bool = False) -> Settings:
    try:
        settings = load_settings()
        if to_run_the_bot:
            settings.require_for_run()
    except SegbotError as error:
        _fail(str(error))
    return settings


def _execute(work: Coroutine[object, object, T]) -> T:
    """Run `work`; expected failures become one line on stderr instead of a traceback."""
    try:
        return asyncio.run(work)
    except SegbotError as error:
        _fail(str(error))
    except (OSError, DBAPIError) as error:
        reason = getattr(error, "orig", None) or error
        _fail(f"cannot use the database: {type(reason).__name__}: {reason}", EXIT_FAILURE)


async def _on_database(url: str, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    engine = create_engine(url)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


@app.command()
def run() -> None:
    """Run the bot (long polling), the web server and the scheduler until SIGINT/SIGTERM.

    On SQLite the database is migrated first; PostgreSQL must be at the latest revision
    (`segbot db upgrade`).
    """
    settings = _settings(to_run_the_bot=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from bot import runtime  # aiogram takes seconds to import: only the commands that use it

    _execute(runtime.run(settings))


@app.command(name="demo")
def run_demo() -> None:
    """Rehearse segbot without Telegram: the built-in Bot API emulator, the real bot on a
    temporary SQLite file, and a handful of simulated subscribers. Needs no token."""
    from bot import demo

    _execute(demo.run())


@app.command()
def version() -> None:
    """Print segbot's version."""
    typer.echo(f"segbot {package_version('segbot')}")


@db_app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations to SEGBOT_DATABASE_URL up to REVISION (default: the latest)."""
    settings = _settings()

    async def migrate(engine: AsyncEngine) -> str | None:
        await migrations.upgrade(engine, revision)
        return await migrations.current_revision(engine)

    typer.echo(f"database at revision {_execute(_on_database(settings.database_url, migrate))}")


@db_app.command()
def current() -> None:
    """Show the revision SEGBOT_DATABASE_URL is at, and whether that is the latest."""
    settings = _settings()
    revision = _execute(_on_database(settings.database_url, migrations.current_revision))
    head = migrations.head_revision()
    if revision == head:
        typer.echo(f"{revision} (head)")
    else:
        typer.echo(f"{revision or 'empty'} (latest is {head}: run `segbot db upgrade`)")


def main() -> None:
    app()
