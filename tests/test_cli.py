"""The ``linkahead-auth`` console script, run as a real subprocess against the embedded server.

The server runs in a thread of the test process; the subprocess connects to it over loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from linkahead.testing import LinkAheadTestServer
from linkahead.testing.terminal import Terminal

PASSWORD = "admin-Pa55word"  # DEFAULT_USERS["admin"] of the embedded server
BIN_DIR = Path(sys.executable).parent


def _script() -> str:
    found = shutil.which("linkahead-auth", path=str(BIN_DIR))
    if found is None:
        pytest.fail(f"the console script linkahead-auth is not installed in {BIN_DIR}; pip install -e core")
    return found


SCRIPT = _script()


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``linkahead-auth *args`` in the test's (isolated) cwd with the test's environment."""
    environment = dict(os.environ) if env is None else env
    environment.setdefault("COLUMNS", "100")
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=timeout, env=environment, cwd=os.getcwd(),
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def write_ini(path: Path, **values: str) -> Path:
    lines = ["[Connection]", *(f"{key} = {value}" for key, value in values.items()),
             "", "[Misc]", "other_tool_key = kept"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)  # it may hold a password: anything wider draws the ssh-like warning
    return path


def plain_ini(server: LinkAheadTestServer, password: str = PASSWORD) -> Path:
    return write_ini(Path("pylinkahead.ini"), url=server.url, username="admin", password_method="plain",
                     password=password)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("linkahead-auth: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


# -- status -------------------------------------------------------------------------------------


def test_status_authenticates_and_shows_user_realm_roles(linkahead_server: LinkAheadTestServer) -> None:
    ini = plain_ini(linkahead_server)
    result = run("status")
    assert result.returncode == 0, result.stderr
    assert f"Configuration file: {ini.absolute()}" in result.stdout
    assert f"Server:             {linkahead_server.url}" in result.stdout
    assert "Password method:    plain (linkahead-auth-plain " in result.stdout
    assert "OK: authenticated as admin (realm PAM, roles: administration)" in result.stdout
    assert linkahead_server.counters.logins == 1
    assert PASSWORD not in result.stdout + result.stderr


STATUS_KEYS = {"format", "ok", "config_file", "config_source", "searched", "url", "username", "method", "session",
               "user", "error"}


def test_status_json_shape(linkahead_server: LinkAheadTestServer) -> None:
    ini = plain_ini(linkahead_server)
    result = run("status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == STATUS_KEYS
    assert report["format"] == 1
    assert report["ok"] is True
    assert report["config_file"] == str(ini.absolute())
    assert report["config_source"] == "search"
    assert report["searched"][0] == {"path": str(ini.absolute()), "exists": True, "source": "search"}
    assert all(set(entry) == {"path", "exists", "source"} for entry in report["searched"])
    assert report["url"] == linkahead_server.url
    assert report["username"] == "admin"
    assert report["method"]["name"] == "plain"
    assert report["method"]["distribution"] == "linkahead-auth-plain"
    assert report["user"] == {"username": "admin", "realm": "PAM", "roles": ["administration"]}
    assert report["error"] is None


def test_status_wrong_password_exits_1_without_showing_it(linkahead_server: LinkAheadTestServer) -> None:
    wrong = "Wr0ng-secret-value"
    plain_ini(linkahead_server, password=wrong)
    for args in (("status",), ("status", "-v"), ("status", "--json", "-v")):
        result = run(*args)
        assert result.returncode == 1
        assert wrong not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["user"] is None
    assert report["error"]["type"] == "LoginFailedError"
    assert "rejected the login of user 'admin'" in report["error"]["message"]
    assert set(report) == STATUS_KEYS


def test_status_unreachable_server_is_one_clear_failure() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    result = run("status", "--url", url, "--method", "unauthenticated")
    assert result.returncode == 1
    assert f"Server:             {url}" in result.stdout
    assert "FAILED: " in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_status_without_any_configuration_says_how_to_fix_it() -> None:
    result = run("status")
    assert result.returncode == 1
    assert "Configuration file: none found; searched:" in result.stdout
    assert str(Path.home() / ".pylinkahead.ini") in result.stdout
    assert "FAILED: No server URL is configured" in result.stdout
    assert "--url" in result.stdout


def test_status_options_override_the_file() -> None:
    write_ini(Path("pylinkahead.ini"), url="http://127.0.0.1:9/", username="nobody", password="x")
    with LinkAheadTestServer(anonymous=True) as server:
        result = run("status", "--json", "--url", server.url, "--method", "unauthenticated")
    report = json.loads(result.stdout)
    assert result.returncode == 0, report
    assert report["url"] == server.url
    assert report["method"]["name"] == "unauthenticated"
    assert report["user"] == {"username": "anonymous", "realm": "anonymous", "roles": ["anonymous"]}


def test_config_option_sets_pylinkaheadini(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    write_ini(Path("pylinkahead.ini"), url="http://127.0.0.1:9/")  # must be ignored
    other = tmp_path / "elsewhere" / "my.ini"
    other.parent.mkdir()
    write_ini(other, url=linkahead_server.url, username="admin", password=PASSWORD)
    result = run("--config", str(other), "status", "--json")  # before the subcommand ...
    report = json.loads(result.stdout)
    assert result.returncode == 0, report
    assert report["config_file"] == str(other)
    assert report["config_source"] == "PYLINKAHEADINI"
    result = run("status", "--config", str(other))  # ... and after it
    assert result.returncode == 0
    assert f"Configuration file: {other} (from $PYLINKAHEADINI)" in result.stdout


def test_missing_config_file_is_a_usage_error() -> None:
    result = run("status", "--config", "does-not-exist.ini")
    assert result.returncode == 2
    assert "--config does-not-exist.ini: no such file" in result.stderr


# -- config -------------------------------------------------------------------------------------


def test_config_shows_origins_and_hides_secrets(linkahead_server: LinkAheadTestServer) -> None:
    ini = plain_ini(linkahead_server)
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:3128"}
    result = run("config", "--username", "admin", "-v", env=env)
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[3:] if line.strip()}
    assert rows["password"].split()[1:] == ["***", "file", str(ini)]
    assert rows["username"].split()[1:] == ["admin", "argument"]
    assert rows["url"].split()[1:] == [linkahead_server.url, "file", str(ini)]
    assert rows["timeout"].split()[1:] == ["210", "default"]
    assert rows["https_proxy"].split()[1:] == ["http://127.0.0.1:3128", "environment", "HTTPS_PROXY"]
    assert rows["auth_token"].split()[1:] == ["(not", "set)", "default"]
    # Declaration order: the core options first, url at the top.
    assert result.stdout.splitlines()[4].startswith("url ")


def test_config_json_shape(linkahead_server: LinkAheadTestServer) -> None:
    plain_ini(linkahead_server)
    result = run("config", "--json", "--method", "auth_token", "-v",
                 env={**os.environ, "PYLINKAHEADINI": "pylinkahead.ini"})
    # auth_token is required by its method and missing: a failure with the error in the JSON.
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["ok"] is False and report["error"]["type"] == "ConfigurationError"
    assert "'auth_token' is required" in report["error"]["message"]

    token = linkahead_server.make_token("admin")
    write_ini(Path("pylinkahead.ini"), url=linkahead_server.url, auth_token=token, keyring_service="kept")
    result = run("config", "--json", "-v")
    report = json.loads(result.stdout)
    assert result.returncode == 0, report
    assert set(report) == {"format", "ok", "config_file", "method", "options", "error"}
    assert report["method"]["name"] == "auth_token"
    options = report["options"]
    assert all(set(entry) == {"value", "origin", "secret", "ignored"} for entry in options.values())
    assert options["auth_token"] == {"value": "***", "origin": f"file {Path('pylinkahead.ini')}",
                                     "secret": True, "ignored": False}
    assert options["password_method"]["value"] == "auth_token"
    assert options["password_method"]["origin"].endswith("(implied by auth_token)")
    assert options["timeout"]["value"] == 210.0
    assert options["ssl_insecure"]["value"] is False
    # An option of another method is kept but not shown: this method cannot say if it is secret.
    assert options["keyring_service"] == {"value": "***", "origin": f"file {Path('pylinkahead.ini')}",
                                          "secret": False, "ignored": True}
    assert token not in result.stdout + result.stderr


def test_config_error_is_one_line_with_the_fix() -> None:
    write_ini(Path("pylinkahead.ini"), url="https://example.org/", pasword_method="plain")
    result = run("config")
    assert result.returncode == 1
    assert_one_error_line(result, "Unknown option 'pasword_method'", "Did you mean 'password_method'?")


# -- login / logout -----------------------------------------------------------------------------


def test_login_verifies_with_the_server(linkahead_server: LinkAheadTestServer) -> None:
    plain_ini(linkahead_server)
    result = run("login", "-v")
    assert result.returncode == 0, result.stderr
    assert (f"Logged in to {linkahead_server.url} as admin (realm PAM, roles: administration) "
            "with password method plain") in result.stdout
    assert "DEBUG linkahead.connection: Logged in as 'admin'." in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert linkahead_server.counters.logins == 1


def test_login_with_a_one_time_token(linkahead_server: LinkAheadTestServer) -> None:
    token = linkahead_server.make_token("admin", one_time=True)
    write_ini(Path("pylinkahead.ini"), url=linkahead_server.url, auth_token=token)
    result = run("login", "-v")
    assert result.returncode == 0, result.stderr
    assert "as admin" in result.stdout and "auth_token" in result.stdout
    assert linkahead_server.counters.one_time_logins == 1
    assert token not in result.stdout + result.stderr


def test_login_with_input_asks_on_the_terminal(linkahead_server: LinkAheadTestServer) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = Terminal(SCRIPT, ["login", "--url", linkahead_server.url, "--method", "input", "-v"],
                          env={**os.environ, "COLUMNS": "100"}, cwd=os.getcwd(), timeout=30, encoding="utf-8")
    try:
        child.expect("User name for ")
        child.sendline("admin")
        child.expect("Password for admin at ")
        child.sendline(PASSWORD)
        child.expect(pexpect.EOF)
        transcript = str(child.before)
    finally:
        child.close()
    assert child.exitstatus == 0, transcript
    assert "Logged in to" in transcript and "as admin" in transcript
    assert PASSWORD not in transcript  # getpass does not echo


def test_login_with_input_without_a_terminal_fails_at_once(linkahead_server: LinkAheadTestServer) -> None:
    result = run("login", "--url", linkahead_server.url, "--username", "admin", "--method", "input", timeout=20)
    assert result.returncode == 1
    assert_one_error_line(result, "needs a terminal")
    assert linkahead_server.counters.requests == 0


def _write_memo_plugin(root: Path) -> None:
    """A real installed plugin (a dist-info on PYTHONPATH) that implements forget()."""
    (root / "linkahead_auth_memo_test.py").write_text(textwrap.dedent("""
        import os
        from pathlib import Path
        from linkahead import PasswordCredentials, hookimpl

        @hookimpl
        def get_credentials(config):
            return PasswordCredentials(config["username"], os.environ["MEMO_PASSWORD"])

        @hookimpl
        def forget(config):
            Path(os.environ["MEMO_FORGOT"]).write_text(config["url"])
    """), encoding="utf-8")
    _dist_info(root, "linkahead_auth_memo_test", "memo", "linkahead_auth_memo_test", "A test plugin that forgets.")


def _dist_info(root: Path, dist: str, method: str, target: str, summary: str) -> None:
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: 0.1\nSummary: {summary}\n",
        encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[linkahead.auth]\n{method} = {target}\n", encoding="utf-8")


def test_logout_calls_the_methods_forget_hook(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _write_memo_plugin(site)
    forgot = tmp_path / "forgot"
    env = {**os.environ, "PYTHONPATH": str(site), "MEMO_PASSWORD": PASSWORD, "MEMO_FORGOT": str(forgot)}
    common = ("--url", linkahead_server.url, "--username", "admin", "--method", "memo")
    login = run("login", *common, env=env)
    assert login.returncode == 0, login.stderr
    assert "with password method memo (linkahead-auth-memo-test 0.1)" in login.stdout
    logout = run("logout", *common, env=env)
    assert logout.returncode == 0, logout.stderr
    assert f"Password method 'memo' was told to forget what it keeps for {linkahead_server.url}" in logout.stdout
    assert forgot.read_text() == linkahead_server.url


def test_logout_with_a_method_that_keeps_nothing(linkahead_server: LinkAheadTestServer) -> None:
    plain_ini(linkahead_server)
    result = run("logout")
    assert result.returncode == 0, result.stderr
    assert "Password method 'plain' keeps nothing to forget" in result.stdout
    assert linkahead_server.counters.requests == 0  # no session in a new process: nothing to send


# -- methods ------------------------------------------------------------------------------------


STANDARD = {"plain", "input", "auth_token", "unauthenticated"}


def test_methods_lists_the_standard_methods_with_their_summary() -> None:
    result = run("methods", "--json")
    report = json.loads(result.stdout)
    assert set(report) == {"format", "methods", "shadowed", "upstream_style"}
    assert report["upstream_style"] == []  # no upstream linkahead in the development environment
    by_name = {item["name"]: item for item in report["methods"]}
    assert STANDARD <= set(by_name)
    for item in report["methods"]:
        assert set(item) == {"name", "distribution", "version", "summary", "entry_point", "status", "error",
                             "options", "select"}
    plain = by_name["plain"]
    assert plain["distribution"] == "linkahead-auth-plain"
    assert plain["status"] == "ok" and plain["error"] is None
    assert plain["summary"].startswith("LinkAhead password method 'plain'")
    assert plain["entry_point"] == "linkahead_auth_plain"
    assert plain["options"] == ["username", "password"]
    broken = [item for item in report["methods"] if item["status"] == "broken"]
    assert result.returncode == (1 if broken else 0)

    text = run("methods")
    assert "Installed password methods:" in text.stdout
    line = next(line for line in text.stdout.splitlines() if line.split()[:1] == ["plain"])
    assert "linkahead-auth-plain" in line and "user name and password from the configuration" in line


def test_methods_lists_broken_plugins_with_their_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "linkahead_auth_boom_test.py").write_text("raise RuntimeError('boom at import')\n", encoding="utf-8")
    _dist_info(site, "linkahead_auth_boom_test", "boom", "linkahead_auth_boom_test", "Explodes.")
    (site / "linkahead_auth_hollow_test.py").write_text("VALUE = 1\n", encoding="utf-8")
    _dist_info(site, "linkahead_auth_hollow_test", "hollow", "linkahead_auth_hollow_test", "No hooks.")
    env = {**os.environ, "PYTHONPATH": str(site)}

    result = run("methods", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    broken = result.stdout.split("Broken password methods")[1]
    assert "boom (linkahead-auth-boom-test 0.1): " in broken
    # The plugin's own text is not copied (it may hold a secret); the place it failed is named.
    assert "cannot be imported: RuntimeError at linkahead_auth_boom_test.py:1 in <module>" in broken
    assert "boom at import" not in result.stdout + result.stderr
    assert "hollow (linkahead-auth-hollow-test 0.1): " in broken
    assert "does not implement the get_credentials hook" in broken
    working = result.stdout.split("Broken password methods")[0]
    assert "plain" in working and "boom" not in working

    report = json.loads(run("methods", "--json", env=env).stdout)
    boom = next(item for item in report["methods"] if item["name"] == "boom")
    assert boom["status"] == "broken" and boom["summary"] == "Explodes." and boom["options"] is None
    assert "RuntimeError at linkahead_auth_boom_test.py:1" in boom["error"] and "boom at import" not in boom["error"]


def test_reading_method_metadata_imports_no_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from linkahead.cli import describe_methods

    site = tmp_path / "site"
    site.mkdir()
    marker = tmp_path / "imported"
    (site / "linkahead_auth_marker_test.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    _dist_info(site, "linkahead_auth_marker_test", "marker", "linkahead_auth_marker_test", "Marks imports.")
    monkeypatch.syspath_prepend(str(site))
    described = {item["name"]: item for item in describe_methods(check=False)}
    assert described["marker"]["summary"] == "Marks imports."
    assert described["marker"]["status"] == "unchecked"
    assert not marker.exists()
    assert "linkahead_auth_marker_test" not in sys.modules


# -- errors, usage, verbosity ---------------------------------------------------------------------


def test_unknown_method_is_one_line_with_a_suggestion(linkahead_server: LinkAheadTestServer) -> None:
    result = run("login", "--url", linkahead_server.url, "--method", "plian")
    assert result.returncode == 1
    assert_one_error_line(result, "No password method 'plian' is installed", "Did you mean 'plain'?")


def test_verbose_shows_the_traceback_but_no_secret(linkahead_server: LinkAheadTestServer) -> None:
    wrong = "An0ther-wrong-secret"
    plain_ini(linkahead_server, password=wrong)
    result = run("login", "-v")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("linkahead-auth: error: The server rejected")
    assert wrong not in result.stdout + result.stderr
    assert linkahead_server.counters.failed_logins == 1


def test_password_never_appears_with_verbose(linkahead_server: LinkAheadTestServer) -> None:
    plain_ini(linkahead_server)
    outputs = []
    for command in (("status", "-v"), ("status", "--json", "-v"), ("config", "-v"), ("config", "--json", "-v"),
                    ("login", "-v"), ("logout", "-v"), ("-v", "methods")):
        result = run(*command)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode in (0, 1)
    assert all(PASSWORD not in output for output in outputs)
    assert any("DEBUG linkahead" in output for output in outputs)


def test_debug_in_the_ini_file_logs_without_secrets(linkahead_server: LinkAheadTestServer) -> None:
    write_ini(Path("pylinkahead.ini"), url=linkahead_server.url, username="admin", password=PASSWORD,
              debug="true")
    result = run("status")
    assert result.returncode == 0, result.stderr
    assert "DEBUG linkahead.connection: Logged in as 'admin'." in result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_output_into_a_closed_pipe_is_quiet(linkahead_server: LinkAheadTestServer) -> None:
    plain_ini(linkahead_server)
    reader = subprocess.Popen([SCRIPT, "config"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env=dict(os.environ), cwd=os.getcwd())
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # like `linkahead-auth config | head -0`
    stderr = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 1
    assert stderr == ""


def test_password_inside_a_url_is_hidden() -> None:
    result = run("config", "--url", "https://admin:S3cret-in-url@example.org/", "--method", "unauthenticated")
    assert result.returncode == 1
    assert "S3cret-in-url" not in result.stdout + result.stderr
    assert_one_error_line(result, "must not contain a user name or password")


@pytest.mark.parametrize("args", [(), ("frobnicate",), ("status", "--bogus")])
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "usage: linkahead-auth" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help() -> None:
    from linkahead import __version__

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"linkahead-auth (linkahead-connection {__version__})"
    help_text = run("--help").stdout
    for command in ("methods", "status", "config", "login", "logout", "demo"):
        assert command in help_text
    assert "Exit codes: 0 success, 1 failure, 2 usage error" in " ".join(help_text.split())
    status_help = run("status", "--help").stdout
    for option in ("--url", "--username", "--method", "--config", "-v", "--json"):
        assert option in status_help


# -- demo ---------------------------------------------------------------------------------------


def test_demo_logs_in_with_the_standard_methods(tmp_path: Path) -> None:
    # The user's own configuration must not disturb the demo.
    write_ini(Path("pylinkahead.ini"), url="http://127.0.0.1:9/", password_method="nonsense", bogus="1")
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    for method in ("plain", "auth_token", "unauthenticated"):
        result = run("demo", "--method", method, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Embedded LinkAhead server at http://127.0.0.1:" in result.stdout
        assert f"  {method:<16} OK       authenticated as " in result.stdout
    result = run("demo", "--method", "input", env=env)
    assert result.returncode == 0
    assert ("  input            skipped  (asks a person at a terminal for the password; the demo runs "
            "unattended)") in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


def test_demo_all_methods_reports_every_installed_one() -> None:
    result = run("demo", timeout=120)
    names = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    report = json.loads(run("methods", "--json").stdout)
    assert names == sorted(item["name"] for item in report["methods"])
    failed = [line for line in result.stdout.splitlines() if " FAILED " in line]
    assert result.returncode == (1 if failed else 0)
    assert "Server: " in result.stdout


def test_a_world_readable_ini_with_a_password_is_one_warning_line(linkahead_server: LinkAheadTestServer) -> None:
    ini = plain_ini(linkahead_server)
    ini.chmod(0o644)
    result = run("status")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("linkahead-auth: warning: ")
    assert f"chmod 600 {ini}" in warnings[0] or "chmod 600" in warnings[0]
    assert PASSWORD not in result.stderr
