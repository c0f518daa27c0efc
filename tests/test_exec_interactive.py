"""password_method exec, option exec_interactive: a credential command that talks to the person.

The terminal is a real pty (pexpect); the program on it is a real Python process that configures a
connection to the embedded server, and the credential commands are real scripts. The "user" is
pexpect: it reads the device-code prompt the command prints and answers it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import linkahead
import linkahead_auth_exec
import pexpect
import pytest
from linkahead.exceptions import ConfigurationError, LoginFailedError
from linkahead.testing import LinkAheadTestServer
from linkahead.testing.terminal import Terminal
from linkahead_auth_exec import CredentialCommandError

# The program the user runs: one request, then a report of how it went and of the terminal's state.
PROGRAM = """\
import json, sys, termios
import linkahead
from linkahead.exceptions import LinkAheadException

url, options = sys.argv[1], json.loads(sys.argv[2])
linkahead.configure_connection(url=url, password_method="exec", **options)
try:
    body = linkahead.get_connection().retrieve(["Info"]).read().decode()
    print("LOGGED IN AS " + body.split('username="')[1].split('"')[0])
except LinkAheadException as error:
    print(f"FAILED {type(error).__name__}: {error}")
except KeyboardInterrupt:
    print("INTERRUPTED")
try:
    print("ECHO " + ("on" if termios.tcgetattr(0)[3] & termios.ECHO else "off"))
except termios.error:
    print("NO TERMINAL")
"""

# A device-code helper: the prompt on stderr, the user's answer from stdin, the JSON on stdout.
DEVICE_HELPER = """\
import json, os, sys
from pathlib import Path

here = Path(__file__).resolve().parent
(here / "started").write_text(json.dumps({
    "interactive": os.environ.get("LINKAHEAD_AUTH_INTERACTIVE"),
    "stdin_is_a_terminal": os.isatty(0),
    "stderr_is_a_terminal": os.isatty(2),
    "pid": os.getpid(),
}))
print("To sign in, open https://sso.example.org/device and enter ABCD-EFGH", file=sys.stderr)
print("Then type 'approved' and press Enter: ", end="", file=sys.stderr, flush=True)
answer = sys.stdin.readline().strip()
if answer != "approved":
    print(f"not approved ({answer!r})", file=sys.stderr)
    sys.exit(2)
