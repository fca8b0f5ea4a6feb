"""`segbot crm ...` through typer's CliRunner, on the test database."""

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cli.crm import app
from cli.segments import app as segments_app
from core.models import Subscriber, SubscriberStatus
from segments.models import RfmScore
from tests.cli.conftest import invoke
from tests.crm_sync.shop import (
    ORDER_HEADER,
    T0,
    customers_by_id,
    orders_by_id,
    write_csv,
    write_shop_files,
)


def test_import_then_status_then_rejected(runner: CliRunner, tmp_path: Path) -> None:
    customers, orders = write_shop_files(tmp_path)
    write_csv(
        orders,
        ORDER_HEADER,
        [
            ("o1", "c1", "2026-01-10T10:00:00Z", "100", "EUR", "completed"),
            ("o2", "c1", "not a date", "10", "EUR", "completed"),
        ],
    )
    imported = runner.invoke(
        app, ["import", "--customers", str(customers), "--orders", str(orders), "--source", "shop"]
    )
    assert imported.exit_code == 0, imported.output
    assert "run #" in imported.stdout
    assert "succeeded" in imported.stdout
    assert "segbot crm rejected --run" in imported.stdout

    again = runner.invoke(
        app, ["import", "--customers", str(customers), "--orders", str(orders), "--source", "shop"]
    )
    assert again.exit_code == 0
    assert "│ shop   │ orders    │ 2    │ 0        │ 0       │ 1         │ 1" in again.stdout

    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert "shop" in status.stdout
    assert "subscribers matched to a customer: 0 of 0" in status.stdout

    rejected = runner.invoke(app, ["rejected"])
    assert rejected.exit_code == 0, rejected.output
    # Bob's 600000002 is no phone in the default region (US): he is kept, without it.
    assert (
        "(shop): 1 row rejected, 1 value left out of rows stored without them; showing 2"
        in rejected.stdout
    )
    assert "order date is not ISO 8601" in rejected.stdout
    assert "phone left out: not a phone number" in rejected.stdout


def test_import_needs_a_file_and_says_so_in_one_line(runner: CliRunner) -> None:
    result = runner.invoke(app, ["import"])
    assert result.exit_code == 2
    assert result.stderr == "error: give --customers FILE and/or --orders FILE\n"


