"""The `broadcasts` section of segbot.yaml: defaults, and a mistake named by its key."""

import pytest

from broadcasts.config import load_broadcasts_config
from core.errors import ConfigError


def test_defaults_and_overrides() -> None:
    defaults = load_broadcasts_config({})
    assert (defaults.best_hour.fallback_hour, defaults.paid_broadcasts.enabled) == (18, False)
    chosen = load_broadcasts_config({"broadcasts": {"paid_broadcasts": {"enabled": True}}})
    assert chosen.paid_broadcasts.per_second == 1000


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ({"best_hour": {"fallback_hour": 24}}, "broadcasts.best_hour.fallback_hour"),
        ({"paid_broadcasts": {"per_second": 5000}}, "broadcasts.paid_broadcasts.per_second"),
        ({"paid": True}, "broadcasts.paid"),
    ],
)
def test_a_mistake_names_its_key(section: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        load_broadcasts_config({"broadcasts": section})
