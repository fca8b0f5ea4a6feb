"""`segbot.yaml`: behaviour (quiz, ladder rules, activity thresholds, CRM connectors).

This module reads the file into sections and owns the one way a validation mistake is
told: `validated(model, content, where)` turns pydantic's errors into a single
`ConfigError` line naming each wrong key (`crm.connectors.0.kind: ...`). Each package
keeps the pydantic model of its own section, so core knows nothing of what they mean;
the application's typed config (`bot.config.AppConfig`) puts them together, once.

A YAML syntax mistake is told where it is (`yaml_mistake`), which is not always where
PyYAML noticed it: a quote left open is found only where the file ends, or lines later
where the next quote closes it.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.error import Mark, MarkedYAMLError
from yaml.reader import ReaderError

from core.errors import ConfigError

ConfigSections = dict[str, Any]
Location = tuple[int | str, ...]
M = TypeVar("M", bound=BaseModel)


def load_config_file(path: Path | None) -> ConfigSections:
    """The top-level sections of the YAML file at `path`; no file means every default."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"SEGBOT_CONFIG: no such file: {path}") from None
    except OSError as error:
        raise ConfigError(f"SEGBOT_CONFIG: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start})") from None
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML at {yaml_mistake(text, error)}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: expected sections (a mapping) at the top level")
    return content


# A flow collection PyYAML was reading when it stopped: the bracket that opened it.
_BRACKETS = {"while parsing a flow sequence": "[", "while parsing a flow mapping": "{"}


def yaml_mistake(text: str, error: yaml.YAMLError) -> str:
    """Where the syntax mistake that stopped PyYAML reading `text` is, and what it is, on
    one line: `line 2, column 19: a quote opened here is never closed`.

    PyYAML names the place it noticed the mistake. For a quote, [ or { left open that is
    the end of the file, and for a quote closed lines later by the next quote it is that
    later line; the mistake is where that quote or bracket opened, so that is what is told.
    """
    if isinstance(error, ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        code = error.character if isinstance(error.character, int) else ord(error.character)
        return f"line {line}, column {column}: {error.reason} (character #x{code:04x})"
    if not isinstance(error, MarkedYAMLError) or error.problem_mark is None:
        return " ".join(str(error).split())
    noticed, opened = error.problem_mark, error.context_mark
    if opened is not None and error.context == "while scanning a quoted scalar":
        return f"{_at(opened)}: a quote opened here is never closed"
    quote = _quote_closed_on(text, noticed.line)
    if quote is not None:
        return (
            f"{_at(quote)}: a quote opened here is closed only on line {noticed.line + 1} "
            "(is a closing quote missing?)"
        )
    bracket = _BRACKETS.get(error.context or "")
    if opened is not None and bracket is not None and noticed.line > opened.line:
        return (
            f"{_at(opened)}: the {bracket} opened here is not closed before line "
            f"{noticed.line + 1} ({error.problem})"
        )
    if opened is not None and noticed.index >= len(text):  # still open at the end
        what = f"the {bracket}" if bracket else (error.context or "").removeprefix("while ")
        return f"{_at(opened)}: {what} opened here is never closed"
    return f"{_at(noticed)}: {error.problem}"


def _quote_closed_on(text: str, line: int) -> Mark | None:
    """Where a quoted value that spans lines and ends on `line` opens, if one does: in a
    config file that is nearly always a quote left open, closed by the next one."""
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            start: Mark = token.start_mark
            end: Mark = token.end_mark
            if start.line > line:
                break
            quoted = isinstance(token, yaml.ScalarToken) and token.style in ("'", '"')
            if quoted and start.line < end.line == line:
                return start
    except yaml.YAMLError:  # the mistake itself: every token before it has been seen
        pass
    return None


def _at(mark: Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


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
