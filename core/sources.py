"""Where a subscriber came from: the `/start PAYLOAD` deep link, in three kinds.

- a plain tag: `promo_spring` (up to 64 of `[A-Za-z0-9_-]`, Telegram's limit);
- UTM fields and a referrer: `u-` + base64url of `source|medium|campaign|content|referrer`,
  made by `utm_payload()`;
- a signed customer link: `c-` + base64url of the CRM external id (and source) + an HMAC,
  made by `customer_payload()`, so a shop can tie a chat to a customer without asking.

The prefixes `u-` and `c-` are reserved. A payload that is malformed, too long, or whose
signature does not verify counts as no source at all: never an error shown to the user.
"""

import binascii
import re
from dataclasses import dataclass

from core.signing import SIGNED_LENGTH, Signer, b64url, b64url_decode

MAX_PAYLOAD = 64
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BOT_USERNAME = re.compile(r"@?[A-Za-z0-9_]{5,32}")  # Telegram's rule for usernames
UTM_PREFIX, CUSTOMER_PREFIX = "u-", "c-"
_FIELD_SEPARATOR = "|"
_UTM_FIELDS = 5  # source, medium, campaign, content, referrer
CUSTOMER_LINK_PURPOSE = "customer-deep-link"


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """A CRM customer named by a signed link; `source` None means the only/default one."""

    external_id: str
    source: str | None = None


@dataclass(frozen=True, slots=True)
class StartSource:
    name: str | None = None  # the tag, or utm_source: what reports call the source
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    referrer: str | None = None
    customer: CustomerRef | None = None


def parse_start_payload(payload: str | None, *, secret: str) -> StartSource | None:
    """What a `/start` payload says about where the subscriber came from, if anything."""
    if payload is None or not _PAYLOAD.fullmatch(payload):
        return None
    try:
        if payload.startswith(UTM_PREFIX):
            return _parse_utm(payload.removeprefix(UTM_PREFIX))
        if payload.startswith(CUSTOMER_PREFIX):
            customer = _parse_customer(payload.removeprefix(CUSTOMER_PREFIX), secret)
            return None if customer is None else StartSource(customer=customer)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return StartSource(name=payload)


def utm_payload(
    *,
    source: str,
    medium: str | None = None,
    campaign: str | None = None,
    content: str | None = None,
    referrer: str | None = None,
) -> str:
    """A `/start` payload carrying UTM fields; ValueError if the source is empty (the
    payload would read as no source) or it would pass 64 characters."""
    if not source:
        raise ValueError("the UTM source may not be empty")
    fields = (source, medium, campaign, content, referrer)
    if any(_FIELD_SEPARATOR in (field or "") for field in fields):
        raise ValueError(f"UTM values may not contain {_FIELD_SEPARATOR!r}")
    packed = _FIELD_SEPARATOR.join(field or "" for field in fields).rstrip(_FIELD_SEPARATOR)
    return _within_limit(UTM_PREFIX + b64url(packed.encode()))


def customer_payload(external_id: str, *, secret: str, source: str | None = None) -> str:
    """A signed `/start` payload naming a CRM customer; ValueError if the id is empty,
    holds the field separator (the link would name another customer) or is too long."""
    if not external_id:
        raise ValueError("the customer id may not be empty")
    if _FIELD_SEPARATOR in external_id:
        raise ValueError(f"the customer id may not contain {_FIELD_SEPARATOR!r}")
    data = _customer_data(CustomerRef(external_id=external_id, source=source))
    signature = Signer(secret, purpose=CUSTOMER_LINK_PURPOSE).sign(data)
    return _within_limit(CUSTOMER_PREFIX + b64url(data) + signature)


def start_link(bot_username: str, payload: str) -> str:
    """The t.me link that opens the bot with `/start payload`; ValueError if `bot_username`
    (with or without its @) is not a Telegram username."""
    if not _BOT_USERNAME.fullmatch(bot_username):
        raise ValueError(
            f"{bot_username!r} is not a bot username: 5 to 32 letters, digits and underscores"
        )
    return f"https://t.me/{bot_username.removeprefix('@')}?start={payload}"


def _parse_utm(encoded: str) -> StartSource | None:
    fields = b64url_decode(encoded).decode().split(_FIELD_SEPARATOR)
    if len(fields) > _UTM_FIELDS or not fields[0]:
        return None
    source, medium, campaign, content, referrer = (fields + [""] * _UTM_FIELDS)[:_UTM_FIELDS]
    return StartSource(
        name=source,
        utm_source=source,
        utm_medium=medium or None,
        utm_campaign=campaign or None,
        utm_content=content or None,
        referrer=referrer or None,
    )


def _parse_customer(encoded: str, secret: str) -> CustomerRef | None:
    body, signature = encoded[:-SIGNED_LENGTH], encoded[-SIGNED_LENGTH:]
    if not body:
        return None
    data = b64url_decode(body)
    if not Signer(secret, purpose=CUSTOMER_LINK_PURPOSE).verify(data, signature):
        return None
    external_id, _, source = data.decode().partition(_FIELD_SEPARATOR)
    return CustomerRef(external_id=external_id, source=source or None) if external_id else None


def _customer_data(customer: CustomerRef) -> bytes:
    text = customer.external_id
    if customer.source:
        text += _FIELD_SEPARATOR + customer.source
    return text.encode()


def _within_limit(payload: str) -> str:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(
            f"the /start payload would be {len(payload)} characters; Telegram allows "
            f"{MAX_PAYLOAD}: shorten the values"
        )
    return payload
