"""Validation of raw rows: what becomes a record, what is rejected and why."""

import numpy as np
import pandas as pd
import phonenumbers
import pytest

from crm_sync.config import RecordRules
from crm_sync.duplicates import FirstRows
from crm_sync.identity import (
    normalize_email,
    normalize_emails,
    normalize_phone,
    normalize_phones,
)
from crm_sync.records import parse_amounts, parse_timestamps, validate_customers, validate_orders
from tests.crm_sync.shop import ISO_DATES_ONLY, RULES


def orders(
    rows: list[dict[str, object]], rules: RecordRules = RULES
) -> tuple[pd.DataFrame, list[tuple[int | None, str]]]:
    frame = pd.DataFrame(rows, dtype=object)
    checked = validate_orders(frame, rules=rules, raw=frame, row_numbers=np.arange(len(frame)) + 2)
    return checked.records, [(r.row_number, r.reason) for r in checked.rejected]


def order(**fields: object) -> dict[str, object]:
    return {
        "external_id": "o1",
        "customer_external_id": "c1",
        "ordered_at": "2026-01-01T10:00:00Z",
        "amount": "10.00",
        "currency": "EUR",
        "status": "completed",
        "quantity": "1",
    } | fields


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("12.5", 12.5),
        ("1 234,50", 1234.5),
        ("1,234.50", 1234.5),
        ("1.234,50", 1234.5),
        ("€12", 12.0),
        ("12,5", 12.5),
        ("1,234", 1234.0),
        ("-30", -30.0),
    ],
)
def test_amounts_in_the_formats_shops_export(text: str, amount: float) -> None:
    assert parse_amounts(pd.Series([text])).iloc[0] == amount


def test_a_column_written_the_european_way_is_read_that_way_throughout() -> None:
    amounts = ["1.500", "1.234,50", "1,500", "2.000.000", "€ 3.000", "12,5", "7"]
    assert parse_amounts(pd.Series(amounts)).tolist() == [
        1500.0, 1234.5, 1.5, 2_000_000.0, 3000.0, 12.5, 7.0
    ]  # fmt: skip


def test_a_column_written_the_english_way_keeps_dots_for_decimals() -> None:
    amounts = ["1.500", "1,234.50", "1,500", "€3.25", "0.5"]
    assert parse_amounts(pd.Series(amounts)).tolist() == [1.5, 1234.5, 1500.0, 3.25, 0.5]


def test_naive_timestamps_are_read_in_the_configured_time_zone() -> None:
    rules = RecordRules(timezone="Europe/Madrid")
    parsed = parse_timestamps(
        pd.Series(["2026-07-01 12:00", "2026-07-01T12:00:00+00:00", "nonsense"]), rules=rules
    )
    assert [str(value) for value in parsed] == [
        "2026-07-01 10:00:00+00:00",
        "2026-07-01 12:00:00+00:00",
        "NaT",
    ]


@pytest.mark.parametrize(
    ("date_format", "text"),
    [
        ("%d-%B-%Y %H:%M", "03-September-2025 10:00"),
        ("%d %b %Y - %H:%M", "03 Sep 2025 - 10:00"),
        ("%A %d-%m-%Y %H:%M", "Wednesday 03-09-2025 10:00"),
        ("%Y-%m-%d %H:%M %z", "2025-09-03 10:00 +0200"),
        (None, "2025-09-03T10:00"),
        (None, "2025-09-03T10:00+02"),
        (None, "20250903T100000+0200"),
    ],
)
def test_a_dash_in_a_date_is_no_offset_from_utc(date_format: str | None, text: str) -> None:
    rules = RecordRules(date_format=date_format, timezone="Europe/Madrid")  # UTC+2 then
    parsed = parse_timestamps(pd.Series([text]), rules=rules)
    assert str(parsed.iloc[0]) == "2025-09-03 08:00:00+00:00"


def test_a_custom_date_format() -> None:
    parsed = parse_timestamps(pd.Series(["31.12.2025"]), rules=RecordRules(date_format="%d.%m.%Y"))
    assert str(parsed.iloc[0]) == "2025-12-31 00:00:00+00:00"


