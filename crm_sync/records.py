"""Where raw rows become customer and order records, or rejections with a reason.

Every connector hands its rows here as a frame with segbot's field names, so a CSV, a SQL
query and a CRM API are held to the same rules. All checks are vectorised: a batch of a
million rows costs a few column operations, never a Python call per row (phone numbers are
the one exception: phonenumbers parses each distinct number once, and numbers already in
E.164 form once per country and length).
"""

import datetime as dt
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.unstorable import LONE_SURROGATE, UNSTORABLE
from crm_sync.config import RecordRules
from crm_sync.currencies import ISO_4217
from crm_sync.duplicates import FirstRows
from crm_sync.identity import normalize_emails, normalize_phones
from crm_sync.raw import JsonObject, encodes, jsonable_records

# What `dayfirst: true` reads besides ISO 8601: 31/12/2025, 31.12.25 14:30, 31-12-2025 14:30:59.
DAY_FIRST_FORMATS = tuple(
    f"%d{separator}%m{separator}{year}{time}"
    for separator in "/.-"
    for year in ("%Y", "%y")
    for time in ("", " %H:%M", " %H:%M:%S")
)
# Amounts written the European way show it so: a comma and one or two digits end one, or
# dots group thousands before a comma or another group ('1.234,50', '12,5', '2.000.000').
EUROPEAN_SIGNS = r"\d,\d{1,2}$|\d\.\d{3}[.,]"
# An amount as the European way writes it: dots grouping thousands, a comma before decimals.
EUROPEAN_AMOUNT = r"[-+]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?"
# An ISO 8601 time's offset from UTC, ending it: Z, or a sign and hours, minutes or not.
ISO_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"
# Longest numeral an attribute keeps as a number: longer ones are ids, exact only as text.
MAX_NUMERAL = 15
# Longest values the columns hold; a longer id is rejected, longer text is cut.
ID_LENGTH = 128
TEXT_LENGTHS = {"name": 255, "status": 32, "utm_campaign": 255}
# An order's amount, rounded to the cent, must be below this in either sign: a hundred
# billion, beyond any real order even in the currencies of smallest unit. The sums of
# amounts hold up to 10**16 (crm_sync.models.MoneySum), so it takes 100,000 orders of just
# under it for one customer (or one subscriber's customers together) to overflow them; at
# the amount column's own limit (10**12) it would take 10,000.
MAX_AMOUNT = 1e11
# The largest quantity the column holds (a 32-bit integer on PostgreSQL): a larger one, or
# Infinity, would fail the whole batch there, and be stored wrapped round on SQLite.
MAX_QUANTITY = 2**31 - 1
# The dates an order may have (from the first, before the second): a date past them is a
# placeholder (0001-01-01, 9999-12-31) or a typo, and moved by a time zone it may leave
# what a Python datetime (and so the database driver) holds.
ORDER_DATES = (dt.date(1900, 1, 1), dt.date(2100, 1, 1))
# The words pandas reads as a date, the moment it reads them (in lower case only).
RELATIVE_DATES = ("now", "today")
# What pandas infers for a column of Python objects of several types: the only columns
# that may hold a JSON object or list among their values.
MIXED = frozenset({"mixed", "mixed-integer"})
# What a rejection calls the fields it reads, for the reasons that name one.
CUSTOMER_FIELDS = {
    "external_id": "customer id",
    "name": "name",
    "first_name": "first name",
    "last_name": "last name",
    "phone": "phone",
    "email": "email",
}
ORDER_FIELDS = {
    "external_id": "order id",
    "customer_external_id": "customer id",
    "ordered_at": "order date",
    "amount": "amount",
    "currency": "currency",
    "status": "status",
    "quantity": "quantity",
    "utm_campaign": "utm_campaign",
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row left out, with the reason; or, with `field`, a value left out of a row that
    was stored without it (a phone or email that is not one)."""

    row_number: int | None  # the row in a file as a spreadsheet shows it; else the position
    external_id: str | None
    raw: JsonObject
    reason: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Validated:
    """Records ready to store (one per external id: the first valid row with it, see
    `crm_sync.duplicates`) and the rejections, in reading order."""

    records: pd.DataFrame
    rejected: list[Rejection]


RawRows = pd.DataFrame | Sequence[Mapping[str, object]]


def validate_customers(
    frame: pd.DataFrame,
    *,
    rules: RecordRules,
    raw: RawRows,
    row_numbers: np.ndarray,
    seen: FirstRows | None = None,
) -> Validated:
    """Customers need an id. A phone or email that is not one is left out and reported,
    and the customer is stored without it: a marketer would rather have the customer, the
    name and the orders (and fix the phone in the CRM) than lose them over a typo.

    `seen` carries the ids of earlier batches of the same pass (None: this batch alone).
    """
    reasons = _Reasons(len(frame))
    frame = _without_structures(frame, CUSTOMER_FIELDS, reasons)
    external_id = _text(_column(frame, "external_id"))
    attributes = {f"attr:{name}": f"attribute {name}" for name in rules.attributes}
    reasons.add_unstorable_characters(frame, CUSTOMER_FIELDS | attributes)
    reasons.add(external_id.isna(), "missing customer id")
    reasons.add(external_id.str.len() > ID_LENGTH, f"customer id longer than {ID_LENGTH}")
    reasons.add_repeats("customer", external_id, row_numbers, seen)

    name = _text(_column(frame, "name"))
    if "name" not in frame and ("first_name" in frame or "last_name" in frame):
        first = _text(_column(frame, "first_name")).fillna("")
        last = _text(_column(frame, "last_name")).fillna("")
        name = _text(first + " " + last)
    phone_text = _text(_column(frame, "phone"))
    phone = normalize_phones(phone_text, region=rules.default_region)
    email_text = _text(_column(frame, "email"))
    email = normalize_emails(email_text)
    reasons.leave_out(phone_text.notna() & phone.isna(), "phone", "not a phone number")
    reasons.leave_out(email_text.notna() & email.isna(), "email", "not an email address")
    records = pd.DataFrame(
        {
            "external_id": external_id,
            "name": name.str.slice(0, TEXT_LENGTHS["name"]),
            "phone": phone,
            "email": email,
            "attributes": _attributes(frame, list(rules.attributes)),
        }
    )
    return reasons.split(records, raw=raw, row_numbers=row_numbers)


def validate_orders(
    frame: pd.DataFrame,
    *,
    rules: RecordRules,
    raw: RawRows,
    row_numbers: np.ndarray,
    seen: FirstRows | None = None,
) -> Validated:
    """Orders need an id, a customer id, a date and an amount; `seen` as for customers."""
    reasons = _Reasons(len(frame))
    frame = _without_structures(frame, ORDER_FIELDS, reasons)
    external_id = _text(_column(frame, "external_id"))
    customer_id = _text(_column(frame, "customer_external_id"))
    ordered_at, undated = _timestamps(_column(frame, "ordered_at"), rules=rules)
    amount = parse_amounts(_column(frame, "amount")).round(2)  # checked as it is stored
    # Quantity, currency and status hold a handful of values: each is cleaned once.
    quantities = _Distinct(_column(frame, "quantity"))
    quantity_text = _text(quantities.values)
    quantity = quantities.expand(pd.to_numeric(quantity_text, errors="coerce"))
    quantity_text = quantities.expand(quantity_text)
    currencies = _Distinct(_column(frame, "currency"))
    currency = currencies.expand(_text(currencies.values).str.upper())
    if rules.default_currency:
        currency = currency.fillna(rules.default_currency)
    statuses = _Distinct(_column(frame, "status"))
    status_text = _text(statuses.values)
    status = statuses.expand(status_text.str.slice(0, TEXT_LENGTHS["status"]))
    refund_status = status_text.str.lower().isin(rules.refund_statuses).fillna(False)
    is_refund = statuses.expand(refund_status.astype(bool)) | (amount < 0).fillna(False)

    reasons.add_unstorable_characters(frame, ORDER_FIELDS)
    reasons.add(external_id.isna(), "missing order id")
    reasons.add(external_id.str.len() > ID_LENGTH, f"order id longer than {ID_LENGTH}")
    reasons.add(customer_id.isna(), "missing customer id")
    reasons.add(customer_id.str.len() > ID_LENGTH, f"customer id longer than {ID_LENGTH}")
    reasons.add(_text(_column(frame, "ordered_at")).isna(), "missing order date")
    reasons.add(undated, f"order date not within {ORDER_DATES[0]:%Y} to {ORDER_DATES[1].year - 1}")
    reasons.add(ordered_at.isna(), _unread_date(rules))
    reasons.add(amount.isna(), "missing or unparsable amount")
    reasons.add(amount.abs() >= MAX_AMOUNT, "amount too large")
    reasons.add(quantity_text.notna() & quantity.isna(), "unparsable quantity")
    reasons.add(quantity.abs() > MAX_QUANTITY, "quantity too large")
    reasons.add(quantity.notna() & (quantity % 1 != 0), "quantity is not a whole number")
    reasons.add((quantity < 0) & ~is_refund, "negative quantity on an order that is not a refund")
    reasons.add(currency.notna() & ~currency.isin(ISO_4217), "unknown currency code")
    reasons.add_repeats("order", external_id, row_numbers, seen)

    records = pd.DataFrame(
        {
            "external_id": external_id,
            "customer_external_id": customer_id,
            "ordered_at": ordered_at,
            "amount": amount,
            "currency": currency,
            "status": status,
            "quantity": quantity.round().astype("Int64"),
            "utm_campaign": _text(_column(frame, "utm_campaign")).str.slice(0, 255),
            "counts_as_purchase": ~is_refund & (amount > 0).fillna(False),
            "refund": is_refund,
            "row_number": row_numbers,
        }
    )
    return reasons.split(records, raw=raw, row_numbers=row_numbers)


def _unread_date(rules: RecordRules) -> str:
    """Why an order date given did not read as one, and what would read it."""
    if rules.date_format:
        return f"order date does not match date_format {rules.date_format}"
    if rules.dayfirst:
        return "order date does not read day first (31/12/2025 14:30); give date_format"
    return (
        "order date is not ISO 8601 (2025-12-31, 2025-12-31T14:30); for 31/12/2025 "
        'set dayfirst: true or date_format: "%d/%m/%Y"'
    )


def parse_timestamps(values: pd.Series, *, rules: RecordRules) -> pd.Series:
    """Aware UTC timestamps (NaT where unparsable, or outside ORDER_DATES); naive ones are
    in `rules.timezone` (`_localize` says how a time a clock change repeats or skips is
    read).

    Text, trimmed, is read as ISO 8601, or with `rules.date_format`, or (`rules.dayfirst`)
    as ISO 8601 or one of DAY_FIRST_FORMATS, each value by the first form that reads it
    whole; "now" and "today" are no dates (see `_date_text`).
    """
    return _timestamps(values, rules=rules)[0]


def _timestamps(values: pd.Series, *, rules: RecordRules) -> tuple[pd.Series, pd.Series]:
    """`parse_timestamps`, and which values read as a time outside ORDER_DATES."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return _bounded(values.dt.tz_convert("UTC"))
    if pd.api.types.is_datetime64_dtype(values.dtype):
        naive, outside = _bounded(values)
        return _localize(naive, rules.timezone), outside
    text = _date_text(values)
    fmt = rules.date_format or "ISO8601"
    parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    by_format = parsed.notna()  # the day-first forms that read the rest name no offset
    if rules.dayfirst:  # each day-first form in turn, on the values still unread
        parsed = parsed.copy()
        for day_first in DAY_FIRST_FORMATS:
            unread = parsed.isna() & text.notna()
            if not unread.any():
                break
            parsed[unread] = pd.to_datetime(
                text[unread], format=day_first, errors="coerce", utc=True
            )
    parsed, outside = _bounded(parsed)  # before a time zone moves one past what it holds
    if rules.timezone != "UTC":
        naive = (_written_without_offset(text, fmt) | ~by_format) & ~_day_only(text, fmt)
        if naive.any():
            as_utc = parsed[naive].dt.tz_localize(None)
            parsed = parsed.copy()
            parsed[naive] = _localize(as_utc, rules.timezone)
    return parsed, outside


# A date written without a time of day: 2025-03-09, 9/3/2025, 09.03.25.
_DAY = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
_TIME_DIRECTIVE = re.compile(r"%[HIMSfpXcTRrz]")


def _day_only(text: pd.Series, fmt: str) -> pd.Series:
    """The values that name a day and no time of it. A calendar day is that day in every
    time zone, so it is kept as written (midnight UTC, as rules and templates read days),
    not moved to the timezone's midnight, which is the day before in UTC east of it."""
    if fmt != "ISO8601" and not _TIME_DIRECTIVE.search(fmt):
        return pd.Series(True, index=text.index)
    return text.map(_names_a_day_only).astype(bool)


def _names_a_day_only(value: object) -> bool:
    if isinstance(value, str):
        return _DAY.fullmatch(value) is not None
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _bounded(times: pd.Series) -> tuple[pd.Series, pd.Series]:
    """`times` with those outside ORDER_DATES missing, and which those were."""
    first, end = (pd.Timestamp(day, tz=times.dt.tz) for day in ORDER_DATES)
    outside = (times.notna() & ((times < first) | (times >= end))).astype(bool)
    return times.mask(outside), outside


def _date_text(values: pd.Series) -> pd.Series:
    """The values to read as dates: text trimmed (empty is missing) and the words pandas
    reads as the moment it reads them ("now", "today") missing, since an order dated so
    would move at every import; the dates and times a spreadsheet or a driver typed, as
    they are."""
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) == "string":
        text = _text(values)
        return text.mask(text.isin(RELATIVE_DATES))
    return values.map(_date_value).astype(object)


