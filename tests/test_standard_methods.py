"""The standard methods: plain, input (on a real pseudo-terminal), auth_token, unauthenticated."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import linkahead
import pexpect
import pytest
from linkahead.exceptions import ConfigurationError, LoginFailedError
from linkahead.testing import LinkAheadTestServer
from linkahead.testing.terminal import Terminal

LOGIN_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import linkahead
    from linkahead.exceptions import LinkAheadException
    try:
        kwargs = dict(url=os.environ["SERVER_URL"], password_method="input")
        if os.environ.get("SERVER_USER"):
            kwargs["username"] = os.environ["SERVER_USER"]
        connection = linkahead.configure_connection(**kwargs)
        body = connection.retrieve(["Info"]).read().decode()
        print("RESULT", body)
    except LinkAheadException as error:
        print("ERROR", type(error).__name__, error)
        sys.exit(1)
    """
)


def script_env(server: LinkAheadTestServer, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SERVER_URL=server.url, **extra)
    return env


def test_plain(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(
        url=linkahead_server.url, username="admin", password=linkahead_server.users["admin"], password_method="plain"
    )
    assert b'username="admin"' in connection.retrieve(["Info"]).read()


def test_plain_is_the_default_method(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(
        url=linkahead_server.url, username="admin", password=linkahead_server.users["admin"]
    )
    assert connection.config["password_method"] == "plain"
    assert connection.retrieve(["Info"]).status == 200


def test_input_asks_on_the_terminal(linkahead_server: LinkAheadTestServer) -> None:
    child = Terminal(
        sys.executable, ["-c", LOGIN_SCRIPT], env=script_env(linkahead_server), encoding="utf-8", timeout=20
    )
    try:
        child.expect("User name for ")
        child.sendline("admin")
        child.expect("Password for admin at ")
        child.sendline(linkahead_server.users["admin"])
        child.expect("RESULT (.*)\r\n")
        assert 'username="admin"' in str(child.after)
        child.expect(pexpect.EOF)
        assert linkahead_server.users["admin"] not in (child.before or "")
    finally:
        child.close(force=True)


def test_input_asks_again_after_a_wrong_password(linkahead_server: LinkAheadTestServer) -> None:
    child = Terminal(
        sys.executable, ["-c", LOGIN_SCRIPT], env=script_env(linkahead_server, SERVER_USER="admin"),
        encoding="utf-8", timeout=20,
    )
    try:
        child.expect("Password for admin at ")
        child.sendline("wrong password")
        child.expect("Login failed. Password for admin at ")
        child.sendline(linkahead_server.users["admin"])
        child.expect("RESULT (.*)\r\n")
        assert 'username="admin"' in str(child.after)
    finally:
        child.close(force=True)
    assert linkahead_server.counters.failed_logins == 1
    assert linkahead_server.counters.logins == 1


def test_input_without_a_terminal_fails_at_once(linkahead_server: LinkAheadTestServer) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", LOGIN_SCRIPT], env=script_env(linkahead_server, SERVER_USER="admin"),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "EOFError" not in result.stdout + result.stderr
    assert result.stdout.startswith("ERROR LoginFailedError password_method 'input' needs a terminal")
    assert "Use a non-interactive method instead: 'pass', 'keyring', 'auth_token'" in result.stdout
    assert time.monotonic() - started < 30
    assert linkahead_server.counters.requests == 0


def test_auth_token_session_token(linkahead_server: LinkAheadTestServer) -> None:
    token = linkahead_server.make_token("admin")
    connection = linkahead.configure_connection(url=linkahead_server.url, auth_token=token)
    for _ in range(3):
        assert b'username="admin"' in connection.retrieve(["Info"]).read()
    assert linkahead_server.counters.logins == 0


def test_auth_token_one_time_token_is_exchanged_for_a_session(linkahead_server: LinkAheadTestServer) -> None:
    token = linkahead_server.make_token("admin", one_time=True, max_replays=1)
    connection = linkahead.configure_connection(url=linkahead_server.url, auth_token=token)
    for _ in range(4):
        assert b'username="admin"' in connection.retrieve(["Info"]).read()
    # Used once; the session token the server answered with carried the rest.
    assert linkahead_server.counters.one_time_logins == 1
    assert connection.auth.state.token != token


def test_auth_token_cannot_log_in_again(linkahead_server: LinkAheadTestServer) -> None:
    token = linkahead_server.make_token("admin", one_time=True)
    connection = linkahead.configure_connection(url=linkahead_server.url, auth_token=token)
    connection.retrieve(["Info"]).read()
    linkahead_server.invalidate_sessions()
    with pytest.raises(LoginFailedError) as info:
        connection.retrieve(["Info"])
    message = str(info.value)
    assert message.startswith("The authentication token was rejected by the server")
    assert "cannot obtain new ones" in message
    assert "a new token" in message
    with pytest.raises(LoginFailedError) as again:
        connection.retrieve(["Info"])
    assert str(again.value) == message  # the same verdict, not "expired" the second time


def test_auth_token_expired_fails_before_sending(linkahead_server: LinkAheadTestServer) -> None:
    token = linkahead_server.make_token("admin", issued_at=time.time() - 7200, timeout=3600)
    connection = linkahead.configure_connection(url=linkahead_server.url, auth_token=token)
    with pytest.raises(LoginFailedError) as info:
        connection.retrieve(["Info"])
    assert str(info.value).startswith("The authentication token has expired, and the password method 'auth_token'")
    assert linkahead_server.counters.requests == 0


def test_auth_token_that_is_not_a_token(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, auth_token="hello")
    with pytest.raises(ConfigurationError, match="auth_token is not a LinkAhead token"):
        connection.retrieve(["Info"])


def test_auth_token_from_ini(linkahead_server: LinkAheadTestServer) -> None:
    token = linkahead_server.make_token("admin")
    Path("pylinkahead.ini").write_text(f"[Connection]\nurl = {linkahead_server.url}\nauth_token = {token}\n")
    connection = linkahead.get_connection()
    assert connection.config["password_method"] == "auth_token"
    assert connection.retrieve(["Info"]).status == 200


def test_unauthenticated_sends_no_cookie_even_when_offered_one(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.anonymous = True
    cookie = linkahead_server.session_cookie("admin")
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method="unauthenticated")
    with linkahead_server.route("GET", "Entity", lambda request: (200, {"Set-Cookie": cookie}, b"<x/>")):
        connection.retrieve(["Entity"]).read()
    connection.retrieve(["Info"]).read()
    assert "Cookie" not in linkahead_server.last_request_headers
    assert connection.auth.state.token is None
