"""Counting people, not deliveries: who a campaign's runs messaged and held out.

Lift and A/B results count people. Within one run a person has one delivery, so a run's
counts are people already. Across the runs of a recurring campaign (the total) each
person counts once per target:

- Lift: a person is *messaged* if any run sent them the target's message, and in the
  *holdout* if the runs only held them out. Someone held out in one run and messaged in
  another (possible when the holdout share changed between runs) is messaged: the
  campaign reached them, so they are no control. A person the campaign messaged in any
  run, in any target, is never in a holdout.
- A/B: a person counts for the one variant they were sent. Someone sent two variants of
  one target (possible when the split changed between runs) cannot tell which one worked:
  they are left out of that comparison and reported as *mixed*.
- One success is enough: a person converted, clicked or replied after any of their
  messages (for the holdout, after any run that held them out) counts once, however many
  orders or clicks they made.

Each run's people are its funnel's counts; across runs they are grouped in SQL; only
counts come back, plus the pairs of people sent two variants (rare, and only when a
campaign ran more than once).
"""

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from broadcasts.models import Delivery, DeliveryStatus, Exclusion
from broadcasts.reports.funnel import EXCLUDED_PREFIX

MESSAGED = Delivery.status == DeliveryStatus.SENT
HELD_OUT = and_(Delivery.status == DeliveryStatus.EXCLUDED, Delivery.reason == Exclusion.HOLDOUT)
SIZE_COLUMNS = ["target_id", "messaged", "variant_id", "people"]
_VARIANT_SENT = case((MESSAGED, Delivery.variant_id))
_HOLDOUT_COLUMN = EXCLUDED_PREFIX + Exclusion.HOLDOUT.value


@dataclass(frozen=True, slots=True)
class Reach:
    """Who the runs messaged and held out: people per target, group and variant
    (SIZE_COLUMNS) in each run (`by_run`, with `run_id`) and in all runs together
    (`total`); the people left out of A/B totals for being sent several variants
    (`mixed`: `target_id`, `subscriber_id`)."""

    by_run: pd.DataFrame
    total: pd.DataFrame
    mixed: pd.DataFrame

    @property
    def run_ids(self) -> list[int]:
        """The runs that messaged or held out anyone, in order."""
        return sorted(int(run_id) for run_id in self.by_run["run_id"].unique())

    def of_run(self, run_id: int) -> pd.DataFrame:
        return self.by_run[self.by_run["run_id"] == run_id]


async def reach(session: AsyncSession, runs: Select[int], *, funnel: pd.DataFrame) -> Reach:
    """The Reach of `runs`, whose funnel (broadcasts.reports.funnel) is `funnel`. Each
    run's people are its funnel's sent and held-out deliveries; one run's total is the
    run itself."""
    by_run = sizes_by_run(funnel)
    if by_run["run_id"].nunique() <= 1:
        no_one = pd.DataFrame(columns=["target_id", "subscriber_id"])
        return Reach(by_run, by_run.drop(columns="run_id"), no_one)
    return Reach(by_run, await sizes_in_total(session, runs), await mixed(session, runs))


def scope_name(run_id: int | None) -> str:
    """How reports name what a count covers: `all runs` (None) or `run 7`."""
    return "all runs" if run_id is None else f"run {run_id}"


def messaged_by(runs: Select[int]) -> ColumnElement[bool]:
    """True when one of `runs` sent anything to the subscriber of the Delivery row at hand."""
    other = aliased(Delivery)
    return exists().where(
        other.subscriber_id == Delivery.subscriber_id,
        other.run_id.in_(runs),
        other.status == DeliveryStatus.SENT,
    )


def sizes_by_run(funnel: pd.DataFrame) -> pd.DataFrame:
    """People per run, target, group (messaged or not) and variant sent (<NA> for the
    holdout): columns `run_id` and SIZE_COLUMNS. Within a run a person has one delivery,
    so these are the funnel's counts of deliveries sent, and held out (of any variant)."""
    sent = funnel.loc[funnel["sent"] > 0, ["run_id", "target_id", "variant_id", "sent"]]
    messaged = sent.rename(columns={"sent": "people"}).assign(messaged=True)
    held_out = (
        funnel.reindex(columns=["run_id", "target_id", _HOLDOUT_COLUMN], fill_value=0)
        .groupby(["run_id", "target_id"])[[_HOLDOUT_COLUMN]]
        .sum()
        .reset_index()
        .rename(columns={_HOLDOUT_COLUMN: "people"})
        .assign(messaged=False)
    )
    groups = [group for group in (messaged, held_out[held_out["people"] > 0]) if not group.empty]
    columns = ["run_id", *SIZE_COLUMNS]
    sizes = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame(columns=columns)
    return _sizes(sizes.reindex(columns=columns))


async def sizes_in_total(session: AsyncSession, runs: Select[int]) -> pd.DataFrame:
    """People across all `runs`, each once per target (see the module doc): SIZE_COLUMNS,
    `variant_id` <NA> for the holdout and for the messaged who were sent several."""
    person = (
        select(
            Delivery.target_id,
            func.max(case((MESSAGED, 1), else_=0)).label("messaged"),
            func.min(_VARIANT_SENT).label("first_variant"),
            func.max(_VARIANT_SENT).label("last_variant"),
        )
        .where(Delivery.run_id.in_(runs), or_(MESSAGED, and_(HELD_OUT, ~messaged_by(runs))))
        .group_by(Delivery.target_id, Delivery.subscriber_id)
        .subquery()
    )
    one_variant = case((person.c.first_variant == person.c.last_variant, person.c.first_variant))
    rows = await session.execute(
        select(person.c.target_id, person.c.messaged, one_variant, func.count()).group_by(
            person.c.target_id, person.c.messaged, one_variant
        )
    )
    return _sizes(pd.DataFrame.from_records(rows.all(), columns=SIZE_COLUMNS))


async def mixed(session: AsyncSession, runs: Select[int]) -> pd.DataFrame:
    """The people sent more than one variant of a target: `target_id`, `subscriber_id`."""
    rows = await session.execute(
        select(Delivery.target_id, Delivery.subscriber_id)
        .where(Delivery.run_id.in_(runs), MESSAGED)
        .group_by(Delivery.target_id, Delivery.subscriber_id)
        .having(func.min(Delivery.variant_id) != func.max(Delivery.variant_id))
    )
    return pd.DataFrame.from_records(rows.all(), columns=["target_id", "subscriber_id"])


def count_people(
    rows: pd.DataFrame, key: list[str], *, leave_out: pd.DataFrame | None = None
) -> pd.DataFrame:
    """How many distinct subscribers `rows` has per `key` (column `people`), not counting
    the (`target_id`, `subscriber_id`) pairs of `leave_out`."""
    if leave_out is not None and not leave_out.empty:
        pairs = ["target_id", "subscriber_id"]
        marked = rows.merge(leave_out.drop_duplicates(), on=pairs, how="left", indicator=True)
        rows = marked[marked["_merge"] == "left_only"]
    if rows.empty:
        return pd.DataFrame(columns=[*key, "people"])
    return rows.groupby(key)["subscriber_id"].nunique().rename("people").reset_index()


def _sizes(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"messaged": bool, "variant_id": "Int64", "people": "int64"})
