"""A/B results: per target with more than one variant, the campaign goal's rate per
variant, counted in people, and which variant (if any) wins.

The metric follows the campaign's goal: people who clicked (`clicks`), who bought, with
an attributed order (`conversions`), or who replied (`replies`), over the people sent the
variant. Within one run a person gets one message; across runs each person counts once
(broadcasts.reports.people says how).

Every pair of variants is tested (broadcasts.reports.significance: the two-proportion
z-test, or Fisher's exact test when an expected count is below 5). With more than two
variants the pairs' p-values are Holm-adjusted, so the chance of any false "better"
stays at `alpha`. The best variant wins when its (adjusted) p against every other
variant sent to someone is below `alpha` (0.05).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from broadcasts.models import Goal
from broadcasts.reports.people import scope_name
from broadcasts.reports.significance import (
    ALPHA,
    HOLM,
    Method,
    Significance,
    compare_rates,
    holm,
)
from broadcasts.reports.stats import rate

METRIC_OF_GOAL = {Goal.CLICKS: "clicked", Goal.CONVERSIONS: "converted", Goal.REPLIES: "replied"}


@dataclass(frozen=True, slots=True)
class VariantOutcome:
    variant: str
    sent: int  # people sent this variant
    successes: int  # of them, people who did what the goal asks

    @property
    def rate(self) -> float | None:
        return rate(self.successes, self.sent)


@dataclass(frozen=True, slots=True)
class PairComparison:
    better: str  # the variant with the higher rate (the earlier one on a tie)
    worse: str
    significance: Significance | None  # None when either was sent to nobody
    adjusted_p: float | None  # Holm over every tested pair; p itself with one pair

    def significant_at(self, alpha: float) -> bool | None:
        """Whether the adjusted p is below `alpha`; None when the pair was not tested."""
        return None if self.adjusted_p is None else self.adjusted_p < alpha


@dataclass(frozen=True, slots=True)
class AbResult:
    target: str
    run_id: int | None  # None: every run together, each person once
    metric: str  # clicked, converted or replied (over people sent)
    variants: tuple[VariantOutcome, ...]  # best rate first
    pairs: tuple[PairComparison, ...]  # the best against every other first, then the rest
    alpha: float
    mixed: int = 0  # people sent more than one of these variants: left out

    @property
    def scope(self) -> str:
        return scope_name(self.run_id)

    @property
    def tested_pairs(self) -> int:
        return sum(pair.significance is not None for pair in self.pairs)

    @property
    def correction(self) -> str | None:
        """How several comparisons are kept honest; None with a single one."""
        if self.tested_pairs < 2:
            return None
        return f"{HOLM} over {self.tested_pairs} pairwise comparisons"

    @property
    def methods(self) -> tuple[Method, ...]:
        """The tests used, each once, in the order of the pairs."""
        used = (pair.significance.test for pair in self.pairs if pair.significance)
        return tuple(dict.fromkeys(used))

    @property
    def winner(self) -> str | None:
        """The best variant's name when it beats every other one sent, significantly."""
        best = self.variants[0].variant
        against = [pair for pair in self.pairs if pair.better == best and pair.significance]
        if not against or not all(pair.significant_at(self.alpha) for pair in against):
            return None
        return best

    @property
    def verdict(self) -> str:
        """`winner: b`, or why there is none."""
        if self.winner is not None:
            return f"winner: {self.winner}"
        return f"no winner yet (no variant is significantly better at {self.alpha})"

    def lines(self) -> list[str]:
        """The result as text: the rates in people, then (indented) each pair's test,
        the people left out, the verdict and the correction for several pairs."""
        rates = ", ".join(
            f"{v.variant} {v.successes}/{v.sent}" + ("" if v.rate is None else f" ({v.rate:.1%})")
            for v in self.variants
        )
        lines = [f"A/B {self.target} ({self.scope}), people who {self.metric}: {rates}"]
        for pair in self.pairs:
            versus = f"{pair.better} vs {pair.worse}"
            if pair.significance is None:
                lines.append(f"  {versus}: not tested (one was sent to nobody)")
            else:
                adjusted = pair.adjusted_p if self.correction else None
                lines.append(f"  {versus}: {pair.significance.describe(adjusted=adjusted)}")
        if self.mixed:
            lines.append(f"  {self.mixed} sent more than one variant: left out")
        correction = f"; {self.correction}" if self.correction else ""
        lines.append(f"  {self.verdict}{correction}")
        return lines


def compare_variants(
    target: str,
    metric: str,
    outcomes: Sequence[VariantOutcome],
    *,
    run_id: int | None = None,
    mixed: int = 0,
    alpha: float = ALPHA,
) -> AbResult:
    """The A/B result of one target's variants (at least two), per run or in total."""
    if len(outcomes) < 2:
        raise ValueError(f"target {target!r}: an A/B result needs at least two variants")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    ranked = sorted(outcomes, key=lambda outcome: -(outcome.rate or 0.0))
    tests = [
        compare_rates(a.successes, a.sent, b.successes, b.sent) if a.sent and b.sent else None
        for a, b in combinations(ranked, 2)
    ]
    adjusted = iter(holm([test.p_value for test in tests if test is not None]))
    pairs = tuple(
        PairComparison(a.variant, b.variant, test, None if test is None else next(adjusted))
        for (a, b), test in zip(combinations(ranked, 2), tests, strict=True)
    )
    return AbResult(target, run_id, metric, tuple(ranked), pairs, alpha, mixed)
