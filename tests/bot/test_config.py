"""segbot.yaml as one typed `AppConfig`: the shipped example loads, every default holds
without a file, and each mistake is one ConfigError line naming where it is."""

from pathlib import Path

import pytest

from bot.config import AppConfig, load_app_config, parse_app_config
from core.errors import ConfigError

EXAMPLE = Path(__file__).parent.parent.parent / "segbot.example.yaml"


def test_the_example_configuration_loads() -> None:
    config = load_app_config(EXAMPLE)
    assert [connector.name for connector in config.crm.connectors] == [
        "shop", "pos", "retailcrm", "crm",
    ]  # fmt: skip
    assert config.segments.refresh.refresh_every_minutes == 15
    assert config.segments.ladder.step_down_after_days == 30
    assert config.reports.attribution_days == 7
    broadcasts = config.broadcasts
    assert (broadcasts.best_hour.fallback_hour, broadcasts.paid_broadcasts.enabled) == (18, False)
    assert (config.ai.k_min, config.ai.k_max) == (3, 8)
    assert config.ai.hint("country:ES") is not None


def test_no_file_is_every_default() -> None:
    config = load_app_config(None)
    assert config == AppConfig()
    assert [question.id for question in config.quiz.questions]  # the shipped quiz
    assert config.tracking.store_message_text is False
    assert "champions" in config.rfm_names


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"crn": {}}, "unknown section crn"),
        ({"reports": {"attribution_days": 0}}, "reports.attribution_days: "),
        (
            {"broadcasts": {"best_hour": {"fallback_hour": 24}}},
            "broadcasts.best_hour.fallback_hour",
        ),
        ({"tracking": {"store_text": True}}, "tracking.store_text: "),
        ({"ai": {"k_min": 9, "k_max": 3}}, "ai: k_min must not exceed k_max"),
        ({"activity": {"window_days": -1}}, "activity.window_days: "),
        ({"quiz": {"questions": "none"}}, "quiz.questions: "),
        (
            {
                "quiz": {
                    "questions": [{"id": "q", "text": {}, "options": [{"id": "a", "label": "A"}]}]
                }
            },
            "quiz.questions.0.text: give a text, or one per language",
        ),
        (
            {
                "quiz": {
                    "questions": [
                        {"id": "q", "text": {"en": " "}, "options": [{"id": "a", "label": "A"}]}
                    ]
                }
            },
            "quiz.questions.0.text: a text is empty",
        ),
        (
            {
                "quiz": {
                    "questions": [
                        {
                            "id": "q",
                            "text": {"spanish": "Hola"},
                            "options": [{"id": "a", "label": "A"}],
                        }
                    ]
                }
            },
            "'spanish' is not a language code",
        ),
        ({"crm": {"connectors": [{"name": "x"}]}}, "crm.connectors.0"),
        (
            {"segments": {"refresh_every_minutes": 5_000_000_000}},
            "segments.refresh_every_minutes: Input should be less than or equal to 10080",
        ),
        (
            {"crm": {"connectors": [{"name": "x", "type": "files", "every_minutes": 10**13}]}},
            "less than or equal to 10080",
        ),
    ],
)
def test_a_mistake_is_one_line_naming_its_key(sections: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")) as raised:
        parse_app_config(sections)
    assert "\n" not in str(raised.value)


def test_a_retired_key_still_loads() -> None:
    """crm.stale_run_minutes no longer does anything (a sync holds a lock its process
    loses when it dies), but files that set it keep working."""
    config = parse_app_config({"crm": {"stale_run_minutes": 30}})
    assert config.crm.connectors == ()


@pytest.mark.parametrize(
    ("content", "where"),
    [
        # PyYAML notices an unclosed quote only at the end of the file (line 5)...
        ('crm:\n  default_region: "ES\nreports:\n  attribution_days: 7\n', "line 2, column 19"),
        # ...or where the next quote closes it, lines later (line 4).
        ("crm:\n  default_region: 'ES\nreports:\n  title: 'x'\n", "line 2, column 19"),
        ("crm:\n  connectors: [{name: shop\nreports:\n  attribution_days: 7\n", "line 2"),
        ("crm:\n  default_region: ES\n   refunds: x\n", "line 3, column 11"),
        # a section given twice: the first would be dropped without a word
        ("crm:\n  default_region: ES\nreports: {}\ncrm:\n  default_region: PT\n", "line 4"),
    ],
)
def test_a_yaml_mistake_is_told_where_it_is(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "segbot.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"not valid YAML at {where}") as raised:
        load_app_config(path)
    assert "\n" not in str(raised.value)


def test_an_unclosed_quote_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "segbot.yaml"
    path.write_text('quiz:\n  intro: "Welcome!\nreports:\n  attribution_days: 7\n')
    with pytest.raises(ConfigError) as raised:
        load_app_config(path)
    assert str(raised.value) == (
        f"{path}: not valid YAML at line 2, column 10: a quote opened here is never closed"
    )
