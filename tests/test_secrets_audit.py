"""Secrets audit: every method, every fault path, DEBUG logging and the CLI -- no password, token
or cookie value is ever shown (also not URL-decoded or URL-encoded, nor a token's nonce or checksum).

Each method runs against the embedded server the way ``linkahead-auth demo`` sets it up (its
``demo_config`` hook makes a throw-away password store, keyring file or script); ``input`` runs on
a real pseudo-terminal through pexpect; the CLI runs as a subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import linkahead
import pexpect
import pytest
from linkahead import PasswordCredentials, hookimpl, plugins
from linkahead.exceptions import LinkAheadException
from linkahead.testing import LinkAheadTestServer, RequestInfo
from linkahead.testing.server import Fault
from linkahead.testing.terminal import Terminal

CLI = str(Path(sys.executable).with_name("linkahead-auth"))
TIMEOUT = (2.0, 0.5)


class Audit:
    """Collects every secret the server saw or issued and everything the client showed."""

    def __init__(self, server: LinkAheadTestServer) -> None:
        self.server = server
        self.secrets: set[str] = {server.users["admin"]}
        self.shown: list[str] = []
        issue = server.session_cookie
        make_token = server.make_token

        def recording_cookie(username: str) -> str:
            cookie = issue(username)
            self.add_token(cookie.split(";")[0].partition("=")[2])
            return cookie

        def recording_make_token(username: str, **kwargs: Any) -> str:
            token = make_token(username, **kwargs)
            self.add_token(token)
            return token

        # Instance attributes shadow the methods: the server itself calls these, so every token
        # it hands out is recorded.
        server.session_cookie = recording_cookie  # type: ignore[method-assign]
        server.make_token = recording_make_token  # type: ignore[method-assign]

    def add_token(self, token: str) -> None:
        self.secrets.add(token)
        try:
            fields = json.loads(unquote(token))
            self.secrets.update({fields[7], fields[8]})  # nonce and checksum on their own
        except (ValueError, IndexError, TypeError):
            pass

    def record_requests(self, request: RequestInfo) -> None:
        cookie = request.headers.get("Cookie", "")
        if "SessionToken=" in cookie:
            self.add_token(cookie.partition("SessionToken=")[2].split(";")[0])

    def faulty(self, paths: tuple[str, ...] | None, fault: Fault) -> Callable[[RequestInfo], Fault | None]:
        """A fault function for ``paths`` (``None``: every path) that records every request's cookie."""

        def function(request: RequestInfo) -> Fault | None:
            self.record_requests(request)
            return fault if paths is None or request.path in paths else None

        return function

    def error(self, error: BaseException) -> None:
        self.shown += [str(error), repr(error)]

    def check(self, *texts: str) -> None:
        haystack = "\n".join([*self.shown, *texts])
        assert haystack.strip()
        for secret in self.secrets:
            if len(secret) < 8:
                continue
            for form in {secret, unquote(secret), quote(secret, safe=""), quote_plus(secret)}:
                assert form not in haystack


@pytest.fixture
def audit(linkahead_server: LinkAheadTestServer, caplog: pytest.LogCaptureFixture) -> Iterator[Audit]:
    caplog.set_level(logging.DEBUG)  # the root logger: ours, urllib3's, every plugin's
    checker = Audit(linkahead_server)
    yield checker


@pytest.fixture
def private_process_state() -> Iterator[None]:
    """demo_config hooks set environment variables and the keyring backend: put them back."""
    environment = dict(os.environ)
    import keyring

    backend = keyring.get_keyring()
    yield
    os.environ.clear()
    os.environ.update(environment)
    keyring.set_keyring(backend)


