"""Checking a template when it is saved, in a child process that is killed if it runs
too long or uses too much memory, so a template nobody has run before cannot stall the
bot's event loop or exhaust its host.

Why a process: the render limits (broadcasts.templates.limits) are cooperative, checked
between a template's steps. They bound every template we know how to write, and they
are what keeps each send fast; but saving is where a new template runs first, and a
hard limit there costs nothing at send time. A worker thread would not give one: it
cannot be stopped, and a long step inside Python's C code holds the interpreter lock,
blocking the event loop anyway. A child process can be killed after CHECK_SECONDS, and
its address space is capped at CHECK_MEMORY. Starting one costs a few tenths of a
second, once per save: one child checks all of a campaign's templates.

The child (broadcasts.templates.worker) parses each template, renders it for the sample
subscriber within the limits and checks the Telegram HTML; this process then rewrites
the sample's URLs to tracked links, as the sender will, and checks its length. The
child gets this process's environment without the SEGBOT_* variables (no secrets).
"""

import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from broadcasts.links import UnsafeTargetError, check_new_target, rewrite_urls, urls_in
from broadcasts.telegram_html import (
    LinkTargetError,
    MessageTooLongError,
    TelegramHtmlError,
    check_length,
)
from broadcasts.templates import (
    SAMPLE_TRACKED_URL,
    RenderError,
    TemplateError,
    TemplateLimitError,
    TemplateSyntaxError,
    UnknownVariableError,
)

CHECK_SECONDS = 10.0
CHECK_MEMORY = 512 * 2**20
# `-P`: the working directory stays off the child's import path.
WORKER_COMMAND = (sys.executable, "-P", "-m", "broadcasts.templates.worker")
# The errors the child may report, by name.
_ERRORS: dict[str, type[Exception]] = {
    error.__name__: error
    for error in (
        TemplateError,
        TemplateSyntaxError,
        UnknownVariableError,
        RenderError,
        TemplateLimitError,
        TelegramHtmlError,
        LinkTargetError,
    )
}

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TemplateDraft:
    """A template to check: a message text, or a photo's caption (which may be empty)."""

    source: str
    caption: bool = False
    place: str = ""  # where it is, to start its error with: "audience vip, variant a"


async def check_templates(
    drafts: Sequence[TemplateDraft],
    *,
    link: str = SAMPLE_TRACKED_URL,
    seconds: float = CHECK_SECONDS,
) -> None:
    """Refuse the first template that could not be sent as it is, with the error that says
    why: TemplateSyntaxError, UnknownVariableError, RenderError, TemplateLimitError
    (naming the limit, or the check's time), TelegramHtmlError, MessageTooLongError, or
    UnsafeTargetError for a URL its tracked link could not send anyone to. One child
    process checks them all. `link` is as long as the tracked links the templates' URLs
    will become."""
    results = await _samples(drafts, seconds=seconds)
    for draft, result in zip(drafts, results, strict=False):
        try:
            # Each URL written in the template is tracked, taken by the sample or not (one a
            # variable fills in reads as a stub here, and is sent untracked).
            for url in set(urls_in(draft.source)):
                check_new_target(url)
            if isinstance(result, Exception):
                raise result
            check_length(rewrite_urls(result, lambda _: link), caption=draft.caption)
        except (TemplateError, TelegramHtmlError, MessageTooLongError, UnsafeTargetError) as error:
            if draft.place:
                raise type(error)(f"{draft.place}: {error}") from None
            raise
    if len(results) < len(drafts):
        raise TemplateError("the templates could not all be checked")


async def check_template(
    source: str, *, caption: bool, link: str = SAMPLE_TRACKED_URL, seconds: float = CHECK_SECONDS
) -> None:
    """`check_templates` for one template."""
    await check_templates([TemplateDraft(source, caption)], link=link, seconds=seconds)


async def _samples(drafts: Sequence[TemplateDraft], *, seconds: float) -> list[str | Exception]:
    """Each template's sample text, up to and including the first that fails (as its
    error)."""
    request = {
        "templates": [{"source": draft.source, "caption": draft.caption} for draft in drafts],
        "memory": CHECK_MEMORY,
    }
    child = await asyncio.create_subprocess_exec(
        *WORKER_COMMAND,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_child_environment(),
    )
    try:
        async with asyncio.timeout(seconds):
            output, errors = await child.communicate(json.dumps(request).encode())
    except TimeoutError:
        raise TemplateLimitError(
            f"template limit: checking took longer than {seconds:g} s"
        ) from None
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    return _results(output, errors, child.returncode)


def _results(output: bytes, errors: bytes, returncode: int | None) -> list[str | Exception]:
    try:
        results = json.loads(output)["results"]
        return [_result(result) for result in results]
    except (ValueError, LookupError, TypeError):
        logger.error(
            "the template checker ended with code %s: %s",
            returncode,
            errors.decode(errors="replace")[-1000:],
        )
        raise TemplateError(
            f"the template could not be checked (the checker ended with {returncode})"
        ) from None


def _result(result: dict[str, str]) -> str | Exception:
    if "sample" in result:
        return str(result["sample"])
    return _ERRORS[result["error"]](str(result["message"]))


def _child_environment() -> dict[str, str]:
    """This process's environment without segbot's settings (its secrets among them),
    with this source tree importable."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("SEGBOT_")
    }
    root = str(Path(__file__).resolve().parents[2])
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return environment
