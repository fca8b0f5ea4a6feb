"""The fields segbot keeps of a customer and of an order, the column names it reads them
from when no mapping names others, and what a customer attribute may be called.

This module imports nothing heavy: `segbot crm import --help` prints the default columns
from it without loading pandas.
"""

from typing import Literal

Stream = Literal["customers", "orders"]

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

# A customer attribute's name: what a rule writes after `crm.` (and the JSON key it is
# kept under), so every attribute an import keeps can be named in a rule.
ATTRIBUTE_NAME = r"[A-Za-z0-9_]{1,64}"


def default_columns_text(stream: Stream) -> str:
    """`field = column | column` for each field of `stream`, required ones marked."""
    return "; ".join(
        f"{field} = {' | '.join(columns)}" + (" (required)" if field in REQUIRED[stream] else "")
        for field, columns in DEFAULT_COLUMNS[stream].items()
    )
