"""Log output: JSON lines on request, in any case spelling; a bad value is a config error."""

import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging
from core.errors import ConfigError
from core.settings import load_settings


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_level_logger_message_and_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEGBOT_LOG_FORMAT", "JSON")
    monkeypatch.setenv("SEGBOT_LOG_LEVEL", "warning")
    configure_logging(load_settings())
    log = logging.getLogger("segbot.test")
    log.info("not shown at WARNING")
    try:
        raise ValueError("bad row")
    except ValueError:
        log.exception("import failed for %d rows", 3)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "segbot.test"
    assert entry["message"] == "import failed for 3 rows"
    assert "ValueError: bad row" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_an_unknown_format_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGBOT_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="SEGBOT_LOG_FORMAT"):
        load_settings()
