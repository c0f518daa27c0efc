"""No password, token or cookie in any log record (DEBUG included), repr, or error text."""

from __future__ import annotations

import logging
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from urllib.parse import unquote

import linkahead
import pexpect
import pytest
from linkahead import HeaderCredentials, PasswordCredentials, TokenCredentials
from linkahead.connection.connection import _Connection
from linkahead.exceptions import LinkAheadException
from linkahead.testing import LinkAheadTestServer
from linkahead.testing.terminal import Terminal


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # the root logger: ours, urllib3's, everybody's
    yield caplog


def assert_absent(secrets: list[str], *texts: str) -> None:
    haystack = "\n".join(texts)
    for secret in secrets:
        assert secret not in haystack
        assert unquote(secret) not in haystack


def everything_shown(connection: _Connection, caplog: pytest.LogCaptureFixture,
                     capsys: pytest.CaptureFixture[str], errors: list[str]) -> list[str]:
    out, err = capsys.readouterr()
    records = [record.getMessage() for record in caplog.records]
    reprs = [repr(connection.config), str(connection.config), repr(connection.auth.state)]
    return [*records, out, err, *reprs, *errors]


def test_every_standard_method_at_debug_level(
    linkahead_server: LinkAheadTestServer, debug_logs: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    password = linkahead_server.users["admin"]
    linkahead_server.anonymous = True
    errors: list[str] = []
    shown: list[str] = []
    seen_tokens: list[str] = []

    def token(one_time: bool) -> str:
        # Made per run: each run ends by invalidating every session.
        seen_tokens.append(linkahead_server.make_token("admin", one_time=one_time))
        return seen_tokens[-1]

    runs: list[Callable[[], dict[str, object]]] = [
        lambda: {"password_method": "plain", "username": "admin", "password": password},
        lambda: {"auth_token": token(one_time=False)},
        lambda: {"auth_token": token(one_time=True)},
        lambda: {"password_method": "unauthenticated"},
    ]
    for make_kwargs in runs:
        connection = linkahead.configure_connection(url=linkahead_server.url, debug=True, **make_kwargs())
        for _ in range(2):
            connection.retrieve(["Info"]).read()
            if connection.auth.state.token:
                seen_tokens.append(connection.auth.state.token)
        linkahead_server.invalidate_sessions()
        try:
            connection.retrieve(["Info"]).read()
        except LinkAheadException as error:
            errors.append(str(error))
            errors.append(repr(error))
        if connection.auth.state.token:
            seen_tokens.append(connection.auth.state.token)
        connection.logout()
        shown.extend(everything_shown(connection, debug_logs, capsys, errors))
    # The DEBUG records exist (so the test looks at something) ...
    assert any("Logged in as 'admin'" in text for text in shown)
    assert any("Starting new HTTP connection" in text for text in shown)  # urllib3 at DEBUG
    # ... and hold no secret.
    assert_absent([password, *seen_tokens], *shown)


def test_error_paths_do_not_leak(
    linkahead_server: LinkAheadTestServer, debug_logs: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "Wr0ng-but-secret-pw"
    texts: list[str] = []
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin", password=secret,
                                                debug=True)
    with pytest.raises(LinkAheadException) as info:
        connection.retrieve(["Info"])
    texts += [str(info.value), repr(info.value)]
    with pytest.raises(LinkAheadException) as info:
        linkahead.configure_connection(url=linkahead_server.url, username="admin", password=secret, timeout="x")
    texts += [str(info.value)]
    with pytest.raises(LinkAheadException) as info:
        linkahead.configure_connection(url=linkahead_server.url, username="admin", password=secret, pasword="x")
    texts += [str(info.value)]
    out, err = capsys.readouterr()
    assert_absent([secret], *texts, out, err, *(r.getMessage() for r in debug_logs.records))


def test_credential_reprs_hide_secrets() -> None:
    objects = [
        PasswordCredentials("admin", "pw-123456"),
        TokenCredentials("%5B%22S%22tok-123456", expires_at=5.0),
        HeaderCredentials({"Authorization": "Bearer hdr-123456"}),
    ]
    for credentials in objects:
        assert "123456" not in repr(credentials)
        assert "123456" not in str(credentials)
        assert "***" in repr(credentials)
    assert "Authorization" in repr(objects[2])  # header names are fine to show


def test_bad_credential_values_are_reported_without_the_value() -> None:
    with pytest.raises(ValueError) as info:
        PasswordCredentials("admin", "line1\nsecret-line2")
    assert "secret-line2" not in str(info.value)
    assert "password contains a line break" in str(info.value)


def test_input_on_a_terminal_at_debug_level(linkahead_server: LinkAheadTestServer) -> None:
    script = textwrap.dedent("""
        import logging, os, linkahead
        logging.basicConfig(level=logging.DEBUG)
        c = linkahead.configure_connection(url=os.environ["SERVER_URL"], username="admin",
                                           password_method="input", debug=True)
        c.retrieve(["Info"]).read()
        print("TOKEN-IS", repr(c.auth.state))
        print("DONE")
    """)
    env = dict(os.environ, SERVER_URL=linkahead_server.url)
    child = Terminal(sys.executable, ["-c", script], env=env, encoding="utf-8", timeout=20)
    try:
        child.expect("Password for admin at ")
        child.sendline(linkahead_server.users["admin"])
        child.expect("DONE")
        output = str(child.before)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert "Logged in as 'admin'" in output
    # getpass does not echo; the log lines and the state's repr hide the rest.
    assert linkahead_server.users["admin"] not in output
    assert "SessionToken=" not in output
    assert "%5B%22S%22" not in output
