"""`segbot crm ...`: import files, sync connectors, show match rates and rejected rows.

Results go to stdout; progress bars and errors go to stderr (errors as one line).
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.execution import (
    EXIT_FAILURE,
    config_or_exit,
    execute,
    fail,
    on_database,
    settings_or_exit,
)
from cli.tables import crm_status_table
from core.errors import SegbotError
from crm_sync.config import load_mapping_file
from crm_sync.connectors import Batch, FilesConnector
from crm_sync.jobs import sync_configured
from crm_sync.reports import crm_status, rejected_rows
from crm_sync.worker import SyncSummary, run_sync
from segments.jobs import after_crm_sync

app = typer.Typer(
    help="CRM customers and orders: import files, sync connectors, match rates.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@app.command(name="import")
def import_files(
    customers: Annotated[
        Path | None, typer.Option("--customers", help="Customers CSV or XLSX.", exists=True)
    ] = None,
    orders: Annotated[
        Path | None, typer.Option("--orders", help="Orders CSV or XLSX.", exists=True)
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", help="YAML: columns.customers / columns.orders.", exists=True),
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="Source name the rows are kept under.")
    ] = "files",
) -> None:
    """Import customers and orders from files, then rescore RFM and the ladder.
    Re-importing the same files changes nothing."""
    if customers is None and orders is None:
        fail("give --customers FILE and/or --orders FILE")
    settings = settings_or_exit()
    loaded = config_or_exit(settings)
    config, segments = loaded.crm, loaded.segments
    columns = None
    if mapping is not None:
        try:
            columns = load_mapping_file(mapping)
        except SegbotError as error:
            fail(str(error))
    connector = FilesConnector(
        name=source, customers=customers, orders=orders, rules=config.rules_for(), mapping=columns
    )

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> SyncSummary:
        with _progress_bars() as progress:
            return await run_sync(
                sessionmaker=sessionmaker,
                connector=connector,
                trigger="import",
                full=True,
                on_synced=after_crm_sync(sessionmaker, config=segments),
                progress=progress,
            )

    _report([execute(on_database(settings, work))])


@app.command()
def sync(
    connector: Annotated[
        str | None, typer.Option("--connector", help="Only this connector (default: all).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Read everything again, not only what changed.")
    ] = False,
) -> None:
    """Sync the connectors configured in segbot.yaml (crm.connectors) now."""
    settings = settings_or_exit()
    loaded = config_or_exit(settings)
    config, segments = loaded.crm, loaded.segments
    if not config.connectors:
        fail("no CRM connectors configured (segbot.yaml, section crm.connectors)")

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> list[SyncSummary]:
        with _progress_bars() as progress:
            return await sync_configured(
                sessionmaker=sessionmaker,
                config=config,
                names=[connector] if connector else None,
                full=full,
                on_synced=after_crm_sync(sessionmaker, config=segments),
                progress=progress,
            )

    _report(execute(on_database(settings, work)))


@app.command()
def status() -> None:
    """Customers, orders, last run and match rates per source."""
    settings = settings_or_exit()

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            report = await crm_status(session)
        out.print(crm_status_table(report))

    execute(on_database(settings, work))


@app.command()
def rejected(
    run: Annotated[
        int | None, typer.Option("--run", help="Run id (default: the latest with rejections).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows to show.")] = 50,
) -> None:
    """Rows a run rejected, and values it left out of rows it stored (a phone or email
    that is not one): where they were, why, and what the row held."""
    settings = settings_or_exit()

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            found = await rejected_rows(session, run_id=run, limit=limit)
        if found is None:
            fail(f"no run {run}" if run is not None else "no run has rejected rows", EXIT_FAILURE)
        out.print(
            f"run #{found.run.id} ({found.run.connector}): "
            f"{_plural(found.rows_rejected, 'row')} rejected, "
            f"{_plural(found.values_left_out, 'value')} left out of rows stored without them; "
            f"showing {len(found.rows)}"
        )
        table = Table("kind", "row", "id", "left out", "reason", "record")
        for row in found.rows:
            record = json.dumps(row.raw, ensure_ascii=False, default=str)
            table.add_row(
                row.kind,
                str(row.row_number or ""),
                row.external_id or "",
                row.field or "the row",
                row.reason,
                record if len(record) <= 120 else record[:117] + "...",
            )
        out.print(table)

    execute(on_database(settings, work))


@contextmanager
def _progress_bars() -> Iterator[Callable[[Batch], None]]:
    """A Rich progress bar per stream, fed by the worker after each stored batch."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=not err.is_terminal) as bars:
        tasks: dict[str, TaskID] = {}

        def advance(batch: Batch) -> None:
            if batch.stream not in tasks:
                tasks[batch.stream] = bars.add_task(batch.stream, total=batch.total)
            bars.update(tasks[batch.stream], advance=batch.read, total=batch.total)

        yield advance


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _report(summaries: list[SyncSummary]) -> None:
    table = Table("source", "stream", "read", "inserted", "updated", "unchanged", "rejected")
    table.add_column("values left out")
    for summary in summaries:
        for stream, counts in summary.streams.items():
            table.add_row(
                summary.connector,
                stream,
                *(str(getattr(counts, name)) for name in ("read", "inserted", "updated")),
                str(counts.unchanged),
                str(counts.rejected),
                str(counts.fields_dropped),
            )
    out.print(table)
    failed = [summary for summary in summaries if summary.status != "succeeded"]
    for summary in summaries:
        if summary.status == "succeeded" and summary.matching is not None:
            match = summary.matching
            out.print(
                f"{summary.connector}: run #{summary.run_id} succeeded; matching linked "
                f"{match.linked}, unlinked {match.unlinked}, {match.conflicts} conflict(s)"
            )
        if summary.total("rejected") or summary.total("fields_dropped"):
            out.print(f"  see what was left out: segbot crm rejected --run {summary.run_id}")
    if failed:
        first = failed[0]
        fail(f"{first.connector}: run #{first.run_id} failed: {first.error}", EXIT_FAILURE)
