"""`segbot campaign ...` through typer's CliRunner, on the test database."""

import asyncio
import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from broadcasts.models import Delivery, DeliveryStatus
from broadcasts.planner import plan_run
from broadcasts.runs import finish_if_complete
from broadcasts.unknowns import CSV_COLUMNS
from cli.campaign import app
from core.models import Subscriber
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.cli.conftest import invoke

CAMPAIGN = """
name: welcome
audience:
  - segment: nobody_yet
    text: "x"
default:
  text: "Hello {{ first_name }}, see https://shop.example/"
"""


def campaign_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


async def test_a_bad_template_is_refused_with_the_reason(runner: CliRunner, tmp_path: Path) -> None:
    bad = "name: broken\ndefault: {text: 'Hi <b>{{ first_name }}'}\n"
    result = await invoke(runner, app, "create", campaign_file(tmp_path, bad))
    assert result.exit_code == 2
    assert "default, variant a: <b> is never closed" in result.output
    unknown = "name: broken\ndefault: {text: 'Hi {{ frist_name }}'}\n"
    result = await invoke(runner, app, "create", campaign_file(tmp_path, unknown))
    assert result.exit_code == 2
    assert "unknown variable(s) frist_name" in result.output
    result = await invoke(runner, app, "list")
    assert "no campaigns yet" in result.output


async def test_an_unknown_segment_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    result = await invoke(runner, app, "create", campaign_file(tmp_path, CAMPAIGN))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: audience nobody_yet: no segment named 'nobody_yet'; there are no segments "
        "yet (segbot segments save NAME RULE)\n"
    )


async def test_a_target_rule_that_cannot_be_used_is_refused_naming_its_target(
    runner: CliRunner, tmp_path: Path
) -> None:
    spec = (
        "name: bad\naudience:\n  - query: 'lang = es and'\n    label: spanish\n    text: Hola\n"
        "default: {text: Hi}\n"
    )
    result = await invoke(runner, app, "create", campaign_file(tmp_path, spec))
    assert result.exit_code != 0
    assert "error: audience spanish, query: at column 14" in result.stderr, result.stderr


async def test_create_preview_send_pause_resume_cancel(
    runner: CliRunner, tmp_path: Path, session: AsyncSession
) -> None:
    [first, *_] = await add_subscribers(session, 3)
    text = CAMPAIGN.replace('  - segment: nobody_yet\n    text: "x"\n', "")
    text = text.replace("audience:\n", "")
    created = await invoke(runner, app, "create", campaign_file(tmp_path, text))
    assert created.exit_code == 0, created.output
    assert "saved campaign" in created.output
    assert "draft" in created.output
    listed = await invoke(runner, app, "list")
    assert "welcome" in listed.output
    preview = await invoke(runner, app, "preview", "welcome", "--subscriber", f"id:{first}")
    assert "Hello User1, see https://shop.example/" in preview.output
    sent = await invoke(runner, app, "send-now", "welcome", "--no-wait")
    assert sent.exit_code == 0, sent.output
    assert "3 to send" in sent.output
    assert (await invoke(runner, app, "pause", "welcome")).exit_code == 0
    again = await invoke(runner, app, "pause", "welcome")
    assert again.exit_code == 1  # well formed, but not possible now
    assert "is not sending" in again.output
    assert (await invoke(runner, app, "resume", "welcome")).exit_code == 0
    cancelled = await invoke(runner, app, "cancel", "welcome")
    assert "3 queued messages will not be sent" in cancelled.output
    shown = await invoke(runner, app, "show", "welcome")
    assert "cancelled 3" in shown.output


async def run_with_unknowns(session: AsyncSession) -> int:
    """A finished run of 4 (telegram ids 1-4): 2 sent, 3 got no answer, 4 was interrupted."""
    await add_subscribers(session, 4)
    await session.execute(
        update(Subscriber).where(Subscriber.telegram_id == 3).values(username="ana")
    )
    campaign = await campaign_from(session, "name: sale\ndefault: {text: 'Hi {{ first_name }}'}\n")
    plan = await plan_run(session, campaign=campaign, now=NOW)
    outcomes = {
        1: (DeliveryStatus.SENT, None),
        2: (DeliveryStatus.SENT, None),
        3: (DeliveryStatus.UNKNOWN, "no_answer"),
        4: (DeliveryStatus.UNKNOWN, "interrupted"),
    }
    for telegram_id, (status, reason) in outcomes.items():
        whose = select(Subscriber.id).where(Subscriber.telegram_id == telegram_id)
        await session.execute(
            update(Delivery)
            .where(Delivery.run_id == plan.run.id, Delivery.subscriber_id.in_(whose))
            .values(status=status, reason=reason, claimed_at=NOW)
        )
    await finish_if_complete(session, run=plan.run, now=NOW)
    return plan.run.id


async def queued(session: AsyncSession, run_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(
            Delivery.run_id == run_id, Delivery.status == DeliveryStatus.QUEUED
        )
    )
    return count or 0


