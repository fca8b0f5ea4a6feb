"""What the Campaigns page draws: a message's Telegram HTML as safe page HTML that reads
exactly as the app shows it, and the month's calendar of campaigns."""

from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console.campaign_bubble import bubble_html
from bot.console.campaign_calendar import campaign_month, first_of
from broadcasts.planner import plan_run
from broadcasts.telegram_html import TelegramHtmlError, plain_text
from tests.broadcasts.audience import campaign_from, yaml_lines

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("markup", "html"),
    [
        ("Hi <b>Ann</b> &amp; <i>co</i>", "Hi <b>Ann</b> &amp; <i>co</i>"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        (
            '<a href="https://shop.example/?a=1&amp;b=&quot;2&quot;">shop</a>',
            '<a href="https://shop.example/?a=1&amp;b=&#34;2&#34;" target="_blank" '
            'rel="noopener noreferrer">shop</a>',
        ),
        ('<span class="tg-spoiler">-20%</span>', "<mark>-20%</mark>"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> ok', "👍 ok"),
        ('<pre><code class="language-python">x = 1</code></pre>', "<pre><code>x = 1</code></pre>"),
        ("<blockquote expandable>quoted</blockquote>", "<blockquote>quoted</blockquote>"),
    ],
)
def test_telegram_html_is_rebuilt_from_a_fixed_set_of_elements(markup: str, html: str) -> None:
    assert str(bubble_html(markup)) == html


def test_what_telegram_would_refuse_is_refused() -> None:
    with pytest.raises(TelegramHtmlError):
        bubble_html('<a href="javascript:alert(1)">x</a>')
    with pytest.raises(TelegramHtmlError):
        bubble_html("<img src=x onerror=alert(1)>")


class _Text(HTMLParser):
    """The text a browser shows of some HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def test_the_bubble_reads_as_the_subscriber_reads_it() -> None:
    markup = (
        'María &lt;VIP&gt; &amp; <b>"Family"</b>\n<i>-20%</i> <a href="https://x.example">go</a>'
    )
    shown = _Text()
    shown.feed(str(bubble_html(markup)))
    assert "".join(shown.parts) == plain_text(markup) == 'María <VIP> & "Family"\n-20% go'


async def test_the_calendar_puts_each_campaign_on_its_days(session: AsyncSession) -> None:
    await campaign_from(
        session, yaml_lines("name: launch", "default: {text: Hi}", "schedule:",
                            "  at: 2026-12-24T10:00:00", "  timezone: Europe/Madrid"),
        now=NOW,
    )  # fmt: skip
    await campaign_from(
        session, yaml_lines("name: twice", "default: {text: Hi}", "schedule:",
                            "  cron: '0 9 1,14 * *'"),
        now=NOW,
    )  # fmt: skip
    sent = await campaign_from(session, yaml_lines("name: sent", "default: {text: Hi}"), now=NOW)
    await plan_run(session, campaign=sent, now=NOW - timedelta(days=2))
    await campaign_from(session, yaml_lines("name: draft", "default: {text: Hi}"), now=NOW)
    month = await campaign_month(session, first=date(2026, 12, 1), now=NOW)
    busy = {day.day.day: [c.name for c in day.campaigns] for day in month.busy_days}
    # The 1st's occurrence of the cron line was before now: only runs show what went out.
    assert busy == {1: ["sent"], 14: ["twice"], 24: ["launch"]}
    assert month.title == "December 2026"
    assert (month.previous, month.next) == ("2026-11", "2027-01")
    assert month.weeks[0][0].day == date(2026, 11, 30)  # weeks start on Monday
    assert not month.weeks[0][0].in_month


def test_a_month_is_a_year_and_a_month() -> None:
    assert first_of("2027-02", today=NOW.date()) == date(2027, 2, 1)
    assert first_of(None, today=NOW.date()) == date(2026, 12, 1)
    with pytest.raises(ValueError, match="like 2026-05"):
        first_of("February", today=NOW.date())
