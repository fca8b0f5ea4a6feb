"""The `crm:` section of segbot.yaml: rules for records, and the connectors to sync.

```yaml
crm:
  default_region: ES            # phones written without a country code
  connectors:
    - name: shop                # becomes the `source` of every customer and order
      type: files               # files | sql | http | retailcrm
      customers: exports/customers.csv
      orders: exports/orders.xlsx
      every_minutes: 60         # leave out to sync on demand only
```

Each connector also takes the reading options of `crm_sync.mapping` (columns, attributes,
date_format or dayfirst, timezone, create_customers). Secrets never live in the file:
connectors name the environment variable holding them.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from core.config import MINUTES_IN_A_WEEK, ConfigSections, validated
from core.errors import ConfigError
from crm_sync.currencies import ISO_4217
from crm_sync.mapping import Attributes, DateFormat, ReadingOptions, TimeZone

DEFAULT_REFUND_STATUSES = (
    "refunded",
    "refund",
    "returned",
    "return",
    "cancelled",
    "canceled",
    "chargeback",
)


class UnknownConnectorError(ConfigError):
    """No connector in crm.connectors has that name; the message lists those there are."""


def _known_region(value: str) -> str:
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {value!r}; use a two-letter country code")
    return region


# A country whose phone numbers may be written without +code, upper case (`es` is ES).
Region = Annotated[str, AfterValidator(_known_region)]


def _known_currency(code: str) -> str:
    """An ISO 4217 code, in capitals as the orders' own are read (`eur` is EUR)."""
    if code.strip().upper() not in ISO_4217:
        raise ValueError(f"unknown currency code {code!r} (ISO 4217, such as EUR or USD)")
    return code.strip().upper()