def _date_value(value: object) -> object:
    """One value of a column of mixed Python objects, as `_date_text` reads it."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    return None if text in ("", *RELATIVE_DATES) else text


def parse_amounts(values: pd.Series) -> pd.Series:
    """Floats, NaN where unparsable; '1 234,50', '1,234.50' and '€12' all read as money.
    A column that shows the European way (an amount ending in a decimal comma, or dots
    grouping thousands) is read that way throughout: '1.500' is 1500 and '1,500' is 1.5."""
    if pd.api.types.is_numeric_dtype(values.dtype) and values.dtype != bool:
        return values.astype(float)
    text = _text(values)
    amounts = pd.to_numeric(text, errors="coerce").astype(float)
    retry = amounts.isna() & text.notna()
    if not retry.any():  # nearly always: plain numbers, each read once
        return amounts
    bare = _without_symbols(text[retry])
    amounts[retry] = _lenient_amounts(bare)
    if bare.str.contains(EUROPEAN_SIGNS, regex=True).any():
        written = _without_symbols(text)
        european = written.str.fullmatch(EUROPEAN_AMOUNT).fillna(False).astype(bool)
        as_read = (
            written[european].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        )
        amounts[european] = pd.to_numeric(as_read, errors="coerce").astype(float)
    return amounts


def _without_symbols(text: pd.Series) -> pd.Series:
    """Amounts without the spaces and currency symbols around or inside them."""
    for symbol in ("\u00a0", "\u202f", " ", "'", "$", "€", "£", "₽", "¥", "₴", "₸"):
        text = text.str.replace(symbol, "", regex=False)
    return text


def _lenient_amounts(text: pd.Series) -> pd.Series:
    """Amounts with separators. The last of a comma and a dot is the decimal separator,
    except a single comma three digits from the end: that is a thousands separator
    ('1,500' is 1500) when a digit 1-9 starts the amount (after its sign), since a 0
    cannot start a thousands group ('0,750' is 0.75, '-0,500' is -0.5)."""
    comma, dot = text.str.rfind(","), text.str.rfind(".")
    nonzero_start = text.str.match(r"[-+]?[1-9]")
    thousands_only = (dot == -1) & (comma != -1) & (text.str.len() - comma == 4) & nonzero_start
    decimal_comma = ((comma > dot) & ~thousands_only).fillna(False).astype(bool)
    european = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    english = text.str.replace(",", "", regex=False)
    return pd.to_numeric(english.where(~decimal_comma, european), errors="coerce").astype(float)


def _localize(naive: pd.Series, timezone: str) -> pd.Series:
    """`naive` local times in `timezone`, as UTC. A time a clock change repeats is read as
    its first occurrence (the earlier instant), a time one skips as the first time after
    the gap (02:30 on a night that jumps from 02:00 to 03:00 is 03:00): an order's time
    an hour off on one night a year, rather than the order rejected."""
    first_occurrence = np.ones(len(naive), dtype=bool)
    local = naive.dt.tz_localize(
        ZoneInfo(timezone), ambiguous=first_occurrence, nonexistent="shift_forward"
    )
    converted: pd.Series = local.dt.tz_convert("UTC")
    return converted


def _written_without_offset(values: pd.Series, fmt: str) -> pd.Series:
    if values.dtype == object:  # Python objects from a SQL driver or a spreadsheet
        return pd.Series([_naive(value, fmt) for value in values], index=values.index, dtype=bool)
    return ~_has_offset(values, fmt)


def _naive(value: object, fmt: str) -> bool:
    if isinstance(value, str):
        return not bool(_has_offset(pd.Series([value], dtype="string"), fmt).iloc[0])
    return getattr(value, "tzinfo", None) is None


def _has_offset(text: pd.Series, fmt: str) -> pd.Series:
    """Which texts name their offset from UTC: all or none of those a date_format reads,
    as it has %z or %Z or not; in ISO 8601, an offset ending the time (after the date's
    ten characters, whose own dashes are no offset)."""
    if fmt != "ISO8601":
        return pd.Series("%z" in fmt or "%Z" in fmt, index=text.index, dtype=bool)
    ends_in_offset = text.str.slice(10).str.contains(ISO_OFFSET, regex=True)
    return ends_in_offset.fillna(False).astype(bool)


def _without_structures(
    frame: pd.DataFrame, fields: Mapping[str, str], reasons: "_Reasons"
) -> pd.DataFrame:
    """`frame` with each JSON object or list in one of `fields` (column: what a reason
    calls it) missing, its row rejected saying so. An API's record, or a database's JSON
    column, holds one where a mapping names the object around a value (`customer` for
    `customer.id`): its text, a Python repr, would be stored as an id, a name or a date.
    Only columns of mixed Python objects are looked at value by value."""
    for column, label in fields.items():
        if column not in frame or frame[column].dtype != object:
            continue
        if pd.api.types.infer_dtype(frame[column], skipna=True) not in MIXED:
            continue
        kinds = frame[column].map(_structure)
        for kind in ("a JSON object", "a list"):
            reasons.add(
                kinds.eq(kind),
                f"{label} is {kind}, not a value: map the path to the value inside it",
            )
        frame = frame.copy()  # the caller's frame, the raw rows too, keeps the object
        frame[column] = frame[column].where(kinds.isna(), None)
    return frame


def _structure(value: object) -> str | None:
    """What `value` is when it holds other values, in words; None for one value."""
    if isinstance(value, Mapping):
        return "a JSON object"
    if isinstance(value, list | tuple):
        return "a list"
    return None


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def _text(values: pd.Series) -> pd.Series:
    """Trimmed text; empty means missing. One pass over plain strings: a third faster
    than pandas' strip and then a mask, on the columns of every row."""
    strings = values.astype("string").to_numpy(dtype=object, na_value="")
    trimmed = [value.strip() or None for value in strings]
    return pd.Series(trimmed, index=values.index, dtype="string")


