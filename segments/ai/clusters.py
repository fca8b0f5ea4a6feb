"""Clusters of the audience: k-means with k chosen by silhouette, fitted on a sample, then
every subscriber assigned to the nearest centroid. Deterministic for a given seed.

1. A sample of `sample_size` subscribers (everyone when fewer), drawn with `seed`.
2. For each k in [k_min, k_max] (capped by the distinct points in the sample), k-means
   on the encoded sample; the silhouette of that clustering on at most
   `SILHOUETTE_SAMPLE` of the sampled points. The best silhouette wins; ties: smaller k.
3. Everyone, in chunks, to the nearest centroid. Clusters are numbered by size, largest
   first (ties by centroid order), so names and charts come out in a stable order.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import SegbotError
from segments.ai.encoding import Encoder, Matrix
from segments.ai.features import Features

SILHOUETTE_SAMPLE = 5_000
N_INIT = 4
Labels = np.ndarray[Any, np.dtype[np.int64]]


class AudienceTooSmallError(SegbotError):
    """Too few subscribers, or too few different ones, to find clusters."""


@dataclass(frozen=True)
class Clustering:
    labels: Labels  # cluster of each row of the features' frame, 0 = the largest
    k: int
    silhouettes: dict[int, float]  # silhouette of every k tried
    fitted_on: int  # subscribers in the sample the clusters were fitted on
    centroids: Matrix  # in the encoded space, in cluster order
    encoder: Encoder


def sample_rows(n: int, size: int, seed: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Sorted positions of a sample of `size` of `n` rows (all of them when n <= size)."""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def find_clusters(
    features: Features, *, k_min: int, k_max: int, seed: int, sample_size: int
) -> Clustering:
    """Cluster everyone in `features` (see the module docstring)."""
    frame = features.frame
    if len(frame) <= k_min:
        raise AudienceTooSmallError(
            f"{k_min} clusters need more than {k_min} subscribers; the audience has {len(frame)}"
        )
    sample = frame.iloc[sample_rows(len(frame), sample_size, seed)]
    encoder = Encoder(features, sample)
    points = encoder.transform(sample)
    distinct = len(np.unique(points, axis=0))
    if distinct <= k_min:
        raise AudienceTooSmallError(
            f"{k_min} clusters need more than {k_min} different subscribers; "
            f"the audience has {distinct} (on the chosen features)"
        )
    models, silhouettes = choose_k(points, range(k_min, min(k_max, distinct - 1) + 1), seed)
    best = max(silhouettes, key=lambda k: (silhouettes[k], -k))
    model = models[best]
    raw = np.empty(len(frame), dtype=np.int64)
    for start, chunk in encoder.chunks(frame):
        raw[start : start + len(chunk)] = model.predict(chunk)
    sizes = np.bincount(raw, minlength=best)
    order = np.argsort(-sizes, kind="stable")  # old numbers, largest cluster first
    renumber = np.empty(best, dtype=np.int64)
    renumber[order] = np.arange(best)
    return Clustering(
        labels=renumber[raw],
        k=best,
        silhouettes=silhouettes,
        fitted_on=len(sample),
        centroids=np.asarray(model.cluster_centers_, dtype=np.float32)[order],
        encoder=encoder,
    )


def choose_k(points: Matrix, ks: range, seed: int) -> tuple[dict[int, Any], dict[int, float]]:
    """k-means for each k on `points`, and the silhouette of each (on a sample)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    models: dict[int, Any] = {}
    silhouettes: dict[int, float] = {}
    for k in ks:
        model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(points)
        if len(np.unique(model.labels_)) < 2:
            continue
        models[k] = model
        silhouettes[k] = float(
            silhouette_score(
                points,
                model.labels_,
                sample_size=min(SILHOUETTE_SAMPLE, len(points)),
                random_state=seed,
            )
        )
    if not silhouettes:
        raise AudienceTooSmallError("the audience does not split into clusters")
    return models, silhouettes
