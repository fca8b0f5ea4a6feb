"""Templates are bounded: a hostile template is refused when it is saved, with an error
naming the limit, and checking it runs in a child process, never in the event loop."""

import asyncio
import gc
import sys
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.campaigns import save_campaign
from broadcasts.links import UnsafeTargetError
from broadcasts.models import Campaign
from broadcasts.spec import parse_campaign
from broadcasts.telegram_html import TelegramHtmlError
from broadcasts.templates import (
    SAMPLE,
    RenderError,
    TemplateContext,
    TemplateError,
    TemplateLimitError,
    compile_template,
    render,
)
from broadcasts.templates import check as template_check
from broadcasts.templates.check import TemplateDraft, check_template, check_templates
from broadcasts.templates.limits import Budget, LimitExceeded, TemplateLimits
from tests.broadcasts.audience import NOW

NESTED_LOOPS = "{% for i in range(N) %}{% for j in range(N) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    ("source", "limit"),
    [
        (NESTED_LOOPS.replace("N", "100000"), "range\\(\\) may have at most 10000"),
        (NESTED_LOOPS.replace("N", "1000"), "loop at most 10000 times"),
        ("{% set n = customer.orders %}{{ (n+9)**99999999 }}", "at most 100 digits"),
        ("{{ 'x'*50000000 }}", "may have at most 20000"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "nest them at most 20 deep"),
        ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "at most 20 deep"),
        ("{{ first_name|center(1000000000) }}", "padding to 1000000000"),
        ("{{ '%0999999999d' % 1 }}", "padding to 999999999"),
        ("{{ '{:>999999999}'.format(1) }}", "padding to 999999999"),
        ("{{ ('x' * 10000)|replace('', 'yy') }}", "replace\\(\\) would make"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "may have at most 20000",
        ),
        (
            "{% set ns = namespace(l=[1]) %}{% for i in range(60) %}"
            "{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l }}",
            "may have at most 20000",
        ),
        (
            "{% macro m(s) %}{% for i in range(10000) %}{{ s }}{% endfor %}{% endmacro %}"
            "{{ m('x' * 20000)|length }}",
            "macros and blocks may write at most 200000",
        ),
    ],
)
async def test_a_template_past_a_limit_is_refused_at_save_naming_it(
    source: str, limit: str
) -> None:
    with pytest.raises(TemplateLimitError, match=limit):
        await check_template(source, caption=False)


@pytest.mark.parametrize(
    ("source", "refusal"),
    [
        ("{{ first_name.translate({}) }}", "cannot call str.translate"),
        ("{% set own = [1] %}{{ own.append(2) }}", "cannot call list.append"),
        ("{{ [0]|batch(1000000000, 0)|list }}", "No filter named 'batch'"),
        ("{{ lipsum(1000000) }}", "unknown variable\\(s\\) lipsum"),
        ("{{ [[1], [2]]|sum(start=[]) }}", "adds numbers only"),
        ("{{ 1.5|round(10**7, 'floor') }}", "precision from -20 to 20"),
        ("{{ [1.5]|map('round', 10**7, 'ceil')|list }}", "precision from -20 to 20"),
        ("{{ 1.5|round('2') }}", "precision from -20 to 20"),
        ("{{ " + "(" * 500 + "1" + ")" * 500 + " }}", "nests too deeply"),
    ],
)
async def test_what_templates_may_call_is_listed(source: str, refusal: str) -> None:
    with pytest.raises(TemplateError, match=refusal):
        await check_template(source, caption=False)


async def test_a_link_no_tracked_link_could_follow_is_refused_at_save() -> None:
    with pytest.raises(UnsafeTargetError, match="'https://\\[::1/x' is malformed"):
        await check_template("Go: https://[::1/x {{ first_name }}", caption=False)
    with pytest.raises(UnsafeTargetError, match="is malformed"):
        await check_template('<a href="https://shop.example:99999/">go</a>', caption=False)
    # past what browsers and PostgreSQL's index of the links keep
    with pytest.raises(UnsafeTargetError, match="a link target may have at most 2,000"):
        await check_template(f"Go: https://shop.example/{'x' * 2000}", caption=False)
    # filled in by a variable: sent as it is, untracked, so not a tracked link's target
    await check_template("Go: https://shop.example/{{ first_name }}", caption=False)
    # in a branch the sample subscriber does not take: still a link of the campaign
    untaken = "{% if customer.orders == 0 %}https://shop.example:99999/{% endif %}Hi"
    with pytest.raises(UnsafeTargetError, match="is malformed"):
        await check_template(untaken, caption=False)


async def test_a_javascript_link_is_refused_at_save() -> None:
    with pytest.raises(TelegramHtmlError, match="http://, https:// or tg://"):
        await check_template('<a href="javascript:alert(1)">hi {{ first_name }}</a>', caption=False)
    await check_template('<a href="https://shop.example/">hi {{ first_name }}</a>', caption=False)


async def test_an_ordinary_template_uses_what_marketers_write() -> None:
    source = (
        "Hi {{ first_name|default('there') }}! {% for tag in tags %}#{{ tag|upper }} {% endfor %}"
        "{{ '%.2f'|format(customer.total_spent) }} {{ '{:,}'.format(customer.orders * 1000) }} "
        "{{ attr.get('income', 'n/a') }} {{ customer.last_purchase.strftime('%d.%m.%Y') }} "
        "{{ (tags|list + ['x'])|join(', ') }} {{ 2 ** 10 }} {{ 2.675|round(1, 'floor') }}"
    )
    await check_template(source, caption=False)
    assert render(compile_template(source), SAMPLE) == (
        "Hi María-José &#34;Pepa&#34; O&#39;Brien de la Fuente &lt;VIP&gt; &amp; Family! "
        "#SAMPLE 1416.38 7,000 n/a 31.01.2026 sample, x 1024 2.6"
    )


