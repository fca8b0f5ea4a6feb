"""A/B results: per target with more than one variant, the campaign goal's rate per
variant and whether the best variant beats the runner-up.

The metric follows the campaign's goal: recipients who clicked (`clicks`), who bought
(`conversions`) or who replied (`replies`), over messages sent. The test is the pooled
two-proportion z-test, two-sided, of the best variant against the second best
(broadcasts.reports.stats); the best is the winner when p < `alpha` (default 0.05).
"""

from dataclasses import dataclass

from broadcasts.models import Goal
from broadcasts.reports.stats import rate, two_proportion_z_test

ALPHA = 0.05
METRIC_OF_GOAL = {Goal.CLICKS: "clicked", Goal.CONVERSIONS: "converted", Goal.REPLIES: "replied"}
TEST_NAME = "two-proportion z-test (pooled, two-sided), best variant vs runner-up"


@dataclass(frozen=True, slots=True)
class VariantOutcome:
    variant: str
    sent: int
    successes: int  # recipients who did what the goal asks

    @property
    def rate(self) -> float | None:
        return rate(self.successes, self.sent)


@dataclass(frozen=True, slots=True)
class AbResult:
    target: str
    metric: str  # clicked, converted or replied (over sent)
    variants: tuple[VariantOutcome, ...]  # best rate first
    z: float | None  # best vs runner-up; None when either was sent nothing
    p_value: float | None
    alpha: float
    test: str = TEST_NAME

    @property
    def winner(self) -> str | None:
        """The best variant's name when its lead is significant at `alpha`."""
        if self.p_value is None or self.p_value >= self.alpha:
            return None
        return self.variants[0].variant


def compare_variants(
    target: str, metric: str, outcomes: list[VariantOutcome], *, alpha: float = ALPHA
) -> AbResult:
    """The A/B result of one target's variants (at least two)."""
    if len(outcomes) < 2:
        raise ValueError(f"target {target!r}: an A/B result needs at least two variants")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    ranked = sorted(outcomes, key=lambda outcome: -(outcome.rate or 0.0))
    best, runner_up = ranked[0], ranked[1]
    if best.sent == 0 or runner_up.sent == 0:
        return AbResult(target, metric, tuple(ranked), None, None, alpha)
    test = two_proportion_z_test(best.successes, best.sent, runner_up.successes, runner_up.sent)
    return AbResult(target, metric, tuple(ranked), test.z, test.p_value, alpha)
