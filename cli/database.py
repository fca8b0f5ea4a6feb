"""`segbot db upgrade|current`: apply and inspect the schema's migrations.

Errors are one line on stderr: exit 2 for a bad setting, 1 when the database cannot be
used (cli.execution).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from cli.execution import check_sqlite_file, execute, settings_or_exit, sqlite_file
from core.db import create_engine
from core.settings import SecretUrl

T = TypeVar("T")

app = typer.Typer(
    help="Database schema: apply and inspect migrations.",
    no_args_is_help=True,
    add_completion=False,
)


async def _on_engine(url: str | SecretUrl, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """`action` on the database as it is (these commands inspect and migrate it)."""
    check_sqlite_file(url)
    engine = create_engine(url)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations to SEGBOT_DATABASE_URL up to REVISION (default: the latest)."""
    settings = settings_or_exit()

    async def migrate(engine: AsyncEngine) -> str | None:
        await migrations.upgrade(engine, revision)
        return await migrations.current_revision(engine)

    typer.echo(f"database at revision {execute(_on_engine(settings.database_url, migrate))}")


@app.command()
def current() -> None:
    """Show the revision SEGBOT_DATABASE_URL is at, and whether that is the latest."""
    settings = settings_or_exit()
    head = migrations.head_revision()
    file = sqlite_file(settings.database_url)
    if file is not None and file.parent.is_dir() and not file.exists():  # looking makes none
        typer.echo(f"no database at {file} (latest is {head}: `segbot db upgrade` makes it)")
        return
    revision = execute(_on_engine(settings.database_url, migrations.current_revision))
    if revision == head:
        typer.echo(f"{revision} (head)")
    elif revision is not None and revision not in migrations.revisions():
        typer.echo(
            f"{revision} (not a revision this segbot has, the latest is {head}: "
            "is the database from a newer version?)"
        )
    else:
        typer.echo(f"{revision or 'empty'} (latest is {head}: run `segbot db upgrade`)")