def test_day_first_dates_read_in_any_of_the_usual_forms_and_iso_still_reads() -> None:
    rules = RecordRules(dayfirst=True, timezone="Europe/Madrid")
    parsed = parse_timestamps(
        pd.Series(["31/12/2025", "1.2.26 14:30", "31-12-2025 14:30:59", "2026-07-01", "12/31/25"]),
        rules=rules,
    )
    assert [str(value) for value in parsed] == [
        "2025-12-31 00:00:00+00:00",  # a day alone is that day, in any zone
        "2026-02-01 13:30:00+00:00",
        "2025-12-31 13:30:59+00:00",
        "2026-07-01 00:00:00+00:00",
        "NaT",  # month 31: not day first
    ]


def test_a_day_without_a_time_stays_that_day_east_of_utc() -> None:
    """At Madrid's midnight it would be the day before in UTC, where rules and templates
    read days: `last_purchase before 2024-02-29` held for an order of that day, and its
    message said it was bought on 28 February."""
    rules = RecordRules(timezone="Europe/Madrid")
    written = ["2024-02-29", "2024-02-29 00:30", "2024-02-29T00:30+01:00"]
    parsed = parse_timestamps(pd.Series(written), rules=rules)
    assert [value.date().isoformat() for value in parsed] == [
        "2024-02-29",
        "2024-02-28",  # a time of day: Madrid's, 23:30 UTC
        "2024-02-28",
    ]
    by_format = parse_timestamps(
        pd.Series(["20240229"]), rules=RecordRules(timezone="Europe/Madrid", date_format="%Y%m%d")
    )
    assert str(by_format[0]) == "2024-02-29 00:00:00+00:00"


@pytest.mark.parametrize(
    ("rules", "reason"),
    [
        (RULES, ISO_DATES_ONLY),
        (RecordRules(date_format="%d.%m.%Y"), "order date does not match date_format %d.%m.%Y"),
        (
            RecordRules(dayfirst=True),
            "order date does not read day first (31/12/2025 14:30); give date_format",
        ),
    ],
    ids=["iso", "date_format", "dayfirst"],
)
def test_an_unread_date_says_what_would_read_it(rules: RecordRules, reason: str) -> None:
    _, rejected = orders([order(ordered_at="12/31/2025 2pm"), order(ordered_at=" ")], rules)
    assert rejected == [(2, reason), (3, "missing order date")]


def test_attributes_a_rule_compares_as_numbers_are_kept_as_numbers() -> None:
    rules = RULES.model_copy(update={"attributes": {"visits": "visits", "zip": "zip"}})
    frame = pd.DataFrame(
        {
            "external_id": ["c1", "c2", "c3", "c4"],
            "attr:visits": ["4", "-2.5", " 12 ", None],
            "attr:zip": ["08001", "+34", "1e5", "28001"],
        },
        dtype=object,
    )
    checked = validate_customers(frame, rules=rules, raw=frame, row_numbers=np.arange(2, 6))
    assert checked.records["attributes"].tolist() == [
        {"visits": 4, "zip": "08001"},
        {"visits": -2.5, "zip": "+34"},
        {"visits": 12, "zip": "1e5"},
        {"zip": 28001},
    ]


def test_each_bad_row_gets_its_first_reason_and_the_rest_import() -> None:
    records, rejected = orders(
        [
            order(external_id="ok"),
            order(external_id=None),
            order(external_id="no-customer", customer_external_id=" "),
            order(external_id="bad-date", ordered_at="31/31/2026"),
            order(external_id="bad-amount", amount="ten"),
            order(external_id="bad-qty", quantity="two"),
            order(external_id="neg-qty", quantity="-1"),
            order(external_id="refund-qty", quantity="-1", status="Refunded"),
            order(external_id="bad-currency", currency="EURO"),
            order(external_id="both-bad", ordered_at="never", amount="x"),
        ]
    )
    assert records["external_id"].tolist() == ["ok", "refund-qty"]
    assert rejected == [
        (3, "missing order id"),
        (4, "missing customer id"),
        (5, ISO_DATES_ONLY),
        (6, "missing or unparsable amount"),
        (7, "unparsable quantity"),
        (8, "negative quantity on an order that is not a refund"),
        (10, "unknown currency code"),
        (11, ISO_DATES_ONLY),
    ]


