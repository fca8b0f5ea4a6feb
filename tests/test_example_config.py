"""The shipped segbot.example.yaml is valid for every package that reads a section of it."""

from pathlib import Path

from bot.behaviour import load_behaviour
from broadcasts.config import load_broadcasts_config
from broadcasts.reports import load_reports_config
from core.config import load_config_file
from crm_sync.config import load_crm_config
from segments.ai.config import load_ai_config
from segments.config import load_segments_config

EXAMPLE = Path(__file__).parent.parent / "segbot.example.yaml"


def test_the_example_configuration_loads() -> None:
    sections = load_config_file(EXAMPLE)
    crm = load_crm_config(sections)
    segments = load_segments_config(sections)
    load_behaviour(sections)
    assert [connector.name for connector in crm.connectors] == ["shop", "pos", "retailcrm", "crm"]
    assert segments.refresh.refresh_every_minutes == 15
    assert segments.ladder.step_down_after_days == 30
    assert load_reports_config(sections).attribution_days == 7
    broadcasts = load_broadcasts_config(sections)
    assert (broadcasts.best_hour.fallback_hour, broadcasts.paid_broadcasts.enabled) == (18, False)
    ai = load_ai_config(sections)
    assert (ai.k_min, ai.k_max) == (3, 8)
    assert ai.hint("country:ES") is not None
