"""The console's Segments page: the saved segments with their sizes, and the builder.

The builder edits a rule as text, with completion (`bot.console.segment_completion`), or
adds conditions as blocks (`bot.console.segment_blocks`); as the rule changes it shows the
live count with a sample of members and why each is in (`bot.console.segment_preview`),
or the error with a caret under its place. Saving, refreshing and deleting call what the
chat's /segment_save and /segment_delete and `segbot segments refresh` call, and are
audited. The AI segments and personas section is `bot.console.segment_ai`'s (its routes
are added to this page's).
"""

import math
import time
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.admin.permissions import Permission
from bot.admin.segment_commands import name_problem
from bot.admin.segment_deletion import delete_segment
from bot.console.context import admin, audit, posted, render, requires, services
from bot.console.segment_ai import generate, persona_delete, persona_from, section_context
from bot.console.segment_blocks import FIELDS, JOINS, OPERATORS, add_condition
from bot.console.segment_completion import complete, suggestions
from bot.console.segment_list import list_context, size_chart
from bot.console.segment_preview import preview
from core.errors import SegbotError
from segments.membership import refresh_memberships, size_history
from segments.models import Segment
from segments.rules import RuleError
from segments.saved import UnknownSegmentError, save_segment

routes = web.RouteTableDef()
routes.post("/segments/ai")(generate)
routes.post("/segments/personas")(persona_from)
routes.delete(r"/segments/personas/{id:\d{1,18}}")(persona_delete)
EXAMPLE = "lang = es and clicked within 7d"
SEGMENT = r"/segments/{id:\d{1,18}}"  # longer is no row id (a BIGINT)


@routes.get("/segments")
@routes.get(SEGMENT)
@requires(Permission.REPORTS)
async def page(request: web.Request) -> web.Response:
    """The list, the builder (holding the segment the path names, if any), the AI section."""
    console = services(request)
    editing, problem, chart = None, None, None
    async with console.sessionmaker() as session:
        if "id" in request.match_info:
            editing = await session.get(Segment, int(request.match_info["id"]))
            problem = None if editing else "No such segment: it may have been deleted."
        if editing is not None:
            chart = size_chart(await size_history(session, segment_id=editing.id))
        listed = await list_context(session)
        ai = await section_context(session, console.services.ai)
    buttons = {}
    if admin(request).can(Permission.SEGMENTS):
        buttons = {"main_button": "Save segment", "main_button_form": "segment-form"}
    return render(
        request, "segments.html", status=404 if problem else 200, page_problem=problem,
        editing=editing, chart=chart, rule=editing.rule_text if editing else "",
        example=EXAMPLE, fields=FIELDS, operators=list(OPERATORS), joins=JOINS,
        **listed, **ai, **buttons,
    )  # fmt: skip


@routes.post("/segments/count")
@requires(Permission.REPORTS)
async def count(request: web.Request) -> web.Response:
    """The live count as the rule is typed: rate-limited per admin (429, Retry-After)."""
    console = services(request)
    wait = console.count_limit.take(admin(request).user_id, now=time.monotonic())
    if wait > 0:
        raise web.HTTPTooManyRequests(
            text="Too many counts: wait a moment.", headers={"Retry-After": str(math.ceil(wait))}
        )
    rule_text = (await posted(request)).get("rule", "")
    names = console.services.rfm_names
    async with console.sessionmaker() as session:
        saved = list((await session.scalars(select(Segment.name).order_by(Segment.name))).all())
        offered = suggestions(rule_text, rfm_segments=names, segment_names=saved)
        context: dict[str, Any] = {
            "suggestions": offered,
            "example": EXAMPLE,
            "found": None,
            "error": None,
        }
        if not rule_text.strip():
            return render(request, "segments_count.html", **context)
        try:
            found = await preview(
                session, rule_text=rule_text, now=console.clock(), rfm_segments=names
            )
        except RuleError as error:
            context |= {"error": str(error), "pointer": error.pointer(rule_text)}
            return render(request, "segments_count.html", status=422, **context)
    return render(request, "segments_count.html", **context | {"found": found})


@routes.post("/segments/complete")
@requires(Permission.REPORTS)
async def complete_rule(request: web.Request) -> web.Response:
    """The rule box with a suggestion put in place of the word being typed."""
    form = await posted(request)
    rule_text = complete(form.get("rule", ""), form.get("pick", ""))
    return render(request, "segments_rule.html", rule=rule_text, example=EXAMPLE)