print("Thank you, signed in.", file=sys.stderr)
print(json.dumps({"version": 1, "username": "admin", "password": (here / "password").read_text()}))
"""


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    linkahead_auth_exec.clear_cache()


@pytest.fixture
def device_helper(tmp_path: Path, linkahead_server: LinkAheadTestServer) -> Path:
    folder = tmp_path / "helper"
    folder.mkdir()
    (folder / "password").write_text(linkahead_server.users["admin"], encoding="utf-8")
    script = folder / "device_helper.py"
    script.write_text(DEVICE_HELPER, encoding="utf-8")
    return script


def started(helper: Path) -> dict[str, Any] | None:
    marker = helper.parent / "started"
    return json.loads(marker.read_text()) if marker.exists() else None


def spawn(server: LinkAheadTestServer, **options: Any) -> Terminal:
    return Terminal(sys.executable, ["-c", PROGRAM, server.url, json.dumps(options)],
                         env=dict(os.environ), encoding="utf-8", timeout=30)


@pytest.mark.parametrize("mode", ["if-available", "always", "IfAvailable"])
def test_device_code_prompt_is_shown_and_answered_on_the_terminal(linkahead_server: LinkAheadTestServer,
                                                                  device_helper: Path, mode: str) -> None:
    child = spawn(linkahead_server, exec_command=[sys.executable, str(device_helper)], exec_interactive=mode)
    try:
        child.expect("open https://sso.example.org/device and enter ABCD-EFGH")
        child.expect("type 'approved' and press Enter: ")
        child.sendline("approved")
        child.expect("Thank you, signed in.")
        child.expect("LOGGED IN AS admin")
        child.expect("ECHO on")
        child.expect(pexpect.EOF)
        transcript = child.before or ""
    finally:
        child.close(force=True)
    assert linkahead_server.users["admin"] not in transcript  # stdout (the JSON) stays captured
    info = started(device_helper)
    assert info is not None and info.pop("pid") > 0
    assert info == {"interactive": "1", "stdin_is_a_terminal": True, "stderr_is_a_terminal": True}
    assert linkahead_server.counters.logins == 1


def test_a_refused_approval_fails_with_the_exit_status(linkahead_server: LinkAheadTestServer,
                                                       device_helper: Path) -> None:
    child = spawn(linkahead_server, exec_command=[sys.executable, str(device_helper)],
                  exec_interactive="if-available")
    try:
        child.expect("press Enter: ")
        child.sendline("no")
        child.expect("not approved \\('no'\\)")  # the command's own message, on the terminal
        child.expect("FAILED CredentialCommandError: The credential command .* exited with status 2. "
                     "Its messages, if any, are on the terminal above.")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert linkahead_server.counters.requests == 0


def test_never_keeps_the_terminal_from_the_command(linkahead_server: LinkAheadTestServer,
                                                   device_helper: Path) -> None:
    # The default: stdin is /dev/null even on a terminal, and stderr is captured.
    child = spawn(linkahead_server, exec_command=[sys.executable, str(device_helper)])
    try:
        child.expect("FAILED CredentialCommandError: .* exited with status 2. It wrote to stderr: "
                     "To sign in, open https://sso.example.org/device and enter ABCD-EFGH")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    info = started(device_helper)
    assert info is not None and info.pop("pid") > 0
    assert info == {"interactive": "0", "stdin_is_a_terminal": False, "stderr_is_a_terminal": False}


def test_the_terminal_is_restored_when_the_command_is_killed_mid_prompt(linkahead_server: LinkAheadTestServer,
                                                                         tmp_path: Path) -> None:
    # A password prompt switches echo off; killed at exec_timeout, it cannot switch it on again.
    script = tmp_path / "stuck.py"
    script.write_text(
        "import sys, termios, time\n"
        "attributes = termios.tcgetattr(0)\n"
        "attributes[3] &= ~termios.ECHO\n"
        "termios.tcsetattr(0, termios.TCSANOW, attributes)\n"
        "print('Password: ', end='', file=sys.stderr, flush=True)\n"
        "time.sleep(120)\n",
        encoding="utf-8",
    )
    child = spawn(linkahead_server, exec_command=[sys.executable, str(script)], exec_interactive="always",
                  exec_timeout=1)
    try:
        child.expect("Password: ")
        child.expect("FAILED CredentialCommandError: .* did not finish within exec_timeout = 1 s and was killed")
        child.expect("ECHO on")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_ctrl_c_at_the_prompt_stops_the_command(linkahead_server: LinkAheadTestServer, device_helper: Path) -> None:
    # exec_timeout far beyond the expect bound: only the Ctrl-C itself can end the command in time.
    child = spawn(linkahead_server, exec_command=[sys.executable, str(device_helper)],
                  exec_interactive="if-available", exec_timeout=600)
    try:
        child.expect("press Enter: ")
        child.sendintr()  # the command has its own session: only the program gets SIGINT
        child.expect("INTERRUPTED")
        child.expect("ECHO on")
        child.expect(pexpect.EOF)  # the command no longer holds the terminal open
    finally:
        child.close(force=True)
    info = started(device_helper)
    assert info is not None
    # Killed and reaped before the KeyboardInterrupt left run_command; at most a zombie handed to init.
    assert not Path(f"/proc/{info['pid']}").exists() or _state(info["pid"]) == "Z"


def test_ctrl_c_while_the_command_starts_kills_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The race a person hits on a busy machine: Ctrl-C after the fork, before run_command holds the
    # process it could kill. No outside timing can force that moment, so the real Popen is wrapped
    # to deliver the SIGINT exactly then (this test runs in pytest's main thread, where SIGINT is
    # KeyboardInterrupt). Without the hold the command would keep running, unowned.
    from linkahead_auth_exec import runner

    pids: list[int] = []
    real_popen = subprocess.Popen

    def popen_then_ctrl_c(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = real_popen(*args, **kwargs)
        pids.append(process.pid)
        signal.raise_signal(signal.SIGINT)
        return process

    monkeypatch.setattr(subprocess, "Popen", popen_then_ctrl_c)  # the module runner uses
    with pytest.raises(KeyboardInterrupt):
        runner.run_command([sys.executable, "-c", "import time; time.sleep(600)"], dict(os.environ), timeout=600)
    monkeypatch.undo()
    assert len(pids) == 1
    assert not Path(f"/proc/{pids[0]}").exists()  # killed and reaped, not left behind
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "Z"


# -- without a terminal ---------------------------------------------------------------------------------


def test_always_without_a_terminal_fails_at_once(linkahead_server: LinkAheadTestServer, device_helper: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, linkahead_server.url,
         json.dumps({"exec_command": [sys.executable, str(device_helper)], "exec_interactive": "always",
                     "exec_timeout": 100})],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"FAILED LoginFailedError: exec_interactive = always: the credential command {sys.executable!r} needs "
        "a terminal to talk to you, but standard input is not a terminal, so it was not started."
    ), result.stdout
    assert "exec_interactive = if-available" in result.stdout
    assert result.stdout.endswith("NO TERMINAL\n")
    assert started(device_helper) is None  # not started, so nothing could hang
    assert linkahead_server.counters.requests == 0


def test_always_without_a_terminal_in_process(linkahead_server: LinkAheadTestServer, device_helper: Path) -> None:
    # pytest's stdin is no terminal either; the error is a LoginFailedError, not a command error.
    linkahead.configure_connection(url=linkahead_server.url, password_method="exec",
                                   exec_command=[sys.executable, str(device_helper)], exec_interactive="always")
    with pytest.raises(LoginFailedError, match="needs a terminal") as caught:
        linkahead.get_connection().retrieve(["Info"])
    assert not isinstance(caught.value, CredentialCommandError)
    assert started(device_helper) is None


def test_if_available_without_a_terminal_runs_as_never(linkahead_server: LinkAheadTestServer,
                                                       device_helper: Path) -> None:
    linkahead.configure_connection(url=linkahead_server.url, password_method="exec",
                                   exec_command=[sys.executable, str(device_helper)],
                                   exec_interactive="if-available")
    with pytest.raises(CredentialCommandError) as caught:
        linkahead.get_connection().retrieve(["Info"])
    assert "exited with status 2. It wrote to stderr: To sign in, open https://sso.example.org/device" in str(
        caught.value)
    info = started(device_helper)
    assert info is not None and info["interactive"] == "0" and not info["stdin_is_a_terminal"]


@pytest.mark.parametrize(("value", "expected"), [
    ("never", "never"), ("If-Available", "if-available"), ("if_available", "if-available"),
    ("IfAvailable", "if-available"), (" Always ", "always"),
])
def test_interactive_mode_spellings(linkahead_server: LinkAheadTestServer, value: str, expected: str) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method="exec",
                                                exec_command=["true"], exec_interactive=value)
    assert connection.config["exec_interactive"] == expected


def test_interactive_mode_default_is_never(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method="exec",
                                                exec_command=["true"])
    assert connection.config["exec_interactive"] == "never"


@pytest.mark.parametrize("value", ["sometimes", "yes", True, 1])
def test_a_bad_interactive_mode_is_a_configuration_error(linkahead_server: LinkAheadTestServer, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"exec_interactive.*expected never, if-available or always"):
        linkahead.configure_connection(url=linkahead_server.url, password_method="exec", exec_command=["true"],
                                       exec_interactive=value)


def test_exec_env_cannot_pose_as_the_interactive_flag(linkahead_server: LinkAheadTestServer) -> None:
    with pytest.raises(ConfigurationError, match="LINKAHEAD_AUTH_INTERACTIVE is set by the exec method"):
        linkahead.configure_connection(url=linkahead_server.url, password_method="exec", exec_command=["true"],
                                       exec_env={"LINKAHEAD_AUTH_INTERACTIVE": "1"})