def test_refunds_and_zero_amounts_do_not_count_as_purchases() -> None:
    records, _ = orders(
        [
            order(external_id="paid"),
            order(external_id="refunded", status="refunded"),
            order(external_id="cancelled", status="Cancelled"),
            order(external_id="credit", amount="-10"),
            order(external_id="free", amount="0"),
        ]
    )
    assert dict(zip(records["external_id"], records["counts_as_purchase"], strict=True)) == {
        "paid": True,
        "refunded": False,
        "cancelled": False,
        "credit": False,
        "free": False,
    }


def test_a_repeated_id_keeps_the_first_row_and_rejects_the_others_naming_it() -> None:
    records, rejected = orders(
        [
            order(status="new"),
            order(external_id="o2"),
            order(status="completed"),
            order(status="new"),
        ]
    )
    assert records[["external_id", "status"]].values.tolist() == [
        ["o1", "new"],
        ["o2", "completed"],
    ]
    assert rejected == [
        (4, "same order id as row 2, which is kept"),
        (5, "same order id as row 2, which is kept"),
    ]


def test_a_rejected_row_does_not_claim_its_id() -> None:
    records, rejected = orders([order(amount="ten"), order(amount="10")])
    assert records[["external_id", "amount"]].values.tolist() == [["o1", 10.0]]
    assert rejected == [(2, "missing or unparsable amount")]


def test_an_id_is_checked_against_the_earlier_batches_of_the_pass() -> None:
    seen = FirstRows()
    for rows, numbers in (([order(), order(external_id="o2")], [2, 3]), ([order()], [4])):
        frame = pd.DataFrame(rows, dtype=object)
        checked = validate_orders(
            frame, rules=RULES, raw=frame, row_numbers=np.array(numbers), seen=seen
        )
    assert checked.records.empty
    assert [(r.row_number, r.reason) for r in checked.rejected] == [
        (4, "same order id as row 2, which is kept")
    ]


def test_a_bad_phone_or_email_is_left_out_and_reported_and_the_customer_kept() -> None:
    frame = pd.DataFrame(
        {
            "external_id": ["c1", "c2", None],
            "phone": ["12", "+34 600 000 001", "12"],
            "email": ["nope", " A@B.co ", "nope"],
        },
        dtype=object,
    )
    checked = validate_customers(frame, rules=RULES, raw=frame, row_numbers=np.array([2, 3, 4]))
    assert [(r.row_number, r.external_id, r.field, r.reason) for r in checked.rejected] == [
        (2, "c1", "email", "email left out: not an email address"),
        (2, "c1", "phone", "phone left out: not a phone number"),
        (4, None, None, "missing customer id"),  # a row left out is not reported twice
    ]
    assert checked.rejected[0].raw == {"external_id": "c1", "phone": "12", "email": "nope"}
    stored = checked.records[["external_id", "phone", "email"]].astype(object).values.tolist()
    assert [[None if pd.isna(value) else value for value in row] for row in stored] == [
        ["c1", None, None],
        ["c2", "+34600000001", "a@b.co"],
    ]


def test_phone_normalisation_uses_the_default_region() -> None:
    assert normalize_phone("600 000 001", region="ES") == "+34600000001"
    assert normalize_phone("8 (916) 123-45-67", region="RU") == "+79161234567"
    assert normalize_phone("+44 20 7946 0958", region="ES") == "+442079460958"
    assert normalize_phone("call me", region="ES") is None


@pytest.mark.parametrize(
    "value", [" Ann@Example.COM ", "bad", "a@b", "a b@c.de", "@c.de", "a@b@c.de"]
)
def test_emails_the_same_one_by_one_and_vectorised(value: str) -> None:
    assert normalize_emails(pd.Series([value])).astype(object).where(
        lambda s: s.notna(), None
    ).iloc[0] == normalize_email(value)


def test_phones_vectorised_match_one_by_one_across_countries_and_lengths() -> None:
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    random = np.random.default_rng(7)
    shaped = [
        f"+{codes[i % len(codes)]}" + "".join(map(str, random.integers(0, 10, 1 + i % 15)))
        for i in range(3_000)
    ]
    others = ["+0123456", "+", "600 000 001", "+34 600 000 001", "8 (916) 123-45-67", "x"]
    values = pd.Series([*shaped, *others, None], dtype="string")
    for region in ("ES", "US", "RU"):
        vectorised = normalize_phones(values, region=region).astype(object)
        assert [None if pd.isna(v) else v for v in vectorised] == [
            None if pd.isna(v) else normalize_phone(str(v), region=region) for v in values
        ]
