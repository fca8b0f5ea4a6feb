"""Hashed contacts for ad platforms: SHA-256 of the email trimmed and lower-cased, and of
the phone in E.164 digits without the plus."""

import hashlib

from segments.export import hashed_email, hashed_phone


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_contacts_are_normalised_before_hashing() -> None:
    assert hashed_email("  Ana.Lopez@Example.COM ") == sha256("ana.lopez@example.com")
    assert hashed_phone("+34 600 11 12 22", region="US") == sha256("34600111222")
    assert hashed_phone("(415) 555-0100", region="US") == sha256("14155550100")


def test_missing_or_unusable_contacts_hash_to_nothing() -> None:
    assert hashed_email(None) == ""
    assert hashed_email("not an email") == ""
    assert hashed_phone(None, region="US") == ""
    assert hashed_phone("12", region="US") == ""
