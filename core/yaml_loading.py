"""YAML files people write (campaigns, journeys), read as `yaml.safe_load` reads them but
stricter: a key given twice in one mapping is refused, not silently replaced by the later
one, and so is nesting deeper than any such file needs, before it exhausts Python's
recursion limit. Every refusal names the line.
"""

from collections.abc import Hashable
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.nodes import MappingNode, Node

from core.config import yaml_mistake
from core.errors import SegbotError

MAX_DEPTH = 32  # mappings and lists inside one another; a campaign or journey needs about 8
_MERGE = "tag:yaml.org,2002:merge"  # `<<: *base`, whose keys the mapping's own may replace


class YamlFileError(SegbotError):
    """The text is not YAML, repeats a key in a mapping or nests too deeply; the message says
    where: `not valid YAML at line 4, column 1: 'name' is given twice (first on line 1)`."""


def load_yaml(text: str) -> Any:
    """The data in YAML `text`; YamlFileError naming the line of the first problem."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (_Loader is a SafeLoader)
    except yaml.YAMLError as error:
        raise YamlFileError(f"not valid YAML at {yaml_mistake(text, error)}") from None


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self._depth == MAX_DEPTH:
            problem = f"nested more than {MAX_DEPTH} levels deep"
            event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
            raise ComposerError(None, None, problem, event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Hashable, Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeConstructor refuses it
            first = seen.setdefault(key, key_node.start_mark)
            if first is not key_node.start_mark:
                problem = f"{key!r} is given twice (first on line {first.line + 1})"
                raise ConstructorError(None, None, problem, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)
