"""A campaign's A/B results counted in people: per target with several variants, all
runs together (each person once; people sent two variants left out and counted as
mixed) and, when the campaign ran more than once, each run on its own.

Who counts is broadcasts.reports.people's rule; the test and the winner are
broadcasts.reports.ab's. This module only puts the counts together, per target.
"""

import pandas as pd

from broadcasts.models import Campaign, CampaignTarget
from broadcasts.reports.ab import METRIC_OF_GOAL, AbResult, VariantOutcome, compare_variants
from broadcasts.reports.outcomes import Outcomes
from broadcasts.reports.people import Reach, count_people

_KEY = ["target_id", "variant_id"]


def ab_results(campaign: Campaign, reach: Reach, outcomes: Outcomes) -> tuple[AbResult, ...]:
    """Every run together first (per target, in target order), then each run if several."""
    metric = METRIC_OF_GOAL[campaign.goal]
    targets = [target for target in campaign.targets if len(target.variants) > 1]
    successes = outcomes.of(metric)
    scopes: list[tuple[int | None, pd.DataFrame, pd.DataFrame]]
    scopes = [(None, reach.total, count_people(successes, _KEY, leave_out=reach.mixed))]
    if len(reach.run_ids) > 1:
        scopes += [
            (
                run_id,
                reach.of_run(run_id),
                count_people(successes[successes["run_id"] == run_id], _KEY),
            )
            for run_id in reach.run_ids
        ]
    return tuple(
        _result(target, metric, run_id, sizes, hits)
        for run_id, sizes, hits in scopes
        for target in targets
    )


def _result(
    target: CampaignTarget,
    metric: str,
    run_id: int | None,
    sizes: pd.DataFrame,
    hits: pd.DataFrame,
) -> AbResult:
    sent = sizes[sizes["messaged"] & (sizes["target_id"] == target.id)]
    people = sent.groupby("variant_id")["people"].sum()  # people sent two variants: <NA>
    mixed = int(sent.loc[sent["variant_id"].isna(), "people"].sum())
    won = hits[hits["target_id"] == target.id].set_index("variant_id")["people"]
    outcomes = [
        VariantOutcome(variant.name, int(people.get(variant.id, 0)), int(won.get(variant.id, 0)))
        for variant in target.variants
    ]
    return compare_variants(target.label, metric, outcomes, run_id=run_id, mixed=mixed)
