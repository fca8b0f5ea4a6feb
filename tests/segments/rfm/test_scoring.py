import random
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from segments.rfm.scoring import COLUMNS, DEFAULT_SEGMENT_MAP, RfmInputError, SegmentMap, score

AS_OF = date(2026, 11, 1)


def orders(*rows: tuple[int, str, float]) -> pd.DataFrame:
    """(customer_id, ISO time, amount) rows as the orders frame `score` takes."""
    return pd.DataFrame(
        {
            "customer_id": [row[0] for row in rows],
            "ordered_at": pd.to_datetime([row[1] for row in rows], utc=True),
            "amount": [row[2] for row in rows],
        }
    )


def by_customer(frame: pd.DataFrame, column: str) -> dict[int, object]:
    return dict(zip(frame["customer_id"].tolist(), frame[column].tolist(), strict=True))


SHOP = orders(
    (1, "2026-10-31T10:00Z", 100.0),
    (1, "2026-10-01T10:00Z", 50.0),
    (1, "2026-10-31T11:00Z", -150.0),  # a refund: does not count
    (2, "2026-10-25T10:00Z", 20.0),
    (2, "2026-11-05T10:00Z", 1000.0),  # after as_of: does not count
    (3, "2026-06-01T10:00Z", 10.0),
    (3, "2026-07-01T10:00Z", 10.0),
    (3, "2026-08-01T10:00Z", 10.0),
    (4, "2025-11-01T10:00Z", 500.0),
    (5, "2026-10-30T10:00Z", 5.0),
    (5, "2026-10-29T10:00Z", 5.0),
    (5, "2026-10-28T10:00Z", 5.0),
    (5, "2026-10-27T10:00Z", 5.0),
    (6, "2026-10-30T10:00Z", -30.0),  # only a refund and a zero-value order: not scored
    (6, "2026-10-30T10:00Z", 0.0),
)


def test_facts_and_scores_of_a_small_shop() -> None:
    result = score(SHOP, AS_OF)
    assert list(result.columns) == COLUMNS
    assert result["customer_id"].tolist() == [1, 2, 3, 4, 5]
    assert by_customer(result, "recency_days") == {1: 1, 2: 7, 3: 92, 4: 365, 5: 2}
    assert by_customer(result, "frequency") == {1: 2, 2: 1, 3: 3, 4: 1, 5: 4}
    assert by_customer(result, "monetary") == {1: 150.0, 2: 20.0, 3: 30.0, 4: 500.0, 5: 20.0}
    # recency: 365, 92, 7, 2, 1 days -> 1..5
    assert by_customer(result, "r") == {4: 1, 3: 2, 2: 3, 5: 4, 1: 5}
    # frequency: 1, 1 (c2 and c4 tie at positions 0-1: both 1), 2 (i=2), 3, 4
    assert by_customer(result, "f") == {2: 1, 4: 1, 1: 3, 3: 4, 5: 5}
    # monetary: 20, 20 (c2 and c5 tie: both 1), 30 (i=2), 150, 500
    assert by_customer(result, "m") == {2: 1, 5: 1, 3: 3, 1: 4, 4: 5}
    assert by_customer(result, "segment") == {
        1: "potential_loyalists",  # R5 F3
        2: "about_to_sleep",  # R3 F1
        3: "at_risk",  # R2 F4
        4: "hibernating",  # R1 F1
        5: "loyal",  # R4 F5
    }