async def test_show_counts_unknowns_and_unknown_lists_who_they_are(
    runner: CliRunner, tmp_path: Path, session: AsyncSession
) -> None:
    run_id = await run_with_unknowns(session)
    shown = await invoke(runner, app, "show", "sale")
    assert f"run {run_id} (done): sent 2, unknown 2" in shown.output
    assert (
        "unknown 2 (may or may not have arrived): interrupted 1, no_answer 1; "
        f"segbot campaign unknown {run_id} lists them"
    ) in shown.output

    listed = await invoke(runner, app, "unknown", str(run_id))
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0] == f"run {run_id} of sale (done)"
    (ana,) = [line for line in lines if "@ana User3" in line]
    cells = [cell.strip() for cell in ana.strip("│ ").split("│")]
    assert cells[1:] == [
        "3", "@ana User3", "active", "default/a", "no_answer", "2026-11-02 12:00:00", "yes"
    ]  # fmt: skip
    assert any("User4" in line and "interrupted" in line for line in lines)
    assert "unknown 2: interrupted 1, no_answer 1; to resend: 2" in listed.output
    assert f"segbot campaign resend-unknown {run_id} resends to them" in listed.output

    target = tmp_path / "unknown.csv"
    written = await invoke(runner, app, "unknown", str(run_id), "--csv", str(target))
    assert f"wrote {target}: 2 unknown deliveries of run {run_id}" in written.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert sorted((r["telegram_id"], r["username"], r["reason"]) for r in rows) == [
        ("3", "ana", "no_answer"),
        ("4", "", "interrupted"),
    ]
    to_stdout = await invoke(runner, app, "unknown", str(run_id), "--csv", "-")
    assert to_stdout.output.splitlines()[0] == ",".join(CSV_COLUMNS)

    missing = await invoke(runner, app, "unknown", str(run_id + 1))
    assert missing.exit_code == 1
    assert f"error: no run {run_id + 1}" in missing.output


async def test_resend_unknown_is_refused_without_yes_when_not_interactive(
    runner: CliRunner, session: AsyncSession
) -> None:
    run_id = await run_with_unknowns(session)
    refused = await invoke(runner, app, "resend-unknown", str(run_id))
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        "error: resend-unknown asks for confirmation (some may get the message twice): "
        "run it in a terminal, or pass --yes"
    ]
    assert await queued(session, run_id) == 0


async def test_resend_unknown_asks_first_and_says_some_may_get_it_twice(
    runner: CliRunner, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = await run_with_unknowns(session)
    monkeypatch.setattr("cli.campaign._interactive", lambda: True)
    args = ["resend-unknown", str(run_id)]
    declined = await asyncio.to_thread(runner.invoke, app, args, input="n\n")
    assert declined.exit_code == 1
    assert (
        "Telegram may already have delivered the message to some of these people: "
        "they would get it twice."
    ) in declined.output
    assert "Resend to 2? [y/N]" in declined.output
    assert "nothing resent" in declined.output
    assert await queued(session, run_id) == 0

    accepted = await asyncio.to_thread(runner.invoke, app, args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "queued 2 again, the run is sending again; segbot run sends them" in accepted.output
    assert await queued(session, run_id) == 2
    shown = await invoke(runner, app, "show", "sale")
    assert f"run {run_id} (sending): queued 2, sent 2" in shown.output


async def test_resend_unknown_with_yes_and_when_there_is_nothing_to_resend(
    runner: CliRunner, session: AsyncSession
) -> None:
    run_id = await run_with_unknowns(session)
    await session.execute(
        update(Subscriber).where(Subscriber.telegram_id == 4).values(status="blocked")
    )
    await session.commit()
    resent = await invoke(runner, app, "resend-unknown", str(run_id), "--yes")
    assert resent.exit_code == 0, resent.output
    assert "unknown 2: interrupted 1, no_answer 1; not to resend: blocked 1; to resend: 1" in (
        resent.output
    )
    assert "queued 1 again, the run is sending again" in resent.output
    again = await invoke(runner, app, "resend-unknown", str(run_id), "--yes")
    assert again.exit_code == 2
    assert f"none of run {run_id}'s 1 unknown deliveries can be resent: blocked 1" in again.output


async def test_show_cuts_a_long_text_at_a_word_and_says_so(
    runner: CliRunner, session: AsyncSession
) -> None:
    text = "Our autumn collection is here with coats, boots, scarves and more for everyone"
    await campaign_from(session, f"name: autumn\ndefault: {{text: '{text}'}}\n")
    shown = await invoke(runner, app, "show", "autumn")
    assert shown.exit_code == 0, shown.output
    assert "[text] Our autumn collection is here with coats, boots, scarves …" in shown.stdout


async def test_a_local_time_schedule_is_listed_on_its_own_day_east_of_utc(
    runner: CliRunner, tmp_path: Path
) -> None:
    """Its day begins at 23:00 UTC the day before in Madrid; it is listed on its own."""
    text = (
        "name: morning\ndefault: {text: Hi}\n"
        "schedule: {local: '09:00', day: 2027-06-20, timezone: Europe/Madrid}\n"
    )
    created = await invoke(runner, app, "create", campaign_file(tmp_path, text))
    assert created.exit_code == 0, created.output
    listed = await invoke(runner, app, "list")
    assert "local 09:00 on 2027-06-20" in listed.output
