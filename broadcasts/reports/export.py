"""A campaign report as CSV: one line per run x target x variant, then a total line.
Target and variant names are the marketer's text, safe to open in a spreadsheet."""

import io
from datetime import datetime
from decimal import Decimal

from broadcasts.reports.campaign import CampaignReport, FunnelCounts
from broadcasts.reports.funnel import COUNT_COLUMNS
from core.safe_csv import Cell, SafeCsvWriter

COUNT_FIELDS = (*COUNT_COLUMNS, "conversions", "converted", "revenue")
RATE_FIELDS = ("read_rate", "ctr", "conversion_rate", "churn_rate", "revenue_per_sent")
KEY_FIELDS = ("run_id", "run_started_at", "target", "audience", "variant")


def report_csv(report: CampaignReport) -> str:
    """Columns: the row's key, every count (`excluded_<reason>` per reason), the rates
    (fractions, 4 decimals; empty when nothing was sent)."""
    reasons = sorted({reason for row in report.rows for reason in row.counts.excluded})
    header = [
        *KEY_FIELDS,
        *COUNT_FIELDS[:2],
        *(f"excluded_{reason}" for reason in reasons),
        *COUNT_FIELDS[2:],
        *RATE_FIELDS,
    ]
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    writer.writerow(header)
    for row in report.rows:
        key = (row.run_id, _timestamp(row.run_started_at), row.target, row.audience, row.variant)
        writer.writerow([*key, *_values(row.counts, reasons)])
    writer.writerow(["total", "", "", "", "", *_values(report.totals, reasons)])
    return buffer.getvalue()


def _values(counts: FunnelCounts, reasons: list[str]) -> list[Cell]:
    numbers: list[Cell] = [counts.targeted, counts.excluded_total]
    numbers += [counts.excluded.get(reason, 0) for reason in reasons]
    numbers += [getattr(counts, name) for name in COUNT_FIELDS[2:-1]]
    numbers.append(Decimal(f"{counts.revenue:.2f}"))
    rates = [getattr(counts, name) for name in RATE_FIELDS]
    return numbers + [None if value is None else Decimal(f"{value:.4f}") for value in rates]


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
