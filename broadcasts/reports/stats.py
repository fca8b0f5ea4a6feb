"""The statistics reports rest on: proportions, their intervals and a significance test.

- `wilson_interval`: the Wilson score interval for one proportion (good for small counts
  and rates near 0, where the textbook Wald interval fails).
- `difference_interval`: Newcombe's hybrid score interval (his method 10, 1998) for the
  difference of two independent proportions, built from the two Wilson intervals. It is
  what the holdout lift reports.
- `two_proportion_z_test`: the pooled two-proportion z-test, two-sided. Lift and A/B
  results use it when every expected count is at least 5, and Fisher's exact test below
  that (broadcasts.reports.significance decides).
"""

import math
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class ZTest:
    z: float
    p_value: float  # two-sided


def _check(successes: int, trials: int) -> None:
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def rate(successes: int, trials: int) -> float | None:
    """successes / trials; None when there were no trials."""
    _check(successes, trials)
    return successes / trials if trials else None


def wilson_interval(successes: int, trials: int, *, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson score interval of successes / trials; (0, 1) for no trials at all."""
    _check(successes, trials)
    if trials == 0:
        return Interval(0.0, 1.0)
    z = _z(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def difference_interval(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    *,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Newcombe's hybrid score interval for p_a - p_b (two independent samples)."""
    if trials_a == 0 or trials_b == 0:
        raise ValueError("both groups need at least one member")
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    a = wilson_interval(successes_a, trials_a, confidence=confidence)
    b = wilson_interval(successes_b, trials_b, confidence=confidence)
    below = math.sqrt((p_a - a.low) ** 2 + (b.high - p_b) ** 2)
    above = math.sqrt((a.high - p_a) ** 2 + (p_b - b.low) ** 2)
    return Interval(p_a - p_b - below, p_a - p_b + above)


def two_proportion_z_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> ZTest:
    """H0: both groups have the same rate. Pooled standard error; p-value two-sided.

    A z of 0 and p of 1 when the pooled rate is 0 or 1 (no variation to test)."""
    _check(successes_a, trials_a)
    _check(successes_b, trials_b)
    if trials_a == 0 or trials_b == 0:
        raise ValueError("both groups need at least one member")
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance == 0:
        return ZTest(z=0.0, p_value=1.0)
    z = (successes_a / trials_a - successes_b / trials_b) / math.sqrt(variance)
    return ZTest(z=z, p_value=math.erfc(abs(z) / math.sqrt(2)))
