"""Secrets audit, session store: no token that was ever stored, sent or issued shows up anywhere.

Every token the server issues is recorded (with its nonce and checksum on their own, URL-encoded
and decoded); then connections share sessions through the store at DEBUG level -- adoption,
renewal write-back, a server restart with the check of a stored session, faults on that check and
on the login, logout -- in this process and through ``linkahead-auth -v`` and scripts in separate
processes. No log record, warning, error text or ``repr`` (with chained exceptions), no CLI output
and no status JSON may contain any of them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import pytest
from linkahead.connection.connection import _Connection
from linkahead.exceptions import LinkAheadException
from linkahead.testing import LinkAheadTestServer, RequestInfo
from linkahead.testing.server import Fault

CLI = str(Path(sys.executable).with_name("linkahead-auth"))
SCRIPT = """
import linkahead
linkahead.get_connection().retrieve(["Info"]).read()
print("SCRIPT-OK", repr(linkahead.get_connection().auth.state))
"""


class Tokens:
    """Every token the server hands out or receives."""

    def __init__(self, server: LinkAheadTestServer) -> None:
        self.values: set[str] = {server.users["admin"]}
        issue = server.session_cookie

        def recording_cookie(username: str) -> str:
            cookie = issue(username)
            self.add(cookie.split(";")[0].partition("=")[2])
            return cookie

        server.session_cookie = recording_cookie  # type: ignore[method-assign]

    def add(self, token: str) -> None:
        self.values.add(token)
        try:
            fields = json.loads(unquote(token))
            self.values.update({fields[7], fields[8]})
        except (ValueError, IndexError, TypeError):
            pass

    def seen(self, request: RequestInfo) -> None:
        cookie = request.headers.get("Cookie", "")
        if "SessionToken=" in cookie:
            self.add(cookie.partition("SessionToken=")[2].split(";")[0])

    def faulty(self, path: str | None = None, fault: Fault | None = None) -> Callable[[RequestInfo], Fault | None]:
        """A fault function that records every request's token and answers ``path`` with ``fault``."""

        def function(request: RequestInfo) -> Fault | None:
            self.seen(request)
            return fault if request.path == path else None

        return function

    def check(self, texts: list[str]) -> None:
        haystack = "\n".join(texts)
        assert haystack.strip()
        assert len(self.values) > 5
        for secret in self.values:
            for form in {secret, unquote(secret), quote(secret, safe=""), quote_plus(secret)}:
                assert form not in haystack


def shown(error: BaseException) -> list[str]:
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen = error
    while seen.__context__ is not None or seen.__cause__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
        texts += [str(seen), repr(seen)]
    return texts


def test_sessions_shared_in_process_at_debug_level(linkahead_server: LinkAheadTestServer, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = linkahead_server
    tokens = Tokens(server)
    server.fault = tokens.faulty()
    store = tmp_path / "sessions"
    texts: list[str] = []

    def connect() -> _Connection:
        connection = _Connection().configure(url=server.url, username="admin", password=server.users["admin"],
                                             session_cache=str(store), debug=True, timeout=(2.0, 0.5))
        texts.extend([repr(connection.config), repr(connection.auth.state), repr(connection.auth.shared_session())])
        return connection

    def attempt(connection: _Connection, path: str = "Info") -> None:
        try:
            connection.retrieve([path]).read()
        except LinkAheadException as error:
            texts.extend(shown(error))
        texts.extend([repr(connection.auth.state), repr(connection.auth.state.credentials)])

    first, second = connect(), connect()
    attempt(first)
    attempt(second)
    for path in (*store.glob("*.session"),):
        tokens.add(json.loads(path.read_text())["token"])
    server.restart()
    attempt(second)
    attempt(first)  # a newer stored session, checked with the server
    for fault_path, fault in (("Info", Fault(drop=True)), ("login", Fault(status=502)), ("login", Fault(drop=True)),
                              ("Info", Fault(status=401))):
        server.restart()
        server.fault = tokens.faulty(fault_path, fault)
        attempt(connect())
        attempt(first, "Entity")
        server.fault = tokens.faulty()
        attempt(first)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store.chmod(0o755)
        attempt(connect())
        store.chmod(0o700)
    texts.extend(str(w.message) for w in caught)
    assert any("too open" in str(w.message) for w in caught)
    assert first.auth.logout() or True
    texts.append(caplog.text)
    texts.extend(record.getMessage() for record in caplog.records)
    assert "Using the session from the session store" in caplog.text
    tokens.check(texts)


def test_cli_and_scripts_with_the_store_show_no_token(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    server = linkahead_server
    tokens = Tokens(server)
    server.fault = tokens.faulty()
    store = tmp_path / "sessions"
    ini = tmp_path / "pylinkahead.ini"
    ini.write_text(f"[Connection]\nurl = {server.url}\nusername = admin\npassword_method = plain\n"
                   f"password = {server.users['admin']}\nsession_cache = {store}\ndebug = true\n")
    ini.chmod(0o600)
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYLINKAHEADINI"] = str(ini)
    outputs: list[str] = []

    def run(*argv: str) -> None:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, env=env,
                              stdin=subprocess.DEVNULL, check=False)
        outputs.append(done.stdout + done.stderr)

    run(CLI, "-v", "login")
    for path in store.glob("*.session"):
        tokens.add(json.loads(path.read_text())["token"])
    run(CLI, "-v", "status")
    run(CLI, "status", "--json", "-v")
    run(sys.executable, "-c", SCRIPT)
    server.restart()
    run(sys.executable, "-c", SCRIPT)
    run(CLI, "-v", "status")
    server.fault = tokens.faulty("login", Fault(status=503))
    server.restart()
    run(CLI, "-v", "login")
    server.fault = tokens.faulty()
    run(CLI, "-v", "logout")
    run(CLI, "-v", "status")
    text = "\n".join(outputs)
    assert "SCRIPT-OK" in text and "Shared session:" in text and "503" in text
    tokens.check(outputs)
