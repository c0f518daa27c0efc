"""password_method exec: whatever the command writes, memory stays bounded and the command is killed.

The commands are real processes (``yes``, Python scripts). Memory is measured as the peak resident
size (``ru_maxrss``) of a separate runner process that does nothing but configure a connection and
make one request, so neither pytest's own memory nor the other tests' disturb the figure. Nothing
here asserts on durations.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import linkahead
import linkahead_auth_exec
import pytest
from linkahead.testing import LinkAheadTestServer
from linkahead_auth_exec import CredentialCommandError
from linkahead_auth_exec.contract import MAX_OUTPUT

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to watch the processes")

SECRET = "s3cr3t-Value-that-must-not-leak"
# A peak of this much over the runner's size before the request means the output was kept in memory.
# The capped stdout (1 MiB) and the kept end of stderr (64 KiB) fit many times over.
GROWTH_LIMIT_KIB = 24 * 1024

RUNNER = """\
import json, resource, sys
import linkahead, linkahead_auth_exec, requests, urllib3  # loaded before the baseline
from linkahead.exceptions import LinkAheadException

url, argv = sys.argv[1], json.loads(sys.argv[2])
options = json.loads(sys.argv[3])
linkahead.configure_connection(url=url, password_method="exec", exec_command=argv, **options)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    linkahead.get_connection().retrieve(["Info"]).read()
    result = {"error": None}
except LinkAheadException as error:
    result = {"error": type(error).__name__, "message": str(error), "returncode": error.returncode}
result["growth_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps(result))
"""


def run_in_runner(server: LinkAheadTestServer, argv: list[str], **options: Any) -> dict[str, Any]:
    """Log in with ``argv`` in a fresh runner process; its error and its memory growth (KiB)."""
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, server.url, json.dumps(argv), json.dumps(options)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    assert SECRET not in result.stdout + result.stderr
    return answer


def group_members(pgid: int) -> list[int]:
    """Processes (not zombies) in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def wait_until_group_gone(pgid: int) -> list[int]:
    # SIGKILL is delivered asynchronously; the bound only keeps a broken kill from hanging the test.
    deadline = time.monotonic() + 10
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return group_members(pgid)


@pytest.mark.skipif(shutil.which("yes") is None, reason="needs the yes command")
def test_endless_stdout_is_cut_at_the_cap_and_the_process_group_killed(linkahead_server: LinkAheadTestServer,
                                                                       tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = tmp_path / "flood.py"
    script.write_text(
        "import os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"with open({str(pids)!r}, 'w') as f:\n"
        "    f.write(f'{os.getpid()} {child.pid} {os.getpgid(child.pid)}')\n"
        f"os.execvp('yes', ['yes', {SECRET!r}])  # writes the secret without end\n",
        encoding="utf-8",
    )
    answer = run_in_runner(linkahead_server, [sys.executable, str(script)], exec_timeout=100)

    assert answer["error"] == "CredentialCommandError"
    assert answer["returncode"] is None
    assert (f"The credential command {sys.executable!r} wrote more than {MAX_OUTPUT} bytes (1 MiB) to stdout "
            "and was killed (with every process it started)") in answer["message"]
    assert "Print diagnostics on stderr" in answer["message"]
    assert answer["growth_kib"] < GROWTH_LIMIT_KIB, answer
    leader, _child, group = (int(pid) for pid in pids.read_text().split())
    assert group == leader  # the command leads its own group, and its child is in it
    assert wait_until_group_gone(leader) == []
    assert linkahead_server.counters.requests == 0


def test_endless_stderr_keeps_only_its_end(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    # 200 MB on stderr, then a failure: the error quotes the last lines, memory holds only the end.
    script = tmp_path / "noisy.py"
    script.write_text(
        "import sys\n"
        "line = ('x' * 999 + '\\n').encode()\n"
        "for _ in range(200_000):\n"
        "    sys.stderr.buffer.write(line)\n"
        "sys.stderr.buffer.write(b'the last words\\n')\n"
        "sys.exit(4)\n",
        encoding="utf-8",
    )
    answer = run_in_runner(linkahead_server, [sys.executable, str(script)], exec_timeout=100)

    assert answer["error"] == "CredentialCommandError" and answer["returncode"] == 4
    assert "exited with status 4. The last 5 lines of the much longer output it wrote to stderr:" in answer["message"]
    assert answer["message"].count("xxx...") == 4 and "the last words." in answer["message"]
    assert len(answer["message"]) < 2000
    assert answer["growth_kib"] < GROWTH_LIMIT_KIB, answer


def test_endless_stderr_without_exit_ends_at_the_time_out(linkahead_server: LinkAheadTestServer,
                                                           tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = tmp_path / "chatter.py"
    script.write_text(
        "import os, sys\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "while True:\n"
        "    sys.stderr.write('still thinking ' * 100 + '\\n')\n",
        encoding="utf-8",
    )
    answer = run_in_runner(linkahead_server, [sys.executable, str(script)], exec_timeout=1)

    assert answer["error"] == "CredentialCommandError" and answer["returncode"] is None
    assert "did not finish within exec_timeout = 1 s and was killed" in answer["message"]
    assert answer["growth_kib"] < GROWTH_LIMIT_KIB, answer
    assert wait_until_group_gone(int(pid_file.read_text())) == []


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    linkahead_auth_exec.clear_cache()


@pytest.mark.parametrize("size", [MAX_OUTPUT, MAX_OUTPUT + 1])
def test_the_cap_is_exactly_max_output(linkahead_server: LinkAheadTestServer, tmp_path: Path, size: int) -> None:
    document = json.dumps({"version": 1, "username": "admin", "password": linkahead_server.users["admin"]})
    output = tmp_path / "output.json"
    output.write_text(document + " " * (size - len(document)), encoding="ascii")
    script = tmp_path / "padded.py"
    script.write_text(f"import sys\nsys.stdout.write(open({str(output)!r}).read())\n", encoding="utf-8")
    linkahead.configure_connection(url=linkahead_server.url, password_method="exec",
                                   exec_command=[sys.executable, str(script)])
    connection = linkahead.get_connection()
    if size <= MAX_OUTPUT:
        assert connection.retrieve(["Info"]).status == 200
        return
    with pytest.raises(CredentialCommandError, match=f"wrote more than {MAX_OUTPUT} bytes") as caught:
        connection.retrieve(["Info"])
    error = caught.value
    shown = "".join(traceback.format_exception(type(error), error, error.__traceback__)) + repr(error)
    assert linkahead_server.users["admin"] not in shown  # the output held the password
    assert linkahead_server.counters.requests == 0
