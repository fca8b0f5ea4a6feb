"""Traits: what sets a cluster apart from the whole audience, measured the same way for
every kind of feature, and said in words.

Strength is a standardised difference: for a number, (cluster mean - audience mean) /
audience standard deviation (counts and rates on a log scale); for a share (a text value,
a tag, buying at all), (cluster share - audience share) / sqrt(p (1 - p)) with p the
audience share. A number is a trait when |strength| >= 0.5, more of the cluster than of
the audience is on that side of the audience's middle (see below), and the two means
differ as shown ("subscribed 0 days (audience 0 days)" says nothing, whatever the
fractions of a day behind it); a value or a tag when at least 30% of the cluster has it
and its strength is >= 0.5.

Every trait also says whom it holds for, the `share` of the cluster's members and of the
whole audience: having the value or the tag; for a number, being above the audience's
middle (more of the audience below them than above) for `:high` ("frequent readers"),
below it for `:low`, and neither when the number is unknown. A trait is listed whatever
its share; profile names use only those that hold for most members (`profiles.py`).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segments.ai.encoding import SKEWED
from segments.ai.people import UNKNOWN
from segments.levels import STAGES

MIN_STRENGTH = 0.5
MIN_SHARE = 0.3
# Numbers: (what it measures, how it reads, label when high, label when low).
NUMBERS = {
    "reads": ("reads", "a week", "frequent readers", "rare readers"),
    "clicks": ("link clicks", "a week", "frequent clickers", "rare clickers"),
    "replies": ("replies", "a week", "talkative", "silent"),
    "reactions": ("reactions", "a week", "reactive", "unreactive"),
    "presses": ("button presses", "a week", "button pressers", "no button presses"),
    "tenure": ("subscribed", "days", "long-time subscribers", "newcomers"),
    "recency": ("RFM recency score", "of 5", "recent buyers", "lapsed buyers"),
    "frequency": ("RFM frequency score", "of 5", "frequent buyers", "rare buyers"),
    "monetary": ("RFM monetary score", "of 5", "big spenders", "small spenders"),
    "age": ("age", "years", "older", "younger"),
    "night": ("engagement at night (0-6h)", "share", "night owls", "quiet at night"),
    "morning": ("engagement in the morning", "share", "morning people", "quiet mornings"),
    "afternoon": ("engagement in the afternoon", "share", "afternoon readers", "quiet afternoons"),
    "evening": ("engagement in the evening", "share", "evening readers", "quiet evenings"),
}
SHARES = {"buyer": ("buyers", "buyers", "non-buyers")}  # 0/1 numbers read as shares


@dataclass(frozen=True, slots=True)
class Trait:
    key: str  # e.g. "country:ES", "clicks:high", "tag:interest:deals" (see segments.ai.config)
    group: str  # the feature group it belongs to
    text: str  # e.g. "country ES: 92% (audience 31%)": whom it holds for, first
    label: str  # a few words for a name, e.g. "ES"
    strength: float
    share: float  # of the cluster's members it holds for
    audience: float  # of the whole audience it holds for


def number_traits(
    column: str, group: str, values: pd.Series, clusters: pd.Series
) -> dict[int, Trait]:
    """The trait (if any) `column` gives each cluster, by cluster number."""
    measured = np.log1p(values) if column in SKEWED else values
    spread = float(measured.std(ddof=0))
    if values.nunique() < 2 or not spread > 0:  # equal values can give a rounding-error spread
        return {}
    overall, means = float(values.mean()), values.groupby(clusters).mean()
    effects = (measured.groupby(clusters).mean() - float(measured.mean())) / spread
    sides = middle_sides(values)
    shares = [side.groupby(clusters).mean() for side in sides]  # above, below, by cluster
    what, unit, high, low = NUMBERS[column]
    found = {}
    for cluster, effect, mean in zip(
        effects.index.astype(int), effects.to_numpy(), means.to_numpy(), strict=True
    ):
        side = 0 if effect > 0 else 1
        share, audience = float(shares[side][cluster]), float(sides[side].mean())
        shown = _number(float(mean), unit), _number(overall, unit)
        if abs(effect) >= MIN_STRENGTH and share > audience and shown[0] != shown[1]:
            label = high if effect > 0 else low
            found[cluster] = Trait(
                f"{column}:{'high' if effect > 0 else 'low'}",
                group,
                f"{_shares(label, share, audience)}, {what} {shown[0]} (audience {shown[1]})",
                label,
                float(effect),
                share,
                audience,
            )
    return found


def middle_sides(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Per subscriber: above the middle of the known `values` (more of them below than
    above), and below it; False both ways when the value is unknown."""
    known = np.sort(values.dropna().to_numpy(dtype=np.float64))
    points = values.to_numpy(dtype=np.float64)
    under = np.searchsorted(known, points, side="left")
    over = len(known) - np.searchsorted(known, points, side="right")
    present = ~np.isnan(points)
    return (
        pd.Series(present & (under > over), index=values.index),
        pd.Series(present & (over > under), index=values.index),
    )


