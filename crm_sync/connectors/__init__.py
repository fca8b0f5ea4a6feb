"""Connectors: CSV/XLSX files, SQL databases, HTTP CRM APIs (generic and RetailCRM)."""

import os
from collections.abc import Mapping

from core.clock import Clock, utcnow
from core.errors import ConfigError
from crm_sync.config import (
    ConnectorConfig,
    CrmConfig,
    Endpoint,
    FilesConnectorConfig,
    HttpConnectorConfig,
    RecordRules,
    RetailCrmConnectorConfig,
    SqlConnectorConfig,
    secret_from_env,
)
from crm_sync.connectors.base import Batch, Connector, Cursor, SourceError
from crm_sync.connectors.files import FilesConnector
from crm_sync.connectors.http import HttpConnector, HttpSource, request_settings
from crm_sync.connectors.http_client import Sleep
from crm_sync.connectors.retailcrm import retailcrm_connector
from crm_sync.connectors.sql import SqlConnector
from crm_sync.fields import Stream

__all__ = [
    "Batch",
    "Connector",
    "Cursor",
    "FilesConnector",
    "HttpConnector",
    "SourceError",
    "SqlConnector",
    "build_connector",
]


def build_connector(
    config: ConnectorConfig,
    *,
    crm: CrmConfig,
    environ: Mapping[str, str] | None = None,
    clock: Clock = utcnow,
    sleep: Sleep | None = None,
) -> Connector:
    """The connector `config` describes, its secrets read from the environment."""
    env = os.environ if environ is None else environ
    rules = crm.rules_for(config)
    if isinstance(config, FilesConnectorConfig):
        if config.customers is None and config.orders is None:
            raise ConfigError(f"crm connector {config.name}: give customers and/or orders files")
        return FilesConnector(
            name=config.name,
            customers=config.customers,
            orders=config.orders,
            rules=rules,
            mapping=config.columns,
            chunk_rows=config.chunk_rows,
        )
    if isinstance(config, SqlConnectorConfig):
        url = config.url or (secret_from_env(config.url_env, environ=env) if config.url_env else "")
        if not url:
            raise ConfigError(f"crm connector {config.name}: give url or url_env")
        queries: dict[Stream, str] = {}
        if config.customers_query:
            queries["customers"] = config.customers_query
        if config.orders_query:
            queries["orders"] = config.orders_query
        if not queries:
            raise ConfigError(
                f"crm connector {config.name}: give customers_query and/or orders_query"
            )
        return SqlConnector(
            name=config.name,
            url=url,
            queries=queries,
            rules=rules,
            mapping=config.columns,
            chunk_rows=config.chunk_rows,
            clock=clock,
        )
    if isinstance(config, RetailCrmConnectorConfig):
        api_key = secret_from_env(config.api_key_env, environ=env)
        return retailcrm_connector(config, api_key=api_key, rules=rules, clock=clock, sleep=sleep)
    return _http_connector(config, rules=rules, env=env, clock=clock, sleep=sleep)


def _http_connector(
    config: HttpConnectorConfig,
    *,
    rules: RecordRules,
    env: Mapping[str, str],
    clock: Clock,
    sleep: Sleep | None,
) -> HttpConnector:
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    secrets: tuple[str, ...] = ()
    if config.auth is not None:
        key = secret_from_env(config.auth.value_env, environ=env)
        secrets = (key,)
        value = config.auth.prefix + key
        if config.auth.query_param:
            params[config.auth.query_param] = value
        elif config.auth.header:
            headers[config.auth.header] = value
    endpoints: dict[Stream, Endpoint] = {}
    if config.customers is not None:
        endpoints["customers"] = config.customers
    if config.orders is not None:
        endpoints["orders"] = config.orders
    source = HttpSource(
        base_url=config.base_url,
        endpoints=endpoints,
        pagination=config.pagination,
        fields={"customers": config.columns.customers, "orders": config.columns.orders},
        headers=headers,
        params=params,
        secrets=secrets,
        updated_since_param=config.updated_since_param,
        updated_since_format=config.updated_since_format,
        **request_settings(config),
    )
    return HttpConnector(name=config.name, source=source, rules=rules, clock=clock, sleep=sleep)
