"""Reading LinkAhead authentication tokens and ``Set-Cookie`` headers.

The token is opaque to the client except for its expiry: the cookie value is a URL-encoded JSON
array ``[kind, realm, user, roles, permissions, issued_at_ms, timeout_ms, nonce, checksum, ...]``.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple
from urllib.parse import quote, unquote

__all__ = [
    "TokenInfo", "parse_token", "session_times", "session_token_from_set_cookie", "cookie_value", "is_cookie_value",
    "MAX_TOKEN_LENGTH",
]

MAX_TOKEN_LENGTH = 16384
"""Longer ``SessionToken`` values are refused (a sane server sends a few hundred bytes)."""

_MAX_MILLISECONDS = 2**63 - 1  # the server's Java long; larger ones would overflow a float deadline

# A session token's issued-at and time-out, found without decoding the whole value: they are the
# two bare integers between the permissions array and the nonce string. (Decoding costs 50 us,
# more than the rest of a request's bookkeeping, and every answer carries a renewed token.)
_SESSION_TIMES = (
    re.compile(r"%5B%22S%22%2C.*?%5D%2C(\d{1,19})%2C(\d{1,19})%2C%22[0-9A-Za-z]"),
    re.compile(r'\["S",.*?\],(\d{1,19}),(\d{1,19}),"[0-9A-Za-z]'),
)

_SET_COOKIE_TOKEN = re.compile(r"(?:^|[,;]\s*)SessionToken=([^;,\s]*)")
# RFC 6265 cookie-octet, minus the characters our parser splits on.
_COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")


class TokenInfo(NamedTuple):
    """What a client may read from a token: never its nonce or checksum."""

    kind: str
    realm: str
    username: str
    issued_at_ms: int
    timeout_ms: int

    @property
    def expires_at(self) -> float:
        """Seconds since the epoch at which the token stops being valid."""
        return (self.issued_at_ms + self.timeout_ms) / 1000.0

    @property
    def one_time(self) -> bool:
        """True for a one-time token (kind ``"O"``)."""
        return self.kind == "O"


def parse_token(value: str) -> TokenInfo:
    """Parse a ``SessionToken`` cookie value (URL-encoded or not).

    :raises ValueError: the value is not a LinkAhead token. The message never contains the value.
    """
    if len(value) > MAX_TOKEN_LENGTH:
        raise ValueError("the token is longer than any LinkAhead token")
    text = unquote(value) if value.startswith("%") else value
    try:
        fields = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("the token is not a URL-encoded JSON array") from None
    if not isinstance(fields, list) or len(fields) < 9:
        raise ValueError("the token is not a LinkAhead token array of at least 9 fields")
    kind, realm, username, _roles, _permissions, issued, timeout = fields[:7]
    if kind not in ("S", "O") or not isinstance(realm, str) or not isinstance(username, str):
        raise ValueError("the token's kind, realm or user name field is malformed")
    for number in (issued, timeout):
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= _MAX_MILLISECONDS:
            raise ValueError("the token's issued-at or time-out field is not a non-negative integer")
    return TokenInfo(kind, realm, username, issued, timeout)


def session_times(value: str) -> tuple[int, int] | None:
    """``(issued_at_ms, timeout_ms)`` of a session token (kind ``"S"``); ``None`` for any other value.

    Quicker than :func:`parse_token` for the common shape; falls back to it otherwise.
    """
    if len(value) > MAX_TOKEN_LENGTH:
        return None
    for pattern in _SESSION_TIMES:
        match = pattern.match(value)
        if match is not None:
            issued, timeout = int(match.group(1)), int(match.group(2))
            if issued <= _MAX_MILLISECONDS and timeout <= _MAX_MILLISECONDS:
                return issued, timeout
    try:
        info = parse_token(value)
    except ValueError:
        return None
    return None if info.one_time else (info.issued_at_ms, info.timeout_ms)


def session_token_from_set_cookie(header: str | None) -> str | None:
    """Return the ``SessionToken`` value set by a ``Set-Cookie`` header.

    ``None``: the header does not set ``SessionToken`` (or sets an unusable value). ``""``: the
    server emptied the cookie (logout, expired session): forget the token.
    """
    if not header or "SessionToken=" not in header:
        return None
    values: list[str] = _SET_COOKIE_TOKEN.findall(header)
    if not values:
        return None
    value: str = values[-1]  # the last one wins, as in a browser
    if len(value) > MAX_TOKEN_LENGTH or not _COOKIE_OCTETS.fullmatch(value):
        return None
    return value


def is_cookie_value(value: str) -> bool:
    """Whether ``value`` could be a ``SessionToken`` a server set: cookie characters only, not too long."""
    return len(value) <= MAX_TOKEN_LENGTH and _COOKIE_OCTETS.fullmatch(value) is not None


def cookie_value(token: str) -> str:
    """``token`` as a ``SessionToken`` cookie value: percent-encoded unless it already is.

    A raw JSON token holds ``"`` and ``,``, which a cookie value may not (RFC 6265), so it is
    encoded as upstream's client encodes it; a value made only of cookie characters is taken to be
    encoded already and left as it is.
    """
    if _COOKIE_OCTETS.fullmatch(token):
        return token
    return quote(token, safe="")