def method_kwargs(name: str, server: LinkAheadTestServer, workdir: Path) -> Callable[[], dict[str, Any]]:
    """A function returning fresh keyword arguments for ``name`` (auth_token needs a new token each time)."""
    if name == "plain":
        return lambda: {"username": "admin", "password": server.users["admin"]}
    if name == "auth_token":
        return lambda: {"auth_token": server.make_token("admin", one_time=True)}
    if name == "unauthenticated":
        server.anonymous = True
        return lambda: {"password_method": "unauthenticated"}
    method = plugins.load_method(name)
    answer = method.call(lambda hook: hook.demo_config(server=server, workdir=workdir), "demo_config")
    if answer is None:
        pytest.skip(f"{name} cannot be set up here")
    if name == "exec":
        from linkahead_auth_exec import clear_cache

        clear_cache()
    return lambda: {"password_method": name, **answer}


FAULTS: list[tuple[str, Fault]] = [
    ("Entity", Fault(status=500, body=b"<Error/>")),
    ("login", Fault(status=502)),
    ("Entity", Fault(drop=True)),
    ("Entity", Fault(cut_after=4)),
    ("login", Fault(cut_after=0)),
    ("Entity", Fault(delay=1.0)),
    ("login", Fault(headers={"Set-Cookie": "SessionToken=; Path=/"})),
    ("Entity", Fault(status=401)),
]


@pytest.mark.parametrize("name", ["plain", "auth_token", "unauthenticated", "pass", "keyring", "exec"])
def test_method_with_every_fault_at_debug_level(
    name: str, linkahead_server: LinkAheadTestServer, audit: Audit, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str], tmp_path: Path, private_process_state: None,
) -> None:
    if name == "pass" and not (shutil.which("gpg") or shutil.which("gpg2")):
        pytest.skip("gpg is not installed")
    fresh = method_kwargs(name, linkahead_server, tmp_path)
    server = linkahead_server

    def configure() -> Any:
        connection = linkahead.configure_connection(url=server.url, debug=True, timeout=TIMEOUT, https_proxy=None,
                                                    http_proxy=None, **fresh())
        audit.shown += [repr(connection.config), str(connection.config)]
        return connection

    def attempt(connection: Any, call: Callable[[Any], Any]) -> None:
        try:
            response = call(connection)
            response.read()
        except LinkAheadException as error:
            audit.error(error)
        audit.shown += [repr(connection.auth.state), repr(connection.auth.state.credentials)]

    connection = configure()
    for _ in range(2):
        attempt(connection, lambda c: c.retrieve(["Info"]))
    attempt(connection, lambda c: c.insert(["Entity"], body="<Insert/>"))
    # A restart, then a GET and a POST that must log in again (or fail cleanly for a one-time token).
    server.restart()
    attempt(connection, lambda c: c.retrieve(["Entity", "1"]))
    attempt(connection, lambda c: c.insert(["Entity"], body="<Insert/>"))

    for path, fault in FAULTS:
        connection = configure()
        if path == "Entity":
            attempt(connection, lambda c: c.retrieve(["Info"]))
        server.fault = audit.faulty((path,), fault)
        attempt(connection, lambda c: c.retrieve(["Entity"]))
        server.fault = audit.record_requests
        attempt(connection, lambda c: c.retrieve(["Entity"]))
        connection.logout()
        server.fault = None

    out, err = capsys.readouterr()
    # The faults really happened (methods without a password do not log in, so meet no login faults).
    assert server.counters.faults >= sum(path == "Entity" for path, _ in FAULTS)
    if name != "unauthenticated":
        assert len(audit.secrets) > 10  # tokens issued, sent and renewed: the audit has something to look for
        assert any("Logged in" in r.getMessage() or "token" in r.getMessage().lower() for r in caplog.records)
    audit.check(caplog.text, *(r.getMessage() for r in caplog.records), out, err)


