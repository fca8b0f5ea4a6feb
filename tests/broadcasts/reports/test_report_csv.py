"""The campaign report's CSV is safe in a spreadsheet: a target, audience or variant name
that would start a formula is text, and the counts and money stay numbers."""

import csv
import io
from datetime import UTC, datetime, timedelta

from broadcasts.models import Goal
from broadcasts.reports import CampaignReport, FunnelCounts, report_csv
from broadcasts.reports.campaign import FunnelRow

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_names_that_would_start_a_formula_are_text() -> None:
    counts = FunnelCounts(targeted=4, sent=4, clicked=1, clicks=2, conversions=1, revenue=49.9)
    row = FunnelRow(
        run_id=1, run_started_at=T0, target="-2-3", audience="@SUM(A1)", variant="+a",
        counts=counts,
    )  # fmt: skip
    report = CampaignReport(
        campaign_id=1, campaign="sale", goal=Goal.CLICKS, generated_at=T0,
        window=timedelta(days=7), window_open=False, runs=1, rows=(row,), lift=(), ab=(),
        currencies=("EUR",),
    )  # fmt: skip
    header, line, total = csv.reader(io.StringIO(report_csv(report)))
    named = dict(zip(header, line, strict=True))
    assert (named["target"], named["audience"], named["variant"]) == ("'-2-3", "'@SUM(A1)", "'+a")
    assert (named["sent"], named["revenue"], named["ctr"]) == ("4", "49.90", "0.2500")
    assert total[0] == "total"
