"""Campaign reports, audience reports and exports on unusual data: clicks on messages whose
send is unknown, several runs with orders in several currencies at the window's edge,
stored names that look like terminal markup, a person leaving twice in a day, and exports
that fail half-way or whose reader stops early."""

import asyncio
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from broadcasts.models import DeliveryStatus
from broadcasts.reports import audience_stats, campaign_report
from broadcasts.reports.trends import subscribers_by_day
from cli import app as segbot
from core.models import Event, EventType, Subscriber
from crm_sync.models import Order
from segments.saved import save_segment
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.broadcasts.reports.scenario import (
    SENT_AT,
    T0,
    Purchase,
    add_deliveries,
    add_purchases,
    add_run,
)
from tests.cli import conftest as cli_tests
from tests.cli.conftest import invoke

SEGBOT = str(Path(sys.executable).parent / "segbot")
runner = cli_tests.runner  # the CLI tests' runner, for `segbot report` and `segbot export`
AFTER = T0 + timedelta(days=60)  # every window closed
SENT, HELD_OUT = DeliveryStatus.SENT, DeliveryStatus.EXCLUDED
A_B = """
name: {name}
goal: {goal}
holdout: 20
audience:
  - query: "lang = en"
    label: all
    variants:
      - {{name: a, split: 50, text: "A https://shop.example/a"}}
      - {{name: b, split: 50, text: "B https://shop.example/b"}}
"""


async def test_clicks_on_messages_whose_send_is_unknown_are_not_counted(
    session: AsyncSession,
) -> None:
    # Telegram took two messages but did not answer in time (unknown); their recipients
    # clicked. Clicks count for messages sent, so CTR stays a share of them.
    s = await add_subscribers(session, 4)
    campaign = await campaign_from(session, A_B.format(name="clicky", goal="clicks"))
    (target,) = campaign.targets
    a, b = target.variants
    rows = [
        (s[0], target.id, a.id, SENT, None),
        (s[1], target.id, a.id, DeliveryStatus.UNKNOWN, "timeout"),
        (s[2], target.id, a.id, DeliveryStatus.UNKNOWN, "timeout"),
        (s[3], target.id, b.id, SENT, None),
    ]
    deliveries = await add_deliveries(
        session, await add_run(session, campaign), rows, sent_at=SENT_AT
    )
    clickers = (s[1], s[2], s[3])
    await session.execute(
        insert(Event),
        [
            {
                "subscriber_id": subscriber, "type": EventType.LINK_CLICK.value,
                "occurred_at": SENT_AT + timedelta(hours=1),
                "delivery_id": deliveries[subscriber], "payload": {},
            }
            for subscriber in clickers
        ],
    )  # fmt: skip
    await session.commit()

    report = await campaign_report(session, campaign_id=campaign.id, now=AFTER)

    variant_a, variant_b = report.rows
    assert (variant_a.counts.sent, variant_a.counts.unknown) == (1, 2)
    assert (variant_a.counts.clicked, variant_a.counts.clicks, variant_a.counts.ctr) == (0, 0, 0.0)
    assert (variant_b.counts.clicked, variant_b.counts.ctr) == (1, 1.0)
    (ab,) = report.ab
    assert [(v.variant, v.sent, v.successes) for v in ab.variants] == [("b", 1, 1), ("a", 1, 0)]


async def test_two_runs_in_two_currencies_agree_with_a_count_by_hand(
    session: AsyncSession,
) -> None:
    # Run 1 sends s1 a, s2 b, s4 a and holds out s3, s5; run 2 sends s1 b (a second
    # variant), s3 a (held out before) and s6 b, and holds out s5 again.
    s = await add_subscribers(session, 6)
    campaign = await campaign_from(session, A_B.format(name="weekly", goal="conversions"))
    (target,) = campaign.targets
    a, b = target.variants
    second_start = T0 + timedelta(days=10)
    first, second = (
        await add_run(session, campaign),
        await add_run(session, campaign, started_at=second_start),
    )
    second_sent = second_start + timedelta(minutes=1)
    await add_deliveries(
        session, first,
        [(s[0], target.id, a.id, SENT, None), (s[1], target.id, b.id, SENT, None),
         (s[3], target.id, a.id, SENT, None), (s[2], target.id, a.id, HELD_OUT, "holdout"),
         (s[4], target.id, a.id, HELD_OUT, "holdout")],
        sent_at=SENT_AT,
    )  # fmt: skip
    await add_deliveries(
        session, second,
        [(s[0], target.id, b.id, SENT, None), (s[2], target.id, a.id, SENT, None),
         (s[5], target.id, b.id, SENT, None), (s[4], target.id, a.id, HELD_OUT, "holdout")],
        sent_at=second_sent,
    )  # fmt: skip
    day = timedelta(days=1)
    await add_purchases(
        session,
        {f"C{number + 1}": subscriber for number, subscriber in enumerate(s)},
        [
            Purchase("C2", SENT_AT, 3.0),  # the very moment of the send: in
            Purchase("C1", SENT_AT + day, 10.0),
            Purchase("C3", SENT_AT + 2 * day, 5.0),  # held out in run 1: the holdout's
            Purchase("C4", SENT_AT + day, 50.0, counts=False),  # refunded
            Purchase("C1", second_sent + day, 20.0),
            Purchase("C5", second_sent + day, 7.0),
            Purchase("C6", second_sent + 7 * day, 9.0),  # the window's last moment: in
            Purchase("C6", second_sent + 7 * day + timedelta(microseconds=1), 1.0),  # out
        ],
    )
    await session.execute(
        update(Order).where(Order.ordered_at > second_start).values(currency="USD")
    )
    await session.commit()

    report = await campaign_report(session, campaign_id=campaign.id, now=AFTER)

    funnel = [
        (row.run_id, row.variant, row.counts.sent, row.counts.excluded.get("holdout", 0),
         row.counts.conversions, row.counts.revenue)
        for row in report.rows
    ]  # fmt: skip
    assert funnel == [
        (first.id, "a", 2, 2, 1, 10.0),
        (first.id, "b", 1, 0, 1, 3.0),
        (second.id, "a", 1, 1, 0, 0.0),
        (second.id, "b", 2, 0, 2, 29.0),
    ]
    assert report.currencies == ("EUR", "USD")
    lifts = [
        (lift.run_id, lift.messaged, lift.messaged_converted, lift.holdout, lift.holdout_converted)
        for lift in report.lift
    ]
    assert lifts == [(None, 5, 3, 1, 1), (first.id, 3, 2, 2, 1), (second.id, 3, 2, 1, 1)]
    every_run = report.ab[0]
    assert every_run.mixed == 1  # s1, sent a and then b
    assert sorted((v.variant, v.sent, v.successes) for v in every_run.variants) == [
        ("a", 2, 0),
        ("b", 2, 2),
    ]


