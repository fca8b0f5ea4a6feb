"""The `segbot` command line. Every command has --help; a bad setting is one line, exit 2."""

import sys
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import migrations
from bot.logs import configure_logging
from bot.process_roles import Role
from cli import campaign, crm, personas, report, segments
from cli.execution import config_or_exit, execute, fail, on_database, settings_or_exit
from core.clock import utcnow
from core.db import create_engine
from core.settings import SecretUrl
from core.sources import customer_payload, start_link, utm_payload
from segments.export import AdPlatform, ExportFormat, ExportSummary, write_export

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
app.add_typer(crm.app, name="crm")
app.add_typer(campaign.app, name="campaign")
app.add_typer(segments.app, name="segments")
app.add_typer(segments.rfm_app, name="rfm")
app.add_typer(segments.ladder_app, name="ladder")
app.add_typer(personas.app, name="personas")
app.add_typer(report.app, name="report")


async def _on_engine(url: str | SecretUrl, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """`action` on the database as it is (the `db` commands inspect and migrate it)."""
    engine = create_engine(url)
    try:
        return await action(engine)
    finally:
        await engine.dispose()


@app.command()
def run(
    role: Annotated[
        Role,
        typer.Option(help="What this process does; roles apart need PostgreSQL."),
    ] = Role.ALL,
    webhook: Annotated[
        bool,
        typer.Option(help="Receive updates at SEGBOT_PUBLIC_URL/telegram/webhook, not polling."),
    ] = False,
) -> None:
    """Run the bot, the broadcast sender, the scheduler and the web server (or one --role
    of them) until SIGINT/SIGTERM.

    On SQLite the database is migrated first; PostgreSQL must be at the latest revision
    (`segbot db upgrade`). Deployment with several processes: docs/deployment.md.
    """
    settings = settings_or_exit(to_run_the_bot=True)
    configure_logging(settings)
    from bot import runtime  # aiogram takes seconds to import: only the commands that use it

    execute(runtime.run(settings, config=config_or_exit(settings), role=role, webhook=webhook))


@app.command(name="demo")
def run_demo() -> None:
    """Rehearse segbot without Telegram (needs no token).

    The built-in Bot API emulator, the real bot on a temporary SQLite file, a sample shop
    and a handful of simulated subscribers."""
    from demo import rehearsal

    execute(rehearsal.run())


@app.command()
def export(
    segment: Annotated[str, typer.Argument(help="The saved segment's name.")],
    export_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="ids: Telegram ids; hashed: SHA-256 of email and phone."),
    ] = ExportFormat.HASHED,
    platform: Annotated[
        AdPlatform,
        typer.Option(help="How `hashed` normalises: meta, or google (Customer Match)."),
    ] = AdPlatform.META,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the CSV here (default: stdout).")
    ] = None,
) -> None:
    """A segment's members as CSV: Telegram ids, or hashed contacts for ad platforms'
    custom audiences (columns email and phone, SHA-256 of the normalised values)."""
    settings = settings_or_exit()
    config = config_or_exit(settings)
    region, names = config.phone_region, config.rfm_names

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> ExportSummary:
        with nullcontext(sys.stdout) if out is None else out.open("w", encoding="utf-8") as target:
            async with sessionmaker() as session:
                return await write_export(
                    session, segment=segment, export_format=export_format, out=target,
                    now=utcnow(), platform=platform, region=region, rfm_segments=names,
                )  # fmt: skip

    summary = execute(on_database(settings, work))
    typer.echo(f"{summary.rows} rows of {summary.members} members ({segment})", err=True)


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
