"""``linkahead-auth login`` / ``status`` / ``logout`` with the session store, as real processes.

``login`` with ``input`` types the password once on a pseudo-terminal; later scripts without a
terminal (``input`` would refuse to ask) use the stored session: no prompt, no login. ``logout``
ends it for every later process. The stored token never shows up in any output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from linkahead.testing import LinkAheadTestServer
from linkahead.testing.terminal import Terminal

PASSWORD = "admin-Pa55word"  # DEFAULT_USERS["admin"] of the embedded server
TIMEOUT = 60
SCRIPT = shutil.which("linkahead-auth", path=str(Path(sys.executable).parent)) or "linkahead-auth"

USER_SCRIPT = """
import linkahead
data = linkahead.get_connection().retrieve(["Info"]).read()
print("INFO-OK" if b'username="admin"' in data else "UNEXPECTED")
"""


@pytest.fixture
def setup(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> dict[str, str]:
    """An ini file for password_method input with a private session store; the environment to use it."""
    store = tmp_path / "sessions"
    ini = tmp_path / "pylinkahead.ini"
    ini.write_text(f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = input\n"
                   f"session_cache = {store}\ndebug = true\n")
    return {**os.environ, "PYLINKAHEADINI": str(ini), "COLUMNS": "100", "LA_STORE": str(store)}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=TIMEOUT, env=env,
                          stdin=subprocess.DEVNULL)


def script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", USER_SCRIPT], capture_output=True, text=True, timeout=TIMEOUT,
                          env=env, stdin=subprocess.DEVNULL)


def on_a_terminal(env: dict[str, str], argv: list[str]) -> str:
    """Run ``argv`` on a pseudo-terminal, type the password when asked; the transcript."""
    child = Terminal(argv[0], argv[1:], env=env, timeout=TIMEOUT, encoding="utf-8")
    try:
        child.expect("Password for admin at ")
        child.sendline(PASSWORD)
        child.expect(pexpect.EOF)
        transcript = str(child.before)
    finally:
        child.close()
    assert child.exitstatus == 0, transcript
    return transcript


def stored_token(env: dict[str, str]) -> str:
    files = list(Path(env["LA_STORE"]).glob("*.session"))
    assert len(files) == 1
    return str(json.loads(files[0].read_text())["token"])


def test_login_once_then_five_scripts_without_a_terminal_then_logout(
        linkahead_server: LinkAheadTestServer, setup: dict[str, str]) -> None:
    transcript = on_a_terminal(setup, [SCRIPT, "login", "-v"])
    assert "Logged in to" in transcript and "as admin" in transcript
    assert "Your other processes use this session without logging in until" in transcript
    assert linkahead_server.counters.logins == 1
    token = stored_token(setup)
    outputs = [transcript]

    for _ in range(5):  # no terminal: input could not ask, so each one proves "no prompt"
        result = script(setup)
        assert result.returncode == 0, result.stderr
        assert "INFO-OK" in result.stdout
        outputs += [result.stdout, result.stderr]
    assert linkahead_server.counters.logins == 1  # 0 logins for the five scripts

    status = cli(setup, "status", "-v")
    assert status.returncode == 0, status.stderr
    assert "Shared session:     admin (realm PAM) until " in status.stdout
    report = json.loads(cli(setup, "status", "--json").stdout)
    assert report["session"]["exists"] is True and report["session"]["valid"] is True
    assert report["session"]["user"] == "admin" and report["session"]["store"] == setup["LA_STORE"]
    outputs += [status.stdout, status.stderr, json.dumps(report)]

    logout = cli(setup, "logout", "-v")
    assert logout.returncode == 0, logout.stderr
    assert f"Logged out at {linkahead_server.url}; the shared session is gone" in logout.stdout
    assert linkahead_server.counters.logouts == 1
    assert list(Path(setup["LA_STORE"]).glob("*.session")) == []
    outputs += [logout.stdout, logout.stderr]

    refused = script(setup)  # without a terminal the next script would have to ask: it fails
    assert refused.returncode != 0 and "needs a terminal" in refused.stderr
    again = on_a_terminal(setup, [sys.executable, "-c", USER_SCRIPT])  # on a terminal it asks and logs in
    assert "INFO-OK" in again
    assert linkahead_server.counters.logins == 2
    outputs += [refused.stdout, refused.stderr, again]

    for text in outputs:
        assert token not in text
        assert token[-40:] not in text
        assert PASSWORD not in text


def test_status_says_when_there_is_no_store_or_no_session(linkahead_server: LinkAheadTestServer,
                                                          setup: dict[str, str], tmp_path: Path) -> None:
    plain = tmp_path / "plain.ini"
    plain.write_text(f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = plain\n"
                     f"password = {PASSWORD}\nsession_cache = none\n")
    plain.chmod(0o600)
    result = cli({**setup, "PYLINKAHEADINI": str(plain)}, "status")
    assert "Shared session:     off (session_cache = none); each process logs in by itself" in result.stdout
    plain.write_text(plain.read_text().replace("session_cache = none", f"session_cache = {setup['LA_STORE']}"))
    result = cli({**setup, "PYLINKAHEADINI": str(plain)}, "status")
    assert f"Shared session:     none yet (session store {setup['LA_STORE']})" in result.stdout
    logout = cli({**setup, "PYLINKAHEADINI": str(plain)}, "logout")
    assert logout.returncode == 0
    assert "Logged out at" in logout.stdout  # status stored a session; logout ended it
    logout = cli({**setup, "PYLINKAHEADINI": str(plain)}, "logout")
    assert f"No session to end: the session store {setup['LA_STORE']} holds none" in logout.stdout


def test_status_and_login_name_a_store_that_is_not_private(linkahead_server: LinkAheadTestServer,
                                                           setup: dict[str, str], tmp_path: Path) -> None:
    plain = tmp_path / "plain.ini"
    plain.write_text(f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = plain\n"
                     f"password = {PASSWORD}\nsession_cache = {setup['LA_STORE']}\n")
    plain.chmod(0o600)
    env = {**setup, "PYLINKAHEADINI": str(plain)}
    assert cli(env, "login").returncode == 0
    token = stored_token(env)
    Path(setup["LA_STORE"]).chmod(0o750)
    status = cli(env, "status")
    assert status.returncode == 0
    assert "Shared session:     not used: Permissions 0750 for the session store folder" in status.stdout
    login = cli(env, "login", "-v")
    assert login.returncode == 0
    assert "linkahead-auth: warning: Permissions 0750" in login.stderr
    assert f"chmod 700 {setup['LA_STORE']}" in login.stderr
    assert "The session is not shared: Permissions 0750" in login.stdout
    assert token not in status.stdout + status.stderr + login.stdout + login.stderr
