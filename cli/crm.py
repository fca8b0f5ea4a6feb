"""`segbot crm ...`: import files, sync connectors, show match rates and rejected rows.

Results go to stdout; progress bars, notes and errors go to stderr (errors as one line).
An import or sync tells what it did not take in: rejected rows (with the commonest
reasons), columns nothing reads, refunds, customers created for orders, and for a failed
run exactly what it stored before it stopped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from cli.execution import (
    EXIT_FAILURE,
    check_source_name,
    config_or_exit,
    execute,
    fail,
    on_database,
    settings_or_exit,
)
from cli.tables import FittedTable, SafeConsole
from core.errors import SegbotError
from core.ids import MAX_ID
from crm_sync.fields import default_columns_text

if TYPE_CHECKING:  # the database and the sync load only when a command runs
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from crm_sync.connectors import Batch
    from crm_sync.fields import Stream
    from crm_sync.worker import SyncSummary

app = typer.Typer(
    help="CRM customers and orders: import files, sync connectors, match rates.",
    no_args_is_help=True,
    add_completion=False,
)
out = SafeConsole(highlight=False)
err = SafeConsole(stderr=True, highlight=False)
REASONS = 3  # the commonest rejection reasons a run's report names

IMPORT_HELP = f"""Import customers and orders from CSV or XLSX files, then rescore RFM and the
ladder. Re-importing the same files changes nothing. A CSV file is UTF-8 text ("CSV UTF-8"
in Excel); of an XLSX workbook only the first sheet is read (the others holding data are
named after the import).

Columns read without --mapping (header names compared case-insensitively; the first one
found is read):

customers: {default_columns_text("customers")}.

orders: {default_columns_text("orders")}.

Dates are ISO 8601 (2025-12-31, 2025-12-31T14:30:00+01:00) unless the mapping says
otherwise. A negative amount is a refund: stored, never counted as a purchase (orders,
spent, RFM monetary), like an order whose status is refunded, returned, cancelled or chargeback.
An order for a customer not imported is rejected unless the mapping sets create_customers.
Columns nothing reads are listed after the import.

--mapping FILE is YAML with any of: columns (customers and orders: field to column, e.g.
columns: {{customers: {{external_id: "Client ID"}}, orders: {{amount: "Total"}}}}),
attributes (extra customer columns kept for rules as crm.NAME: a list of columns, e.g.
attributes: \\[city], or name to column, e.g. attributes: {{tier: "Loyalty tier"}}),
date_format (strptime codes, e.g. "%d/%m/%Y") or dayfirst: true (31/12/2025, 31.12.25
14:30), timezone (for times without an offset, e.g. Europe/Madrid), create_customers: true.