def test_each_limit_is_kept_while_rendering() -> None:
    """The same limits hold at send time, in-process, for each subscriber's data."""
    small = TemplateLimits(
        length=100, iterations=50, range=60, digits=5, depth=3, operations=80, written=30
    )
    cases = {
        "{% for i in range(70) %}{% endfor %}": "range\\(\\) may have at most 60",
        "{% for i in range(40) %}{% for j in range(2) %}{% endfor %}{% endfor %}": "at most 50",
        "{% for t in tags %}{% for i in range(30) %}{{ i * 1 }}{% endfor %}{% endfor %}": (
            "at most 80 per message"
        ),
        "{{ 10 ** 5 }}": "at most 5",
        "{{ 'x' * 101 }}": "at most 100",
        "{% for i in range(11) %}{{ 'xxxxxxxxxx' }}{% endfor %}": "the message would have",
        "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}": "at most 3 deep",
        "{% set text %}{% for i in range(4) %}0123456789{% endfor %}{% endset %}": "at most 30",
    }
    context = TemplateContext(tags=("a", "b", "c"))
    for source, limit in cases.items():
        with pytest.raises(TemplateLimitError, match=limit):
            render(compile_template(source), context, limits=small)


def test_the_time_limit_is_cpu_time_read_as_the_template_runs_and_when_it_ends() -> None:
    """With no time at all, a template stops at its first reading of the clock, or when it
    ends: the time counts from the render's start."""
    no_time = TemplateLimits(seconds=0)
    for source in ("{% for i in range(200) %}{% endfor %}", "Hi {{ first_name }}"):
        with pytest.raises(TemplateLimitError, match="CPU time"):
            render(compile_template(source), SAMPLE, limits=no_time)


def test_the_garbage_collectors_time_during_a_render_is_not_the_templates() -> None:
    """A full collection of a large heap falls in whichever render allocates when it is
    due (a sending process's takes tens to hundreds of milliseconds): not the template's
    doing, so not counted against it; the render's own CPU time still is."""
    heap: list[list[int]] = [[] for _ in range(300_000)]  # what a full collection walks
    budget = Budget(TemplateLimits(seconds=0.02))
    started = time.thread_time()
    while time.thread_time() - started < 0.05:
        gc.collect()
    budget.check_time()  # 50 ms collecting: within 20 ms all the same

    started = time.thread_time()
    while time.thread_time() - started < 0.03:
        pass  # 30 ms of the render's own
    with pytest.raises(LimitExceeded, match="CPU time"):
        budget.check_time()
    assert len(heap) == 300_000


async def test_one_step_no_count_can_stop_still_keeps_to_the_time() -> None:
    """`select('in', items)` runs its test once per item (each use counted and timed);
    a template past the time in any one step is refused when saved."""
    quadratic = "{% set items = (' ' * 9998).split(' ') %}"
    quadratic += "{{ range(10000)|select('in', items)|list|length }}"
    with pytest.raises(TemplateLimitError, match=r"more than 0\.25 s of CPU time"):
        await check_template(quadratic, caption=False)


def test_a_template_that_fails_for_one_subscriber_says_why() -> None:
    """jinja's cycler() raises RuntimeError for no items: a render error like any other,
    which the preview and the sender name for that subscriber."""
    template = compile_template("Your pick: {{ cycler(*tags).next() }}")
    assert render(template, TemplateContext(tags=("a",))) == "Your pick: a"
    with pytest.raises(RenderError, match="at least one item has to be provided"):
        render(template, TemplateContext(tags=()))


def test_a_limit_reached_by_one_subscriber_fails_that_subscriber_only() -> None:
    template = compile_template("{{ 'x' * attr.repeat }}")
    assert render(template, TemplateContext(attr={"repeat": 3})) == "xxx"
    with pytest.raises(RenderError, match="str \\* 1000000000 would make"):
        render(template, TemplateContext(attr={"repeat": 1_000_000_000}))


async def test_checking_runs_off_the_event_loop() -> None:
    order = []

    async def meanwhile() -> None:
        order.append("the loop served another task")

    task = asyncio.create_task(meanwhile())
    await check_template("Hi {{ first_name }}", caption=False)
    order.append("the check finished")
    await task
    assert order == ["the loop served another task", "the check finished"]


async def test_a_check_that_does_not_finish_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    hanging = (sys.executable, "-c", "import time; time.sleep(600)")
    monkeypatch.setattr(template_check, "WORKER_COMMAND", hanging)
    with pytest.raises(TemplateLimitError, match="took longer than 1 s"):
        await check_template("Hi", caption=False, seconds=1)


async def test_one_check_names_the_place_of_the_first_bad_template() -> None:
    drafts = [
        TemplateDraft("Hi {{ first_name }}", place="audience vip, variant a"),
        TemplateDraft("", caption=True, place="audience vip, variant b"),
        TemplateDraft("{{ 'x' * 99999999 }}", place="default, variant a"),
    ]
    with pytest.raises(TemplateLimitError, match=r"^default, variant a: template limit"):
        await check_templates(drafts)


async def test_saving_a_campaign_refuses_a_hostile_template_and_saves_nothing(
    session: AsyncSession,
) -> None:
    text = 'name: hostile\ndefault:\n  text: "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"\n'
    with pytest.raises(TemplateLimitError, match="default, variant a: template limit: macros"):
        await save_campaign(session, spec=parse_campaign(text), now=NOW)
    assert await session.scalar(select(func.count()).select_from(Campaign)) == 0
