"""``linkahead-auth serve`` / ``python -m linkahead.testing``: the test server as a real process.

Each test starts the command as a subprocess, reads what it prints, logs in over loopback with what
it printed, and ends it with a signal, as a user at a terminal or a process manager would.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import linkahead
import pytest
from linkahead.demo import who_am_i
from linkahead.testing import LinkAheadTestServer, reset_connection

BIN_DIR = Path(sys.executable).parent


class Served:
    """A running server process and the lines it has printed so far."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, cwd=os.getcwd())
        self.lines: list[str] = []
        self._pending = b""

    def read_until(self, marker: str, timeout: float = 30.0) -> list[str]:
        """Lines up to and including the first one containing ``marker`` (bounded wait).

        Reads the pipe's file descriptor directly: a buffered reader would hide lines from select.
        """
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            while True:
                while b"\n" in self._pending:
                    line, _, self._pending = self._pending.partition(b"\n")
                    self.lines.append(line.decode())
                    if marker in self.lines[-1]:
                        return self.lines
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self.kill()
                    pytest.fail(f"no line with {marker!r} within {timeout} s; got {self.lines}")
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                    pytest.fail(f"the server ended before printing {marker!r}: {self.lines} {stderr}")
                self._pending += chunk

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def value(self, pattern: str) -> str:
        """The first group of ``pattern`` in the printed lines."""
        for line in self.lines:
            found = re.search(pattern, line)
            if found:
                return found.group(1)
        raise AssertionError(f"{pattern!r} not in {self.lines}")

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, (self._pending + out).decode(), err.decode()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for process in started:
        process.kill()


def linkahead_auth() -> str:
    found = shutil.which("linkahead-auth", path=str(BIN_DIR))
    assert found is not None, "pip install -e core"
    return found


def start(served: list[Served], *args: str, module: bool = False) -> Served:
    argv = [sys.executable, "-m", "linkahead.testing", *args] if module else [linkahead_auth(), "serve", *args]
    process = Served(argv)
    served.append(process)
    return process


def test_serve_prints_what_a_user_needs_and_stops_cleanly_on_sigterm(served: list[Served]) -> None:
    server = start(served, "--port", "0", "--user", "alice:wonder:land", "--user", "bob:builder",
                   "--session-timeout", "120")
    server.read_until("Serving until Ctrl-C or SIGTERM.")
    url = server.value(r"^URL:\s+(\S+)$")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    assert any("alice (password wonder:land)" in line for line in server.lines)
    assert any("bob (password builder)" in line for line in server.lines)
    assert any("120 s" in line for line in server.lines)

    # The printed password logs in with the plain method.
    connection = linkahead.configure_connection(url=url, username="alice", password="wonder:land",
                                                password_method="plain")
    assert who_am_i(connection)["username"] == "alice"

    # The printed pylinkahead.ini works as it stands.
    start_at = server.lines.index("    [Connection]")
    snippet = [line[4:] for line in server.lines[start_at:start_at + 5]]
    Path("pylinkahead.ini").write_text("\n".join(snippet) + "\n", encoding="utf-8")
    reset_connection()
    assert who_am_i(linkahead.get_connection())["username"] == "alice"

    # So does the printed one-time token, once.
    token = server.value(r"^\s+auth_token = (\S+)$")
    reset_connection()
    connection = linkahead.configure_connection(url=url, auth_token=token)
    assert who_am_i(connection)["username"] == "alice"
    reset_connection()

    code, out, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    assert "Stopped after" in out
    assert "1 one-time token logins" in out
    assert err == ""


def test_module_with_tls_and_anonymous_writes_the_ca_it_prints_and_ends_on_ctrl_c(served: list[Served]) -> None:
    pytest.importorskip("trustme")
    server = start(served, "--port", "0", "--tls", "--anonymous", module=True)
    server.read_until("Serving until")
    url = server.value(r"^URL:\s+(\S+)$")
    ca_file = Path(server.value(r"^TLS certificate authority: (\S+)"))
    assert url.startswith("https://127.0.0.1:")
    assert ca_file.is_file()
    assert f"    cacert = {ca_file}" in server.lines

    connection = linkahead.configure_connection(url=url, cacert=str(ca_file), password_method="unauthenticated")
    assert who_am_i(connection)["username"] == "anonymous"
    reset_connection()

    code, _, err = server.stop(signal.SIGINT)
    assert code == 0, err
    assert not ca_file.exists(), "the throw-away certificate authority is removed at exit"


def test_tls_without_trustme_is_a_clear_error() -> None:
    # trustme is installed for the test suite; blocking its import is the only way to meet a
    # machine without it while keeping the real command.
    code = ("import sys; sys.modules['trustme'] = None; from linkahead.testing.serve import main; "
            "sys.exit(main(['--tls', '--port', '0']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "--tls needs the trustme package" in result.stderr
    assert "pip install trustme" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_a_clear_error(linkahead_server: LinkAheadTestServer) -> None:
    result = subprocess.run([linkahead_auth(), "serve", "--port", str(linkahead_server.port)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert f"port {linkahead_server.port}" in result.stderr
    assert "--port 0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("user", ["alice", "alice:", ":secret", "al ice:secret"])
def test_a_malformed_user_is_a_usage_error(user: str) -> None:
    result = subprocess.run([linkahead_auth(), "serve", "--port", "0", "--user", user],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "--user" in result.stderr
    assert "Traceback" not in result.stderr


def test_control_mode_answers_commands_and_ends_when_stdin_closes(served: list[Served]) -> None:
    server = start(served, "--control", "--port", "0", "--user", "carol:c4rol", module=True)
    url = server.read_until("URL ")[0].split()[1]
    server.send("token carol\n")
    token = server.read_until("TOKEN ")[-1].split()[1]
    connection = linkahead.configure_connection(url=url, auth_token=token)
    assert who_am_i(connection)["username"] == "carol"
    reset_connection()

    server.send("token nobody\ninvalidate\ncounters\n")
    assert "UNKNOWN user 'nobody'" in server.read_until("UNKNOWN")[-1]
    server.read_until("INVALIDATED")
    assert '"one_time_logins": 1' in server.read_until("COUNTERS")[-1]

    assert server.process.stdin is not None
    server.process.stdin.close()
    assert server.process.wait(timeout=30) == 0
    server.read_until("COUNTERS")


def test_the_cli_reference_shows_the_serve_help() -> None:
    # docs/cli.rst generates it from the parser (docs/_ext/linkahead_cli.py), as for the other commands.
    import importlib.util

    pytest.importorskip("sphinx")
    extension_path = Path(__file__).resolve().parent.parent / "docs" / "_ext" / "linkahead_cli.py"
    spec = importlib.util.spec_from_file_location("docs_ext_linkahead_cli_serve", extension_path)
    assert spec is not None and spec.loader is not None
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    result = subprocess.run([linkahead_auth(), "serve", "--help"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "88"}, stdin=subprocess.DEVNULL)
    assert result.returncode == 0
    assert result.stdout == extension.help_text("serve")
    assert ".. linkahead-cli-help:: serve" in (extension_path.parent.parent / "cli.rst").read_text(encoding="utf-8")