def test_plugin_faults_at_debug_level(linkahead_server: LinkAheadTestServer, audit: Audit,
                                      caplog: pytest.LogCaptureFixture) -> None:
    password = linkahead_server.users["admin"]

    class Leaky:
        """Puts the password into its exception text, returns garbage, or hangs."""

        __name__ = "leaky"
        mode = "raise"

        @hookimpl
        def get_credentials(self, config: Any) -> Any:
            if self.mode == "raise":
                raise RuntimeError(f"cannot use {password}")
            if self.mode == "garbage":
                return f"admin:{password}"
            return PasswordCredentials("admin", "wrong-" + password)

        @hookimpl
        def refresh(self, config: Any, credentials: Any, reason: str) -> Any:
            import time

            time.sleep(1.0)  # longer than plugin_timeout
            return None

    audit.secrets.add("wrong-" + password)
    plugin = Leaky()
    for mode in ("raise", "garbage", "hang"):
        plugin.mode = mode
        connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin, debug=True,
                                                    plugin_timeout=0.2)
        with pytest.raises(LinkAheadException) as info:
            connection.retrieve(["Info"])
        audit.error(info.value)
    assert "'leaky'" in "".join(audit.shown)
    audit.check(caplog.text)


def test_input_on_a_terminal_with_a_restart_and_a_fault(linkahead_server: LinkAheadTestServer, audit: Audit) -> None:
    script = textwrap.dedent("""
        import logging, os, sys, linkahead
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
        c = linkahead.configure_connection(url=os.environ["SERVER_URL"], username="admin",
                                           password_method="input", debug=True, https_proxy=None, http_proxy=None)
        c.retrieve(["Info"]).read()
        print("PHASE-ONE", repr(c.auth.state), repr(c.auth.state.credentials), flush=True)
        sys.stdin.readline()
        c.retrieve(["Info"]).read()
        try:
            c.retrieve(["Entity"])
        except linkahead.exceptions.LinkAheadException as error:
            print("ERROR", error, repr(error))
        print("DONE", repr(c.config))
    """)
    server = linkahead_server
    server.fault = audit.record_requests
    env = dict(os.environ, SERVER_URL=server.url)
    child = Terminal(sys.executable, ["-c", script], env=env, encoding="utf-8", timeout=30)
    try:
        child.expect("Password for admin at ")
        child.sendline(server.users["admin"])
        child.expect("PHASE-ONE")
        server.restart()
        server.fault = audit.faulty(("Entity",), Fault(status=500))
        child.sendline("go")
        child.expect("DONE")
        output = str(child.before)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert "Logged in as 'admin'" in output
    assert "The server answered 500" in output
    assert server.counters.logins == 2
    audit.check(output)


def write_ini(path: Path, **values: str) -> None:
    path.write_text("[Connection]\n" + "".join(f"{key} = {value}\n" for key, value in values.items()),
                    encoding="utf-8")
    path.chmod(0o600)


@pytest.mark.parametrize("method", ["plain", "auth_token"])
def test_cli_verbose_commands(linkahead_server: LinkAheadTestServer, audit: Audit, method: str) -> None:
    server = linkahead_server
    server.fault = audit.record_requests
    ini = Path("pylinkahead.ini")
    if method == "plain":
        write_ini(ini, url=server.url, username="admin", password_method="plain", password=server.users["admin"])
    else:
        write_ini(ini, url=server.url, auth_token=server.make_token("admin", one_time=True, max_replays=10))
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    outputs: list[str] = []

    def run(*args: str) -> None:
        done = subprocess.run([CLI, "-v", *args], capture_output=True, text=True, timeout=60, env=env, check=False)
        outputs.append(done.stdout + done.stderr)

    for command in ("status", "config", "login"):
        run(command)
    server.restart()
    run("status")
    server.fault = audit.faulty(("Info", "login"), Fault(status=503))
    run("login")
    server.fault = audit.faulty(None, Fault(drop=True))
    run("status")
    text = "\n".join(outputs)
    assert "DEBUG" in text or "debug" in text.lower()
    assert "503" in text
    audit.check(text)
