"""The statistics against published worked examples and hand computation."""

import pytest

from broadcasts.models import Goal
from broadcasts.reports.ab import METRIC_OF_GOAL, VariantOutcome, compare_variants
from broadcasts.reports.config import load_reports_config
from broadcasts.reports.stats import difference_interval, two_proportion_z_test, wilson_interval
from core.errors import ConfigError


def test_wilson_interval_matches_newcombes_table() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, table II: 81/263 -> 0.2553 .. 0.3662.
    interval = wilson_interval(81, 263)
    assert (interval.low, interval.high) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(0, 0) == wilson_interval(0, 0, confidence=0.9)


def test_newcombes_hybrid_interval_matches_his_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, method 10: 56/70 - 48/80 = 0.2000,
    # 95 % interval 0.0524 .. 0.3339.
    interval = difference_interval(56, 70, 48, 80)
    assert (interval.low, interval.high) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_two_proportion_z_test_on_a_known_example() -> None:
    # 200/1000 vs 250/1000: pooled 0.225, se = sqrt(0.225 * 0.775 * 0.002) = 0.018675,
    # z = -0.05 / 0.018675 = -2.6774, two-sided p = 0.00742.
    test = two_proportion_z_test(200, 1000, 250, 1000)
    assert test.z == pytest.approx(-2.6774, abs=1e-4)
    assert test.p_value == pytest.approx(0.00742, abs=1e-5)
    assert two_proportion_z_test(0, 10, 0, 10).p_value == 1.0
    with pytest.raises(ValueError, match="successes <= trials"):
        two_proportion_z_test(11, 10, 0, 10)


def test_the_ab_winner_needs_a_significant_lead() -> None:
    metric = METRIC_OF_GOAL[Goal.CLICKS]
    clear = compare_variants(
        "all", metric, [VariantOutcome("a", 1000, 200), VariantOutcome("b", 1000, 250)]
    )
    assert clear.winner == "b"
    (pair,) = clear.pairs
    assert pair.significance is not None
    assert pair.significance.p_value == pytest.approx(0.00742, abs=1e-5)
    assert pair.adjusted_p == pair.significance.p_value  # one pair: nothing to adjust
    close = compare_variants(
        "all", metric, [VariantOutcome("a", 100, 20), VariantOutcome("b", 100, 25)]
    )
    assert close.winner is None
    with pytest.raises(ValueError, match="at least two variants"):
        compare_variants("all", metric, [VariantOutcome("a", 10, 1)])


def test_the_reports_section() -> None:
    assert load_reports_config({}).attribution_window.days == 7
    assert load_reports_config({"reports": {"attribution_days": 3}}).attribution_days == 3
    with pytest.raises(ConfigError, match=r"reports\.attribution_days"):
        load_reports_config({"reports": {"attribution_days": 0}})
    with pytest.raises(ConfigError, match=r"reports\.window"):
        load_reports_config({"reports": {"window": 3}})
