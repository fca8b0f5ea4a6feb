"""Where in a YAML text a validation error's location is: its line and its path as the
text writes it, for error messages a person can go to; and a validation error's
problems, each at its place (`problems_at_places`).

A location is the path pydantic gives (`audience`, 0, `variants`, 1, `video`). The text
is followed as far as the path goes in it: a message written inline in a target (no
`variants` list) and a button given alone where a row is expected are named as they
were written (`audience.0.video`, `buttons.2.url`).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


@dataclass(frozen=True, slots=True)
class Place:
    line: int | None  # from 1; None if the text is not YAML
    path: str  # dotted, as written: audience.0.video

    def __str__(self) -> str:
        return self.path if self.line is None else f"line {self.line}, {self.path}"


def place_of(text: str, location: Sequence[int | str]) -> Place:
    """The place the location names in `text`."""
    return place_in(composed(text), location)


def composed(text: str) -> Node | None:
    """`text` as YAML nodes (which know their lines), to look for many places in; None if
    it is not YAML."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def place_in(node: Node | None, location: Sequence[int | str]) -> Place:
    """The place the location names in the YAML `node` (`composed`)."""
    parts = list(location)
    if node is None:
        return Place(None, ".".join(str(part) for part in parts))
    line, written = node.start_mark.line, []
    while parts:
        part = parts[0]
        pair = _entry(node, str(part)) if isinstance(node, MappingNode) else None
        if pair is not None:  # a key, perhaps one YAML read as a number (`1: x`)
            key, node = pair
            line = key.start_mark.line
        elif isinstance(node, MappingNode) and isinstance(part, str):
            if part != "variants" or len(parts) < 2 or not isinstance(parts[1], int):
                break
            del parts[:2]  # the one message written inline
            continue
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line
        elif not (isinstance(node, MappingNode) and isinstance(part, int)):
            break
        else:  # a mapping where a list was expected: the item was written alone
            parts.pop(0)
            continue
        written.append(str(parts.pop(0)))
    return Place(line + 1, ".".join([*written, *(str(part) for part in parts)]))


def _entry(node: MappingNode, name: str) -> tuple[Node, Node] | None:
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == name:
            return key, value
    return None


def problems_at_places(text: str, data: object, error: ValidationError) -> str:
    """The problems of `error` (validating `data`, read from `text`), each after its place,
    joined by "; ". A value that may be of several kinds (`link_preview: false`, or a
    mapping) is told about as the kind it was written: "not a boolean" is left out where
    the mapping written has a problem of its own, and the kinds' names are no place."""
    found = [
        (_as_written(data, detail["loc"], detail["type"]), detail) for detail in error.errors()
    ]
    problems = []
    for location, detail in found:
        if _WRONG_KIND.search(detail["type"]) and any(
            other[: len(location)] == location and len(other) > len(location) for other, _ in found
        ):
            continue  # written as the other kind, which has its own problem
        message = str(detail["msg"]).removeprefix("Value error, ")
        problems.append(f"{place_of(text, location)}: {message}" if location else message)
    return "; ".join(problems)


# A value of another kind than one of those allowed (bool_parsing, model_type, ...)
_WRONG_KIND = re.compile(r"_(type|parsing)$")


def _as_written(data: object, location: Sequence[int | str], kind: str) -> tuple[int | str, ...]:
    """`location` without the names pydantic gives the kinds a value may be (`bool`,
    `LinkPreviewSpec`): the parts that are not in `data`, but a missing field's name."""
    kept: list[int | str] = []
    value: Any = data
    for index, part in enumerate(location):
        inside = _part(value, part)
        if inside is not _ABSENT:
            value = inside
        elif index < len(location) - 1 or _WRONG_KIND.search(kind):
            continue  # a kind's name
        kept.append(part)
    return tuple(kept)


_ABSENT = object()


def _part(value: object, part: int | str) -> object:
    """`value[part]` of a mapping or a list, else _ABSENT."""
    if isinstance(value, dict):
        return value.get(part, _ABSENT)
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return _ABSENT
