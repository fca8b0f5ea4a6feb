"""A campaign report as two CSV files: the funnel (`report_csv`, one line per run x
target x variant, then a total line, counted in messages) and the results
(`results_csv`, one line per comparison: lift against the holdout and each pair of A/B
variants, counted in people, with the test used). Target and variant names are the
marketer's text, safe to open in a spreadsheet."""

import io
from datetime import datetime
from decimal import Decimal

from broadcasts.reports.ab import AbResult, PairComparison, VariantOutcome
from broadcasts.reports.campaign import CampaignReport, FunnelCounts
from broadcasts.reports.funnel import COUNT_COLUMNS
from broadcasts.reports.lift import Lift
from core.safe_csv import Cell, SafeCsvWriter

COUNT_FIELDS = (*COUNT_COLUMNS, "conversions", "converted", "revenue")
RATE_FIELDS = ("read_rate", "ctr", "conversion_rate", "churn_rate", "revenue_per_sent")
KEY_FIELDS = ("run_id", "run_started_at", "target", "audience", "variant")
RESULT_FIELDS = (
    "analysis", "run", "target", "metric",
    "group", "people", "succeeded", "rate",
    "versus", "versus_people", "versus_succeeded", "versus_rate",
    "difference", "interval_low", "interval_high",
    "test", "p_value", "holm_p_value", "significant", "winner", "mixed_left_out",
)  # fmt: skip


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


def results_csv(report: CampaignReport) -> str:
    """Columns RESULT_FIELDS. `run` is `all` for every run together (each person once);
    `group` is the messaged (lift) or the better variant (A/B), `versus` the holdout or
    the other variant; `difference` is group rate minus versus rate, with Newcombe's
    interval for lift; `holm_p_value` is set when a target compared several pairs."""
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    writer.writerow(RESULT_FIELDS)
    writer.writerows(_lift_line(lift) for lift in report.lift)
    writer.writerows(line for result in report.ab for line in _ab_lines(result))
    return buffer.getvalue()


def _lift_line(lift: Lift) -> list[Cell]:
    interval, significance = lift.difference, lift.significance
    return [
        "lift", _run(lift.run_id), lift.target, "converted",
        "messaged", lift.messaged, lift.messaged_converted, _fraction(lift.messaged_rate),
        "holdout", lift.holdout, lift.holdout_converted, _fraction(lift.holdout_rate),
        _fraction(lift.absolute_lift),
        None if interval is None else _fraction(interval.low),
        None if interval is None else _fraction(interval.high),
        None if significance is None else significance.test.value,
        None if significance is None else _p(significance.p_value),
        None,
        None if lift.significant is None else _yes(lift.significant),
        None, None,
    ]  # fmt: skip


def _ab_lines(result: AbResult) -> list[list[Cell]]:
    variants = {outcome.variant: outcome for outcome in result.variants}
    return [
        _pair_line(result, pair, variants[pair.better], variants[pair.worse])
        for pair in result.pairs
    ]


def _pair_line(
    result: AbResult, pair: PairComparison, better: VariantOutcome, worse: VariantOutcome
) -> list[Cell]:
    test, significant = pair.significance, pair.significant_at(result.alpha)
    difference = None if better.rate is None or worse.rate is None else better.rate - worse.rate
    return [
        "ab", _run(result.run_id), result.target, result.metric,
        *_group(better), *_group(worse),
        _fraction(difference), None, None,
        None if test is None else test.test.value,
        None if test is None else _p(test.p_value),
        _p(pair.adjusted_p) if result.correction else None,
        None if significant is None else _yes(significant),
        result.winner or "", result.mixed,
    ]  # fmt: skip


def _group(outcome: VariantOutcome) -> list[Cell]:
    return [outcome.variant, outcome.sent, outcome.successes, _fraction(outcome.rate)]


def _run(run_id: int | None) -> Cell:
    return "all" if run_id is None else run_id


def _fraction(value: float | None) -> Cell:
    return None if value is None else Decimal(f"{value:.4f}")


def _p(value: float | None) -> Cell:
    """Four significant digits: small p-values keep their size (1.234E-7)."""
    return None if value is None else Decimal(f"{value:.4g}")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
