"""The campaign report on the known scenario (tests/broadcasts/reports/scenario.py):
every funnel count, conversion, revenue figure and the lift, computed by hand."""

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.campaigns import UnknownCampaignError
from broadcasts.models import Goal
from broadcasts.reports import FunnelCounts, campaign_report, funnel_png, report_csv
from broadcasts.reports.significance import Method
from broadcasts.reports.stats import difference_interval
from tests.broadcasts.reports.scenario import SENT_AT, T0, build

AFTER = T0 + timedelta(days=30)  # every window closed

SPANISH_A = FunnelCounts(
    targeted=5, excluded={"holdout": 1}, sent=3, failed=1, read=2, clicked=2, clicks=3,
    replied=1, churned=1, conversions=1, converted=1, revenue=100.0,
)  # fmt: skip
SPANISH_B = FunnelCounts(
    targeted=5, excluded={"holdout": 1}, sent=2, blocked=1, unknown=1, read=2,
    conversions=2, converted=2, revenue=140.0,
)  # fmt: skip
DEFAULT = FunnelCounts(targeted=2, excluded={"unsubscribed": 1}, sent=1, read=1, replied=1)


async def test_the_funnel_per_target_and_variant(session: AsyncSession) -> None:
    scenario = await build(session)
    report = await campaign_report(session, campaign_id=scenario.campaign_id, now=AFTER)
    assert (report.campaign, report.goal, report.runs) == ("spring", Goal.CONVERSIONS, 1)
    assert report.window == timedelta(days=7)
    assert not report.window_open
    keys = [(row.target, row.audience, row.variant) for row in report.rows]
    assert keys == [
        ("spanish", "rule: lang = es", "a"),
        ("spanish", "rule: lang = es", "b"),
        ("default", "everyone else", "a"),
    ]
    assert [row.counts for row in report.rows] == [SPANISH_A, SPANISH_B, DEFAULT]
    assert report.rows[0].run_started_at == T0
    assert report.currencies == ("EUR",)


async def test_totals_and_rates(session: AsyncSession) -> None:
    scenario = await build(session)
    report = await campaign_report(session, campaign_id=scenario.campaign_id, now=AFTER)
    totals = report.totals
    assert totals == SPANISH_A + SPANISH_B + DEFAULT
    assert (totals.targeted, totals.sent, totals.excluded_total) == (12, 6, 3)
    assert totals.excluded == {"holdout": 2, "unsubscribed": 1}
    assert (totals.conversions, totals.revenue) == (3, 240.0)
    assert totals.revenue_per_sent == pytest.approx(40.0)
    assert totals.ctr == pytest.approx(2 / 6)
    assert totals.read_rate == pytest.approx(5 / 6)
    assert totals.churn_rate == pytest.approx(1 / 6)


async def test_the_holdout_gives_lift_with_newcombes_interval(session: AsyncSession) -> None:
    scenario = await build(session)
    report = await campaign_report(session, campaign_id=scenario.campaign_id, now=AFTER)
    (lift,) = report.lift  # only the spanish target has a holdout
    assert lift.target == "spanish"
    # Messaged s1, s2, s3, s5, s6: s1, s5 (whatever its UTM) and s6 bought within 7 days.
    # Held out s9, s10: s9 bought.
    assert (lift.messaged, lift.messaged_converted) == (5, 3)
    assert (lift.holdout, lift.holdout_converted) == (2, 1)
    assert lift.absolute_lift == pytest.approx(0.1)
    assert lift.relative_lift == pytest.approx(0.2)
    assert lift.difference == difference_interval(3, 5, 1, 2)
    # One run: its people are the total. Fisher's test (expected counts below 5): 4 of 7
    # bought; every split of them is at most as likely as 3 + 1, so p = 1.
    assert lift.run_id is None
    assert lift.significance is not None
    assert lift.significance.test is Method.FISHER
    assert lift.significance.p_value == pytest.approx(1.0)
    assert lift.significant is False


async def test_a_shorter_window_and_an_earlier_now_count_fewer_orders(
    session: AsyncSession,
) -> None:
    scenario = await build(session)
    short = await campaign_report(
        session, campaign_id=scenario.campaign_id, now=AFTER, window=timedelta(days=4)
    )
    # s6's order at +5 d falls out; s1's (+2 d) and s5's (+3 d) stay.
    assert (short.totals.conversions, short.totals.revenue) == (2, 160.0)
    early = await campaign_report(
        session, campaign_id=scenario.campaign_id, now=SENT_AT + timedelta(days=2, hours=1)
    )
    assert (early.totals.conversions, early.totals.revenue) == (1, 100.0)
    assert early.window_open


async def test_the_ab_result_of_the_spanish_target(session: AsyncSession) -> None:
    scenario = await build(session)
    report = await campaign_report(session, campaign_id=scenario.campaign_id, now=AFTER)
    (result,) = report.ab
    assert (result.target, result.metric, result.run_id) == ("spanish", "converted", None)
    assert [(v.variant, v.sent, v.successes) for v in result.variants] == [
        ("b", 2, 2),
        ("a", 3, 1),
    ]
    # Fisher (expected counts below 5): 3 of 5 people bought; P(b has k) = C(2,k) C(3,3-k)
    # / C(5,3): k = 2 -> 0.3 (seen), 1 -> 0.6, 0 -> 0.1; p = 0.3 + 0.1 = 0.4.
    (pair,) = result.pairs
    assert pair.significance is not None
    assert pair.significance.test is Method.FISHER
    assert pair.significance.p_value == pytest.approx(0.4)
    assert result.winner is None
    assert result.mixed == 0


async def test_csv_and_png(session: AsyncSession) -> None:
    scenario = await build(session)
    report = await campaign_report(session, campaign_id=scenario.campaign_id, now=AFTER)
    lines = report_csv(report).splitlines()
    assert lines[0].split(",")[:8] == [
        "run_id", "run_started_at", "target", "audience", "variant", "targeted", "excluded",
        "excluded_holdout",
    ]  # fmt: skip
    assert len(lines) == 5  # header, three rows, total
    total = dict(zip(lines[0].split(","), lines[-1].split(","), strict=True))
    assert total["run_id"] == "total"
    assert (total["sent"], total["conversions"], total["revenue"]) == ("6", "3", "240.00")
    assert total["excluded_unsubscribed"] == "1"
    assert total["revenue_per_sent"] == "40.0000"
    assert funnel_png(report).startswith(b"\x89PNG\r\n\x1a\n")


async def test_the_later_campaign_gets_its_last_touch(session: AsyncSession) -> None:
    scenario = await build(session)
    report = await campaign_report(session, campaign_id=scenario.later_id, now=AFTER)
    # s1's order of 25 at +4 d came a day after `later` messaged them. s6's order named
    # spring in its UTM, so it is not later's although later's message was the last touch.
    assert (report.totals.sent, report.totals.conversions, report.totals.revenue) == (2, 1, 25.0)
    assert report.lift == ()
    assert report.ab == ()


async def test_a_campaign_without_runs_and_bad_arguments(session: AsyncSession) -> None:
    scenario = await build(session)
    with pytest.raises(UnknownCampaignError):
        await campaign_report(session, campaign_id=scenario.campaign_id + 100, now=AFTER)
    with pytest.raises(ValueError, match="positive"):
        await campaign_report(
            session, campaign_id=scenario.campaign_id, now=AFTER, window=timedelta(0)
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        await campaign_report(
            session, campaign_id=scenario.campaign_id, now=AFTER.replace(tzinfo=None)
        )
