"""How a source's columns become segbot's fields: which column holds which field, which
extra customer columns are kept as attributes (`crm.NAME` in rules), how dates are
written, and whether an order may create the customer it names.

The same options sit on each connector in segbot.yaml and in the file that
`segbot crm import --mapping FILE` reads:

    columns:
      customers: {external_id: "Client ID", name: "Full name"}
      orders: {ordered_at: "Date", amount: "Total"}
    attributes: [city, tier]       # or {loyalty: "Loyalty tier"}: rules say crm.city, crm.loyalty
    date_format: "%d/%m/%Y"        # strptime codes; or dayfirst: true; unset: ISO 8601
    timezone: Europe/Madrid        # for times written without an offset
    create_customers: false        # true: an order naming an unknown customer creates it bare

Every key is checked when the file is read, before anything is imported: an unknown key,
a field segbot does not have, an attribute name a rule cannot write, or a date format
that cannot read a date back is an error that names it.
"""

import re
from collections.abc import Collection
from datetime import UTC, datetime
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Self, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.config import load_config_file, validated
from core.errors import ConfigError
from core.zones import zone_or_none
from crm_sync.fields import ATTRIBUTE_NAME, DEFAULT_COLUMNS, Stream

STRICT = ConfigDict(extra="forbid", frozen=True)
_SAMPLE_DATE = datetime(2025, 12, 31, 14, 30, 59, tzinfo=UTC)


def check_date_format(value: str) -> str:
    """A strptime format that writes 31 December 2025 and reads it back as that day."""
    if "%" not in value:
        raise ValueError(
            f"{value!r} is not a date format: write it with strptime codes, "
            'e.g. "%d/%m/%Y" for 31/12/2025 or "%d.%m.%Y %H:%M" for 31.12.2025 14:30'
        )
    try:
        back = datetime.strptime(_SAMPLE_DATE.strftime(value), value)  # noqa: DTZ007
    except ValueError as error:
        raise ValueError(f"{value!r} cannot read back a date it writes ({error})") from None
    if back.date() != _SAMPLE_DATE.date():
        raise ValueError(f"{value!r} does not give the day, the month and the year")
    return value


def check_timezone(value: str) -> str:
    if zone_or_none(value) is None:
        raise ValueError(f"unknown time zone {value!r}")
    return value


def _named(value: object) -> object:
    """`[city, tier]` is `{city: city, tier: tier}`: each column kept under its own name."""
    if isinstance(value, list | tuple):
        return {str(name): str(name) for name in value}
    return value


def _rule_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not re.fullmatch(ATTRIBUTE_NAME, name):
            usable = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").lower()[:64] or "name"
            raise ValueError(
                f"attribute {name!r} cannot be named in a rule (crm.NAME takes letters, "
                f'digits and _, up to 64): give it a name, e.g. {usable}: "{value[name]}"'
            )
    return value


DateFormat = Annotated[str, AfterValidator(check_date_format)]
TimeZone = Annotated[str, AfterValidator(check_timezone)]
# Attribute name (as rules write it after `crm.`) -> the column or JSON path holding it.
Attributes = Annotated[dict[str, str], BeforeValidator(_named), AfterValidator(_rule_names)]


class ColumnMapping(BaseModel):
    """Source column (or JSON field path) for each field segbot knows; the rest are defaults."""

    model_config = STRICT

    customers: dict[str, str] = Field(default_factory=dict)
    orders: dict[str, str] = Field(default_factory=dict)

    @field_validator("customers", "orders")
    @classmethod
    def _known_fields(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        stream = cast(Stream, info.field_name)
        known = DEFAULT_COLUMNS[stream]
        unknown = [field for field in value if field not in known]
        if not unknown:
            return value
        message = f"no {stream} field {', '.join(map(repr, unknown))}; fields: {', '.join(known)}"
        if any(value[field] in known for field in unknown):
            message += '. Write field: column, e.g. external_id: "Client ID"'
        elif stream == "customers":
            message += ". Keep other columns for rules as crm.NAME with attributes: [NAME]"
        raise ValueError(message)


class ReadingOptions(BaseModel):
    """How a source is read: the options a connector and an import mapping share."""

    model_config = STRICT

    columns: ColumnMapping = ColumnMapping()
    attributes: Attributes = Field(default_factory=dict)
    timezone: TimeZone | None = None  # for times written without an offset
    date_format: DateFormat | None = None  # strptime codes; unset: ISO 8601
    dayfirst: bool = False  # 31/12/2025, 31.12.25 14:30 ...; ISO 8601 still reads
    create_customers: bool = False  # an order naming an unknown customer creates it bare

    @model_validator(mode="after")
    def _one_date_rule(self) -> Self:
        if self.date_format is not None and self.dayfirst:
            raise ValueError("give date_format or dayfirst: true, not both")
        return self


class ImportMapping(ReadingOptions):
    """A `segbot crm import --mapping FILE`."""

    def unused(self, streams: Collection[Stream]) -> list[str]:
        """The keys set here that have nothing to apply to when only `streams` are read."""
        unused = []
        if "customers" not in streams:
            unused += ["columns.customers"] if self.columns.customers else []
            unused += ["attributes"] if self.attributes else []
        if "orders" not in streams:
            unused += ["columns.orders"] if self.columns.orders else []
            for key in ("timezone", "date_format", "dayfirst", "create_customers"):
                if key in self.model_fields_set:
                    unused.append(key)
        return unused


def load_mapping_file(path: Path) -> ImportMapping:
    """The mapping file at `path` (`crm import --mapping`); a ConfigError naming any key
    that is wrong or unknown."""
    content = load_config_file(path, given_as="--mapping")
    known = list(ImportMapping.model_fields)
    unknown = [str(key) for key in content if key not in known]
    if unknown:
        hints = []
        for key in unknown:
            if key in DEFAULT_COLUMNS:
                hints.append(f"{key} goes under columns: (columns.{key})")
            elif close := get_close_matches(key, known, n=1):
                hints.append(f"did you mean {close[0]}?")
        raise ConfigError(
            f"{path}: unknown key {', '.join(unknown)}; a mapping has {', '.join(known)}"
            + (f" ({'; '.join(hints)})" if hints else "")
        )
    return validated(ImportMapping, content, str(path))