def _attributes(frame: pd.DataFrame, names: Collection[str]) -> list[dict[str, object]]:
    """Each row's attributes ({} for none): the `attr:<name>` columns, empty ones left out."""
    if not names:
        return [{} for _ in range(len(frame))]
    values = pd.DataFrame(
        {name: attribute_values(_column(frame, f"attr:{name}")) for name in names},
        index=frame.index,
        dtype=object,
    )
    return [
        {key: value for key, value in row.items() if value is not None}
        for row in jsonable_records(values)
    ]


def attribute_values(values: pd.Series) -> pd.Series:
    """Attribute values as rules compare them: a plain numeral (42, -3.5) is a number, so
    `crm.visits > 3` holds for a CSV's "4" as for a spreadsheet's 4; anything else is
    trimmed text ("007", "+34 600", "1e5" and "12,5" stay text); empty is None."""
    text = _text(values)
    number = pd.to_numeric(text, errors="coerce").astype(float)
    unsigned = text.str.removeprefix("-")
    leading_zero = unsigned.str.startswith("0") & ~unsigned.str.startswith("0.")
    plain = (
        (
            number.between(-np.inf, np.inf, inclusive="neither")
            & unsigned.str.slice(0, 1).isin(list("0123456789"))
            & ~(leading_zero & (unsigned.str.len() > 1))
            & ~text.str.lower().str.contains("e", regex=False)
            & (text.str.len() <= MAX_NUMERAL)
        )
        .fillna(False)
        .astype(bool)
    )
    typed = text.astype(object).where(text.notna(), None)
    typed[plain] = number[plain].astype(object)
    whole = plain & ~text.str.contains(".", regex=False).fillna(False).astype(bool)
    typed[whole] = number[whole].astype("int64").astype(object)
    return typed


