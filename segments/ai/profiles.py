"""Readable profiles of clusters, from what distinguishes each from the whole audience.

Every feature is compared (`traits`), whatever the clustering was fitted on. Every trait is
listed with the share of the members it holds for, and of the audience.

A profile's name is "AI <n>: " and the labels of its three strongest traits among those
that hold for a clear majority of its members, at least `NAME_MAJORITY` (60 %): a name
says only what is true of most of the segment. A cluster with traits but none that common
is "mixed"; one with no traits at all is "typical subscribers".

Its demographic profile, geographic focus, interests and behaviours are the traits of
those feature groups; its pain points, preferred format, tone and best offer are what
`ai.traits` (segbot.yaml, over the shipped defaults) says about its traits, strongest
first, then about its most common ladder stage, then the defaults. Same data, same
labels: the same profiles.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import pandas as pd

from segments.ai.clusters import Labels
from segments.ai.config import (
    DEFAULT_FORMAT,
    DEFAULT_OFFER,
    DEFAULT_PAIN_POINT,
    DEFAULT_TONE,
    AiConfig,
    TraitHint,
)
from segments.ai.features import Features
from segments.ai.traits import (
    NUMBERS,
    SHARES,
    Trait,
    number_traits,
    share_traits,
    stage_names,
    value_traits,
)
from segments.models import ContentFormat

T = TypeVar("T")
NAME_PREFIX = "AI"
MAX_NAME = 64
NAME_TRAITS = 3
NAME_MAJORITY = 0.6  # a trait names a segment when it holds for at least this share of it
HOW_TO_READ = (
    f"Names use only traits held by at least {NAME_MAJORITY:.0%} of a segment; each trait "
    "shows the share of the segment it holds for (of the audience in brackets)."
)
MAX_PAIN_POINTS = 3
SECTIONS = {
    "demographics": ("demographics",),
    "geography": ("geography",),
    "interests": ("content", "interests"),
    "behaviours": ("rfm", "engagement", "hours", "ladder"),
}


@dataclass(frozen=True)
class Profile:
    number: int  # 1 = the largest cluster
    name: str
    size: int
    share: float  # of the audience
    stage: str  # the most common ladder stage
    traits: tuple[Trait, ...]  # strongest first
    pain_points: tuple[str, ...]
    preferred_format: ContentFormat
    tone: str
    offer: str

    @property
    def held_by_most(self) -> list[Trait]:
        """The traits that may name it: held by at least NAME_MAJORITY of its members."""
        return _held_by_most(self.traits)

    def section(self, name: str) -> list[str]:
        """The traits' texts of one section: demographics, geography, interests, behaviours."""
        return [trait.text for trait in self.traits if trait.group in SECTIONS[name]]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["traits"] = [asdict(trait) for trait in self.traits]
        data |= {section: self.section(section) for section in SECTIONS}
        return data


def profile_clusters(features: Features, labels: Labels, config: AiConfig) -> list[Profile]:
    """One profile per cluster, in cluster order."""
    frame, clusters = features.frame, pd.Series(labels, index=features.frame.index)
    found: dict[int, list[Trait]] = {}
    for group, columns in features.groups.items():
        for column in columns:
            for cluster, traits in _column_traits(features, group, column, clusters).items():
                found.setdefault(cluster, []).extend(traits)
    stages = stage_names(frame["stage"]).groupby(clusters).agg(_mode)
    sizes = clusters.value_counts()
    profiles = []
    for cluster in range(int(labels.max()) + 1 if len(labels) else 0):
        traits = sorted(found.get(cluster, []), key=lambda t: (-abs(t.strength), t.key))
        stage = str(stages.get(cluster, "unaware"))
        hints = [hint for hint in (config.hint(t.key) for t in traits) if hint is not None]
        fallback = config.hint(f"stage:{stage}")
        hints += [fallback] if fallback is not None else []
        profiles.append(
            Profile(
                number=cluster + 1,
                name=statistical_name(cluster + 1, traits),
                size=int(sizes.get(cluster, 0)),
                share=float(sizes.get(cluster, 0)) / max(len(labels), 1),
                stage=stage,
                traits=tuple(traits),
                pain_points=_pain_points(hints),
                preferred_format=_first(hints, lambda h: h.format, DEFAULT_FORMAT),
                tone=_first(hints, lambda h: h.tone, DEFAULT_TONE),
                offer=_first(hints, lambda h: h.offer, DEFAULT_OFFER),
            )
        )
    return profiles


def statistical_name(number: int, traits: Sequence[Trait]) -> str:
    """ "AI 2: ES, deals, frequent clickers": the labels of the strongest traits that hold
    for at least NAME_MAJORITY of the members and fit in the name."""
    labels: list[str] = []
    for trait in _held_by_most(traits):
        if len(labels) == NAME_TRAITS:
            break
        if trait.label not in labels and len(titled(number, [*labels, trait.label])) <= MAX_NAME:
            labels.append(trait.label)
    if not labels:
        return titled(number, ["mixed" if traits else "typical subscribers"])
    return titled(number, labels)


def _held_by_most(traits: Sequence[Trait]) -> list[Trait]:
    """`traits` that hold for at least NAME_MAJORITY of the members, in order."""
    return [trait for trait in traits if trait.share >= NAME_MAJORITY]


def titled(number: int, words: Sequence[str]) -> str:
    return f"{NAME_PREFIX} {number}: {', '.join(words)}"


def _column_traits(
    features: Features, group: str, column: str, clusters: pd.Series
) -> dict[int, list[Trait]]:
    values = features.frame[column]
    if column == "stage":
        return value_traits("stage", group, stage_names(values), clusters)
    if column in features.categorical:
        return value_traits(column, group, values, clusters)
    if column in features.binary:
        return _listed(share_traits(column, group, values, clusters))
    if column in SHARES:
        return _listed(share_traits(column, group, values, clusters, both_ways=True))
    if column in NUMBERS:
        return _listed(number_traits(column, group, values.astype("float64"), clusters))
    return {}


def _listed(traits: dict[int, Trait]) -> dict[int, list[Trait]]:
    return {cluster: [trait] for cluster, trait in traits.items()}


def _mode(values: pd.Series) -> str:
    counts = values.value_counts()
    return str(min(counts.index[counts == counts.max()], key=str))


def _pain_points(hints: list[TraitHint]) -> tuple[str, ...]:
    found: list[str] = []
    for hint in hints:
        if hint.pain_point and hint.pain_point not in found:
            found.append(hint.pain_point)
    return tuple(found[:MAX_PAIN_POINTS]) or (DEFAULT_PAIN_POINT,)


def _first(hints: list[TraitHint], pick: Callable[[TraitHint], T | None], default: T) -> T:
    return next((value for value in map(pick, hints) if value is not None), default)
