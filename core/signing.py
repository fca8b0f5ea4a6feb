"""Short HMAC signatures for things segbot hands out: tracked links and customer deep links.

Each use gets its own key derived from SEGBOT_SECRET_KEY and a purpose, so a signature
made for one purpose is worthless for another.
"""

import base64
import hashlib
import hmac

SIGNATURE_BYTES = 10  # 80 bits: far beyond guessing, short enough for a 64-char /start


def same_secret(given: str, expected: str) -> bool:
    """Whether `given`, sent from outside (a header, a cookie, a link), is `expected`, in a
    time that does not tell where they differ. Compared as bytes: `hmac.compare_digest`
    raises TypeError for text with a character outside ASCII, which anyone can send."""
    encoded = given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(*encoded)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, written as `b64url` writes it; raises ValueError on
    anything else (the decoder alone skips characters outside the alphabet, so a token
    with `!` or `.` added would read as the token without them)."""
    if not text.isascii():
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("not base64url as segbot writes it")
    return data


class Signer:
    def __init__(self, secret: str, *, purpose: str) -> None:
        key = hmac.digest(secret.encode(), purpose.encode(), hashlib.sha256)
        # Keyed once and copied for each signature: keying hashes the key's two pads,
        # a third of what signing a short token costs.
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def sign(self, data: bytes) -> str:
        """The signature of `data`, base64url, always SIGNED_LENGTH characters."""
        mac = self._keyed.copy()
        mac.update(data)
        return b64url(mac.digest()[:SIGNATURE_BYTES])

    def verify(self, data: bytes, signature: str) -> bool:
        return same_secret(signature, self.sign(data))


SIGNED_LENGTH = len(b64url(bytes(SIGNATURE_BYTES)))
