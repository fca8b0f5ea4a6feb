"""Is a difference between two rates real? The test a report uses, and what it does when
it asks several questions at once.

The promise: a report names a winner (or calls a lift significant) between two equal
rates at most about `alpha` of the time (0.05), small samples included.

- Two rates, a 2x2 table of people (converted or not, per group). When every expected
  cell count is at least 5 the pooled two-proportion z-test (two-sided) is accurate and
  is used. When any expected count is below 5 its normal approximation is not: at 4/6
  vs 0/6 it gives p = 0.014, and two equal variants of 6 sends each named a winner 6.4 %
  of the time. There the report uses **Fisher's exact test** (two-sided: the probability,
  given both groups' sizes and the total converted, of every table no more likely than
  the one seen). At 4/6 vs 0/6 it gives p = 0.061.
- Why Fisher and not Barnard: both are exact, but Barnard's unconditional test gives
  p = 0.020 at 4/6 vs 0/6 and would still name that winner from twelve people; Fisher's
  is the conservative one, which is what a report that picks winners from a handful of
  sends needs. It is also a closed-form sum, quick at any group size, where Barnard's
  maximises over a nuisance parameter numerically (slow for thousands against a few).
- scipy computes Fisher's test; it is imported on the first small sample, not with the
  package (it takes a second to load, and the bot imports reports at start).
- More than two variants: every pair is tested and the p-values are adjusted with
  Holm's step-down method, which keeps the family-wise error rate (any false "better")
  at `alpha` whatever the number of pairs, and is never less powerful than Bonferroni.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from broadcasts.reports.stats import two_proportion_z_test

ALPHA = 0.05
MIN_EXPECTED = 5  # below this expected count in any cell, the exact test decides
HOLM = "Holm-adjusted"


class Method(enum.StrEnum):
    """The test behind a p-value, as reports name it."""

    Z = "two-proportion z-test"
    FISHER = "Fisher's exact test"


@dataclass(frozen=True, slots=True)
class Significance:
    test: Method
    p_value: float  # two-sided

    def describe(self, *, adjusted: float | None = None) -> str:
        """`p = 0.061, Fisher's exact test`; with `adjusted`, the Holm-adjusted p too."""
        holm = "" if adjusted is None else f", {HOLM} {p_text(adjusted)}"
        return f"{p_text(self.p_value)}{holm}, {self.test}"


def p_text(p_value: float, *, bare: bool = False) -> str:
    """A p-value to read: `p = 0.061`, `p < 0.001` below that; `bare`: `0.061`, `<0.001`."""
    if p_value < 0.001:
        return "<0.001" if bare else "p < 0.001"
    return f"{p_value:.3f}" if bare else f"p = {p_value:.3f}"


def smallest_expected_count(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> float:
    """The smallest expected cell count of the 2x2 table when both rates are equal."""
    total = trials_a + trials_b
    successes = successes_a + successes_b
    return min(trials_a, trials_b) * min(successes, total - successes) / total


def compare_rates(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> Significance:
    """H0: both groups have the same rate. The z-test when every expected count is at
    least 5, else Fisher's exact test; two-sided either way."""
    test = two_proportion_z_test(successes_a, trials_a, successes_b, trials_b)
    if smallest_expected_count(successes_a, trials_a, successes_b, trials_b) >= MIN_EXPECTED:
        return Significance(Method.Z, test.p_value)
    from scipy.stats import fisher_exact  # takes a second to load: only when needed

    table = [[successes_a, trials_a - successes_a], [successes_b, trials_b - successes_b]]
    exact = fisher_exact(table, alternative="two-sided")
    return Significance(Method.FISHER, min(1.0, float(exact.pvalue)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p is
    multiplied by (m - i), kept monotone and capped at 1."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
