"""What every `segbot` command shares: settings, a ready database, an event loop, and
expected failures said in one line on stderr (never a traceback).

Exit codes: 2 when a setting or an argument is malformed (fix it and try again), 1 when
the command could not do its work: a name nothing has (the line lists the names there
are, cli/unknown_names.py), a request what there is does not allow (`NotPossibleError`:
pausing a campaign that is done), a file or the database that cannot be used, a send
that failed. A command that did nothing it was asked to never exits 0.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

from cli.unknown_names import UnknownNameError, known_names
from core.errors import NotPossibleError, SegbotError
from core.settings import SecretUrl, Settings, load_settings, unknown_variables

if TYPE_CHECKING:  # the database, migrations and segbot.yaml load only when a command uses them
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.config import AppConfig

T = TypeVar("T")

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """`message` on one line (stored text in it cannot control the terminal), then exit."""
    from cli.tables import visible

    typer.echo(f"error: {visible(message)}", err=True)
    raise typer.Exit(code)


def text_or_exit(path: Path) -> str:
    """The UTF-8 text of a file the user named (a campaign or journey); one that cannot be
    read, or is not UTF-8, is a bad argument: one line, exit 2, never a traceback."""
    from core.yaml_loading import read_yaml_file

    try:
        return read_yaml_file(path)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        fail(f"{path}: cannot be read as UTF-8 text ({error})")


def check_source_name(source: str) -> None:
    """--source (of `crm import`, of a customer link) names a CRM source as a connector's
    name in segbot.yaml does: by the same rule, or exit 2."""
    from pydantic import ValidationError

    from crm_sync.config import FilesConnectorConfig

    try:
        FilesConnectorConfig(type="files", name=source)
    except ValidationError as error:
        fail(f"--source {source!r}: {error.errors()[0]['msg']}")


def settings_or_exit(*, to_run_the_bot: bool = False) -> Settings:
    """The settings; a `SEGBOT_*` variable that is no setting is a warning line each."""
    try:
        for warning in unknown_variables(os.environ):
            typer.echo(f"warning: {warning}", err=True)
        settings = load_settings()
        if to_run_the_bot:
            settings.require_for_run()
    except SegbotError as error:
        fail(str(error))
    return settings


def config_or_exit(settings: Settings) -> AppConfig:
    """segbot.yaml (SEGBOT_CONFIG), every section validated; a mistake is one line, exit 2."""
    from bot.config import load_app_config

    try:
        return load_app_config(settings.config_path)
    except SegbotError as error:
        fail(str(error))


def execute(
    work: Coroutine[object, object, T], *, explain: Callable[[SegbotError], str] = str
) -> T:
    """Run `work`; a SegbotError becomes `explain(error)` on one line, exit 2 (exit 1 for
    a name nothing has, for what the data does not allow, and for an address the web
    server cannot listen on, as for a database it cannot reach)."""
    from sqlalchemy.exc import DBAPIError

    from bot.web_server import CannotListenError

    try:
        return asyncio.run(work)
    except (UnknownNameError, NotPossibleError, CannotListenError) as error:
        fail(explain(error), EXIT_FAILURE)
    except SegbotError as error:
        fail(explain(error))
    except DBAPIError as error:
        reason = error.orig or error
        fail(f"cannot use the database: {type(reason).__name__}: {reason}", EXIT_FAILURE)
    except OSError as error:
        if _output_failed(error):
            output_goes_nowhere()
        fail(_os_error(error), EXIT_FAILURE)


def output_goes_nowhere() -> None:
    """After standard output failed (a full disk, a reader gone): what is left in its
    buffer, which Python flushes again on its way out, goes nowhere, silently, so the one
    line that says what happened is the last word."""
    nowhere = os.open(os.devnull, os.O_WRONLY)
    os.dup2(nowhere, sys.stdout.fileno())
    os.close(nowhere)


def _os_error(error: OSError) -> str:
    """A file the command reads or writes (its name), else the database server: the one
    connection a command makes that does not report its own failures (Telegram, CRMs and
    language models answer with theirs, the web server with its own error)."""
    if error.filename is not None:
        return f"cannot use {error.filename}: {error.strerror}"
    if _output_failed(error):
        return f"cannot write the output: {error.strerror}"
    return f"cannot use the database: {type(error).__name__}: {error}"


# What writing, not a connection, fails with: no space, a read-only file system, a quota.
_CANNOT_WRITE = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.EPIPE})


def _output_failed(error: OSError) -> bool:
    """Whether `error` is the output failing (standard output, a file being closed): no
    file named, and an error writing gives, not a connection."""
    return error.filename is None and error.errno in _CANNOT_WRITE


def sqlite_file(url: str | SecretUrl) -> Path | None:
    """The file a SQLite `url` names; None for another database, memory, or a `file:` URI
    (read by SQLite itself)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url.get_secret_value() if isinstance(url, SecretUrl) else url)
    file = parsed.database
    if parsed.get_backend_name() != "sqlite" or not file or file == ":memory:":
        return None
    if parsed.query.get("uri") == "true":
        return None
    return Path(file)


def check_sqlite_file(url: str | SecretUrl) -> None:
    """An OSError naming the SQLite file at `url` if it cannot be opened: it is a folder,
    or its folder does not exist. The driver would say only "unable to open database
    file", and its thread, which outlives the command's event loop, a traceback."""
    path = sqlite_file(url)
    if path is None:
        return
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path.parent))


def sqlite_file_or_exit(url: str | SecretUrl) -> None:
    """`check_sqlite_file` before a command that starts logging first (`segbot run`): a
    file it cannot open is one line and exit 1, as on_database makes it for the others,
    rather than the driver's error after the start's log lines."""
    try:
        check_sqlite_file(url)
    except OSError as error:
        fail(_os_error(error), EXIT_FAILURE)


async def on_database(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    """`work` on a ready database (SQLite migrated in place; PostgreSQL must be at head).
    A name nothing has fails with the names there are (cli/unknown_names.py)."""
    return await on_database_at(settings.database_url, work, upgrade_in_place=settings.is_sqlite)


async def on_database_at(
    url: str | SecretUrl,
    work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]],
    *,
    upgrade_in_place: bool,
) -> T:
    """`work` on the database at `url`, as `on_database` does (migrated first when
    `upgrade_in_place`, else it must be at head)."""
    import migrations
    from core.db import create_engine, create_sessionmaker

    check_sqlite_file(url)
    engine = create_engine(url)
    try:
        await migrations.make_ready(engine, upgrade_in_place=upgrade_in_place)
        sessionmaker = create_sessionmaker(engine)
        try:
            return await work(sessionmaker)
        except SegbotError as error:
            told = await known_names(error, sessionmaker)
            if told is error:
                raise
            raise told from error
    finally:
        await engine.dispose()
