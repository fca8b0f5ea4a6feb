import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.sources import (
    CustomerRef,
    StartSource,
    customer_payload,
    parse_start_payload,
    utm_payload,
)

SECRET = "test-secret"
# Short enough that three values always fit Telegram's 64 characters, non-ASCII included.
value = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="|"), min_size=1, max_size=3
)


def parse(payload: str | None, secret: str = SECRET) -> StartSource | None:
    return parse_start_payload(payload, secret=secret)


@pytest.mark.parametrize("tag", ["promo_spring", "A-b_9", "x" * 64])
def test_a_plain_tag_is_the_source(tag: str) -> None:
    assert parse(tag) == StartSource(name=tag)


@pytest.mark.parametrize("payload", [None, "", "x" * 65, "two words", "<script>", "ñandú"])
def test_a_malformed_payload_is_no_source(payload: str | None) -> None:
    assert parse(payload) is None


def test_utm_fields_and_referrer_travel_in_the_payload() -> None:
    payload = utm_payload(
        source="fb", medium="cpc", campaign="spring", content="banner1", referrer="1001"
    )
    assert len(payload) <= 64
    assert parse(payload) == StartSource(
        name="fb",
        utm_source="fb",
        utm_medium="cpc",
        utm_campaign="spring",
        utm_content="banner1",
        referrer="1001",
    )


@given(source=value, medium=st.none() | value, campaign=st.none() | value)
def test_utm_payloads_round_trip(source: str, medium: str | None, campaign: str | None) -> None:
    payload = utm_payload(source=source, medium=medium, campaign=campaign)
    assert parse(payload) == StartSource(
        name=source, utm_source=source, utm_medium=medium, utm_campaign=campaign
    )


def test_a_utm_payload_that_would_not_fit_is_refused_when_made() -> None:
    with pytest.raises(ValueError, match="Telegram allows 64"):
        utm_payload(source="newsletter", campaign="black_friday_" * 4)


@pytest.mark.parametrize("payload", ["u-!!!", "u-", "u-" + "_" * 10])
def test_a_broken_utm_payload_is_no_source(payload: str) -> None:
    assert parse(payload) is None


@given(
    external_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=30)
)
def test_customer_links_round_trip(external_id: str) -> None:
    payload = customer_payload(external_id, secret=SECRET)
    assert parse(payload) == StartSource(customer=CustomerRef(external_id=external_id))


def test_a_customer_link_can_name_the_crm() -> None:
    payload = customer_payload("C-1042", secret=SECRET, source="retailcrm")
    assert parse(payload) == StartSource(customer=CustomerRef("C-1042", source="retailcrm"))


def test_a_tampered_or_foreign_customer_link_is_no_source() -> None:
    payload = customer_payload("C-1042", secret=SECRET)
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    assert parse(flipped) is None
    assert parse(payload, secret="another-shop") is None
    forged_id = customer_payload("C-1043", secret=SECRET)
    assert parse(forged_id[:-14] + payload[-14:]) is None
    assert parse("c-") is None
    assert parse("c-" + "A" * 14) is None
