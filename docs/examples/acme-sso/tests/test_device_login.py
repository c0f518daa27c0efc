"""acme-sso-device-login, the device-code helper, run by password_method exec on a real terminal.

The terminal is a pty (pexpect); on it runs a small program that connects to the embedded LinkAhead
server with ``password_method = exec``. The person is the test: it reads the code from the terminal
and approves it the way a browser would, with a form posted to the verification page of the
stand-in SSO service. Polling at the service's (short) interval is the protocol, not a wait for
readiness.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import linkahead
import pexpect
import pytest
import requests
from fake_sso import FakeAcmeSso
from linkahead.exceptions import LoginFailedError
from linkahead.testing import LinkAheadTestServer
from linkahead.testing.terminal import Terminal

pytest.importorskip("linkahead_auth_exec", reason="needs password_method exec: pip install linkahead-auth-exec")

HELPER = shutil.which("acme-sso-device-login") or str(Path(sys.executable).with_name("acme-sso-device-login"))

PROGRAM = """\
import json, sys
import linkahead
from linkahead.exceptions import LinkAheadException

url, options = sys.argv[1], json.loads(sys.argv[2])
linkahead.configure_connection(url=url, password_method="exec", **options)
try:
    body = linkahead.get_connection().retrieve(["Info"]).read().decode()
    print("LOGGED IN AS " + body.split('username="')[1].split('"')[0])
except LinkAheadException as error:
    print(f"FAILED {type(error).__name__}: {error}")
"""


def exec_options(sso: FakeAcmeSso) -> dict[str, Any]:
    return {"exec_command": [HELPER, "--sso-url", sso.url], "exec_interactive": "if-available",
            "exec_timeout": 60}


def run_on_a_terminal(linkahead_server: LinkAheadTestServer, sso: FakeAcmeSso, action: str) -> str:
    """Start the program on a pty, read the prompt, answer it with ``action``; the transcript."""
    child = Terminal(sys.executable, ["-c", PROGRAM, linkahead_server.url, json.dumps(exec_options(sso))],
                          env=dict(os.environ), encoding="utf-8", timeout=30)
    try:
        child.expect(r"open (\S+) and enter ([A-Z]{4}-[A-Z]{4})")
        assert isinstance(child.match, re.Match)
        page, code = child.match.group(1), child.match.group(2)
        assert page == f"{sso.url}/device"
        requests.post(page, data={"user_code": code, "action": action}, timeout=10).raise_for_status()
        child.expect(pexpect.EOF)
        return str(child.before)
    finally:
        child.close(force=True)


def test_a_person_signs_in_with_a_device_code(linkahead_server: LinkAheadTestServer, sso: FakeAcmeSso) -> None:
    transcript = run_on_a_terminal(linkahead_server, sso, "approve")
    assert "Signed in." in transcript
    assert "LOGGED IN AS admin" in transcript
    assert len(sso.issued) == 1
    for token in (*sso.issued, *map(unquote, sso.issued)):
        assert token not in transcript  # the token travels on stdout, which the connection keeps
    assert linkahead_server.counters.logins == 0  # the token is the credential: no password login


def test_a_declined_login_fails_with_the_helpers_message(linkahead_server: LinkAheadTestServer,
                                                         sso: FakeAcmeSso) -> None:
    transcript = run_on_a_terminal(linkahead_server, sso, "deny")
    assert "acme-sso-device-login: the login was declined on the verification page." in transcript
    assert re.search(r"FAILED CredentialCommandError: The credential command .* exited with status 1", transcript)
    assert sso.issued == []
    assert linkahead_server.counters.requests == 0


def test_without_a_terminal_it_fails_at_once(linkahead_server: LinkAheadTestServer, sso: FakeAcmeSso) -> None:
    # pytest's stdin is no terminal: if-available runs the helper without one, and it refuses.
    linkahead.configure_connection(url=linkahead_server.url, password_method="exec", **exec_options(sso))
    with pytest.raises(LoginFailedError) as info:
        linkahead.get_connection().retrieve(["Info"])
    assert "exited with status 3" in str(info.value)
    assert "needs a person at a terminal to approve the login" in str(info.value)
    assert sso.device_logins == {}  # no code was requested that nobody would see
