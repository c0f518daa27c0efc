"""The exec method's output contract (version 1), checked without running a command."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from linkahead import HeaderCredentials, PasswordCredentials, TokenCredentials
from linkahead_auth_exec import parse_output, parse_rfc3339
from linkahead_auth_exec.contract import MAX_OUTPUT, ContractError

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=timezone.utc).timestamp()
AT_20 = datetime(2026, 11, 25, 20, 0, tzinfo=timezone.utc).timestamp()


def parse(document: dict[str, Any], username: str | None = None) -> Any:
    return parse_output(json.dumps(document).encode(), username, now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T20:00:00Z", AT_20),
        ("2026-11-25t20:00:00z", AT_20),
        ("2026-11-25 20:00:00Z", AT_20),
        ("2026-11-25T21:00:00+01:00", AT_20),
        ("2026-11-25T14:30:00-05:30", AT_20),
        ("2026-11-25T20:00:00+00:00", AT_20),
        ("2026-11-25T20:00:00.250Z", AT_20 + 0.25),
        ("2026-11-25T20:00:00.123456789Z", AT_20 + 0.123456789),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=timezone.utc).timestamp()),
    ],
)
def test_rfc3339_accepted(text: str, expected: float) -> None:
    assert parse_rfc3339(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-25T20:00:00", "with a time zone"),
        ("2026-11-25", "with a time zone"),
        ("2026-11-25T20:00Z", "with a time zone"),
        ("20261125T200000Z", "with a time zone"),
        ("2026-11-25T20:00:00+0100", "with a time zone"),
        ("2026-11-25T20:00:00Z trailing", "with a time zone"),
        ("2026-13-01T00:00:00Z", "no such date or time"),
        ("2025-02-29T00:00:00Z", "no such date or time"),
        ("2026-11-25T24:00:00Z", "no such date or time"),
        ("2026-11-25T20:00:00+24:00", "offset is out of range"),
    ],
)
def test_rfc3339_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rfc3339(text)


def test_password_credentials() -> None:
    credentials = parse({"version": 1, "username": "alice", "password": "pw", "expires_at": "2026-11-25T20:00:00Z"})
    assert credentials == PasswordCredentials("alice", "pw", expires_at=AT_20)


def test_the_document_username_wins_over_the_configured_one() -> None:
    assert parse({"version": 1, "username": "alice", "password": "pw"}, "bob").username == "alice"
    assert parse({"version": 1, "password": "pw"}, "bob").username == "bob"


def test_token_credentials_without_expiry() -> None:
    assert parse({"version": 1, "token": "abc", "expires_at": None}) == TokenCredentials("abc")


def test_header_credentials() -> None:
    credentials = parse({"version": 1, "headers": {"Authorization": "Bearer x", "X-Org": "lab"},
                         "expires_at": "2026-11-25T21:00:00+01:00"})
    assert isinstance(credentials, HeaderCredentials)
    assert dict(credentials.headers) == {"Authorization": "Bearer x", "X-Org": "lab"}
    assert credentials.expires_at == AT_20
    assert "Bearer" not in repr(credentials)


def test_surrounding_whitespace_is_fine() -> None:
    assert parse_output(b'\n  {"version": 1, "token": "abc"}  \n\n', now=NOW) == TokenCredentials("abc")


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"   \n", "it is empty"),
        (b'{"version": 1, "token": NaN}', '"token" must be a non-empty string, not a JSON number'),
        (b'{"version": 1.0, "token": "x"}', '"version" is a JSON number'),
        (b'{"version": 1, "headers": {"A": "1", "A": "2"}}', "'A' appears twice"),
        (b'{"version": 1, "username": "", "password": "x"}', '"username" must be a non-empty string'),
        (b'{"version": 1, "username": "a\\nb", "password": "x"}', '"username" contains a line break'),
        (b'{"version": 1, "headers": {"Host": "evil"}}', "'Host' cannot be supplied"),
        (b'{"version": 1, "headers": {"X": "a\\r\\nInjected: 1"}}', "header 'X' contains a line break"),
        (b'{"version": 1, "token": "x", "expires_at": "2026-11-25T19:00:00Z"}', "lies in the past"),
        (b'{"version": 1, "token": "x", "unknown_' + b"a" * 100 + b'": 1}', r"'unknown_a+\.\.\.'"),
        (b"[" * 100000 + b"]" * 100000, "not one JSON document"),
        (b" " * (MAX_OUTPUT + 1), "longer than"),
    ],
)
def test_contract_errors(output: bytes, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse_output(output, now=NOW)
