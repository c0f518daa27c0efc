"""password_method exec: real credential commands against the embedded server.

Every command here is a real Python script written into tmp_path and started as a real process.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import stat
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import linkahead
import linkahead_auth_exec
import pytest
from linkahead.connection.connection import _Connection
from linkahead.exceptions import ConfigurationError, LinkAheadException, LoginFailedError
from linkahead.testing import LinkAheadTestServer
from linkahead_auth_exec import CredentialCommandError, CredentialOutputError

# Prints output.json next to itself and appends one JSON line per run to runs.log.
HELPER = """\
import json, os, sys
from pathlib import Path

here = Path(__file__).resolve().parent
devnull = os.stat(os.devnull)
stdin = os.fstat(0)
record = {
    "reason": os.environ.get("LINKAHEAD_AUTH_REASON"),
    "url": os.environ.get("LINKAHEAD_URL"),
    "username": os.environ.get("LINKAHEAD_USERNAME"),
    "extra": os.environ.get("EXTRA"),
    "other": os.environ.get("OTHER"),
    "stdin_is_devnull": (stdin.st_dev, stdin.st_ino) == (devnull.st_dev, devnull.st_ino),
    "session_leader": os.getsid(0) == os.getpid(),
    "time": __import__("time").time(),
}
with open(here / "runs.log", "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
sys.stdout.write((here / "output.json").read_text(encoding="utf-8"))
"""

SECRET = "s3cr3t-Value-that-must-not-leak"


class Helper:
    """A credential command whose answer the test controls and whose runs it can count."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.script = folder / "helper.py"
        self.script.write_text(HELPER, encoding="utf-8")
        self.argv = [sys.executable, str(self.script)]

    def answer(self, document: Mapping[str, Any] | str) -> None:
        text = document if isinstance(document, str) else json.dumps(document)
        (self.folder / "output.json").write_text(text, encoding="utf-8")

    def runs(self) -> list[dict[str, Any]]:
        log = self.folder / "runs.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]

    def reasons(self) -> list[str]:
        return [run["reason"] for run in self.runs()]


@pytest.fixture
def helper(tmp_path: Path) -> Helper:
    return Helper(tmp_path / "helper")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # The cache is process-wide; every test starts and ends without cached credentials.
    linkahead_auth_exec.clear_cache()
    yield
    linkahead_auth_exec.clear_cache()


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def configure(server: LinkAheadTestServer, argv: list[str] | str, **kwargs: Any) -> _Connection:
    return linkahead.configure_connection(url=server.url, password_method="exec", exec_command=argv, **kwargs)


def whoami() -> str:
    body = linkahead.get_connection().retrieve(["Info"]).read().decode()
    return body.split('username="')[1].split('"')[0]


def write_script(path: Path, body: str, mode: int = 0o700) -> Path:
    path.write_text(body, encoding="utf-8")
    path.chmod(mode)
    return path


def password_answer(server: LinkAheadTestServer, **extra: Any) -> dict[str, Any]:
    return {"version": 1, "username": "admin", "password": server.users["admin"], **extra}


# -- each credential kind against the server ----------------------------------------------------


def test_password_credentials_log_in(linkahead_server: LinkAheadTestServer, helper: Helper,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKAHEAD_USERNAME", "inherited-not-ours")
    monkeypatch.setenv("LINKAHEAD_AUTH_REASON", "inherited-not-ours")
    helper.answer(password_answer(linkahead_server))
    configure(linkahead_server, helper.argv)

    assert whoami() == "admin"
    assert whoami() == "admin"

    assert linkahead_server.counters.logins == 1
    [run] = helper.runs()
    assert run["reason"] == "initial"
    assert run["url"] == linkahead_server.url
    assert run["username"] is None  # not configured, and an inherited value is not passed on
    assert run["stdin_is_devnull"] is True
    assert run["session_leader"] is True


def test_password_only_uses_configured_username(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer({"version": 1, "password": linkahead_server.users["admin"]})
    configure(linkahead_server, helper.argv, username="admin")

    assert whoami() == "admin"
    assert helper.runs()[0]["username"] == "admin"


def test_wrong_password_is_a_login_failure(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer({"version": 1, "username": "admin", "password": "wrong"})
    configure(linkahead_server, helper.argv)

    with pytest.raises(LoginFailedError, match="rejected the login of user 'admin'"):
        whoami()
    # The login was answered 401, so the core asked for better credentials once.
    assert helper.reasons() == ["initial", "rejected"]


def test_session_token(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer({"version": 1, "token": linkahead_server.make_token("admin")})
    configure(linkahead_server, helper.argv)

    assert whoami() == "admin"
    assert whoami() == "admin"
    assert linkahead_server.counters.logins == 0
    assert helper.reasons() == ["initial"]


def test_one_time_token(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer({"version": 1, "token": linkahead_server.make_token("admin", one_time=True)})
    configure(linkahead_server, helper.argv)

    assert whoami() == "admin"
    assert whoami() == "admin"  # with the session token the server answered the first request with
    assert linkahead_server.counters.one_time_logins == 1
    assert helper.reasons() == ["initial"]


def test_header_credentials_are_sent(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    # The embedded server accepts registered bearer tokens as an SSO front end would.
    linkahead_server.bearer_tokens["first-bearer"] = "admin"
    helper.answer({"version": 1, "headers": {"Authorization": "Bearer first-bearer", "X-Tenant": "lab"}})
    configure(linkahead_server, helper.argv)

    for _ in range(3):
        assert whoami() == "admin"
    assert linkahead_server.last_request_headers["Authorization"] == "Bearer first-bearer"
    assert linkahead_server.last_request_headers["X-Tenant"] == "lab"
    assert linkahead_server.counters.bearer == 3

    # The front end stops accepting the bearer: the 401 makes the command run again.
    del linkahead_server.bearer_tokens["first-bearer"]
    linkahead_server.bearer_tokens["second-bearer"] = "admin"
    helper.answer({"version": 1, "headers": {"Authorization": "Bearer second-bearer"}})
    assert whoami() == "admin"
    assert linkahead_server.last_request_headers["Authorization"] == "Bearer second-bearer"
    assert "X-Tenant" not in linkahead_server.last_request_headers

    assert helper.reasons() == ["initial", "rejected"]
    assert linkahead_server.counters.rejected == 1


def test_token_is_refreshed_after_server_rejects_it(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer({"version": 1, "token": linkahead_server.make_token("admin")})
    configure(linkahead_server, helper.argv)
    assert whoami() == "admin"

    linkahead_server.invalidate_sessions()
    helper.answer({"version": 1, "token": linkahead_server.make_token("admin")})  # a new token per run
    assert whoami() == "admin"

    assert helper.reasons() == ["initial", "rejected"]
    assert linkahead_server.counters.rejected == 1


def test_token_refresh_giving_a_dead_token_fails_clearly(linkahead_server: LinkAheadTestServer,
                                                         helper: Helper) -> None:
    helper.answer({"version": 1, "token": linkahead_server.make_token("admin")})
    configure(linkahead_server, helper.argv)
    assert whoami() == "admin"

    linkahead_server.invalidate_sessions()  # the command keeps printing the now-invalid token
    with pytest.raises(LoginFailedError, match="401"):
        whoami()
    assert helper.reasons() == ["initial", "rejected"]


def test_expiry_makes_the_core_refresh(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    lifetime = 1.5
    expires_at = time.time() + lifetime
    helper.answer(password_answer(linkahead_server, expires_at=rfc3339(expires_at)))
    configure(linkahead_server, helper.argv)
    assert whoami() == "admin"
    state = linkahead.get_connection().auth.state
    assert state.credentials is not None and state.credentials.expires_at == pytest.approx(expires_at, abs=1e-5)

    helper.answer(password_answer(linkahead_server, expires_at=rfc3339(time.time() + 3600)))
    # Wait on the clock (not on a server) until the core's refresh point has passed.
    refresh_at = state.credentials_refresh_at
    assert expires_at - lifetime / 10 - 0.05 <= refresh_at < expires_at
    while time.time() < refresh_at:
        time.sleep(0.02)
    assert whoami() == "admin"

    assert helper.reasons() == ["initial", "expired"]
    assert linkahead_server.counters.logins == 2


def test_requested_refresh_runs_the_command(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer(password_answer(linkahead_server))
    configure(linkahead_server, helper.argv, username="admin")
    assert whoami() == "admin"

    linkahead.get_connection().refresh_credentials()
    assert whoami() == "admin"
    assert helper.reasons() == ["initial", "requested"]
    assert [run["username"] for run in helper.runs()] == ["admin", "admin"]


# -- caching -----------------------------------------------------------------------------------


def test_command_runs_once_for_many_requests_and_reconfigurations(linkahead_server: LinkAheadTestServer,
                                                                  helper: Helper) -> None:
    helper.answer(password_answer(linkahead_server, expires_at=rfc3339(time.time() + 3600)))
    for _ in range(3):
        configure(linkahead_server, helper.argv)
        for _ in range(10):
            assert whoami() == "admin"
    assert len(helper.runs()) == 1
    assert linkahead_server.counters.logins == 3  # one per connection; the credentials were shared


def test_cache_is_per_command_server_and_environment(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer(password_answer(linkahead_server))
    configure(linkahead_server, helper.argv)
    whoami()
    configure(linkahead_server, helper.argv, exec_env={"EXTRA": "1"})
    whoami()
    with LinkAheadTestServer(users=linkahead_server.users) as other:
        configure(other, helper.argv)
        whoami()
    configure(linkahead_server, helper.argv)
    whoami()
    assert len(helper.runs()) == 3


def test_cache_ends_before_expiry(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    expires_at = time.time() + 1.5
    helper.answer(password_answer(linkahead_server, expires_at=rfc3339(expires_at)))
    configure(linkahead_server, helper.argv)
    whoami()
    configure(linkahead_server, helper.argv)
    whoami()
    assert len(helper.runs()) == 1

    helper.answer(password_answer(linkahead_server, expires_at=rfc3339(time.time() + 3600)))
    # Cached answers are reused until a tenth of their lifetime (here just under 0.15 s) before expiry.
    while time.time() < expires_at - 0.1:
        time.sleep(0.02)
    configure(linkahead_server, helper.argv)
    whoami()
    assert helper.reasons() == ["initial", "initial"]


def test_one_time_tokens_are_not_reused(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer({"version": 1, "token": linkahead_server.make_token("admin", one_time=True)})
    configure(linkahead_server, helper.argv)
    whoami()
    helper.answer({"version": 1, "token": linkahead_server.make_token("admin", one_time=True)})
    configure(linkahead_server, helper.argv)
    whoami()
    assert helper.reasons() == ["initial", "initial"]
    assert linkahead_server.counters.rejected == 0


def test_parallel_callers_share_one_run(helper: Helper) -> None:
    helper.answer({"version": 1, "token": "opaque-token"})
    config = {"exec_command": helper.argv, "exec_timeout": 10.0, "url": "https://linkahead.example.org/"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: linkahead_auth_exec.get_credentials(config=config), range(8)))
    assert len(helper.runs()) == 1
    assert all(answer is answers[0] for answer in answers)


def test_forget_drops_the_cached_credentials(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer(password_answer(linkahead_server))
    connection = configure(linkahead_server, helper.argv)
    whoami()
    connection.method.forget(connection.config)
    configure(linkahead_server, helper.argv)
    whoami()
    assert len(helper.runs()) == 2


# -- configuration ------------------------------------------------------------------------------


def test_configuration_file_with_command_string(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    helper = Helper(tmp_path / "folder with spaces")
    helper.answer(password_answer(linkahead_server))
    command = shlex.join(helper.argv)
    Path("pylinkahead.ini").write_text(
        "[Connection]\n"
        f"url = {linkahead_server.url}\n"
        "password_method = exec\n"
        f"exec_command = {command}\n"
        "exec_env = EXTRA='two words' OTHER=x=y\n"
        "exec_timeout = 10\n"
        "[Misc]\nsomething = else\n",
        encoding="utf-8",
    )
    connection = linkahead.get_connection()
    assert connection.config["exec_command"] == helper.argv
    assert connection.config["exec_timeout"] == 10.0
    assert "two words" not in repr(connection.config)  # exec_env is shown as ***

    assert whoami() == "admin"
    [run] = helper.runs()
    assert (run["extra"], run["other"]) == ("two words", "x=y")


def test_shebang_script_runs_directly(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    document = json.dumps({"version": 1, "token": linkahead_server.make_token("admin")})
    script = write_script(tmp_path / "credentials", f"#!{sys.executable}\nprint({document!r})\n")
    configure(linkahead_server, [str(script)])
    assert whoami() == "admin"


def test_command_found_on_path_from_exec_env(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    document = json.dumps({"version": 1, "token": linkahead_server.make_token("admin")})
    write_script(bin_dir / "la-credentials", f"#!{sys.executable}\nprint({document!r})\n")
    configure(linkahead_server, "la-credentials --quiet", exec_env={"PATH": f"{bin_dir}{os.pathsep}{os.defpath}"})
    assert whoami() == "admin"


def test_demo_config(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    config = linkahead_auth_exec.demo_config(server=linkahead_server, workdir=tmp_path)
    script = Path(config["exec_command"][-1])
    assert stat.S_IMODE(script.stat().st_mode) == 0o700
    linkahead.configure_connection(url=linkahead_server.url, password_method="exec", **config)
    assert whoami() == "admin"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "'exec_command' is required for password_method 'exec'"),
        ({"exec_command": ""}, "Invalid exec_command .*the command is empty"),
        ({"exec_command": "helper 'unclosed"}, "Invalid exec_command .*cannot split"),
        ({"exec_command": ["x"], "exec_timeout": -1}, "Invalid exec_timeout .*positive number"),
        ({"exec_command": ["x"], "exec_env": f"TOKEN={SECRET} LONELY"}, "'LONELY' has no '='"),
        ({"exec_command": ["x"], "exec_env": {"LINKAHEAD_URL": "x"}}, "LINKAHEAD_URL is set by the exec method"),
        ({"exec_command": ["x"], "exec_env": {"1BAD": SECRET}}, "'1BAD' is not an environment variable name"),
        ({"exec_command": ["x"], "exec_env": {"OK": 5}}, "the value of OK must be a string"),
        ({"exec_command": ["x"], "exec_env": ["A=1"]}, "expected a mapping"),
        ({"exec_command": ["x"], "exec_env": f"A='{SECRET}"}, "cannot split"),
    ],
)
def test_configuration_errors(linkahead_server: LinkAheadTestServer, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        linkahead.configure_connection(url=linkahead_server.url, password_method="exec", **options)
    assert SECRET not in str(caught.value)
    assert linkahead_server.counters.requests == 0


# -- errors from the command ------------------------------------------------------------------------


def failure(argv: list[str], server: LinkAheadTestServer, **options: Any) -> LinkAheadException:
    configure(server, argv, **options)
    with pytest.raises(LinkAheadException) as caught:
        whoami()
    error = caught.value
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert SECRET not in text
    assert server.counters.requests == 0
    return error


def test_command_not_found(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-helper")
    error = failure([missing, "--flag"], linkahead_server)
    assert isinstance(error, ConfigurationError)
    assert f"The credential command {missing!r} (exec_command) was not found" in str(error)


def test_command_not_on_path(linkahead_server: LinkAheadTestServer) -> None:
    error = failure(["linkahead-no-such-helper-xyz"], linkahead_server)
    assert isinstance(error, ConfigurationError)
    assert "'linkahead-no-such-helper-xyz' (exec_command) was not found" in str(error)


def test_command_not_executable(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    script = write_script(tmp_path / "helper.py", "print('{}')\n", mode=0o600)
    error = failure([str(script)], linkahead_server)
    assert isinstance(error, ConfigurationError)
    assert "is not executable" in str(error) and "chmod u+x" in str(error)


def test_script_without_interpreter_line(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    script = tmp_path / "helper.bin"
    script.write_bytes(b"\x7fELF-not-really")
    script.chmod(0o700)
    error = failure([str(script)], linkahead_server)
    assert isinstance(error, ConfigurationError)
    assert "cannot be started: Exec format error" in str(error)


def test_non_zero_exit_shows_the_end_of_stderr_but_never_stdout(linkahead_server: LinkAheadTestServer,
                                                                tmp_path: Path) -> None:
    script = write_script(tmp_path / "helper.py", (
        "import sys\n"
        f"print('{{\"version\": 1, \"password\": \"{SECRET}\"}}')\n"
        "for n in range(1, 13):\n"
        "    print(f'\\x1b[31mproblem line {n}\\x1b[0m', file=sys.stderr)\n"
        "sys.exit(3)\n"
    ))
    error = failure([sys.executable, str(script)], linkahead_server)
    assert isinstance(error, CredentialCommandError) and isinstance(error, LoginFailedError)
    assert error.returncode == 3 and error.command == sys.executable
    message = str(error)
    assert f"The credential command {sys.executable!r} exited with status 3." in message
    assert "The last 5 of 12 lines it wrote to stderr: problem line 8 | problem line 9" in message
    assert "problem line 12." in message
    assert "problem line 7" not in message
    assert "\x1b" not in message


def test_silent_failure(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    script = write_script(tmp_path / "helper.py", "raise SystemExit(1)\n")
    error = failure([sys.executable, str(script)], linkahead_server)
    assert "exited with status 1. It wrote nothing to stderr." in str(error)


def test_command_killed_by_a_signal(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    script = write_script(tmp_path / "helper.py", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    error = failure([sys.executable, str(script)], linkahead_server)
    assert isinstance(error, CredentialCommandError)
    assert error.returncode == -signal.SIGTERM
    assert "was killed by SIGTERM" in str(error)


def _gone(pid: int) -> bool:
    """The process no longer runs (a zombie waiting for its new parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to watch the processes")
def test_time_out_kills_the_command_and_its_children(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = write_script(tmp_path / "helper.py", (
        "import os, subprocess, sys, time\n"
        f"print('{{\"version\": 1, \"token\": \"{SECRET}\"', flush=True)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"with open({str(pids)!r}, 'w') as f:\n"
        "    f.write(f'{os.getpid()} {child.pid}')\n"
        "time.sleep(60)\n"
    ))
    started = time.monotonic()
    error = failure([sys.executable, str(script)], linkahead_server, exec_timeout=1.5)
    elapsed = time.monotonic() - started

    assert isinstance(error, CredentialCommandError) and error.returncode is None
    assert "did not finish within exec_timeout = 1.5 s and was killed" in str(error)
    assert 1.5 <= elapsed < 10
    numbers = [int(pid) for pid in pids.read_text().split()]
    assert len(numbers) == 2
    deadline = time.monotonic() + 5
    while not all(_gone(pid) for pid in numbers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [pid for pid in numbers if not _gone(pid)] == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to watch the processes")
def test_background_child_holding_stdout_counts_as_running(linkahead_server: LinkAheadTestServer,
                                                            tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = write_script(tmp_path / "helper.py", (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('{\"version\": 1, \"token\": \"abc\"}')\n"
    ))
    error = failure([sys.executable, str(script)], linkahead_server, exec_timeout=1)
    assert "did not finish within exec_timeout = 1 s" in str(error)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone(pid)


def test_stdin_is_not_inherited(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    # A command that reads its input gets end-of-file at once instead of hanging.
    script = write_script(tmp_path / "helper.py", (
        "import json, sys\n"
        "typed = sys.stdin.read()\n"
        f"password = typed or {linkahead_server.users['admin']!r}\n"
        "print(json.dumps({'version': 1, 'username': 'admin', 'password': password}))\n"
    ))
    configure(linkahead_server, [sys.executable, str(script)], exec_timeout=20)
    assert whoami() == "admin"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("", "it is empty"),
        (f'{{"version": 1, "password": "{SECRET}"', "it is not one JSON document .*line 1 column"),
        (f'{{"version": 1, "token": "{SECRET}"}}\n{{"version": 1}}', "not one JSON document .Extra data"),
        (f'["{SECRET}"]', "it is a JSON array, not an object"),
        (f'{{"token": "{SECRET}"}}', 'it has no "version" field'),
        (f'{{"version": 2, "token": "{SECRET}"}}', "it has version 2, but this plugin understands only version 1"),
        (f'{{"version": "1", "token": "{SECRET}"}}', 'its "version" is a JSON string'),
        (f'{{"version": true, "token": "{SECRET}"}}', 'its "version" is a JSON boolean'),
        ('{"version": 1}', "it contains no credentials"),
        ('{"version": 1, "username": "admin"}', r'no credentials \("username" alone'),
        (f'{{"version": 1, "token": "{SECRET}", "password": "{SECRET}"}}',
         r"several kinds of credentials \(password, token\)"),
        (f'{{"version": 1, "password": "{SECRET}"}}', 'has a "password" but no "username"'),
        (f'{{"version": 1, "username": "a", "password": "{SECRET}", "pasword": "{SECRET}"}}',
         "unknown field.*'pasword'"),
        (f'{{"version": 1, "token": "{SECRET}", "token": "{SECRET}"}}', "the field 'token' appears twice"),
        ('{"version": 1, "token": 12345}', '"token" must be a non-empty string, not a JSON number'),
        ('{"version": 1, "token": ""}', '"token" must be a non-empty string'),
        (f'{{"version": 1, "token": "{SECRET}\\n"}}', '"token" contains a line break'),
        (f'{{"version": 1, "username": "admin", "token": "{SECRET}"}}', '"username" belongs to "password"'),
        ('{"version": 1, "headers": {}}', '"headers" must be a non-empty JSON object.*empty JSON object'),
        (f'{{"version": 1, "headers": ["{SECRET}"]}}', '"headers" must be .*not a JSON array'),
        ('{"version": 1, "headers": {"Authorization": 7}}', "header 'Authorization' must have a non-empty string"),
        (f'{{"version": 1, "headers": {{"Bad Name": "{SECRET}"}}}}', "'Bad Name' is not a valid HTTP header name"),
        (f'{{"version": 1, "headers": {{"Cookie": "{SECRET}"}}}}', "header 'Cookie' cannot be supplied"),
        (f'{{"version": 1, "token": "{SECRET}", "expires_at": "tomorrow"}}', "'tomorrow' is not an RFC 3339"),
        (f'{{"version": 1, "token": "{SECRET}", "expires_at": "2099-01-01T00:00:00"}}', "with a time zone"),
        (f'{{"version": 1, "token": "{SECRET}", "expires_at": 4102444800}}', '"expires_at" is a JSON number'),
        (f'{{"version": 1, "token": "{SECRET}", "expires_at": "2099-02-30T00:00:00Z"}}', "no such date or time"),
        (f'{{"version": 1, "token": "{SECRET}", "expires_at": "2001-01-01T00:00:00Z"}}', "lies in the past"),
    ],
)
def test_output_breaking_the_contract(linkahead_server: LinkAheadTestServer, helper: Helper, output: str,
                                      message: str) -> None:
    helper.answer(output)
    error = failure(helper.argv, linkahead_server)
    assert isinstance(error, CredentialOutputError) and isinstance(error, LoginFailedError)
    assert str(error).startswith(f"The output of the credential command {sys.executable!r} breaks the exec contract: ")
    assert error.__cause__ is None and error.__suppress_context__
    assert re.search(message, str(error)), str(error)


def test_failed_run_is_not_cached(linkahead_server: LinkAheadTestServer, helper: Helper) -> None:
    helper.answer("not json")
    failure(helper.argv, linkahead_server)
    helper.answer(password_answer(linkahead_server))
    configure(linkahead_server, helper.argv)
    assert whoami() == "admin"
    assert len(helper.runs()) == 2


# -- secrets stay out of logs ---------------------------------------------------------------------


def test_debug_log_never_shows_the_secrets(linkahead_server: LinkAheadTestServer, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="linkahead")
    password = SECRET + "-password"
    linkahead_server.add_user("robot", password)
    token = linkahead_server.make_token("admin")
    bearer = SECRET + "-bearer"
    linkahead_server.bearer_tokens[bearer] = "admin"
    answers: list[tuple[dict[str, Any], str]] = [
        ({"version": 1, "username": "robot", "password": password,
          "expires_at": rfc3339(time.time() + 3600)}, "robot"),
        ({"version": 1, "token": token}, "admin"),
        ({"version": 1, "headers": {"Authorization": f"Bearer {bearer}"}}, "admin"),
    ]
    for number, (document, user) in enumerate(answers):
        helper = Helper(tmp_path / f"helper{number}")
        helper.answer(document)
        configure(linkahead_server, helper.argv, debug=True)
        assert whoami() == user
        linkahead.get_connection().refresh_credentials()
        assert whoami() == user
        assert len(helper.runs()) == 2
    # And failures whose output holds a secret.
    for number, output in enumerate([f'{{"version": 1, "password": "{password}"}}',
                                     f'{{"version": 3, "token": "{token}"}}', f"{bearer} and no JSON"]):
        helper = Helper(tmp_path / f"broken{number}")
        helper.answer(output)
        configure(linkahead_server, helper.argv, debug=True)
        with pytest.raises(CredentialOutputError) as caught:
            whoami()
        assert password not in repr(caught.value) and token not in repr(caught.value)

    records = caplog.text
    assert "Running the credential command" in records and "supplied PasswordCredentials" in records
    for secret in (password, token, bearer, SECRET):
        assert secret not in records
    for record in caplog.records:
        assert SECRET not in repr(record.args) and token not in repr(record.args)


def test_expiry_refresh_keeps_its_margin_under_steady_traffic(linkahead_server: LinkAheadTestServer,
                                                               helper: Helper,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="linkahead.auth.exec")
    lifetime = 3.0
    expires_at = time.time() + lifetime
    helper.answer(password_answer(linkahead_server, expires_at=rfc3339(expires_at)))
    configure(linkahead_server, helper.argv)
    assert whoami() == "admin"
    helper.answer(password_answer(linkahead_server, expires_at=rfc3339(time.time() + 3600)))

    def expired_refreshes() -> list[logging.LogRecord]:
        return [record for record in caplog.records if "(reason: expired)" in record.getMessage()]

    # Steady traffic: every answer renews the session cookie, which the core adopts.
    starts: list[float] = []
    while not expired_refreshes() and time.time() < expires_at + 1.0:
        starts.append(time.time())
        assert whoami() == "admin"
        time.sleep(0.02)

    [refresh] = expired_refreshes()
    # The documented margin is a tenth of the lifetime (0.3 s here): the first request that starts
    # inside it runs the command. Asserted on when requests started, not on when the command ran,
    # because on a busy machine one request may take longer than the whole margin.
    *quiet, refresher = [start for start in starts if start <= refresh.created]
    assert refresher >= expires_at - 0.3 - 0.05, f"refreshed by a request {expires_at - refresher:.3f} s early"
    assert all(start < expires_at for start in quiet), \
        f"a request started {max(quiet) - expires_at:.3f} s after expiry without refreshing"
