"""`segbot.yaml`: behaviour (quiz, ladder rules, activity thresholds, CRM connectors).

This module only reads the file into sections; each package validates its own section
with its own pydantic model, so core knows nothing of what the sections mean.
"""

from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

ConfigSections = dict[str, Any]


def load_config_file(path: Path | None) -> ConfigSections:
    """The top-level sections of the YAML file at `path`; no file means every default."""
    if path is None:
        return {}
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"SEGBOT_CONFIG: no such file: {path}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: expected sections (a mapping) at the top level")
    return content
