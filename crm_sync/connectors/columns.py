"""Which source column holds which field: the mapping from segbot.yaml, else the defaults."""

from collections.abc import Mapping, Sequence

from crm_sync.connectors.base import SourceError
from crm_sync.records import Stream

# Header names read without a mapping (compared case-insensitively), first match wins.
DEFAULT_COLUMNS: dict[Stream, dict[str, tuple[str, ...]]] = {
    "customers": {
        "external_id": ("customer_id", "external_id", "id"),
        "name": ("name", "full_name"),
        "first_name": ("first_name",),
        "last_name": ("last_name",),
        "phone": ("phone", "phone_number", "mobile"),
        "email": ("email", "e-mail"),
    },
    "orders": {
        "external_id": ("order_id", "external_id", "id"),
        "customer_external_id": ("customer_id", "customer_external_id"),
        "ordered_at": ("ordered_at", "order_date", "created_at", "date"),
        "amount": ("amount", "total", "sum"),
        "currency": ("currency",),
        "status": ("status",),
        "quantity": ("quantity", "qty"),
        "utm_campaign": ("utm_campaign",),
    },
}
REQUIRED: dict[Stream, tuple[str, ...]] = {
    "customers": ("external_id",),
    "orders": ("external_id", "customer_external_id", "ordered_at", "amount"),
}


def resolve_columns(
    stream: Stream,
    header: Sequence[str],
    *,
    mapping: Mapping[str, str],
    attributes: Sequence[str] = (),
    where: str,
) -> dict[str, str]:
    """{source column: field} for the columns of `header` that segbot reads.

    Attribute columns become `attr:<name>`. A required field or a mapped or attribute
    column missing from the header fails the whole source, naming what is missing.
    """
    unknown = sorted(set(mapping) - set(DEFAULT_COLUMNS[stream]))
    if unknown:
        raise SourceError(
            f"{where}: unknown {stream} field(s) {', '.join(unknown)} "
            f"(known: {', '.join(DEFAULT_COLUMNS[stream])})"
        )
    by_lower = {str(column).strip().lower(): str(column) for column in header}
    chosen: dict[str, str] = {}
    for field, candidates in DEFAULT_COLUMNS[stream].items():
        if field in mapping:
            column = by_lower.get(mapping[field].strip().lower())
            if column is None:
                raise SourceError(f"{where}: no column {mapping[field]!r} (mapped to {field})")
        else:
            column = next((by_lower[c] for c in candidates if c in by_lower), None)
        if column is not None and column not in chosen:
            chosen[column] = field
    missing = [field for field in REQUIRED[stream] if field not in chosen.values()]
    if missing:
        raise SourceError(
            f"{where}: no column for {', '.join(missing)}; name it in crm columns.{stream} "
            f"(columns found: {', '.join(map(str, header))})"
        )
    if stream == "customers":
        for name in attributes:
            column = by_lower.get(name.strip().lower())
            if column is None:
                raise SourceError(f"{where}: no attribute column {name!r}")
            chosen.setdefault(column, f"attr:{name}")
    return chosen
