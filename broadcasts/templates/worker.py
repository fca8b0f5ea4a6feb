"""The child process that renders a template being saved (see broadcasts.templates.check).

Reads {"templates": [{"source", "caption"}, ...], "memory"} as JSON on stdin; writes
{"results": [...]} on stdout, one per template up to the first that fails: {"sample":
text} or {"error": class name, "message": text}. Before touching the template it caps
its own address space at `memory` bytes and halves Python's recursion room, so a
template that passes here still compiles and renders in a process whose stack is
already deep (the sender, a chat handler).
"""

import json
import resource
import sys

from broadcasts.telegram_html import TelegramHtmlError
from broadcasts.templates import TemplateError, TemplateLimitError, sample_text


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    memory: int = request["memory"]
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        memory = min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    sys.setrecursionlimit(sys.getrecursionlimit() // 2)
    results: list[dict[str, str]] = []
    for template in request["templates"]:
        result = _sample(template["source"], caption=template["caption"], memory=memory)
        results.append(result)
        if "error" in result:
            break
    sys.stdout.write(json.dumps({"results": results}))


def _sample(source: str, *, caption: bool, memory: int) -> dict[str, str]:
    try:
        return {"sample": sample_text(source, caption=caption)}
    except (TemplateError, TelegramHtmlError) as error:
        return {"error": type(error).__name__, "message": str(error)}
    except MemoryError:
        return {
            "error": TemplateLimitError.__name__,
            "message": f"template limit: checking it took more than {memory // 2**20} MB of memory",
        }


if __name__ == "__main__":
    main()
