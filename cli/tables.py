"""Rich tables of what segbot knows, shared by the command line and `segbot demo`."""

from collections.abc import Sequence

import pandas as pd
from rich.table import Table

from crm_sync.reports import CrmStatus
from segments.ladder import StageCount
from segments.membership import MembershipRefresh


def crm_status_table(report: CrmStatus) -> Table:
    """Per CRM source: customers, orders, how many are matched and how, the last run."""
    table = Table("source", "customers", "orders", "matched", "by link/phone/email")
    table.add_column("conflicts")
    table.add_column("last run")
    for source in report.sources:
        run = source.last_run
        by = source.linked_by
        table.add_row(
            source.source,
            str(source.customers),
            str(source.orders),
            f"{source.linked} ({source.match_rate:.1%})",
            f"{by.get('deep_link', 0)}/{by.get('phone', 0)}/{by.get('email', 0)}",
            str(source.conflicts),
            "never" if run is None else f"#{run.id} {run.status} {run.started_at:%Y-%m-%d %H:%M}",
        )
    table.caption = (
        f"subscribers matched to a customer: {report.matched_subscribers} of "
        f"{report.subscribers} ({report.subscriber_match_rate:.1%})"
    )
    return table


def rfm_summary_table(scores: pd.DataFrame, names: Sequence[str]) -> Table:
    """Customers per RFM segment (every segment of the map, empty ones too) with means."""
    summary = scores.groupby("segment").agg(
        customers=("customer_id", "size"),
        recency_days=("recency_days", "mean"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
    )
    table = Table("segment", "customers", "share", "avg recency (days)", "avg orders", "avg spend")
    rows: dict[str, dict[str, float]] = {
        str(segment): {str(k): float(v) for k, v in values.items()}
        for segment, values in summary.to_dict("index").items()
    }
    for name in names:
        if name not in rows:
            table.add_row(name, "0", "0%", "-", "-", "-")
            continue
        row = rows[name]
        table.add_row(
            name,
            f"{row['customers']:.0f}",
            f"{row['customers'] / len(scores):.0%}",
            f"{row['recency_days']:.0f}",
            f"{row['frequency']:.1f}",
            f"{row['monetary']:.2f}",
        )
    return table


def ladder_table(counts: Sequence[StageCount]) -> Table:
    table = Table("stage", "", "subscribers", "buyers")
    for number, count in enumerate(counts):
        table.add_row(str(number), count.stage, str(count.subscribers), str(count.buyers))
    return table


def membership_table(outcomes: Sequence[MembershipRefresh]) -> Table:
    table = Table("segment", "members", "entered", "left", "problem")
    for outcome in outcomes:
        table.add_row(
            outcome.segment,
            str(outcome.size),
            str(outcome.entered),
            str(outcome.left),
            outcome.error or "",
        )
    return table
