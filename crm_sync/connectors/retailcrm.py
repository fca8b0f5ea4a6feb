"""RetailCRM API v5: customers and orders, as documented by the vendor.

    GET /api/v5/customers  ->  {"success": true, "pagination": {...}, "customers": [...]}
    GET /api/v5/orders     ->  {"success": true, "pagination": {...}, "orders": [...]}

`pagination` is {limit, totalCount, currentPage, totalPageCount}; `page` starts at 1 and
`limit` is 20, 50 or 100. The key goes in the X-API-KEY header (the `apiKey` query
parameter works too, but would put the secret in URLs and logs). Changes are pulled with
`filter[updatedAtFrom]` as "Y-m-d H:i:s" in the account's time zone, which is also how
RetailCRM writes `createdAt`: set the connector's `timezone` to the account's.
Customers have `phones: [{"number": ...}]`; an order names its customer in `customer.id`
and its total in `totalSumm`.

Requests time out and are retried (429, 5xx, a dropped connection) as the generic
connector's are, through the same client, set by the same keys: `timeout_seconds`,
`max_retries`, `max_retry_wait_seconds`.
"""

from core.clock import Clock, utcnow
from crm_sync.config import Endpoint, Pagination, RecordRules, RetailCrmConnectorConfig
from crm_sync.connectors.http import HttpConnector, HttpSource, request_settings
from crm_sync.connectors.http_client import Sleep

CUSTOMER_FIELDS = {
    "external_id": "id",
    "first_name": "firstName",
    "last_name": "lastName",
    "email": "email",
    "phone": "phones.0.number",
}
ORDER_FIELDS = {
    "external_id": "id",
    "customer_external_id": "customer.id",
    "ordered_at": "createdAt",
    "amount": "totalSumm",
    "currency": "currency",
    "status": "status",
    "utm_campaign": "source.campaign",
}


def retailcrm_connector(
    config: RetailCrmConnectorConfig,
    *,
    api_key: str,
    rules: RecordRules,
    clock: Clock = utcnow,
    sleep: Sleep | None = None,
) -> HttpConnector:
    sites = {"filter[sites][]": config.site} if config.site else {}
    source = HttpSource(
        base_url=config.url,
        endpoints={
            "customers": Endpoint(path="/api/v5/customers", records_path="customers", params=sites),
            "orders": Endpoint(path="/api/v5/orders", records_path="orders", params=sites),
        },
        pagination=Pagination(
            style="page",
            page_param="page",
            first_page=1,
            size_param="limit",
            page_size=config.page_size,
            total_pages_path="pagination.totalPageCount",
            max_pages=config.max_pages,
            max_records=config.max_records,
        ),
        fields={
            "customers": {**CUSTOMER_FIELDS, **config.columns.customers},
            "orders": {**ORDER_FIELDS, **config.columns.orders},
        },
        headers={"X-API-KEY": api_key},
        updated_since_param="filter[updatedAtFrom]",
        updated_since_format="%Y-%m-%d %H:%M:%S",
        **request_settings(config),
    )
    return HttpConnector(name=config.name, source=source, rules=rules, clock=clock, sleep=sleep)
