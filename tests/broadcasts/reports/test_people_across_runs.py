"""Lift and A/B results count people, per run and across runs, on the two-run campaign
of tests/broadcasts/reports/two_runs.py (its table has every person and order)."""

import csv
import io
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.reports import AbResult, CampaignReport, Lift, campaign_report, results_csv
from broadcasts.reports.significance import Method
from tests.broadcasts.reports.scenario import T0
from tests.broadcasts.reports.two_runs import AFTER, TwoRuns, build_two_runs


def counts(lift: Lift) -> tuple[int, int, int, int]:
    return (lift.messaged, lift.messaged_converted, lift.holdout, lift.holdout_converted)


def people(result: AbResult) -> tuple[int | None, int, list[tuple[str, int, int]]]:
    sent = [(outcome.variant, outcome.sent, outcome.successes) for outcome in result.variants]
    return (result.run_id, result.mixed, sent)


async def report_of(session: AsyncSession) -> tuple[CampaignReport, TwoRuns]:
    built = await build_two_runs(session)
    return await campaign_report(session, campaign_id=built.campaign_id, now=AFTER), built


async def test_lift_counts_each_person_once_across_runs(session: AsyncSession) -> None:
    report, built = await report_of(session)
    total, first, second = report.lift
    assert [lift.run_id for lift in report.lift] == [None, *built.run_ids]
    # All runs: messaged m, n, x (held out in run 1, messaged in run 2), y, z; bought: all
    # but n. The holdout is h alone, whose one order is one conversion (1 of 1, not 2 of 2);
    # m's two messages and one order are one converted person. Per delivery this was 6 of
    # 8 against 3 of 3.
    assert counts(total) == (5, 4, 1, 1)
    # Run 1: messaged m, n, y, z (m, y, z bought in the window); held out h and x (both
    # bought within 7 days of the run's start).
    assert counts(first) == (4, 3, 2, 2)
    # Run 2: messaged m, n, x, y (m, x, y bought); held out h.
    assert counts(second) == (4, 3, 1, 1)
    assert total.scope == "all runs"
    assert first.scope == f"run {first.run_id}"
    for lift in report.lift:
        assert lift.significance is not None
        assert lift.significance.test is Method.FISHER  # expected counts below 5


async def test_ab_counts_people_and_leaves_out_who_got_both(session: AsyncSession) -> None:
    report, built = await report_of(session)
    first, second = built.run_ids
    assert [people(result) for result in report.ab] == [
        # All runs: a went to m and x (both bought, orders attributed to run 2's message),
        # b to n and z (z bought); y got a, then b: left out.
        (None, 1, [("a", 2, 2), ("b", 2, 1)]),
        # Run 1: a to m and y (their orders went to run 2's messages), b to n and z.
        (first, 0, [("b", 2, 1), ("a", 2, 0)]),
        # Run 2: a to m and x, b to n and y (y's order is b's).
        (second, 0, [("a", 2, 2), ("b", 2, 1)]),
    ]
    total = report.ab[0]
    assert total.winner is None
    assert "  1 sent more than one variant: left out" in total.lines()
    # The funnel still counts messages: 8 sent, 4 attributed orders.
    assert (report.totals.sent, report.totals.conversions, report.totals.converted) == (8, 4, 4)


async def test_the_results_csv_has_every_comparison_with_its_test(session: AsyncSession) -> None:
    report, built = await report_of(session)
    lines = list(csv.DictReader(io.StringIO(results_csv(report))))
    runs = ["all", *map(str, built.run_ids)]
    assert [(line["analysis"], line["run"]) for line in lines] == [
        *(("lift", run) for run in runs),
        *(("ab", run) for run in runs),
    ]
    lift = lines[0]
    assert (lift["group"], lift["people"], lift["succeeded"], lift["rate"]) == (
        "messaged", "5", "4", "0.8000",
    )  # fmt: skip
    assert (lift["versus"], lift["versus_people"], lift["versus_succeeded"]) == (
        "holdout",
        "1",
        "1",
    )
    assert (lift["test"], lift["significant"]) == ("Fisher's exact test", "no")
    assert lift["difference"] == "-0.2000"
    ab = lines[3]
    assert (ab["group"], ab["people"], ab["succeeded"], ab["versus"]) == ("a", "2", "2", "b")
    assert (ab["mixed_left_out"], ab["winner"], ab["holm_p_value"]) == ("1", "", "")
    # 3 of 4 bought; a has 2: P = C(2,2) C(2,1) / C(4,3) = 0.5, the only other split too.
    assert (ab["test"], ab["p_value"]) == ("Fisher's exact test", "1")


async def test_before_any_order_everyone_counts_and_nobody_converted(
    session: AsyncSession,
) -> None:
    built = await build_two_runs(session)
    report = await campaign_report(
        session, campaign_id=built.campaign_id, now=T0 + timedelta(hours=1)
    )
    assert [counts(lift) for lift in report.lift] == [(5, 0, 1, 0), (4, 0, 2, 0), (4, 0, 1, 0)]
    assert people(report.ab[0]) == (None, 1, [("a", 2, 0), ("b", 2, 0)])
    assert all(result.winner is None for result in report.ab)
