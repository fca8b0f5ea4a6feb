r"""YAML files people write (segbot.yaml, campaigns, journeys), read as `yaml.safe_load`
reads them but stricter: a key given twice in one mapping is refused, not silently replaced
by the later one, and so is nesting deeper than any such file needs, before it exhausts
Python's recursion limit, and a NUL character written as "\0" (no text segbot stores may
hold one: PostgreSQL refuses it), and a lone surrogate ("\ud800": no character, so no
text can be stored or sent with it; a pair, "\ud83d\ude00", is read as the one character
it makes). Every refusal names the line.

A syntax mistake is told where it is (`yaml_mistake`), which is not always where PyYAML
noticed it: a quote left open is found only where the file ends, or lines later where the
next quote closes it.
"""

import re
import stat
import sys
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.error import Mark, MarkedYAMLError
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.reader import ReaderError

from core.errors import SegbotError
from core.unstorable import LONE_SURROGATE

MAX_DEPTH = 32  # mappings and lists inside one another; a campaign or journey needs about 8
MAX_FILE_BYTES = 16 * 2**20  # segbot.yaml, a campaign, a journey or a mapping: far past any
_SURROGATE = re.compile(LONE_SURROGATE)
_MERGE = "tag:yaml.org,2002:merge"  # `<<: *base`, whose keys the mapping's own may replace


class YamlFileError(SegbotError):
    """The text is not YAML, repeats a key in a mapping or nests too deeply; the message says
    where: `not valid YAML at line 4, column 1: 'name' is given twice (first on line 1)`."""


def read_yaml_file(path: Path) -> str:
    """The UTF-8 text of the file at `path`. Only a regular file of at most
    `MAX_FILE_BYTES` is read: a pipe would wait for a writer for ever, and a device such as
    /dev/zero would fill the memory. OSError when it cannot be opened, UnicodeDecodeError
    when it is not UTF-8, ValueError saying why for the rest."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise ValueError("not a regular file (a folder, a pipe, a socket or a device)")
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES // 2**20} MiB: no such file needs to be")
    return data.decode("utf-8")


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

    def construct_scalar(self, node: Node) -> Any:
        value = super().construct_scalar(node)  # type: ignore[arg-type]
        if not isinstance(value, str):
            return value
        if "\x00" in value:
            problem = "a NUL character (\\0), which no text may hold"
            raise ConstructorError(None, None, problem, node.start_mark)
        if _SURROGATE.search(value):
            # "\ud83d\ude00" is how JSON writes 😀: the pair is that one character.
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
            if _SURROGATE.search(value):
                problem = "a lone surrogate (\\ud800-\\udfff), which is no character"
                raise ConstructorError(None, None, problem, node.start_mark)
        return value

    def construct_whole_number(self, node: ScalarNode) -> int:
        """A YAML integer; one of more digits than Python reads (4,300) is a mistake on
        its line, not a ValueError."""
        try:
            return int(self.construct_yaml_int(node))
        except ValueError:
            problem = f"a number of more than {sys.get_int_max_str_digits():,} digits"
            raise ConstructorError(None, None, problem, node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_whole_number)

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