Currency = Annotated[str, AfterValidator(_known_currency)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordRules(_Strict):
    """How raw values become records; shared by every connector."""

    default_region: Region = "US"
    refund_statuses: tuple[str, ...] = DEFAULT_REFUND_STATUSES
    timezone: TimeZone = "UTC"  # for timestamps written without an offset
    date_format: DateFormat | None = None  # strptime format; unset means ISO 8601
    dayfirst: bool = False  # with no date_format: 31/12/2025 is the 31st of December
    default_currency: Currency | None = None
    attributes: Attributes = Field(default_factory=dict)  # crm.NAME -> its column or path

    @field_validator("refund_statuses")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(status.strip().lower() for status in value)


class _ConnectorBase(ReadingOptions):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    every_minutes: Annotated[int, Field(gt=0, le=MINUTES_IN_A_WEEK)] | None = None


class FilesConnectorConfig(_ConnectorBase):
    type: Literal["files"]
    customers: Path | None = None
    orders: Path | None = None
    chunk_rows: Annotated[int, Field(gt=0)] = 100_000


class SqlConnectorConfig(_ConnectorBase):
    type: Literal["sql"]
    url: str | None = None
    url_env: str | None = None
    customers_query: str | None = None
    orders_query: str | None = None
    chunk_rows: Annotated[int, Field(gt=0)] = 20_000


class Auth(_Strict):
    """A secret sent with every request: in a header (default) or a query parameter."""

    header: str | None = "Authorization"
    query_param: str | None = None
    prefix: str = ""  # e.g. "Bearer "
    value_env: str


# How far one pass of a stream may page before it stops with an error: a backstop for an
# API that never says it is done (paging ignored, or records without end).
MAX_PAGES = 100_000
MAX_RECORDS = 10_000_000


class Pagination(_Strict):
    style: Literal["page", "offset", "cursor"] = "page"
    page_param: str = "page"
    first_page: int = 1
    size_param: str = "limit"
    page_size: Annotated[int, Field(gt=0)] = 100
    offset_param: str = "offset"
    cursor_param: str = "after"
    total_pages_path: str | None = None  # e.g. pagination.totalPageCount
    next_cursor_path: str | None = None  # e.g. paging.next.after
    max_pages: Annotated[int, Field(gt=0)] = MAX_PAGES  # per pass of a stream
    max_records: Annotated[int, Field(gt=0)] = MAX_RECORDS


class Endpoint(_Strict):
    path: str
    records_path: str  # where the list of records is in the response, e.g. data.items
    params: dict[str, str] = Field(default_factory=dict)


class _HttpConnectorBase(_ConnectorBase):
    """How long a request waits and how it is retried: the same keys for every HTTP
    connector (`http` and `retailcrm`), which all read through one client."""

    max_retries: Annotated[int, Field(ge=0)] = 5
    max_retry_wait_seconds: Annotated[float, Field(gt=0)] = 120.0
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0


class HttpConnectorConfig(_HttpConnectorBase):
    type: Literal["http"]
    base_url: str
    auth: Auth | None = None
    customers: Endpoint | None = None
    orders: Endpoint | None = None
    pagination: Pagination = Pagination()
    updated_since_param: str | None = None
    updated_since_format: str = "iso"  # or a strftime format, in the connector's time zone


class RetailCrmConnectorConfig(_HttpConnectorBase):
    type: Literal["retailcrm"]
    url: str  # https://yourshop.retailcrm.ru
    api_key_env: str
    site: str | None = None
    page_size: Literal[20, 50, 100] = 100
    max_pages: Annotated[int, Field(gt=0)] = MAX_PAGES
    max_records: Annotated[int, Field(gt=0)] = MAX_RECORDS


ConnectorConfig = Annotated[
    FilesConnectorConfig | SqlConnectorConfig | HttpConnectorConfig | RetailCrmConnectorConfig,
    Field(discriminator="type"),
]


class CrmConfig(_Strict):
    # Checked as RecordRules checks them, so a mistake stops segbot.yaml loading.
    default_region: Region = "US"
    refund_statuses: tuple[str, ...] = DEFAULT_REFUND_STATUSES
    timezone: TimeZone = "UTC"
    default_currency: Currency | None = None
    # Read and ignored: a sync whose process died no longer waits out a staleness time
    # (crm_sync/run_lock.py), but older segbot.yaml files that set it still load.
    stale_run_minutes: Annotated[int, Field(gt=0)] | None = None
    connectors: tuple[ConnectorConfig, ...] = ()

    @field_validator("connectors")
    @classmethod
    def _unique_names(cls, value: tuple[ConnectorConfig, ...]) -> tuple[ConnectorConfig, ...]:
        names = [connector.name for connector in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"connector names must be unique; repeated: {', '.join(duplicates)}")
        return value

    def connector(self, name: str) -> ConnectorConfig:
        for connector in self.connectors:
            if connector.name == name:
                return connector
        known = ", ".join(c.name for c in self.connectors) or "none configured"
        raise UnknownConnectorError(f"crm: no connector named {name!r} (known: {known})")

    def rules_for(self, reading: ReadingOptions | None = None) -> RecordRules:
        """The record rules of a connector or an import mapping: its own settings over the
        section's."""
        return RecordRules(
            default_region=self.default_region,
            refund_statuses=self.refund_statuses,
            timezone=(reading.timezone if reading and reading.timezone else self.timezone),
            date_format=reading.date_format if reading else None,
            dayfirst=reading.dayfirst if reading else False,
            default_currency=self.default_currency,
            attributes=reading.attributes if reading else {},
        )


def load_crm_config(sections: ConfigSections) -> CrmConfig:
    """The validated `crm` section; a mistake becomes one ConfigError naming where it is."""
    return validated(CrmConfig, sections.get("crm") or {}, "crm")


def secret_from_env(variable: str, *, environ: Mapping[str, str] | None = None) -> str:
    """The secret in `variable`, without the spaces or line break around it that a secrets
    file leaves; one holding any other character that prints nothing is refused (it could
    not go in a header, and would end a header line early). The error never shows it."""
    value = (environ if environ is not None else os.environ).get(variable, "").strip()
    if not value:
        raise ConfigError(f"crm: environment variable {variable} is not set")
    if not value.isprintable():
        raise ConfigError(
            f"crm: environment variable {variable} holds a control character "
            "(a line break or a tab inside it?); set it to the secret alone"
        )
    return value