def test_ten_customers_fill_each_quintile_with_two() -> None:
    result = score(orders(*((c, "2026-10-01T00:00Z", float(c)) for c in range(10, 0, -1))), AS_OF)
    assert result["m"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_a_date_counts_calendar_days_and_a_datetime_whole_days() -> None:
    late = orders((1, "2026-10-31T23:00Z", 10.0), (2, "2026-11-01T08:00Z", 10.0))
    assert by_customer(score(late, AS_OF), "recency_days") == {1: 1, 2: 0}
    noon = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert by_customer(score(late, noon), "recency_days") == {1: 0, 2: 0}
    assert score(late, noon - timedelta(hours=5))["customer_id"].tolist() == [1]


def test_timestamps_in_other_zones_are_compared_in_utc() -> None:
    madrid = orders((1, "2026-10-31T23:30Z", 10.0))
    madrid["ordered_at"] = madrid["ordered_at"].dt.tz_convert("Europe/Madrid")  # Nov 1 local
    assert by_customer(score(madrid, AS_OF), "recency_days") == {1: 1}


def test_no_counted_orders_give_an_empty_frame() -> None:
    result = score(orders((1, "2026-10-01T00:00Z", -5.0)), AS_OF)
    assert result.empty
    assert list(result.columns) == COLUMNS


def test_bad_input_is_refused() -> None:
    naive = orders((1, "2026-10-01T00:00Z", 5.0))
    naive["ordered_at"] = naive["ordered_at"].dt.tz_localize(None)
    with pytest.raises(RfmInputError, match="aware"):
        score(naive, AS_OF)
    with pytest.raises(RfmInputError, match="naive"):
        score(orders((1, "2026-10-01T00:00Z", 5.0)), datetime(2026, 11, 1))  # noqa: DTZ001
    with pytest.raises(RfmInputError, match="amount"):
        score(pd.DataFrame({"customer_id": [1], "ordered_at": [AS_OF]}), AS_OF)


def test_default_map_names_each_of_the_25_cells_exactly_once() -> None:
    grid = DEFAULT_SEGMENT_MAP.grid()
    assert grid.shape == (5, 5)
    cells = {name: int((grid == name).sum()) for name in DEFAULT_SEGMENT_MAP.names}
    assert cells == {
        "champions": 2,
        "loyal": 4,
        "potential_loyalists": 4,
        "new_customers": 1,
        "promising": 1,
        "need_attention": 1,
        "about_to_sleep": 2,
        "at_risk": 4,
        "cant_lose": 2,
        "hibernating": 4,
    }
    assert sum(cells.values()) == 25
    assert DEFAULT_SEGMENT_MAP.name_of(5, 1) == "new_customers"
    assert DEFAULT_SEGMENT_MAP.name_of(1, 5) == "cant_lose"


def test_a_custom_map_is_used_and_must_cover_the_grid_once() -> None:
    halves = SegmentMap({"recent": ((3, 5), (1, 5)), "lapsed": ((1, 2), (1, 5))})
    assert set(score(SHOP, AS_OF, segment_map=halves)["segment"]) == {"recent", "lapsed"}
    with pytest.raises(ConfigError, match=r"unnamed cells R1F1, R1F2"):
        SegmentMap({"recent": ((2, 5), (1, 5)), "some": ((1, 1), (3, 5))})
    with pytest.raises(ConfigError, match=r"named twice R3F1 \(a, b\)"):
        SegmentMap({"a": ((3, 5), (1, 5)), "b": ((1, 3), (1, 5))})
    with pytest.raises(ConfigError, match="1-5"):
        SegmentMap({"all": ((0, 5), (1, 5))})


order_rows = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=12),  # customer
        st.integers(min_value=-400, max_value=10),  # day relative to as_of
        st.integers(min_value=-3, max_value=5_000).map(lambda cents: cents / 100),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=order_rows, seed=st.randoms(use_true_random=False))
def test_row_order_never_changes_the_result(
    rows: list[tuple[int, int, float]], seed: random.Random
) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    moments = [start + timedelta(days=row[1]) for row in rows]
    frame = pd.DataFrame(
        {
            "customer_id": [row[0] for row in rows],
            "ordered_at": pd.to_datetime(moments, utc=True),
            "amount": [row[2] for row in rows],
        },
    )
    shuffled = frame.sample(frac=1.0, random_state=seed.randint(0, 2**31))
    pd.testing.assert_frame_equal(score(frame, AS_OF), score(shuffled, AS_OF))
