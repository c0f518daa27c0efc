"""The output contract of a credential command, version 1.

The command prints exactly one JSON object on stdout, for example::

    {"version": 1, "username": "alice", "password": "..."}
    {"version": 1, "token": "<LinkAhead token>", "expires_at": "2026-11-25T20:00:00Z"}
    {"version": 1, "headers": {"Authorization": "Bearer ..."}}

:func:`parse_output` checks it and turns it into credentials. Error messages describe what is
wrong with the document but never repeat a credential value from it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from linkahead import Credentials, HeaderCredentials, PasswordCredentials, TokenCredentials

__all__ = ["CONTRACT_VERSION", "FIELDS", "ContractError", "parse_output", "parse_rfc3339"]

CONTRACT_VERSION = 1
"""The only contract version this plugin understands."""

FIELDS = frozenset({"version", "username", "password", "token", "headers", "expires_at"})
"""The top-level keys of version 1; any other key is rejected."""

MAX_OUTPUT = 1024 * 1024
"""Longer output on stdout is rejected without being parsed."""

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
# RFC 7230 token characters: what a header name may consist of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_EXAMPLE = '{"version": 1, "token": "..."}'
# Headers that decide how a request is framed or forwarded (RFC 9110 section 7.6.1, RFC 9112):
# a command must not be able to change the request's length or turn the connection into something else.
_FRAMING_HEADERS = frozenset({
    "transfer-encoding", "te", "trailer", "connection", "keep-alive", "upgrade", "proxy-connection",
    "proxy-authorization", "proxy-authenticate", "expect", "content-encoding",
})


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class ContractError(ValueError):
    """The output breaks the contract; the message says how, without any credential value."""


def parse_output(stdout: bytes, configured_username: str | None = None,
                 now: float | None = None) -> Credentials:
    """Turn the command's stdout into credentials.

    :param configured_username: the connection's ``username``; used when a password document
        has no ``"username"``.
    :param now: the current time (seconds since the epoch), for the check that ``expires_at``
        lies in the future.
    :raises ContractError: the output is not a valid version-1 document.
    """
    document = _load(stdout)
    _check_version(document)
    unknown = sorted(set(document) - FIELDS)
    if unknown:
        names = ", ".join(repr(_short(name)) for name in unknown)
        raise ContractError(
            f"it has unknown field(s) {names}; version {CONTRACT_VERSION} allows only "
            f"{', '.join(sorted(FIELDS))}"
        )
    kinds = [kind for kind in ("password", "token", "headers") if kind in document]
    if not kinds:
        hint = ' ("username" alone is not enough)' if "username" in document else ""
        raise ContractError(
            f'it contains no credentials{hint}: give exactly one of "password" (with "username"), '
            '"token" or "headers"'
        )
    if len(kinds) > 1:
        raise ContractError(
            f"it contains several kinds of credentials ({', '.join(kinds)}); give exactly one"
        )
    expires_at = _expiry(document.get("expires_at"), time.time() if now is None else now)
    kind = kinds[0]
    if kind != "password" and "username" in document:
        raise ContractError(f'"username" belongs to "password" credentials, not to "{kind}"')
    if kind == "password":
        return _password(document, configured_username, expires_at)
    if kind == "token":
        return TokenCredentials(_secret_text(document, "token"), expires_at=expires_at)
    return HeaderCredentials(_headers(document["headers"]), expires_at=expires_at)


def parse_rfc3339(value: str) -> float:
    """Seconds since the epoch for an RFC 3339 timestamp such as ``2026-11-25T20:00:00Z``.

    A time zone (``Z`` or an offset like ``+01:00``) is required; fractions of a second are kept.

    :raises ValueError: ``value`` is not an RFC 3339 date-time.
    """
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("not an RFC 3339 date-time with a time zone")
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction, zulu, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10, 11)
    if zulu:
        zone = timezone.utc
    else:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise ValueError("the time-zone offset is out of range")
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as error:
        raise ValueError(f"no such date or time ({error})") from None
    return moment.timestamp() + (float(fraction) if fraction else 0.0)


def _load(stdout: bytes) -> dict[str, Any]:
    if len(stdout) > MAX_OUTPUT:
        raise ContractError(f"it is longer than {MAX_OUTPUT} bytes")
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractError("it is not UTF-8 text") from None
    if not text.strip():
        raise ContractError("it is empty (the command printed nothing on stdout)")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except ContractError:
        raise
    except json.JSONDecodeError as error:
        # error.msg and the position describe the syntax only; error.doc would be the output itself.
        raise ContractError(
            f"it is not one JSON document ({error.msg} at line {error.lineno} column {error.colno}); "
            "print nothing else on stdout (diagnostics belong on stderr)"
        ) from None
    except (ValueError, RecursionError):
        raise ContractError("it is not one JSON document") from None
    if not isinstance(document, dict):
        raise ContractError(f"it is a JSON {_json_type(document)}, not an object like {_EXAMPLE}")
    return document


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ContractError(f"the field {_short(key)!r} appears twice")
        result[key] = value
    return result


def _check_version(document: Mapping[str, Any]) -> None:
    if "version" not in document:
        raise ContractError(f'it has no "version" field; add "version": {CONTRACT_VERSION}')
    version = document["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise ContractError(f'its "version" is a JSON {_json_type(version)}; write the number {CONTRACT_VERSION}')
    if version != CONTRACT_VERSION:
        raise ContractError(
            f"it has version {version}, but this plugin understands only version {CONTRACT_VERSION}; "
            "update linkahead-auth-exec or make the command print version 1"
        )


def _expiry(value: Any, now: float) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContractError(
            f'"expires_at" is a JSON {_json_type(value)}; write an RFC 3339 string like "2026-11-25T20:00:00Z"'
        )
    try:
        expires_at = parse_rfc3339(value.strip())
    except ValueError as error:
        raise ContractError(
            f'"expires_at" = {_short(value)!r} is {error}; write it like "2026-11-25T20:00:00Z" '
            'or "2026-11-25T21:00:00+01:00"'
        ) from None
    if expires_at <= now:
        raise ContractError(
            f'"expires_at" = {_short(value)!r} lies in the past (now is '
            f"{datetime.fromtimestamp(now, timezone.utc).isoformat(timespec='seconds')}); "
            "the command must return credentials that are still valid"
        )
    return expires_at


def _password(document: Mapping[str, Any], configured: str | None, expires_at: float | None) -> Credentials:
    password = _secret_text(document, "password")
    if "username" in document:
        username = document["username"]
        if not isinstance(username, str) or not username.strip():
            raise ContractError(f'"username" must be a non-empty string, not a JSON {_json_type(username)}')
        if any(c in username for c in "\r\n\0"):
            raise ContractError('"username" contains a line break or NUL character')
    elif configured:
        username = configured
    else:
        raise ContractError('it has a "password" but no "username", and no username is configured')
    return PasswordCredentials(username, password, expires_at=expires_at)


def _secret_text(document: Mapping[str, Any], key: str) -> str:
    value = document[key]
    if not isinstance(value, str) or not value:
        raise ContractError(f'"{key}" must be a non-empty string, not a JSON {_json_type(value)}')
    if any(c in value for c in "\r\n\0"):
        raise ContractError(f'"{key}" contains a line break or NUL character')
    return value


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise ContractError(
            f'"headers" must be a non-empty JSON object of header names to strings, not {_describe(value)}'
        )
    for name, header in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ContractError(f"the header name {_short(name)!r} is not a valid HTTP header name")
        if name.lower() in ("cookie", "host", "content-length"):
            raise ContractError(
                f"the header {name!r} cannot be supplied: the connection sets it itself "
                "(for LinkAhead's session cookie, return a \"token\" instead)"
            )
        if name.lower() in _FRAMING_HEADERS:
            raise ContractError(
                f"the header {name!r} cannot be supplied: it is a hop-by-hop or framing header, which "
                "decides how the request is delimited or forwarded, not who sends it; return only "
                "authentication headers (such as Authorization or X-Forwarded-User)"
            )
        if not isinstance(header, str) or not header:
            raise ContractError(f"the header {name!r} must have a non-empty string value, not {_describe(header)}")
        if any(c in header for c in "\r\n\0"):
            raise ContractError(f"the value of header {name!r} contains a line break or NUL character")
        if not header.isascii() and not _latin1(header):
            raise ContractError(f"the value of header {name!r} holds characters beyond Latin-1, which HTTP "
                                "headers cannot carry; encode it (for example base64) on the command's side")
    return dict(value)


def _describe(value: Any) -> str:
    if isinstance(value, (dict, str)) and not value:
        return f"an empty JSON {_json_type(value)}"
    return f"a JSON {_json_type(value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
