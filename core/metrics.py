"""Prometheus metrics every role of a segbot process can move, on one registry.

Counters count what happened in this process (Prometheus sums them over processes);
gauges read from the database are set when `/metrics` is scraped (bot/health.py), so a
figure such as "deliveries queued" is the same whichever process answers the scrape.

The registry is segbot's own rather than prometheus-client's global one, so the exposition
holds our metrics only and tests can read them without interference.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

UPDATES = Counter(
    "segbot_updates_handled",
    "Telegram updates that entered the dispatcher.",
    registry=REGISTRY,
)
EVENTS_LOGGED = Counter(
    "segbot_events_logged",
    "Events written to the event log.",
    registry=REGISTRY,
)
MESSAGES = Counter(
    "segbot_broadcast_messages",
    "Broadcast send attempts by Bot API outcome (sent, retryafter, blocked, chatnotfound...).",
    ["outcome"],
    registry=REGISTRY,
)
RETRY_AFTER = Counter(
    "segbot_telegram_retry_after",
    "429 Too Many Requests answers from the Bot API, by client (bot replies or broadcasts).",
    ["client"],
    registry=REGISTRY,
)
SEGMENT_REFRESH_SECONDS = Histogram(
    "segbot_segment_refresh_seconds",
    "Duration of the scheduled segments refresh (RFM, activity, ladder, memberships).",
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
DELIVERIES = Gauge(
    "segbot_deliveries",
    "Deliveries of the runs still open (sending or paused), by delivery status.",
    ["status"],
    registry=REGISTRY,
)
SEND_RATE = Gauge(
    "segbot_send_rate",
    "Broadcast messages sent per second over the last minute, all senders together.",
    registry=REGISTRY,
)
SYNC_RUNS = Gauge(
    "segbot_sync_runs",
    "CRM sync runs recorded, by connector and status.",
    ["connector", "status"],
    registry=REGISTRY,
)
