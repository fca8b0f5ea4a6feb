"""Clusters of the audience: k-means with the k that replicates, fitted on a sample, then
every subscriber assigned to the nearest centroid. Deterministic for a given seed.

1. A sample of `sample_size` subscribers (everyone when fewer), drawn with `seed`.
2. k: the largest in [k_min, k_max] (capped by the distinct points) whose clusters
   replicate across subsamples of the sample (`stability.choose_k`, which says why).
3. k-means with that k on the whole sample (`N_INIT` starts).
4. Everyone, in chunks, to the nearest centroid. Clusters are numbered by size, largest
   first (ties by centroid order), so names and charts come out in a stable order.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from segments.ai.encoding import Encoder, Matrix
from segments.ai.features import Features
from segments.ai.stability import AudienceTooSmallError, KChoice, choose_k

N_INIT = 10
Labels = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class Clustering:
    labels: Labels  # cluster of each row of the features' frame, 0 = the largest
    k: int
    choice: KChoice  # how k was chosen: the replication of every k tried
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
    choice, model = fit_sample(points, range(k_min, min(k_max, distinct - 1) + 1), seed)
    best = choice.k
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
        choice=choice,
        fitted_on=len(sample),
        centroids=np.asarray(model.cluster_centers_, dtype=np.float32)[order],
        encoder=encoder,
    )


def fit_sample(points: Matrix, ks: range, seed: int) -> tuple[KChoice, Any]:
    """The k in `ks` that replicates, and k-means with it fitted on all of `points` (on
    one thread, as in `choose_k`)."""
    from sklearn.cluster import KMeans

    choice = choose_k(points, ks, seed)
    starts = int(np.random.SeedSequence(seed).generate_state(1)[0])
    with threadpool_limits(limits=1, user_api="openmp"):
        model = KMeans(n_clusters=choice.k, n_init=N_INIT, random_state=starts).fit(points)
    return choice, model
