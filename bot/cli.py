"""The `segbot` command line. Every command has --help; a bad setting is one line, exit 2."""

import logging
from collections.abc import Awaitable, Callable
from importlib.metadata import version as package_version
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from bot import campaign_cli, crm_cli, segments_cli
from bot.cli_support import execute, fail, settings_or_exit
from core.db import create_engine
from core.sources import customer_payload, start_link, utm_payload

T = TypeVar("T")

app = typer.Typer(
    help="segbot: a Telegram marketing bot with in-chat audience segmentation.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema: apply and inspect migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
links_app = typer.Typer(help="Deep links that open the bot with a source.", no_args_is_help=True)
app.add_typer(links_app, name="links")
app.add_typer(crm_cli.app, name="crm")
app.add_typer(campaign_cli.app, name="campaign")
app.add_typer(segments_cli.app, name="segments")
app.add_typer(segments_cli.rfm_app, name="rfm")
app.add_typer(segments_cli.ladder_app, name="ladder")


async def _on_engine(url: str, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """`action` on the database as it is (the `db` commands inspect and migrate it)."""
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
    settings = settings_or_exit(to_run_the_bot=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from bot import runtime  # aiogram takes seconds to import: only the commands that use it

    execute(runtime.run(settings))


@app.command(name="demo")
def run_demo() -> None:
    """Rehearse segbot without Telegram (needs no token).

    The built-in Bot API emulator, the real bot on a temporary SQLite file, a sample shop
    and a handful of simulated subscribers."""
    from bot import demo

    execute(demo.run())


@app.command()
def version() -> None:
    """Print segbot's version."""
    typer.echo(f"segbot {package_version('segbot')}")


@db_app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations to SEGBOT_DATABASE_URL up to REVISION (default: the latest)."""
    settings = settings_or_exit()

    async def migrate(engine: AsyncEngine) -> str | None:
        await migrations.upgrade(engine, revision)
        return await migrations.current_revision(engine)

    typer.echo(f"database at revision {execute(_on_engine(settings.database_url, migrate))}")


@db_app.command()
def current() -> None:
    """Show the revision SEGBOT_DATABASE_URL is at, and whether that is the latest."""
    settings = settings_or_exit()
    revision = execute(_on_engine(settings.database_url, migrations.current_revision))
    head = migrations.head_revision()
    if revision == head:
        typer.echo(f"{revision} (head)")
    else:
        typer.echo(f"{revision or 'empty'} (latest is {head}: run `segbot db upgrade`)")


BotOption = Annotated[
    str | None, typer.Option("--bot", help="The bot's @username, to print a t.me link.")
]


def _print_start_link(payload: str, bot_username: str | None) -> None:
    typer.echo(payload if bot_username is None else start_link(bot_username, payload))


@links_app.command()
def customer(
    external_id: Annotated[str, typer.Argument(help="The customer's id in the CRM.")],
    source: Annotated[
        str | None, typer.Option(help="The CRM source the id belongs to (when several).")
    ] = None,
    bot_username: BotOption = None,
) -> None:
    """A signed link that ties whoever opens it to this CRM customer (SEGBOT_SECRET_KEY)."""
    settings = settings_or_exit()
    if settings.secret_key is None:
        fail("SEGBOT_SECRET_KEY must be set to sign customer links")
    try:
        payload = customer_payload(
            external_id, secret=settings.secret_key.get_secret_value(), source=source
        )
    except ValueError as error:
        fail(str(error))
    _print_start_link(payload, bot_username)


@links_app.command()
def utm(
    source: Annotated[str, typer.Option(help="utm_source, e.g. instagram.")],
    medium: Annotated[str | None, typer.Option(help="utm_medium.")] = None,
    campaign: Annotated[str | None, typer.Option(help="utm_campaign.")] = None,
    content: Annotated[str | None, typer.Option(help="utm_content.")] = None,
    referrer: Annotated[str | None, typer.Option(help="Who referred them.")] = None,
    bot_username: BotOption = None,
) -> None:
    """A link whose /start payload carries UTM fields (first touch stays on the subscriber)."""
    try:
        payload = utm_payload(
            source=source, medium=medium, campaign=campaign, content=content, referrer=referrer
        )
    except ValueError as error:
        fail(str(error))
    _print_start_link(payload, bot_username)


def main() -> None:
    app()