class _Distinct:
    """A column's distinct values, to clean once each and spread back over every row."""

    def __init__(self, column: pd.Series) -> None:
        codes, uniques = pd.factorize(column)
        self._rows = np.where(codes < 0, len(uniques), codes)  # missing: the last value
        self._index = column.index
        self.values = pd.Series(uniques).reindex(range(len(uniques) + 1))

    def expand(self, cleaned: pd.Series) -> pd.Series:
        """`cleaned` (one per distinct value) for every row of the column."""
        spread = cleaned.iloc[self._rows]
        spread.index = self._index
        return spread


def repeat_reason(noun: str, first: int, *, why_first_is_not_kept: str | None = None) -> str:
    """Why a row repeating the id of row `first` is rejected: that row is kept, or, when it
    was rejected as it was stored (an order naming no such customer), why it was not."""
    if why_first_is_not_kept is None:
        return f"same {noun} id as row {first}, which is kept"
    return f"same {noun} id as row {first}, which is rejected too: {why_first_is_not_kept}"


class _Reasons:
    """The first failed check of each row, and the values left out of rows kept."""

    def __init__(self, rows: int) -> None:
        self._reasons = np.full(rows, None, dtype=object)
        self._left_out: list[tuple[np.ndarray, str, str]] = []  # rows, field, reason

    def add(self, failed: pd.Series, reason: str) -> None:
        mask = failed.fillna(False).to_numpy(dtype=bool) & self._valid()
        self._reasons[mask] = reason

    def add_unstorable_characters(self, frame: pd.DataFrame, fields: Mapping[str, str]) -> None:
        """Reject each row with a character no database text holds in one of `fields`
        (column: what a reason calls it): a NUL (PostgreSQL refuses it, SQLite does not,
        and a row is rejected on both) or a lone surrogate (half of a UTF-16 pair, as a
        JSON API's `\\ud800` escape gives, which no UTF-8 text can hold). Either is a
        broken export rather than a way of writing a value."""
        for column, label in fields.items():
            if column not in frame or not pd.api.types.is_string_dtype(frame[column].dtype):
                continue  # absent, or numbers and dates as a spreadsheet or driver typed them
            text = frame[column].astype("string")
            # Nearly every column has none: one look at all its text, not one per row.
            joined = "".join(text.to_numpy(dtype=object, na_value=""))
            if "\x00" in joined:
                self.add(
                    text.str.contains("\x00", regex=False), f"{label} contains a NUL character"
                )
            if not encodes(joined):
                self.add(
                    text.str.contains(LONE_SURROGATE, regex=True),
                    f"{label} contains a lone surrogate (half of a UTF-16 pair), no character",
                )

    def add_repeats(
        self, noun: str, ids: pd.Series, row_numbers: np.ndarray, seen: FirstRows | None
    ) -> None:
        """Reject each row whose id a valid row before it had (the last check: only a row
        that would be stored can claim its id)."""
        positions = np.flatnonzero(self._valid())
        first_rows = (seen if seen is not None else FirstRows()).repeats(
            ids.iloc[positions], np.asarray(row_numbers)[positions]
        )
        for hit in np.flatnonzero(first_rows):
            first = first_rows[hit]
            self._reasons[positions[hit]] = repeat_reason(noun, int(first))

    def leave_out(self, failed: pd.Series, field: str, reason: str) -> None:
        """Store the row without `field`, and report that with `reason`."""
        self._left_out.append((failed.fillna(False).to_numpy(dtype=bool), field, reason))

    def split(self, records: pd.DataFrame, *, raw: RawRows, row_numbers: np.ndarray) -> Validated:
        kept = self._valid()
        positions = np.flatnonzero(~kept)
        rejected = _rejections(
            positions, self._reasons[positions].tolist(), records, raw=raw, row_numbers=row_numbers
        )
        for failed, field, reason in self._left_out:
            positions = np.flatnonzero(failed & kept)
            rejected += _rejections(
                positions,
                [f"{field} left out: {reason}"] * len(positions),
                records,
                raw=raw,
                row_numbers=row_numbers,
                field=field,
            )
        rejected.sort(key=lambda rejection: (rejection.row_number or 0, rejection.field or ""))
        return Validated(records=records[kept].reset_index(drop=True), rejected=rejected)

    def _valid(self) -> np.ndarray:
        valid: np.ndarray = self._reasons == None  # noqa: E711
        return valid


def _rejections(
    positions: np.ndarray,
    reasons: Sequence[object],
    records: pd.DataFrame,
    *,
    raw: RawRows,
    row_numbers: np.ndarray,
    field: str | None = None,
) -> list[Rejection]:
    if not len(positions):
        return []
    # No database text holds a NUL or a lone surrogate: one in an id is shown as U+FFFD
    # (the raw record keeps a NUL as read).
    ids = records["external_id"].iloc[positions].str.replace(UNSTORABLE, "\ufffd", regex=True)
    return [
        Rejection(
            row_number=int(row_numbers[position]),
            external_id=None if pd.isna(external_id) else str(external_id),
            raw=raw_row,
            reason=str(reason),
            field=field,
        )
        for position, reason, raw_row, external_id in zip(
            positions, reasons, jsonable_records(raw, positions), ids, strict=True
        )
    ]