async def test_segment_names_that_look_like_markup_are_shown_as_written(
    runner: CliRunner, session: AsyncSession
) -> None:
    (subscriber,) = await add_subscribers(session, 1)
    for name in ("[/]", "[bold]loud"):
        await save_segment(session, name=name, rule_text="lang = en", now=datetime.now(UTC))
    await session.execute(
        update(Subscriber).where(Subscriber.id == subscriber).values(source="[/utm]")
    )
    await session.commit()

    result = await invoke(runner, segbot.app, "report", "segments")

    assert result.exit_code == 0, result.output
    assert "│ [/]  " in result.output
    assert "│ [bold]loud " in result.output
    assert "source: [/utm]" in result.output


async def test_an_export_that_fails_leaves_the_earlier_file_as_it_was(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await add_subscribers(session, 2)
    await save_segment(session, name="english", rule_text="lang = en", now=datetime.now(UTC))
    await session.commit()
    exported = tmp_path / "audience.csv"
    exported.write_bytes(b"telegram_id\r\n7\r\n")
    exported.chmod(0o600)  # hashed contacts or ids: for its owner's eyes

    failed = await invoke(
        runner, segbot.app, "export", "englsh", "--format", "ids", "--out", str(exported)
    )

    assert failed.exit_code == 1
    assert "no segment named 'englsh'" in failed.output
    assert exported.read_bytes() == b"telegram_id\r\n7\r\n"
    assert sorted(tmp_path.iterdir()) == [exported]  # noqa: ASYNC240

    done = await invoke(
        runner, segbot.app, "export", "english", "--format", "ids", "--out", str(exported)
    )

    assert done.exit_code == 0, done.output
    assert exported.read_bytes() == b"telegram_id\r\n1\r\n2\r\n"
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert sorted(tmp_path.iterdir()) == [exported]  # noqa: ASYNC240


async def test_an_export_to_a_folder_or_a_missing_folder_is_one_line(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await save_segment(session, name="english", rule_text="lang = en", now=datetime.now(UTC))
    await session.commit()
    missing = tmp_path / "nowhere" / "audience.csv"
    for out, reason in ((tmp_path, "Is a directory"), (missing, "No such file or directory")):
        result = await invoke(runner, segbot.app, "export", "english", "--out", str(out))
        assert result.exit_code == 1
        assert result.output.strip().splitlines()[-1] == f"error: cannot use {out}: {reason}"


async def test_an_export_whose_reader_stops_early_says_so(
    session: AsyncSession, database_url: str
) -> None:
    # `segbot export english --format ids | head -1`: far more rows than a pipe holds.
    await add_subscribers(session, 30_000)
    await save_segment(session, name="english", rule_text="lang = en", now=datetime.now(UTC))
    await session.commit()

    def export_into_head() -> tuple[int, str, str]:
        command = [SEGBOT, "export", "english", "--format", "ids"]
        environment = {**os.environ, "SEGBOT_DATABASE_URL": database_url}
        with subprocess.Popen(  # noqa: S603  (our own console script)
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment
        ) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            header = process.stdout.readline().decode()
            process.stdout.close()
            errors = process.stderr.read().decode()
            return process.wait(), header, errors

    code, header, errors = await asyncio.to_thread(export_into_head)

    assert (code, header) == (1, "telegram_id\r\n")
    assert errors == "error: the CSV's reader stopped reading before its end (broken pipe)\n"


async def test_a_person_who_stops_and_then_blocks_the_bot_left_once(
    session: AsyncSession,
) -> None:
    stopped, gone = await add_subscribers(session, 2)
    two_days_ago = NOW - timedelta(days=2)
    leaving = [
        (stopped, EventType.UNSUBSCRIBED, two_days_ago + timedelta(hours=1)),
        (stopped, EventType.BLOCKED, two_days_ago + timedelta(hours=2)),  # the same day
        (gone, EventType.DEACTIVATED, NOW - timedelta(days=1)),
    ]
    await session.execute(
        insert(Event),
        [
            {"subscriber_id": who, "type": kind.value, "occurred_at": at, "payload": {}}
            for who, kind, at in leaving
        ],
    )
    await session.commit()

    daily = await subscribers_by_day(session, now=NOW, days=7)
    stats = await audience_stats(session, now=NOW)

    assert daily.loc[daily["day"] == two_days_ago.date(), "left"].tolist() == [1]
    assert daily["left"].sum() == stats.growth[0].left == 2  # the last 7 days, in people
