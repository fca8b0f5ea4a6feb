"""`segbot.yaml`: behaviour (quiz, ladder rules, activity thresholds, CRM connectors).

This module reads the file into sections and owns the one way a validation mistake is
told: `validated(model, content, where)` turns pydantic's errors into a single
`ConfigError` line naming each wrong key (`crm.connectors.0.kind: ...`). Each package
keeps the pydantic model of its own section, so core knows nothing of what they mean;
the application's typed config (`bot.config.AppConfig`) puts them together, once.

The file is read as campaign and journey files are (`core.yaml_loading`): a syntax
mistake told where it is, a key given twice refused.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import ConfigError
from core.yaml_loading import YamlFileError, load_yaml, read_yaml_file

ConfigSections = dict[str, Any]
Location = tuple[int | str, ...]
M = TypeVar("M", bound=BaseModel)
# The longest "every N minutes" a section may ask for: the schedulers that read it keep
# their next time as a date, and 10**13 minutes is past the last one there is.
MINUTES_IN_A_WEEK = 7 * 24 * 60


def load_config_file(path: Path | None, *, given_as: str = "SEGBOT_CONFIG") -> ConfigSections:
    """The top-level sections of the YAML file at `path`; no file means every default. A
    file that cannot be opened is told as `given_as` (where the user named it) says it."""
    if path is None:
        return {}
    try:
        text = read_yaml_file(path)
    except FileNotFoundError:
        raise ConfigError(f"{given_as}: no such file: {path}") from None
    except OSError as error:
        raise ConfigError(f"{given_as}: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except ValueError as error:
        raise ConfigError(f"{given_as}: cannot read {path}: {error}") from None
    try:
        content = load_yaml(text)
    except YamlFileError as error:
        raise ConfigError(f"{path}: {error}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: expected sections (a mapping) at the top level")
    return content


def config_error(error: ValidationError, *, name: Callable[[Location], str]) -> ConfigError:
    """One line for every mistake pydantic found: `name(location): message; ...`."""
    return ConfigError(
        "; ".join(
            f"{name(detail['loc'])}: {str(detail['msg']).removeprefix('Value error, ')}"
            for detail in error.errors()
        )
    )


def validated(model: type[M], content: object, where: str) -> M:
    """`content` as a `model`, or a ConfigError naming each wrong key under `where`."""
    try:
        return model.model_validate(content)
    except ValidationError as error:
        raise config_error(
            error, name=lambda location: ".".join(str(part) for part in (where, *location))
        ) from None