def test_a_failed_import_exits_1_with_the_reason(runner: CliRunner, tmp_path: Path) -> None:
    orders = write_csv(tmp_path / "orders.csv", ("order_id",), [("o1",)])
    result = runner.invoke(app, ["import", "--orders", str(orders)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: files: run #")
    assert "no column for customer_external_id, ordered_at, amount" in result.stderr


def test_sync_without_connectors_says_what_to_configure(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "no CRM connectors configured" in result.stderr


@pytest.mark.parametrize("command", [[], ["import"], ["sync"], ["status"], ["rejected"]])
def test_every_crm_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def write_mapping(folder: Path, text: str) -> Path:
    path = folder / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def counted(runner: CliRunner, rule: str) -> str:
    result = await invoke(runner, segments_app, "count", rule)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_import_help_names_the_default_columns_and_the_mapping(runner: CliRunner) -> None:
    result = runner.invoke(app, ["import", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "customers: external_id = customer_id | external_id | id (required)" in text
    assert "ordered_at = ordered_at | order_date | created_at | date (required)" in text
    assert "amount = amount | total | sum (required)" in text
    assert "attributes: [city]" in text
    assert 'date_format (strptime codes, e.g. "%d/%m/%Y") or dayfirst: true' in text
    assert "A negative amount is a refund" in text
    assert "create_customers" in text


async def test_a_mapping_keeps_extra_columns_as_crm_attributes_and_reads_day_first_dates(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    ann = Subscriber(
        telegram_id=1, chat_id=1, phone="+34600000001", status=SubscriberStatus.ACTIVE,
        subscribed_at=T0, last_seen_at=T0, attributes={},
    )  # fmt: skip
    session.add(ann)
    await session.commit()
    customers = write_csv(
        tmp_path / "customers.csv",
        ("customer_id", "name", "phone", "City", "visits", "notes"),
        [
            ("c1", "Ann", "+34 600 000 001", "Madrid", "4", "likes red"),
            ("c2", "Bob", "+34 600 000 002", "Madrid", "1", ""),
        ],
    )
    orders = write_csv(
        tmp_path / "orders.csv",
        ("order_id", "customer_id", "date", "amount"),
        [("o1", "c1", "31/12/2025", "10"), ("o2", "c1", "1.2.2026 14:30", "20")],
    )
    mapping = write_mapping(tmp_path, "attributes: [city, visits]\ndayfirst: true\n")

    result = await invoke(
        runner, app, "import", "--customers", str(customers), "--orders", str(orders),
        "--mapping", str(mapping), "--source", "shop",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "customers: columns not imported: notes" in result.stdout
    assert "rejected" not in result.stdout.split("┘")[-1]  # no rejection named below the table
    stored = await orders_by_id(session)
    assert [stored[o].ordered_at.isoformat() for o in ("o1", "o2")] == [
        "2025-12-31T00:00:00+00:00",
        "2026-02-01T14:30:00+00:00",
    ]
    assert (await customers_by_id(session))["c1"].attributes == {"city": "Madrid", "visits": 4}
    # Bob is in Madrid too, but he is no subscriber: segments count subscribers.
    assert await counted(runner, "crm.city = Madrid") == "1"
    assert await counted(runner, "crm.visits > 3") == "1"
    # None counted, on CRM data: the count says how many customers are linked at all.
    none = await counted(runner, "crm.visits > 4")
    assert none.startswith("0 subscribers (")
    assert "linked to a subscriber)" in none


async def test_without_a_mapping_extra_columns_and_unread_dates_are_reported(
    runner: CliRunner, tmp_path: Path
) -> None:
    customers = write_csv(
        tmp_path / "customers.csv", ("customer_id", "name", "city"), [("c1", "Ann", "Madrid")]
    )
    orders = write_csv(
        tmp_path / "orders.csv",
        ("order_id", "customer_id", "ordered_at", "amount"),
        [("o1", "c1", "31/12/2025", "10"), ("o2", "c1", "30/12/2025", "10")],
    )
    result = await invoke(
        runner, app, "import", "--customers", str(customers), "--orders", str(orders)
    )
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.stdout.split("┘")[-1].splitlines()]
    text = " ".join(lines)
    assert (
        "customers: columns not imported: city (to use them in rules as crm.NAME, list them "
        "under attributes in --mapping)" in text
    )
    assert (
        "orders: 2 rows rejected: order date is not ISO 8601 (2025-12-31, 2025-12-31T14:30); "
        'for 31/12/2025 set dayfirst: true or date_format: "%d/%m/%Y"' in text
    )

    fixed = write_mapping(tmp_path, 'date_format: "%d/%m/%Y"\n')
    again = await invoke(runner, app, "import", "--orders", str(orders), "--mapping", str(fixed))
    assert again.exit_code == 0, again.output
    assert "│ files  │ orders │ 2    │ 2        │ 0       │ 0         │ 0" in again.stdout


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        (
            'date_formt: "%d/%m/%Y"\n',
            "unknown key date_formt; a mapping has columns, attributes, timezone, date_format, "
            "dayfirst, create_customers (did you mean date_format?)",
        ),
        ("customers: {external_id: Client}\n", "customers goes under columns: (columns.customers)"),
        (
            "columns: {customers: {city: City}}\n",
            "columns.customers: no customers field 'city'; fields: external_id, name, first_name, "
            "last_name, phone, email. Keep other columns for rules as crm.NAME with attributes",
        ),
        ('date_format: "DD/MM/YYYY"\n', "date_format: 'DD/MM/YYYY' is not a date format"),
        ("attributes: [Loyalty tier]\n", 'give it a name, e.g. loyalty_tier: "Loyalty tier"'),
        ('dayfirst: true\ndate_format: "%d.%m.%Y"\n', "give date_format or dayfirst: true"),
    ],
    ids=["unknown-key", "columns-at-the-top", "unknown-field", "not-a-format", "name", "both"],
)
def test_a_mapping_key_segbot_would_not_use_is_an_error_naming_it(
    runner: CliRunner, tmp_path: Path, mapping: str, error: str
) -> None:
    customers, _ = write_shop_files(tmp_path)
    path = write_mapping(tmp_path, mapping)
    result = runner.invoke(app, ["import", "--customers", str(customers), "--mapping", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}")
    assert error in " ".join(result.stderr.split())
    assert result.stderr.count("\n") == 1


def test_mapping_keys_for_a_file_not_given_are_noted(runner: CliRunner, tmp_path: Path) -> None:
    customers, _ = write_shop_files(tmp_path)
    path = write_mapping(tmp_path, "dayfirst: true\ncolumns: {orders: {amount: Total}}\n")
    result = runner.invoke(app, ["import", "--customers", str(customers), "--mapping", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"note: {path}: columns.orders is not used: only --customers is imported",
        f"note: {path}: dayfirst is not used: only --customers is imported",
    ]


async def test_a_negative_amount_is_a_refund_left_out_of_purchases_and_rfm(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    customers, orders = write_shop_files(tmp_path)
    (tmp_path / "segbot.yaml").write_text("rfm: {min_customers: 1}\n", encoding="utf-8")
    write_csv(
        orders,
        ORDER_HEADER,
        [
            ("o1", "c1", "2026-01-10T10:00:00Z", "100", "EUR", "completed"),
            ("o2", "c1", "2026-01-12T10:00:00Z", "-30", "EUR", "completed"),
        ],
    )
    result = await invoke(
        runner, app, "import", "--customers", str(customers), "--orders", str(orders),
        "--source", "shop",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "orders: 1 refund (a negative amount or a refund status): stored, never counted as "
        "purchases" in " ".join(result.stdout.split())
    )
    stored = await orders_by_id(session)
    assert (stored["o2"].amount, stored["o2"].counts_as_purchase) == (-30.0, False)
    ann = (await customers_by_id(session))["c1"]
    assert (ann.orders_count, ann.total_spent) == (1, 100.0)
    score = await session.scalar(select(RfmScore).where(RfmScore.customer_id == ann.id))
    assert score is not None  # the import rescored RFM
    assert (score.frequency, score.monetary) == (1, 100.0)


async def test_an_order_for_an_unknown_customer_is_rejected_unless_the_mapping_creates_it(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    customers, orders = write_shop_files(tmp_path)
    write_csv(
        orders,
        ORDER_HEADER,
        [
            ("o1", "c1", "2026-01-10T10:00:00Z", "100", "EUR", "completed"),
            ("o2", "c9", "2026-01-12T10:00:00Z", "30", "EUR", "completed"),
        ],
    )
    args = ["import", "--customers", str(customers), "--orders", str(orders), "--source", "shop"]
    rejected = await invoke(runner, app, *args)
    assert rejected.exit_code == 0, rejected.output
    assert "│ shop   │ orders    │ 2    │ 1        │ 0       │ 0         │ 1" in rejected.stdout
    assert (
        "orders: 1 row rejected: no such customer in this source: import the customers first, "
        "or set create_customers: true to create them bare" in " ".join(rejected.stdout.split())
    )
    assert sorted(await customers_by_id(session)) == ["c1", "c2", "c3"]
    assert sorted(await orders_by_id(session)) == ["o1"]
    listed = await invoke(runner, app, "rejected")
    assert '"customer_external_id": "c9"' in listed.stdout

    mapping = write_mapping(tmp_path, "create_customers: true\n")
    created = await invoke(runner, app, *args, "--mapping", str(mapping))
    assert created.exit_code == 0, created.output
    assert "orders: 1 customer created bare for orders that named them" in created.stdout
    assert sorted(await customers_by_id(session)) == ["c1", "c2", "c3", "c9"]
    assert sorted(await orders_by_id(session)) == ["o1", "o2"]


async def test_a_missing_column_is_one_line_naming_the_mapping_and_nothing_is_imported(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    customers, _ = write_shop_files(tmp_path)
    orders = write_csv(
        tmp_path / "orders.csv",
        ("order_id", "customer_id", "Date", "Total amount"),
        [("o1", "c1", "2026-01-10", "10")],
    )
    mapping = write_mapping(tmp_path, "columns: {orders: {ordered_at: Date}}\n")
    result = await invoke(
        runner, app, "import", "--customers", str(customers), "--orders", str(orders),
        "--mapping", str(mapping),
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1  # said once: no log line repeating it
    assert result.stderr.startswith("error: files: run #")
    assert (
        f"failed: {orders}: no column for amount; columns found: order_id, customer_id, Date, "
        f"Total amount. Map them under columns.orders in --mapping {mapping}, e.g. "
        'amount: "Total amount"; nothing was stored\n'
    ) in result.stderr
    assert "segbot.yaml" not in result.stderr
    assert await customers_by_id(session, source="files") == {}


async def test_a_failed_import_says_exactly_what_it_kept(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    customers, orders = write_shop_files(tmp_path)
    write_csv(
        orders,
        ORDER_HEADER,
        [(f"o{n}", "c1", "2026-01-10", "1", "EUR", "paid") for n in range(100)],
    )
    with orders.open("a", encoding="utf-8") as file:
        file.write('o100,c1,"2026-01-10,1,EUR,paid\n')  # a quote never closed, far down
    result = await invoke(
        runner, app, "import", "--customers", str(customers), "--orders", str(orders)
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.endswith(
        "; it kept customers: 3 inserted, 0 updated, 0 unchanged (complete); once the cause "
        "is fixed, run it again: rows already stored come back unchanged\n"
    )
    assert sorted(await customers_by_id(session, source="files")) == ["c1", "c2", "c3"]
    assert await orders_by_id(session, source="files") == {}
