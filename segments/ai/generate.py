"""The service that (re)generates AI segments: features, clusters, profiles, optional
model-written names, then every current AI segment replaced by the new ones in one
transaction, and their members materialised by the usual membership refresh.

`generate_ai_segments(sessionmaker, now=..., config=...)` is the one call a chat handler,
the CLI or a job makes. The result says what was removed and which personas lost their
source segment (they keep their fields; give them a new source or a rule). What else may
use an AI segment (a campaign, a journey) is not this package's to know: the caller's
`check_removable` raises when the current ones may not go, asked before the clustering
and again in the transaction that replaces them.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import SegbotError
from segments.ai.clusters import Clustering, find_clusters
from segments.ai.config import MAX_K, AiConfig
from segments.ai.describe import read_description
from segments.ai.features import Features, build_features
from segments.ai.llm import LanguageModel
from segments.ai.profiles import Profile, profile_clusters, titled
from segments.ai.stability import KChoice
from segments.ai.store import add_generated, free_name, remove_generated
from segments.ai.writing import model_names
from segments.membership import refresh_memberships
from segments.models import Persona, Segment, SegmentKind
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import segments_named_in

logger = logging.getLogger(__name__)


# Raises (a SegbotError saying why) when any of these segments may not be removed.
CheckRemovable = Callable[[AsyncSession, list[str]], Awaitable[None]]


class ClusterRangeError(SegbotError):
    """k_min and k_max do not make a range of cluster counts."""


@dataclass(frozen=True)
class Generation:
    profiles: list[Profile]  # the new AI segments, largest first; `name` is the segment's
    removed: list[str]  # the AI segments this generation replaced
    orphaned_personas: list[str]  # personas whose source segment was among the removed
    k: int
    choice: KChoice  # how k was chosen: how well each k tried replicates
    audience: int  # subscribers clustered
    fitted_on: int  # of them, in the sample the clusters were fitted on
    groups: tuple[str, ...]  # feature groups clustered on
    where: str | None  # the audience rule from the description
    named_by_model: bool


async def generate_ai_segments(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    config: AiConfig,
    k_min: int | None = None,
    k_max: int | None = None,
    description: str | None = None,
    model: LanguageModel | None = None,
    rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
    check_removable: CheckRemovable | None = None,
) -> Generation:
    """Cluster the audience and replace every AI segment with the clusters; commits."""
    low = config.k_min if k_min is None else k_min  # 0 is a k asked for, and refused
    high = config.k_max if k_max is None else k_max
    if not 2 <= low <= high <= MAX_K:
        raise ClusterRangeError(
            f"need 2 <= k-min <= k-max <= {MAX_K}; got k-min {low}, k-max {high}"
        )
    focus = read_description(description, rfm_segments=rfm_segments)
    async with sessionmaker() as session:
        if check_removable is not None:
            await check_removable(session, await _current(session))
        features = await build_features(
            session, now=now, window_days=config.window_days, audience=focus.audience,
            rfm_segments=rfm_segments,
        )  # fmt: skip
    clustering, profiles = await asyncio.to_thread(
        _cluster, features, focus.groups, low, high, config
    )
    named = await model_names(model, profiles, product=config.product) if model else None
    if model is not None and named is None:
        logger.warning("the language model could not name the AI segments: statistical names")
    if named is not None:
        profiles = [
            replace(p, name=titled(p.number, [n])) for p, n in zip(profiles, named, strict=True)
        ]
    removed, orphaned = await _replace(
        sessionmaker, features, clustering, profiles, now, check_removable, rfm_segments
    )
    await refresh_memberships(
        sessionmaker, now=now, names=[profile.name for profile in profiles],
        rfm_segments=rfm_segments,
    )  # fmt: skip
    return Generation(
        profiles=profiles,
        removed=removed,
        orphaned_personas=orphaned,
        k=clustering.k,
        choice=clustering.choice,
        audience=len(features.frame),
        fitted_on=clustering.fitted_on,
        groups=focus.groups,
        where=focus.where,
        named_by_model=named is not None,
    )


def _cluster(
    features: Features, groups: tuple[str, ...], k_min: int, k_max: int, config: AiConfig
) -> tuple[Clustering, list[Profile]]:
    clustering = find_clusters(
        features.only(groups), k_min=k_min, k_max=k_max, seed=config.seed,
        sample_size=config.sample_size,
    )  # fmt: skip
    return clustering, profile_clusters(features, clustering.labels, config)


async def _replace(
    sessionmaker: async_sessionmaker[AsyncSession],
    features: Features,
    clustering: Clustering,
    profiles: list[Profile],
    now: datetime,
    check_removable: CheckRemovable | None,
    rfm_segments: Collection[str],
) -> tuple[list[str], list[str]]:
    """Remove the current AI segments and add the new ones, in one transaction; the names
    of the removed segments and of the personas that lost their source: one made from an
    AI segment, or one whose rule names one (`in segment "AI 1: ..."`), which would
    otherwise fail in a campaign, or name whichever new segment takes the old name."""
    ids = features.frame.index.to_numpy(dtype=np.int64)
    async with sessionmaker() as session:
        current = await _current(session)
        if check_removable is not None:
            await check_removable(session, current)
        made_from = await session.scalars(
            select(Persona.name)
            .join(Segment, Segment.id == Persona.segment_id)
            .where(Segment.kind == SegmentKind.AI)
        )
        ruled = await session.execute(
            select(Persona.name, Persona.rule_text).where(Persona.rule_text.is_not(None))
        )
        naming = {
            name
            for name, rule in ruled.all()
            if segments_named_in(rule or "", rfm_segments=rfm_segments) & set(current)
        }
        orphaned_names = sorted({*made_from.all(), *naming})
        removed = await remove_generated(session, kind=SegmentKind.AI)
        for cluster, profile in enumerate(profiles):
            named = replace(profile, name=await free_name(session, profile.name))
            await add_generated(
                session, name=named.name, kind=SegmentKind.AI,
                members=ids[clustering.labels == cluster], profile=named.as_json(),
                description="; ".join(trait.text for trait in named.traits[:3])
                or "close to the audience as a whole",
                now=now,
            )  # fmt: skip
            profiles[cluster] = named
        await session.commit()
    return removed, orphaned_names


async def _current(session: AsyncSession) -> list[str]:
    """The names of the current AI segments."""
    names = await session.scalars(select(Segment.name).where(Segment.kind == SegmentKind.AI))
    return list(names.all())
