"""`segbot export SEGMENT`: a segment's members as CSV, for ad platforms' custom audiences.

The CSV goes to stdout (or --out); the row count to stderr; errors are one line on
stderr, exit 2 for bad input and 1 when the database cannot be used. A file given with
--out is replaced only by a complete export: an error (a segment that does not exist, a
database that fails half-way) leaves what was there before.
"""

import errno
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TextIO

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.execution import (
    EXIT_FAILURE,
    config_or_exit,
    execute,
    fail,
    on_database,
    output_goes_nowhere,
    settings_or_exit,
)
from core.clock import utcnow
from segments.export import AdPlatform, ExportFormat, ExportSummary, write_export


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
        with _stdout() if out is None else _complete_file(out) as target:
            async with sessionmaker() as session:
                return await write_export(
                    session, segment=segment, export_format=export_format, out=target,
                    now=utcnow(), platform=platform, region=region, rfm_segments=names,
                )  # fmt: skip

    summary = execute(on_database(settings, work))
    typer.echo(f"{summary.rows} rows of {summary.members} members ({segment})", err=True)


@contextmanager
def _stdout() -> Iterator[TextIO]:
    """stdout to write the CSV to. A reader that stops before the end (`| head`) ends the
    command with a line saying so, not as a database error."""
    try:
        yield sys.stdout
        sys.stdout.flush()
    except BrokenPipeError:
        output_goes_nowhere()
        fail("the CSV's reader stopped reading before its end (broken pipe)", EXIT_FAILURE)


@contextmanager
def _complete_file(path: Path) -> Iterator[TextIO]:
    """`path` to write a CSV to, written beside it first and moved onto it only when the
    block ends without an error. A symbolic link's target is the file written; what is
    not a file (a pipe, a device) is written to as it is, having nothing to replace it."""
    if path.is_dir():  # first: ".", "/" and "" (read as ".") have no name to write beside
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if path.is_symlink():
        path = path.resolve()
    if path.exists() and not path.is_file():
        with path.open("w", encoding="utf-8", newline="") as stream:
            yield stream
        return
    partial = path.with_name(f".{path.name}.partial")
    if path.exists() and not os.access(path, os.W_OK):  # a read-only file stays so
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    try:
        file = partial.open("w", encoding="utf-8", newline="")
    except OSError as error:  # named after the file asked for, not the partial one
        raise OSError(error.errno, error.strerror, str(path)) from error
    try:
        with file:
            if path.exists():  # before anything is written: who may read it stays the same
                shutil.copymode(path, partial)
            yield file
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
