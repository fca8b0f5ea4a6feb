"""`segbot run` (the bot, for real) and `segbot demo` (a rehearsal of it against the Bot
API emulator). A bad setting is one line on stderr, exit 2."""

from typing import Annotated

import typer

from bot.logs import configure_logging
from bot.process_roles import Role
from cli.execution import config_or_exit, execute, settings_or_exit, sqlite_file_or_exit


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
    sqlite_file_or_exit(settings.database_url)
    configure_logging(settings)
    from bot import runtime  # aiogram takes seconds to import: only once the settings are good

    runtime.freeze_startup_heap()
    execute(runtime.run(settings, config=config_or_exit(settings), role=role, webhook=webhook))


def demo() -> None:
    """Rehearse segbot without Telegram (needs no token).

    The built-in Bot API emulator, the real bot on a temporary SQLite file, a sample shop
    and a handful of simulated subscribers."""
    from demo import rehearsal

    execute(rehearsal.run())
