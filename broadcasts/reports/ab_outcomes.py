"""A campaign's A/B results counted in people: per target with several variants, all
runs together (each person once; people sent two variants left out and counted as
mixed) and, when the campaign ran more than once, each run on its own.

Who counts is broadcasts.reports.people's rule; the test and the winner are
broadcasts.reports.ab's. This module only puts the counts together, per target.
"""

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, CampaignTarget
from broadcasts.reports.ab import METRIC_OF_GOAL, AbResult, VariantOutcome, compare_variants
from broadcasts.reports.outcomes import Outcomes
from broadcasts.reports.people import Reach, count_people

_KEY = ["target_id", "variant_id"]
_KEY_BY_RUN = ["run_id", *_KEY]


async def ab_results(
    session: AsyncSession,
    campaign: Campaign,
    reach: Reach,
    outcomes: Outcomes,
    funnel: pd.DataFrame,
) -> tuple[AbResult, ...]:
    """Every run together first (per target, in target order), then each run if several.
    `funnel` is the runs' funnel with conversions (broadcasts.reports.campaign)."""
    metric = METRIC_OF_GOAL[campaign.goal]
    targets = [target for target in campaign.targets if len(target.variants) > 1]
    if not targets:
        return ()
    # Within a run each person has one delivery: the funnel's count is people already.
    by_run = funnel.reindex(columns=[*_KEY_BY_RUN, metric]).fillna(0)
    by_run = by_run.rename(columns={metric: "people"})
    if by_run["run_id"].nunique() > 1:
        successes = await outcomes.deliveries_of(session, metric)
        total = count_people(successes, _KEY, leave_out=reach.mixed)
    else:
        total = by_run.drop(columns="run_id")
    scopes: list[tuple[int | None, pd.DataFrame, pd.DataFrame]]
    scopes = [(None, reach.total, total)]
    if len(reach.run_ids) > 1:
        scopes += [
            (run_id, reach.of_run(run_id), by_run[by_run["run_id"] == run_id])
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