If the files lack a column the import needs, nothing is imported; if an import fails part
way, it says what it stored, and importing again stores the rest.
"""


@app.command(name="import", help=IMPORT_HELP)
def import_files(
    customers: Annotated[
        Path | None, typer.Option("--customers", help="Customers CSV or XLSX.", exists=True)
    ] = None,
    orders: Annotated[
        Path | None, typer.Option("--orders", help="Orders CSV or XLSX.", exists=True)
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            help="YAML: columns, attributes, date_format or dayfirst, timezone, "
            "create_customers (see above).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="Source name the rows are kept under.")
    ] = "files",
) -> None:
    from crm_sync.connectors import FilesConnector
    from crm_sync.mapping import ImportMapping, load_mapping_file
    from crm_sync.worker import run_sync
    from segments.jobs import after_crm_sync

    if customers is None and orders is None:
        fail("give --customers FILE and/or --orders FILE")
    check_source_name(source)
    settings = settings_or_exit()
    loaded = config_or_exit(settings)
    config, segments = loaded.crm, loaded.segments
    options = ImportMapping()
    if mapping is not None:
        try:
            options = load_mapping_file(mapping)
        except SegbotError as error:
            fail(str(error))
        files: dict[Stream, Path | None] = {"customers": customers, "orders": orders}
        given = [stream for stream, path in files.items() if path is not None]
        for key in options.unused(given):
            note = f"note: {mapping}: {key} is not used: only --{given[0]} is imported"
            err.print(note, markup=False)
    connector = FilesConnector(
        name=source,
        customers=customers,
        orders=orders,
        rules=config.rules_for(options),
        mapping=options.columns,
        mapped_in=f"--mapping {mapping}" if mapping else "a --mapping file",
    )

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> list[SyncReport]:
        again = "importing the same files again carries on"
        with _progress_bars("the import", again=again) as progress:
            summary = await run_sync(
                sessionmaker=sessionmaker,
                connector=connector,
                trigger="import",
                full=True,
                on_synced=after_crm_sync(sessionmaker, config=segments),
                progress=progress,
                create_customers=options.create_customers,
            )
        return [await _with_reasons(sessionmaker, summary)]

    _report(
        execute(on_database(settings, work)),
        map_in="attributes in --mapping",
        unread_sheets=connector.unread_sheets,
    )


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
    from crm_sync.jobs import sync_configured
    from segments.jobs import after_crm_sync

    settings = settings_or_exit()
    loaded = config_or_exit(settings)
    config, segments = loaded.crm, loaded.segments
    if not config.connectors:
        fail("no CRM connectors configured (segbot.yaml, section crm.connectors)")

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> list[SyncReport]:
        with _progress_bars("the sync", again="segbot crm sync again carries on") as progress:
            summaries = await sync_configured(
                sessionmaker=sessionmaker,
                config=config,
                names=[connector] if connector else None,
                full=full,
                on_synced=after_crm_sync(sessionmaker, config=segments),
                progress=progress,
            )
        return [await _with_reasons(sessionmaker, summary) for summary in summaries]

    _report(execute(on_database(settings, work)), map_in="the connector's attributes")


@app.command()
def status() -> None:
    """Customers, orders, last run and match rates per source."""
    from cli.tables import crm_status_table
    from crm_sync.reports import crm_status

    settings = settings_or_exit()

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            report = await crm_status(session)
        out.print(crm_status_table(report))

    execute(on_database(settings, work))


@app.command()
def rejected(
    run: Annotated[
        int | None,
        typer.Option(
            "--run", min=1, max=MAX_ID, help="Run id (default: the latest with rejections)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_ID, help="Rows to show.")] = 50,
) -> None:
    """Rows a run rejected, and values it left out of rows it stored (a phone or email
    that is not one): where they were, why, and what the row held."""
    from crm_sync.reports import rejected_rows

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
        table = FittedTable("kind", "row", "id", "left out", "reason", "record")
        for row in found.rows:
            record = json.dumps(row.raw, ensure_ascii=False, default=str)
            cells = (
                row.kind,
                str(row.row_number or ""),
                row.external_id or "",
                row.field or "the row",
                row.reason,
                record if len(record) <= 120 else record[:117] + "...",
            )
            table.add_row(*(Text(cell) for cell in cells))  # as read: "[red]" is no markup
        out.print(table)

    execute(on_database(settings, work))


SyncReport = tuple["SyncSummary", list[tuple[str, str, int]]]  # a run, its commonest reasons


async def _with_reasons(
    sessionmaker: async_sessionmaker[AsyncSession], summary: SyncSummary
) -> SyncReport:
    from crm_sync.reports import rejection_reasons

    if not summary.total("rejected"):
        return summary, []
    async with sessionmaker() as session:
        return summary, await rejection_reasons(session, run_id=summary.run_id, limit=REASONS)


@contextmanager
def _progress_bars(what: str, *, again: str) -> Iterator[Callable[[Batch], None]]:
    """A Rich progress bar per stream, fed by the worker after each stored batch; when
    `what` is interrupted (Ctrl-C), a line says what stays and what carries on."""
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

        try:
            yield advance
        except asyncio.CancelledError:
            err.print(
                f"stopped: {what} was interrupted; the rows it stored stay (segbot crm status "
                f"counts them), and {again}",
                markup=False,
            )
            raise


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _report(
    reports: list[SyncReport],
    *,
    map_in: str,
    unread_sheets: Mapping[Stream, Sequence[str]] | None = None,
) -> None:
    """The counts of each run, what each left out and why (`unread_sheets`: the sheets of
    each stream's workbook that were not read); exit 1 if a run failed, with its reason and
    what it kept."""
    table = FittedTable(
        "source", "stream", "read", "inserted", "updated", "unchanged", "rejected",
        "values left out", key=2,
    )  # fmt: skip
    for summary, _ in reports:
        for stream, counts in summary.streams.items():
            table.add_row(
                summary.connector,
                stream,
                *(str(getattr(counts, name)) for name in ("read", "inserted", "updated")),
                str(counts.unchanged),
                str(counts.rejected),
                str(counts.fields_dropped),
            )
    if table.row_count:
        out.print(table)
    for summary, reasons in reports:
        if summary.status == "succeeded" and summary.matching is not None:
            match = summary.matching
            out.print(
                f"{summary.connector}: run #{summary.run_id} succeeded; matching linked "
                f"{match.linked}, unlinked {match.unlinked}, {match.conflicts} conflict(s)"
            )
        for line in _notes(summary, reasons, map_in=map_in, unread_sheets=unread_sheets or {}):
            out.print(f"  {line}", markup=False)
    failed = [summary for summary, _ in reports if summary.status != "succeeded"]
    if failed:
        first = failed[0]
        kept = first.kept()
        fail(
            f"{first.connector}: run #{first.run_id} failed: {first.error}; "
            + (
                f"it kept {kept}; once the cause is fixed, run it again: rows already stored "
                "come back unchanged"
                if kept
                else "nothing was stored"
            ),
            EXIT_FAILURE,
        )


def _notes(
    summary: SyncSummary,
    reasons: list[tuple[str, str, int]],
    *,
    map_in: str,
    unread_sheets: Mapping[Stream, Sequence[str]],
) -> list[str]:
    """What a run did not take in as read, one line each."""
    lines = [
        f"{stream}: sheets not imported: {', '.join(sheets)} (only the first sheet of a "
        "workbook is read)"
        for stream, sheets in unread_sheets.items()
    ]
    for stream, counts in summary.streams.items():
        if counts.ignored_columns:
            columns = ", ".join(counts.ignored_columns)
            line = f"{stream}: columns not imported: {columns}"
            if stream == "customers":
                line += f" (to use them in rules as crm.NAME, list them under {map_in})"
            lines.append(line)
        if counts.refunds:
            lines.append(
                f"{stream}: {_plural(counts.refunds, 'refund')} (a negative amount or a refund "
                "status): stored, never counted as purchases"
            )
        if counts.stub_customers:
            lines.append(
                f"{stream}: {_plural(counts.stub_customers, 'customer')} created bare for "
                "orders that named them (create_customers)"
            )
    lines += [
        f"{kind}: {_plural(rows, 'row')} rejected: {reason}" for kind, reason, rows in reasons
    ]
    if summary.total("rejected") or summary.total("fields_dropped"):
        lines.append(f"see what was left out: segbot crm rejected --run {summary.run_id}")
    return lines
