"""Where in a YAML text a validation error's location is: its line and its path as the
text writes it, for error messages a person can go to.

A location is the path pydantic gives (`audience`, 0, `variants`, 1, `video`). The text
is followed as far as the path goes in it: a message written inline in a target (no
`variants` list) and a button given alone where a row is expected are named as they
were written (`audience.0.video`, `buttons.2.url`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


@dataclass(frozen=True, slots=True)
class Place:
    line: int | None  # from 1; None if the text is not YAML
    path: str  # dotted, as written: audience.0.video

    def __str__(self) -> str:
        return self.path if self.line is None else f"line {self.line}, {self.path}"


def place_of(text: str, location: Sequence[int | str]) -> Place:
    """The place the location names in `text`."""
    parts = list(location)
    try:
        node: Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        node = None
    if node is None:
        return Place(None, ".".join(str(part) for part in parts))
    line, written = node.start_mark.line, []
    while parts:
        part = parts[0]
        if isinstance(node, MappingNode) and isinstance(part, str):
            pair = _entry(node, part)
            if pair is None:
                if part != "variants" or len(parts) < 2 or not isinstance(parts[1], int):
                    break
                del parts[:2]  # the one message written inline
                continue
            key, node = pair
            line = key.start_mark.line
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
