"""`segbot export SEGMENT`: a segment's members as CSV, for ad platforms' custom audiences.

The CSV goes to stdout (or --out); the row count to stderr; errors are one line on
stderr, exit 2 for bad input and 1 when the database cannot be used.
"""

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.execution import config_or_exit, execute, on_database, settings_or_exit
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
        with nullcontext(sys.stdout) if out is None else out.open("w", encoding="utf-8") as target:
            async with sessionmaker() as session:
                return await write_export(
                    session, segment=segment, export_format=export_format, out=target,
                    now=utcnow(), platform=platform, region=region, rfm_segments=names,
                )  # fmt: skip

    summary = execute(on_database(settings, work))
    typer.echo(f"{summary.rows} rows of {summary.members} members ({segment})", err=True)
