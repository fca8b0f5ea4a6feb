"""Whom a trait holds for, hand-computed, and names made only of traits that hold for a
clear majority of a segment."""

import numpy as np
import pandas as pd

from segments.ai.profiles import NAME_MAJORITY, statistical_name
from segments.ai.traits import Trait, middle_sides, number_traits, share_traits


def trait(label: str, share: float) -> Trait:
    return Trait(f"tag:{label}", "interests", f"tag {label}", label, 1.0, share, 0.2)


def test_above_and_below_the_middle_count_who_is_on_each_side() -> None:
    values = pd.Series([0, 0, 0, 1, 2, np.nan], index=[10, 11, 12, 13, 14, 15])
    above, below = middle_sides(values)
    # 0: nobody known below, two above -> below the middle; 1: three below, one above.
    assert above.to_dict() == {10: False, 11: False, 12: False, 13: True, 14: True, 15: False}
    assert below.to_dict() == {10: True, 11: True, 12: True, 13: False, 14: False, 15: False}
    # A value with as many below as above is in the middle: neither.
    above, below = middle_sides(pd.Series([1.0, 2.0, 3.0]))
    assert (above.tolist(), below.tolist()) == ([False, False, True], [True, False, False])


def test_a_number_trait_shows_the_share_of_the_cluster_and_of_the_audience() -> None:
    clicks = pd.Series([0.0, 0.0, 0.0, 1.0, 5.0, 6.0, 7.0, 9.0])
    clusters = pd.Series([0, 0, 0, 0, 1, 1, 1, 1])
    found = number_traits("clicks", "engagement", clicks, clusters)
    high, low = found[1], found[0]
    assert (high.key, high.label, high.share, high.audience) == (
        "clicks:high", "frequent clickers", 1.0, 0.5,
    )  # fmt: skip
    assert high.text.startswith("frequent clickers: 100% (audience 50%), link clicks ")
    assert (low.key, low.share, low.audience) == ("clicks:low", 1.0, 0.5)
    assert low.text.startswith("rare clickers: 100% (audience 50%)")


def test_a_difference_too_small_to_show_is_no_trait() -> None:
    """Everyone subscribed minutes ago: "subscribed 0 days (audience 0 days)" says
    nothing, however far apart in standard deviations the fractions of a day are."""
    minutes = pd.Series([0.001, 0.001, 0.002, 0.002, 0.02, 0.02, 0.03, 0.03])
    clusters = pd.Series([0, 0, 0, 0, 1, 1, 1, 1])
    assert number_traits("tenure", "engagement", minutes, clusters) == {}
    assert set(number_traits("tenure", "engagement", minutes * 1000, clusters)) == {0, 1}


def test_not_buying_holds_for_those_without_an_order() -> None:
    buyer = pd.Series([1, 1, 1, 1, 1, 0, 0, 0, 0, 1])
    clusters = pd.Series([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    found = share_traits("buyer", "rfm", buyer, clusters, both_ways=True)
    assert (found[0].key, found[0].share, found[0].audience) == ("buyer:high", 1.0, 0.6)
    assert found[0].text == "buyers: 100% (audience 60%)"
    assert (found[1].key, found[1].share, found[1].audience) == ("buyer:low", 0.8, 0.4)
    assert found[1].text == "non-buyers: 80% (audience 40%)"


def test_a_name_uses_only_traits_held_by_a_clear_majority() -> None:
    assert NAME_MAJORITY == 0.6
    traits = [trait("ES", 0.9), trait("deals", 0.59), trait("readers", 0.6), trait("vip", 0.7)]
    assert statistical_name(2, traits) == "AI 2: ES, readers, vip"
    assert statistical_name(3, [trait("deals", 0.39)]) == "AI 3: mixed"
    assert statistical_name(4, []) == "AI 4: typical subscribers"
