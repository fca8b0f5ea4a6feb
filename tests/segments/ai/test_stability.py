"""Choosing k by replication: prediction strength on hand-made labellings, the number of
well-separated blobs found under any seed, and no structure said to be none."""

import numpy as np
import pytest

from segments.ai.stability import (
    REPLICATES,
    AudienceTooSmallError,
    choose_k,
    prediction_strength,
)


def labels(*values: int) -> np.ndarray[tuple[int], np.dtype[np.int32]]:
    return np.array(values, dtype=np.int32)


def test_prediction_strength_is_the_worst_kept_share_of_pairs() -> None:
    same = labels(0, 0, 1, 1, 2, 2)
    assert prediction_strength(same, same, 3) == 1.0
    assert prediction_strength(labels(1, 1, 2, 2, 0, 0), same, 3) == 1.0  # names differ only
    # b's cluster {0,1,2,3} is cut in two by a: 2 of its 6 pairs stay together;
    # b's cluster {4,5} stays whole.
    cut = labels(0, 0, 1, 1, 2, 2)
    whole = labels(0, 0, 0, 0, 1, 1)
    assert prediction_strength(cut, whole, 3) == pytest.approx(2 / 6)
    # The other way round every cluster of `cut` is inside one of `whole`.
    assert prediction_strength(whole, cut, 3) == 1.0
    # Clusters of one point have no pairs and are left out.
    assert prediction_strength(labels(0, 1, 1), labels(0, 1, 1), 2) == 1.0


def blobs(
    seed: int, centres: int, per_blob: int = 300
) -> np.ndarray[tuple[int, int], np.dtype[np.float32]]:
    rng = np.random.default_rng(seed)
    middle = rng.normal(0, 6, (centres, 5))
    points = np.concatenate([rng.normal(centre, 1.0, (per_blob, 5)) for centre in middle])
    return points.astype(np.float32)


@pytest.mark.parametrize("centres", [2, 3, 5])
def test_well_separated_blobs_give_their_number_whatever_the_seed(centres: int) -> None:
    points = blobs(11, centres)
    for seed in (0, 123, 2**40):
        choice = choose_k(points, range(2, 9), seed)
        assert (choice.k, choice.replicated) == (centres, True), choice.summary()
        assert choice.scores[centres].low >= REPLICATES
        assert all(choice.scores[k].low < REPLICATES for k in range(centres + 1, 9))


def test_no_structure_replicates_so_the_fewest_clusters_are_made() -> None:
    points = np.random.default_rng(5).uniform(0, 1, (1500, 6)).astype(np.float32)
    choice = choose_k(points, range(3, 7), seed=1)
    assert (choice.k, choice.replicated) == (3, False)
    assert "the fewest asked for" in choice.summary()


def test_too_few_different_points_to_check_replication_is_refused() -> None:
    points = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # 3 different points
    with pytest.raises(AudienceTooSmallError, match="replicate"):
        choose_k(points, range(3, 5), seed=0)
