"""Equal customers score equally: a tie takes floor(5*i/n)+1 with i the position of its
first customer, whatever the customer ids. The expectations are worked out by hand."""

import random

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from segments.rfm.scoring import TooFewCustomers, score, score_with_minimum, shortfall
from tests.segments.rfm.ties import AS_OF, CUSTOMERS, SEGMENTS, F, M, R, orders, summary

MIXED = orders(*CUSTOMERS)


def by_customer(frame: pd.DataFrame, column: str) -> dict[int, object]:
    return dict(zip(frame["customer_id"].tolist(), frame[column].tolist(), strict=True))


def test_seven_identical_customers_share_one_score() -> None:
    # Each placed one 50.00 order five days ago: every value ties at position 0 of 7.
    seven = orders(*((customer, 5, 1, 50.0) for customer in (5, 3, 7, 1, 6, 2, 4)))
    result = score(seven, AS_OF)
    for column in ("r", "f", "m"):
        assert by_customer(result, column) == dict.fromkeys(range(1, 8), 1)
    assert set(result["segment"]) == {"hibernating"}


def test_a_mixed_shop_with_ties_scores_floor_of_five_i_over_n() -> None:
    result = score(MIXED, AS_OF)
    assert by_customer(result, "recency_days") == {c[0]: c[1] for c in CUSTOMERS}
    assert by_customer(result, "frequency") == {c[0]: c[2] for c in CUSTOMERS}
    assert by_customer(result, "r") == R
    assert by_customer(result, "f") == F
    assert by_customer(result, "m") == M
    assert by_customer(result, "segment") == SEGMENTS


def test_a_lone_customer_scores_one_like_any_customer_tied_with_everyone() -> None:
    result = score(orders((1, 0, 1, 50.0)), AS_OF)
    assert (result[["r", "f", "m"]].to_numpy() == 1).all()
    assert result["segment"].tolist() == ["hibernating"]


def test_scores_are_the_same_on_every_run() -> None:
    first = score(MIXED, AS_OF)
    for _ in range(3):
        pd.testing.assert_frame_equal(score(MIXED, AS_OF), first)
        pd.testing.assert_frame_equal(score(MIXED.iloc[::-1], AS_OF), first)


def test_below_the_minimum_nobody_is_scored_and_the_reason_says_how_many() -> None:
    scores, too_few = score_with_minimum(summary(*CUSTOMERS), AS_OF, min_customers=20)
    assert scores.empty
    assert too_few == TooFewCustomers(customers=10, minimum=20)
    assert str(too_few) == "RFM needs at least 20 customers with orders; there are 10"
    assert (
        str(shortfall(1, minimum=20)) == "RFM needs at least 20 customers with orders; there is 1"
    )
    assert shortfall(20, minimum=20) is None
    scores, too_few = score_with_minimum(summary(*CUSTOMERS), AS_OF, min_customers=10)
    assert too_few is None
    pd.testing.assert_frame_equal(scores, score(MIXED, AS_OF))


customers = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4),  # recency_days: few values, many ties
        st.integers(min_value=1, max_value=3),  # frequency
        st.sampled_from([10.0, 25.5, 40.0]),  # monetary
    ),
    min_size=1,
    max_size=30,
)
MEASURES = (("r", "recency_days", -1), ("f", "frequency", 1), ("m", "monetary", 1))


@settings(max_examples=60, deadline=None)
@given(values=customers, seed=st.randoms(use_true_random=False))
def test_only_values_decide_scores_never_customer_ids(
    values: list[tuple[int, int, float]], seed: random.Random
) -> None:
    # The same customers under shuffled ids: each keeps the scores of its values.
    ids = list(range(1, len(values) + 1))
    relabelled = ids.copy()
    seed.shuffle(relabelled)
    plain = score(orders(*((i, *v) for i, v in zip(ids, values, strict=True))), AS_OF)
    shuffled = score(orders(*((i, *v) for i, v in zip(relabelled, values, strict=True))), AS_OF)
    for column, value, better in MEASURES:
        scored, again = by_customer(plain, column), by_customer(shuffled, column)
        assert [scored[i] for i in ids] == [again[i] for i in relabelled]
        # Equal values score equally, and a better value never scores lower.
        per_value = plain.assign(key=plain[value] * better).groupby("key")[column]
        assert (per_value.min() == per_value.max()).all()
        assert per_value.min().is_monotonic_increasing
