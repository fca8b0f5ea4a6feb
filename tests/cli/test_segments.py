"""`segbot segments|rfm|ladder` and `segbot export` through typer's CliRunner, on the test
database."""

import csv
import hashlib
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cli import app as segbot
from cli.segments import app, ladder_app, rfm_app
from core.clock import utcnow
from core.models import Subscriber
from crm_sync.facts import refresh_facts
from crm_sync.models import Customer, Order
from tests.cli.conftest import invoke


@pytest.fixture(autouse=True)
def small_shops_scored(tmp_path: Path) -> None:
    """The shops here have three customers: a segbot.yaml lets RFM score them (the
    default minimum is 20)."""
    (tmp_path / "segbot.yaml").write_text("rfm: {min_customers: 1}\n", encoding="utf-8")


async def shop(session: AsyncSession) -> list[int]:
    now = utcnow()
    ids, customers = [], []
    for number, language in enumerate(["es", "es", "en"], start=1):
        subscriber = Subscriber(
            telegram_id=number, chat_id=number, username=f"user{number}", language_code=language,
            subscribed_at=now, last_seen_at=now, attributes={},
        )  # fmt: skip
        session.add(subscriber)
        await session.flush()
        ids.append(subscriber.id)
        customer = Customer(
            source="shop", external_id=str(number), attributes={}, subscriber_id=subscriber.id,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(customer)
        await session.flush()
        customers.append(customer.id)
        for days in range(number):
            session.add(
                Order(
                    source="shop", external_id=f"{number}-{days}", customer_id=customer.id,
                    ordered_at=now - timedelta(days=10 * days + 1), amount=10.0 * number,
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
    await session.flush()
    await refresh_facts(session, customer_ids=customers)  # as the CRM sync does
    await session.commit()
    return ids


async def test_save_list_show_count_explain_refresh(
    runner: CliRunner, session: AsyncSession
) -> None:
    ids = await shop(session)
    saved = await invoke(runner, app, "save", "spanish", "lang = es", "--owner", "ana")
    assert saved.exit_code == 0, saved.output
    assert "saved spanish (version 1): lang = es" in saved.stdout
    assert "2 subscribers match now" in saved.stdout

    counted = await invoke(runner, app, "count", "in segment spanish or lang = en")
    assert (counted.exit_code, counted.stdout.strip()) == (0, "3")

    refreshed = await invoke(runner, app, "refresh", "spanish")
    assert refreshed.exit_code == 0, refreshed.output
    assert "│ spanish │ 2       │ 2       │ 0    │" in refreshed.stdout

    listed = await invoke(runner, app, "list")
    assert "spanish" in listed.stdout
    assert "lang = es" in listed.stdout

    shown = await invoke(runner, app, "show", "spanish")
    assert shown.exit_code == 0, shown.output
    assert "spanish (version 1, owner ana)" in shown.stdout
    assert "members: 2" in shown.stdout

    explained = await invoke(runner, app, "explain", "spanish", "@user3")
    assert explained.exit_code == 0, explained.output
    assert f"subscriber {ids[2]} is not in spanish: lang = es" in explained.stdout
    assert "no   lang = es" in explained.stdout

    everything = await invoke(runner, app, "refresh")
    assert everything.exit_code == 0, everything.output
    assert "rfm: 3 customers scored" in everything.stdout


async def test_bad_input_is_one_line_and_exit_2(runner: CliRunner, session: AsyncSession) -> None:
    bad = await invoke(runner, app, "count", 'age > "abc"')
    assert bad.exit_code == 2
    assert bad.stderr.splitlines() == [
        'error: at column 7: age > needs a number, not text "abc"',
        'age > "abc"',
        "      ^",
    ]
    missing = await invoke(runner, app, "show", "nope")
    assert (missing.exit_code, missing.stderr) == (
        1,
        "error: no segment named 'nope'; there are no segments yet "
        "(segbot segments save NAME RULE)\n",
    )
    cycle = await invoke(runner, app, "save", "a", "in segment a")
    assert cycle.exit_code == 2
    assert "cycle: a -> a" in cycle.stderr


async def test_rfm_and_ladder(runner: CliRunner, session: AsyncSession, tmp_path: Path) -> None:
    await shop(session)
    stored = await invoke(runner, rfm_app)
    assert stored.exit_code == 0, stored.output
    assert "3 customers (stored)" in stored.stdout
    assert "champions" in stored.stdout

    exported = tmp_path / "rfm.csv"
    past = (utcnow() - timedelta(days=5)).date().isoformat()
    looked = await invoke(runner, rfm_app, "--as-of", past, "--csv", str(exported))
    assert looked.exit_code == 0, looked.output
    assert f"RFM as of {past}: 2 customers" in looked.stdout
    assert len(pd.read_csv(exported)) == 2

    staged = await invoke(runner, ladder_app, "--refresh")
    assert staged.exit_code == 0, staged.output
    assert "restaged: 3 changed" in staged.stdout  # a recent CRM order is most_aware
    assert "│ 4     │ most_aware     │ 3           │ 3      │" in staged.stdout


async def test_rfm_csv_is_safe_in_a_spreadsheet(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await shop(session)
    hostile = '=HYPERLINK("http://evil.example","refund")'
    await session.execute(
        update(Customer).where(Customer.external_id == "1").values(external_id=hostile)
    )
    await session.commit()
    exported = tmp_path / "rfm.csv"
    stored = await invoke(runner, rfm_app, "--csv", str(exported))
    assert stored.exit_code == 0, stored.output

    with exported.open(newline="", encoding="utf-8") as file:
        rows = {row["customer_id"]: row for row in csv.DictReader(file)}
    assert sorted(row["external_id"] for row in rows.values()) == ["'" + hostile, "2", "3"]
    assert {float(row["monetary"]) for row in rows.values()} == {10.0, 40.0, 90.0}  # numbers


async def test_export_for_google_customer_match(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await shop(session)
    await session.execute(
        update(Subscriber)
        .where(Subscriber.username == "user1")
        .values(email="Ana.Lopez@Gmail.com", phone="+34600111222")
    )
    await session.commit()
    saved = await invoke(runner, app, "save", "first", "orders = 1")
    assert saved.exit_code == 0, saved.output

    exported = tmp_path / "first.csv"
    result = await invoke(
        runner, segbot.app, "export", "first", "--platform", "google", "--out", str(exported)
    )
    assert result.exit_code == 0, result.output
    with exported.open(newline="", encoding="utf-8") as file:
        assert list(csv.reader(file)) == [
            ["email", "phone"],
            [sha256("analopez@gmail.com"), sha256("+34600111222")],
        ]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_counts_say_when_customers_are_not_linked_to_subscribers(
    runner: CliRunner, session: AsyncSession
) -> None:
    now = utcnow()
    session.add(
        Subscriber(
            telegram_id=1, chat_id=1, language_code="es", subscribed_at=now, last_seen_at=now,
            attributes={},
        )
    )  # fmt: skip
    for number in range(1, 51):  # imported from the CRM, linked to nobody yet
        session.add(
            Customer(
                source="shop", external_id=str(number), attributes={"city": "Madrid"},
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    await session.commit()
    for name, rule in [
        ("madrid", "crm.city = Madrid"),
        ("buyers", "buyer"),
        ("vip", "in segment buyers and lang = es"),
        ("english", "lang = en"),  # asks nothing of customers: its 0 has another reason
        ("spanish", "lang = es"),
    ]:
        saved = await invoke(runner, app, "save", name, rule)
        assert saved.exit_code == 0, saved.output
    why = "0 subscribers (50 customers, 0 linked to a subscriber)"

    refreshed = await invoke(runner, app, "refresh", "madrid", "buyers", "vip", "english")
    assert refreshed.exit_code == 0, refreshed.output
    below = refreshed.stdout.split("┘")[-1]
    assert sorted(line for line in below.splitlines() if why in line) == [
        f"buyers: {why}",
        f"madrid: {why}",
        f"vip: {why}",
    ]
    assert "segbot links customer ID" in " ".join(below.split())

    listed = await invoke(runner, app, "list")
    assert listed.exit_code == 0, listed.output
    below = listed.stdout.split("┘")[-1]
    assert f"buyers: {why}" in below
    assert f"madrid: {why}" in below
    assert "english" not in below
    assert "spanish" not in below  # never refreshed: its size is not known yet

    shown = await invoke(runner, app, "show", "madrid")
    assert f"members: {why}" in shown.stdout
    english = await invoke(runner, app, "show", "english")
    assert "members: 0\n" in english.stdout

    counted = await invoke(runner, app, "count", "crm.city = Madrid or in segment buyers")
    assert counted.exit_code == 0, counted.output
    assert counted.stdout.splitlines()[0] == why
    assert "segbot links customer ID" in " ".join(counted.stdout.split())
    assert (await invoke(runner, app, "count", "lang = en")).stdout.strip() == "0"
    resaved = await invoke(runner, app, "save", "madrid", "crm.city = Madrid")
    assert f"{why} match now" in resaved.stdout
