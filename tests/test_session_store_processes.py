"""One login for many processes: real separate Python processes share the session store.

Each wave starts N processes; each imports the client, configures the connection and says
``ready``; when all are ready they get ``go`` at the same moment and send their first request with
four threads each. The embedded server (in this test process) counts the logins.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from linkahead.testing import LinkAheadTestServer

READY_TIMEOUT = 120.0
RUN_TIMEOUT = 120.0

CHILD = r"""
import os, sys, threading
import linkahead
from linkahead.exceptions import LinkAheadException

connection = linkahead.configure_connection(
    url=os.environ["LA_URL"], username="admin", password=os.environ["LA_PASSWORD"], password_method="plain",
    session_cache=os.environ["LA_STORE"], timeout=(10, 60))
print("ready", flush=True)
sys.stdin.readline()
results = []

def work():
    try:
        data = connection.retrieve(["Info"]).read()
        results.append("ok" if b'username="admin"' in data else "unexpected")
    except LinkAheadException as error:
        results.append(f"error {type(error).__name__}: {error}")

threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(" | ".join(results), flush=True)
"""


@pytest.fixture
def child_env(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "LA_URL": linkahead_server.url, "LA_PASSWORD": linkahead_server.users["admin"],
           "LA_STORE": str(tmp_path / "sessions"), "PYTHONUNBUFFERED": "1"}
    yield env


def wave(count: int, env: dict[str, str]) -> list[str]:
    """Start ``count`` processes, let them all go at once; their one-line reports."""
    processes = [subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(count)]
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()  # blocks until this child is ready (or has died)
            assert line.strip() == "ready", (line, process.stderr.read() if process.stderr else "")
            assert time.monotonic() < deadline, "the children took too long to start"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            out, err = process.communicate(timeout=RUN_TIMEOUT)
            assert process.returncode == 0, err
            reports.append(out.strip())
        return reports
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_32_processes_log_in_once_a_second_wave_not_at_all_and_once_after_a_restart(
        linkahead_server: LinkAheadTestServer, child_env: dict[str, str]) -> None:
    all_ok = " | ".join(["ok"] * 4)
    assert wave(32, child_env) == [all_ok] * 32
    assert linkahead_server.counters.logins == 1
    assert wave(32, child_env) == [all_ok] * 32
    assert linkahead_server.counters.logins == 1
    linkahead_server.restart()
    assert wave(32, child_env) == [all_ok] * 32
    assert linkahead_server.counters.logins == 2
    assert linkahead_server.counters.failed_logins == 0


def test_a_holder_killed_while_logging_in_does_not_block_the_others(
        linkahead_server: LinkAheadTestServer, child_env: dict[str, str]) -> None:
    # The first login hangs at the server; its process is killed while it holds the lock.
    hanging = [True]

    def hang_first_login(request: object) -> object:
        from linkahead.testing.server import Fault

        if getattr(request, "path", None) == "login" and hanging[0]:
            hanging[0] = False
            return Fault(delay=30.0, drop=True)
        return None

    linkahead_server.fault = hang_first_login  # type: ignore[assignment]
    holder = subprocess.Popen([sys.executable, "-c", CHILD], env=child_env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready"
        holder.stdin.write("go\n")
        holder.stdin.flush()
        store = Path(child_env["LA_STORE"])
        deadline = time.monotonic() + READY_TIMEOUT
        while linkahead_server.counters.faults == 0:  # bounded wait until it is inside its login
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert list(store.glob("*.lock"))
        holder.kill()
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    started = time.monotonic()
    assert wave(4, child_env) == [" | ".join(["ok"] * 4)] * 4
    assert time.monotonic() - started < 25.0  # well before the holder's login would have ended
    assert linkahead_server.counters.logins == 1
