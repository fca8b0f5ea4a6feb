from pathlib import Path

import pytest

from core.config import load_config_file
from core.errors import ConfigError


def test_no_file_means_defaults() -> None:
    assert load_config_file(None) == {}


def test_sections_are_read(tmp_path: Path) -> None:
    path = tmp_path / "segbot.yaml"
    path.write_text("crm:\n  connectors: []\nquiz:\n  skippable: true\n")
    assert load_config_file(path) == {"crm": {"connectors": []}, "quiz": {"skippable": True}}


def test_an_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "segbot.yaml"
    path.write_text("")
    assert load_config_file(path) == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("crm: [unclosed", "not valid YAML at line 1"),
        ("- just\n- a list\n", "expected sections"),
    ],
)
def test_bad_files_are_named_with_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "segbot.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config_file(path)


def test_a_missing_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SEGBOT_CONFIG: no such file"):
        load_config_file(tmp_path / "absent.yaml")