def share_traits(
    key: str, group: str, has: pd.Series, clusters: pd.Series, *, both_ways: bool = False
) -> dict[int, Trait]:
    """The trait of having `key` (a 0/1 series) per cluster: over-represented, or with
    `both_ways` also under-represented (`key:high` / `key:low`, which holds for those
    without it)."""
    overall = float(has.mean())
    if not 0 < overall < 1:
        return {}
    shares = has.groupby(clusters).mean()
    effects = (shares - overall) / np.sqrt(overall * (1 - overall))
    what, high, low = SHARES.get(key) or (describe(key), label_of(key), label_of(key))
    found = {}
    for cluster, effect in effects.items():
        share = float(shares[cluster])
        if effect >= MIN_STRENGTH and share >= MIN_SHARE:
            name, label = (f"{key}:high", high) if both_ways else (key, label_of(key))
            said, held, audience = what, share, overall
        elif both_ways and effect <= -MIN_STRENGTH:
            name, label, said, held, audience = f"{key}:low", low, low, 1 - share, 1 - overall
        else:
            continue
        text = _shares(said, held, audience)
        found[int(cluster)] = Trait(name, group, text, label, float(effect), held, audience)
    return found


def value_traits(
    column: str, group: str, values: pd.Series, clusters: pd.Series
) -> dict[int, list[Trait]]:
    """The over-represented values of a text column ("unknown" never counts), by cluster."""
    overall = values.value_counts(normalize=True)
    shares = pd.crosstab(clusters, values, normalize="index")
    found: dict[int, list[Trait]] = {}
    for value in shares.columns:
        share_all = float(overall.get(value, 0.0))
        if value == UNKNOWN or not 0 < share_all < 1:
            continue
        key = f"{column}:{value}"
        for cluster, share in zip(shares.index.astype(int), shares[value].to_numpy(), strict=True):
            effect = (float(share) - share_all) / np.sqrt(share_all * (1 - share_all))
            if effect >= MIN_STRENGTH and share >= MIN_SHARE:
                text = _shares(describe(key), float(share), share_all)
                found.setdefault(cluster, []).append(
                    Trait(key, group, text, label_of(key), float(effect), float(share), share_all)
                )
    return found


def describe(key: str) -> str:
    """How a value trait reads: "country ES", "clicked pricing links", "tag interest:deals"."""
    kind, _, value = key.partition(":")
    if kind == "clicked":
        return f"clicked {value} links"
    if kind == "stage":
        return f"ladder stage {value}"
    return f"{kind} {value}"


def label_of(key: str) -> str:
    """A few words for a name: "ES", "deals", "pricing clicks", "problem aware"."""
    kind, _, value = key.partition(":")
    if kind in ("country", "city"):
        return value
    if kind == "clicked":
        return f"{value} clicks"
    if kind == "tag":
        prefix, _, last = value.rpartition(":")
        return f"{prefix} {last}" if prefix == "format" else last.replace("_", " ")
    if kind == "stage":
        return value.replace("_", " ")
    if kind == "lang":
        return f"{value} speakers"
    if kind == "income":
        return f"{value} income"
    return f"{kind} {value}"


def stage_names(stages: pd.Series) -> pd.Series:
    return pd.Series(np.asarray(STAGES, dtype=object)[stages.to_numpy()], index=stages.index)


def _shares(what: str, share: float, audience: float) -> str:
    return f"{what}: {share:.0%} (audience {audience:.0%})"


def _number(value: float, unit: str) -> str:
    if unit == "share":
        return f"{value:.0%}"
    if unit == "days":
        return f"{value:.0f} days"
    return f"{value:.1f} {unit}"
