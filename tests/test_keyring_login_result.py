"""The ``login_result`` hook, and ``keyring`` storing a typed password only once the server accepted it.

The keyring is a real keyrings.alt PlaintextKeyring file selected through PYTHON_KEYRING_BACKEND,
read back by a fresh process; the prompts run on a real pseudo-terminal (pexpect).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import linkahead
import pexpect
import pytest
from linkahead import Credentials, PasswordCredentials, hookimpl
from linkahead.exceptions import LinkAheadConnectionError, LoginFailedError
from linkahead.testing import LinkAheadTestServer
from linkahead.testing.terminal import Terminal

PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
SERVICE_PREFIX = "linkahead \u2014 "
TIMEOUT = 60

LOGIN_SCRIPT = """
import os, sys
import linkahead
from linkahead.exceptions import LinkAheadException
try:
    connection = linkahead.configure_connection(url=os.environ["LA_URL"], username="admin",
                                                password_method="keyring", session_cache="none")
    data = connection.retrieve(["Info"]).read().decode()
except LinkAheadException as error:
    print("ERROR", type(error).__name__, flush=True)
    sys.exit(3)
print("LOGGED-IN" if 'username="admin"' in data else "UNEXPECTED", flush=True)
"""


@pytest.fixture
def env(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("PYTHON_KEYRING", "KEYRING_PROPERTY", "DBUS_SESSION"))}
    environment.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
                       PYTHON_KEYRING_BACKEND=PLAINTEXT, LA_URL=linkahead_server.url, PYTHONUNBUFFERED="1")
    return environment


def stored(env: dict[str, str], url: str) -> str | None:
    result = subprocess.run(
        [sys.executable, "-c", "import json, keyring, sys; print(json.dumps(keyring.get_password(*sys.argv[1:])))",
         SERVICE_PREFIX + url, "admin"], env=env, capture_output=True, text=True, timeout=TIMEOUT,
        stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    value: str | None = json.loads(result.stdout)
    return value


def login_on_a_terminal(env: dict[str, str], tmp_path: Path, answers: list[str]) -> tuple[int, str]:
    script = tmp_path / "login.py"
    script.write_text(LOGIN_SCRIPT)
    child = Terminal(sys.executable, [str(script)], env=env, encoding="utf-8", timeout=TIMEOUT)
    child.logfile_read = io.StringIO()
    try:
        for answer in answers:
            child.expect("Password for admin at ")
            child.sendline(answer)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert isinstance(child.logfile_read, io.StringIO)
    return int(child.exitstatus or 0), child.logfile_read.getvalue()


def test_a_refused_typed_password_is_never_stored(linkahead_server: LinkAheadTestServer, env: dict[str, str],
                                                  tmp_path: Path) -> None:
    status, output = login_on_a_terminal(env, tmp_path, ["wrong-1-Pa55", "wrong-2-Pa55"])
    assert status == 3 and "ERROR LoginFailedError" in output
    assert linkahead_server.counters.failed_logins == 2
    assert stored(env, linkahead_server.url) is None
    assert "wrong-1-Pa55" not in output and "wrong-2-Pa55" not in output


def test_a_typed_password_is_stored_after_the_server_accepted_it(
        linkahead_server: LinkAheadTestServer, env: dict[str, str], tmp_path: Path) -> None:
    password = linkahead_server.users["admin"]
    status, output = login_on_a_terminal(env, tmp_path, ["wrong-Pa55", password])
    assert status == 0 and "LOGGED-IN" in output
    assert linkahead_server.counters.failed_logins == 1 and linkahead_server.counters.logins == 1
    assert stored(env, linkahead_server.url) == password  # the accepted one, not the first answer


# -- the hook itself, with a plugin object ----------------------------------------------------------


class Recorder:
    """Hands out a wrong password, then the right one on refresh; records every verdict."""

    __name__ = "recorder"

    def __init__(self, right: str) -> None:
        self.answers = ["wrong-Pa55", right]
        self.verdicts: list[tuple[str, bool]] = []

    @hookimpl
    def get_credentials(self, config: Any) -> Credentials:
        return PasswordCredentials("admin", self.answers[0])

    @hookimpl
    def refresh(self, config: Any, credentials: Credentials, reason: str) -> Credentials:
        return PasswordCredentials("admin", self.answers[1])

    @hookimpl
    def login_result(self, config: Any, credentials: Credentials, accepted: bool) -> None:
        assert isinstance(credentials, PasswordCredentials)
        self.verdicts.append((credentials.password, accepted))


def test_login_result_hears_each_verdict_in_order(linkahead_server: LinkAheadTestServer) -> None:
    plugin = Recorder(linkahead_server.users["admin"])
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    connection.retrieve(["Info"]).read()
    assert plugin.verdicts == [("wrong-Pa55", False), (linkahead_server.users["admin"], True)]


def test_login_result_is_not_called_when_the_server_said_nothing(linkahead_server: LinkAheadTestServer) -> None:
    from linkahead.testing.server import Fault

    plugin = Recorder(linkahead_server.users["admin"])
    plugin.answers[0] = linkahead_server.users["admin"]
    linkahead_server.fault = lambda request: Fault(drop=True) if request.path == "login" else None
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    with pytest.raises(LinkAheadConnectionError):
        connection.retrieve(["Info"])
    assert plugin.verdicts == []


def test_login_result_is_not_called_for_a_session_from_the_store(linkahead_server: LinkAheadTestServer,
                                                                 tmp_path: Path) -> None:
    from linkahead.connection.connection import _Connection

    store = str(tmp_path / "sessions")
    first, second = Recorder(linkahead_server.users["admin"]), Recorder(linkahead_server.users["admin"])
    first.answers[0] = second.answers[0] = linkahead_server.users["admin"]
    _Connection().configure(url=linkahead_server.url, password_method=first, session_cache=store,
                            username="admin").retrieve(["Info"]).read()
    _Connection().configure(url=linkahead_server.url, password_method=second, session_cache=store,
                            username="admin").retrieve(["Info"]).read()
    assert first.verdicts == [(linkahead_server.users["admin"], True)]
    assert second.verdicts == []


def test_a_failing_login_result_hook_is_a_plugin_error(linkahead_server: LinkAheadTestServer) -> None:
    class Broken(Recorder):
        @hookimpl
        def login_result(self, config: Any, credentials: Credentials, accepted: bool) -> None:
            raise RuntimeError("secret-in-the-text")

    plugin = Broken(linkahead_server.users["admin"])
    plugin.answers[0] = linkahead_server.users["admin"]
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    with pytest.raises(linkahead.exceptions.PluginError) as caught:
        connection.retrieve(["Info"])
    assert "failed in login_result: raised RuntimeError" in str(caught.value)
    assert "secret-in-the-text" not in str(caught.value)
    assert not isinstance(caught.value, LoginFailedError)