@routes.post("/segments/blocks")
@requires(Permission.REPORTS)
async def add_block(request: web.Request) -> web.Response:
    """The rule box with one condition added; or, beside the blocks, what is wrong (422)."""
    form = await posted(request)
    try:
        rule_text = add_condition(
            form.get("rule", ""), field=form.get("field", ""), operator=form.get("op", ""),
            value=form.get("value", ""), join=form.get("join", "and"),
            rfm_segments=services(request).services.rfm_names,
        )  # fmt: skip
    except RuleError as error:
        problem = error.reason if error.position is None else f"Fix the rule first: {error}"
        response = render(request, "segments_block.html", status=422, problem=problem)
        response.headers.update({"HX-Retarget": "#block-error", "HX-Reswap": "innerHTML"})
        return response
    return render(request, "segments_rule.html", rule=rule_text, example=EXAMPLE, added=True)


@routes.post("/segments")
@requires(Permission.SEGMENTS)
async def save(request: web.Request) -> web.Response:
    """Save the segment (a new version when it exists) and count its members at once."""
    console = services(request)
    form = await posted(request)
    name, rule_text = form.get("name", "").strip(), form.get("rule", "")
    now, names = console.clock(), console.services.rfm_names
    if name and (problem := name_problem(name)) is not None:  # none: save_segment says so
        return render(request, "segments_saved.html", status=422, error=problem)
    try:
        async with console.sessionmaker() as session:
            segment = await save_segment(
                session, name=name, rule_text=rule_text, now=now, rfm_segments=names,
                owner=f"telegram:{admin(request).user_id}",
            )  # fmt: skip
    except RuleError as error:
        failed = {"error": str(error), "pointer": error.pointer(rule_text)}
        return render(request, "segments_saved.html", status=422, **failed)
    except SegbotError as error:
        return render(request, "segments_saved.html", status=422, error=str(error))
    await audit(request, "segment_save", name=segment.name, version=segment.version,
                rule=segment.rule_text)  # fmt: skip
    # Members counted now, so the list shows the segment's size (the chat's save leaves
    # it to the next scheduled refresh; a page that lists sizes would show a blank).
    (outcome,) = await refresh_memberships(
        console.sessionmaker, now=now, names=[segment.name], rfm_segments=names
    )
    async with console.sessionmaker() as session:
        listed = await list_context(session)
    return render(request, "segments_saved.html", saved=segment, outcome=outcome, **listed)


@routes.post(SEGMENT + "/refresh")
@requires(Permission.SEGMENTS)
async def refresh(request: web.Request) -> web.Response:
    console = services(request)
    segment = await _segment(request)
    try:
        (outcome,) = await refresh_memberships(
            console.sessionmaker, now=console.clock(), names=[segment.name],
            rfm_segments=console.services.rfm_names,
        )  # fmt: skip
    except UnknownSegmentError:  # deleted since it was looked up
        raise await _gone(request) from None
    await audit(request, "segment_refresh", name=segment.name, size=outcome.size)
    async with console.sessionmaker() as session:
        listed = await list_context(session)
    return render(request, "segments_list.html", refreshed=outcome, **listed)


@routes.delete(SEGMENT)
@requires(Permission.SEGMENTS)
async def delete(request: web.Request) -> web.Response:
    console = services(request)
    segment = await _segment(request)
    problem = None
    try:
        async with console.sessionmaker() as session:
            await delete_segment(
                session, name=segment.name, rfm_segments=console.services.rfm_names
            )
    except SegbotError as error:
        problem = str(error)
    else:
        await audit(request, "segment_delete", name=segment.name)
    async with console.sessionmaker() as session:
        listed = await list_context(session)
    return render(
        request, "segments_list.html", status=409 if problem else 200, list_problem=problem,
        deleted=None if problem else segment.name, **listed,
    )  # fmt: skip


async def _segment(request: web.Request) -> Segment:
    """The segment the path names; the list with a 404 notice if it is gone."""
    async with services(request).sessionmaker() as session:
        segment = await session.get(Segment, int(request.match_info["id"]))
    if segment is None:
        raise await _gone(request)
    return segment


async def _gone(request: web.Request) -> web.HTTPNotFound:
    async with services(request).sessionmaker() as session:
        listed = await list_context(session)
    gone = "No such segment: it may have been deleted."
    html = render(request, "segments_list.html", list_problem=gone, **listed).text
    return web.HTTPNotFound(text=html, content_type="text/html")
