"""Identities in one canonical form: phones in E.164, emails trimmed and lower-cased.

The same functions normalise what a CRM sends and what a subscriber shares in chat, so a
match is an equality in the database.
"""

import re
from functools import lru_cache

import numpy as np
import pandas as pd
import phonenumbers
from numpy.dtypes import StringDType
from phonenumbers import PhoneMetadata

EMAIL_LENGTH = 320
# Unicode's control and format characters (categories Cc and Cf: a soft hyphen, a
# direction mark, a zero-width space, ...), which print nothing or reorder what is shown.
INVISIBLE = (
    r"\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd"
    r"\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    r"\U000e0020-\U000e007f"
)
# What no plain address holds: whitespace, the specials of RFC 5322 (so "<a@b.co>",
# "mailto:a@b.co" and "a@b.co," are not taken for a@b.co), invisible characters and lone
# surrogates (half of a UTF-16 pair, as a JSON API's `\ud800` escape reads).
NOT_IN_EMAIL = rf'[\s()<>\[\],;:\\"{INVISIBLE}\ud800-\udfff]'
# Already E.164 in shape: "+" and digits only, the first not 0.
E164_SHAPE = r"\+[1-9][0-9]{1,19}"


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
        and re.search(NOT_IN_EMAIL, email) is None
        and len(email) <= EMAIL_LENGTH
    )
    return email if valid else None


def normalize_phones(values: pd.Series, *, region: str) -> pd.Series:
    """`normalize_phone` over a column, with the same result for every value.

    Each distinct value is parsed once. Values already E.164 in shape are settled a whole
    group at a time: for a country whose numbers carry no national prefix to strip, what
    `normalize_phone` makes of "+<code><digits>" depends only on the code and the number
    of digits (the number itself, or None when that length is impossible there), so one
    value of each (code, length) is parsed and the answer holds for the group.
    """
    present = values.dropna()
    if present.empty:
        return pd.Series(pd.NA, index=values.index, dtype="string")
    distinct = pd.Series(present.unique(), dtype=object).astype(str)
    is_shaped = distinct.str.fullmatch(E164_SHAPE).to_numpy(dtype=bool)
    shaped = distinct[is_shaped].to_numpy(dtype=object)
    text = shaped.astype(StringDType())
    key = _country_codes(text) * 100 + np.strings.str_len(text)
    groups, first, group_of = np.unique(key, return_index=True, return_inverse=True)
    settled = np.zeros(len(groups), dtype=bool)  # the group's answer holds for all of it
    possible = np.zeros(len(groups), dtype=bool)  # ... and that answer is the number itself
    for group, (code_and_length, sample) in enumerate(zip(groups, shaped[first], strict=True)):
        code = int(code_and_length) // 100
        if code and not _strips_national_prefix(code, region):
            answer = normalize_phone(sample, region=region)
            settled[group] = answer in (sample, None)
            possible[group] = answer is not None
    quick = settled[group_of]
    nothing = np.full(len(shaped), None, dtype=object)
    answers = np.where(possible[group_of], shaped, nothing)[quick]
    normalised: dict[str, str | None] = dict(
        zip(shaped[quick].tolist(), answers.tolist(), strict=True)
    )
    for value in [*distinct[~is_shaped], *shaped[~quick]]:
        normalised[value] = normalize_phone(value, region=region)
    return values.astype(object).map(normalised).astype("string")


def _country_codes(numbers: np.ndarray) -> np.ndarray:
    """The calling code each "+digits" number starts with, as phonenumbers reads it (the
    shortest known prefix of one to three digits); 0 when there is none."""
    known_codes = np.fromiter(phonenumbers.COUNTRY_CODE_TO_REGION_CODE, dtype=np.int64)
    codes = np.zeros(len(numbers), dtype=np.int64)
    for digits in (3, 2, 1):  # the shortest last, so it wins
        prefix = np.strings.slice(numbers, 1, 1 + digits).astype(np.int64)
        known = np.isin(prefix, known_codes)
        codes[known] = prefix[known]
    return codes


@lru_cache(maxsize=1_000)
def _strips_national_prefix(code: int, region: str) -> bool:
    """Whether parsing a number of this calling code may strip a national prefix from it
    (then the result depends on the digits, not only on their count)."""
    number_region = phonenumbers.region_code_for_country_code(code)
    if number_region == region:
        metadata = PhoneMetadata.metadata_for_region(region, None)
    else:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, number_region)
    return metadata is None or bool(metadata.national_prefix_for_parsing)


def normalize_emails(values: pd.Series) -> pd.Series:
    """`normalize_email` over a column, vectorised (the checks run on numpy strings)."""
    email = values.astype("string").str.strip().str.lower()
    # First: numpy's strings hold no lone surrogate.
    email = email.mask(email.str.contains(NOT_IN_EMAIL, regex=True).fillna(False))
    missing = email.isna().to_numpy()
    text = email.to_numpy(dtype=object, na_value="").astype(StringDType())
    at = np.strings.find(text, "@")
    domain = np.strings.strip(np.strings.slice(text, at + 1, None), ".")
    valid = (
        ~missing
        & (np.strings.count(text, "@") == 1)
        & (at > 0)
        & (np.strings.find(domain, ".") >= 0)
        & (np.strings.str_len(text) <= EMAIL_LENGTH)
    )
    return email.where(valid)
