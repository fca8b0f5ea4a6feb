"""Lookalikes: the subscribers most like a seed segment's members, saved as a segment.

Everyone's features (`features.py`, every group) are encoded as for clustering. A
candidate is an active subscriber outside the seed; its score is the mean distance to its
`NEIGHBOURS` nearest seed members (among at most `SEED_SAMPLE` of them, drawn with the
seed), so a seed made of several kinds of people pulls in each kind. The `size` closest
candidates (ties: lower id) become a `lookalike` segment; building one with the same name
again replaces it.
"""

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import SegbotError
from core.models import Subscriber, SubscriberStatus
from segments.ai.clusters import sample_rows
from segments.ai.config import AiConfig
from segments.ai.encoding import Encoder
from segments.ai.features import Features, build_features
from segments.ai.store import add_generated, remove_generated
from segments.membership import refresh_memberships
from segments.models import Segment, SegmentKind
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules.compiler import subscriber_ids
from segments.saved import MAX_NAME, SegmentNameError, UnknownSegmentError, saved_rules

NEIGHBOURS = 5
SEED_SAMPLE = 1_000
FIT_SAMPLE = 20_000  # subscribers the encoder's scales are fitted on
MAX_SIZE = 10_000_000


class LookalikeError(SegbotError):
    """The lookalike cannot be built as asked (empty seed, bad size or name)."""


@dataclass(frozen=True)
class Lookalike:
    name: str
    seed: str
    seed_size: int
    size: int  # may be fewer than asked when fewer candidates exist
    replaced: bool  # a lookalike of that name existed and was replaced


async def build_lookalike(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    seed: str,
    size: int,
    now: datetime,
    config: AiConfig,
    name: str | None = None,
    rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
) -> Lookalike:
    """Save the `size` subscribers most like the members of segment `seed`; commits."""
    if not 0 < size <= MAX_SIZE:
        raise LookalikeError(f"the size must be between 1 and {MAX_SIZE:,}; got {size}")
    if name is not None and len(name.strip()) > MAX_NAME:  # a name given is never cut short
        raise SegmentNameError(f"a segment name is 1-{MAX_NAME} printable characters")
    name = (name or f"lookalike: {seed}")[:MAX_NAME].strip()
    if not name or not name.isprintable():
        raise SegmentNameError(f"a segment name is 1-{MAX_NAME} printable characters")
    async with sessionmaker() as session:
        taken = await session.scalar(select(Segment.kind).where(Segment.name == name))
        if taken is not None and taken is not SegmentKind.LOOKALIKE:
            raise LookalikeError(f"a {taken.value} segment is named {name!r}: pick another name")
        rules = await saved_rules(session, rfm_segments=rfm_segments)
        if seed not in rules:
            raise UnknownSegmentError(f"no segment named {seed!r}")
        seeded = await session.scalars(subscriber_ids(rules[seed], now=now, segments=rules))
        seed_ids = np.array(sorted(seeded.all()), dtype=np.int64)
        if not len(seed_ids):
            raise LookalikeError(f"segment {seed!r} has no members right now: nothing to look like")
        features = await build_features(
            session, now=now, window_days=config.window_days, rfm_segments=rfm_segments
        )
        active = await session.scalars(  # candidates must be reachable
            select(Subscriber.id).where(Subscriber.status == SubscriberStatus.ACTIVE)
        )
        active_ids = np.array(sorted(active.all()), dtype=np.int64)
    if not len(np.setdiff1d(active_ids, seed_ids)):
        raise LookalikeError(
            f"every active subscriber is in {seed!r} already: nobody is left to look like them"
        )
    chosen = await asyncio.to_thread(_closest, features, seed_ids, active_ids, size, config.seed)
    async with sessionmaker() as session:
        replaced = bool(await remove_generated(session, kind=SegmentKind.LOOKALIKE, names=[name]))
        profile = {"seed": seed, "seed_size": len(seed_ids), "size": len(chosen)}
        await add_generated(
            session, name=name, kind=SegmentKind.LOOKALIKE, members=chosen, profile=profile,
            description=f"the {len(chosen)} subscribers most like {seed}", now=now,
        )  # fmt: skip
        await session.commit()
    await refresh_memberships(sessionmaker, now=now, names=[name], rfm_segments=rfm_segments)
    return Lookalike(name, seed, len(seed_ids), len(chosen), replaced)


def _closest(
    features: Features,
    seed_ids: np.ndarray[Any, np.dtype[np.int64]],
    active_ids: np.ndarray[Any, np.dtype[np.int64]],
    size: int,
    seed: int,
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Ids of the `size` candidates nearest the seed (module docstring), nearest first."""
    from sklearn.neighbors import NearestNeighbors

    frame = features.frame
    ids = frame.index.to_numpy(dtype=np.int64)
    in_seed = np.isin(ids, seed_ids)
    seed_rows = np.flatnonzero(in_seed)
    sampled = seed_rows[sample_rows(len(seed_rows), SEED_SAMPLE, seed)]
    encoder = Encoder(features, frame.iloc[sample_rows(len(frame), FIT_SAMPLE, seed)])
    neighbours = NearestNeighbors(n_neighbors=min(NEIGHBOURS, len(sampled)))
    neighbours.fit(encoder.transform(frame.iloc[sampled]))
    candidates = np.flatnonzero(~in_seed & np.isin(ids, active_ids))
    scores = np.empty(len(candidates), dtype=np.float64)
    for start, chunk in encoder.chunks(frame.iloc[candidates]):
        distances, _ = neighbours.kneighbors(chunk)
        scores[start : start + len(chunk)] = distances.mean(axis=1)
    order = np.lexsort((ids[candidates], scores))[:size]
    return ids[candidates][order]
