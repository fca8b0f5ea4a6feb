"""Identities in one canonical form: phones in E.164, emails trimmed and lower-cased.

The same functions normalise what a CRM sends and what a subscriber shares in chat, so a
match is an equality in the database.
"""

from functools import lru_cache

import pandas as pd
import phonenumbers

EMAIL_LENGTH = 320


@lru_cache(maxsize=200_000)
def normalize_phone(value: str, *, region: str) -> str | None:
    """`value` in E.164 (+34600123456), or None when it cannot be a phone number.

    A number written without a country code is read as one of `region` (ISO 3166 alpha-2).
    """
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str | None:
    """`value` trimmed and lower-cased, or None when it is not shaped like an address."""
    email = value.strip().lower()
    local, _, domain = email.partition("@")
    valid = (
        email.count("@") == 1
        and local
        and "." in domain.strip(".")
        and " " not in email
        and len(email) <= EMAIL_LENGTH
    )
    return email if valid else None


def normalize_phones(values: pd.Series, *, region: str) -> pd.Series:
    """`normalize_phone` over a column, parsing each distinct value once."""
    present = values.dropna()
    if present.empty:
        return pd.Series(pd.NA, index=values.index, dtype="string")
    distinct = present.unique()
    normalised = {value: normalize_phone(str(value), region=region) for value in distinct}
    return values.map(normalised).astype("string")


def normalize_emails(values: pd.Series) -> pd.Series:
    """`normalize_email` over a column, vectorised."""
    email = values.astype("string").str.strip().str.lower()
    parts = email.str.split("@", n=1, expand=True).reindex(columns=[0, 1])
    local, domain = parts[0].astype("string"), parts[1].astype("string")
    valid = (
        (email.str.count("@") == 1)
        & (local.str.len() > 0)
        & domain.str.strip(".").str.contains(".", regex=False)
        & ~email.str.contains(" ", regex=False)
        & (email.str.len() <= EMAIL_LENGTH)
    )
    return email.where(valid.fillna(False).astype(bool)).astype("string")
