"""password_method 'keyring' against a real file backend (keyrings.alt PlaintextKeyring).

The backend is chosen the way users choose it: PYTHON_KEYRING_BACKEND or keyringrc.cfg. Tests that
prove the configuration mechanism run the login in a fresh Python process (keyring picks its
backend once per process); in-process tests re-run keyring's own detection (``init_backend``)
after setting the environment. Terminal behaviour is driven through a real pseudo-terminal.
"""

from __future__ import annotations

import configparser
import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import linkahead
import pexpect
import pytest
from linkahead.exceptions import ConfigurationError, LoginFailedError
from linkahead.testing import LinkAheadTestServer
from linkahead.testing.terminal import Terminal
from linkahead_auth_keyring import delete_password, demo_config, service_name, store_password
from linkahead_auth_keyring.__main__ import main as keyring_cli

PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
# Written out on purpose instead of calling service_name(): this is the legacy client's literal name.
LEGACY_PREFIX = "linkahead \u2014 "
SUBPROCESS_TIMEOUT = 60

LOGIN_SCRIPT = """
import os, sys
import linkahead
from linkahead.exceptions import LinkAheadException
options = {"url": os.environ["LA_URL"], "username": "admin", "password_method": "keyring"}
if os.environ.get("LA_DEBUG"):
    options["debug"] = True
try:
    data = linkahead.configure_connection(**options).retrieve(["Info"]).read().decode()
except LinkAheadException as error:
    print("ERROR", type(error).__name__, error, flush=True)
    sys.exit(3)
print("LOGGED-IN" if 'username="admin"' in data else "UNEXPECTED " + data, flush=True)
"""


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def keyring_env(tmp_path: Path) -> dict[str, str]:
    """Environment for child processes: private HOME/XDG folders; no backend chosen yet."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON_KEYRING", "KEYRING_PROPERTY", "DBUS_SESSION"))}
    env.update(HOME=str(Path.home()), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONUNBUFFERED="1")
    return env


def keyring_file(env: dict[str, str]) -> Path:
    """Where PlaintextKeyring keeps its file under ``env`` (keyring's data root)."""
    return Path(env["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"


@pytest.fixture
def file_keyring(keyring_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """This process uses PlaintextKeyring, selected through PYTHON_KEYRING_BACKEND."""
    env = {**keyring_env, "PYTHON_KEYRING_BACKEND": PLAINTEXT}
    with pytest.MonkeyPatch.context() as patch:
        for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "PYTHON_KEYRING_BACKEND"):
            patch.setenv(key, env[key])
        patch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
        # In-process tests run without a terminal even under `pytest -s` in a terminal.
        patch.setattr(sys, "stdin", io.StringIO(""))
        keyring.core.init_backend()  # keyring's own detection, reading the variable just set
        assert type(keyring.get_keyring()).__name__ == "PlaintextKeyring"
        yield env
    keyring.core.init_backend()  # back to whatever the restored environment selects


def run_python(code: str, env: dict[str, str], stdin: str | None = None,
               args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], env=env, input=stdin,
                          stdin=None if stdin else subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT)


def stored_in_file(env: dict[str, str], service: str, username: str) -> str | None:
    """Read the keyring file the way another process would: a fresh process with the same env."""
    result = run_python("import json, keyring, sys; print(json.dumps(keyring.get_password(*sys.argv[1:])))",
                        {**env, "PYTHON_KEYRING_BACKEND": PLAINTEXT}, args=(service, username))
    assert result.returncode == 0, result.stderr
    value: str | None = json.loads(result.stdout)
    return value


# -- the service name ------------------------------------------------------------------------------


def test_service_name_is_the_legacy_name_with_an_em_dash() -> None:
    assert service_name("https://demo.indiscale.com:443/") == "linkahead \u2014 https://demo.indiscale.com:443/"
    assert service_name("http://h/") == LEGACY_PREFIX + "http://h/"


# -- logging in with a stored password -------------------------------------------------------------


def test_password_stored_by_keyring_tool_under_legacy_name_logs_in_keyringrc(
        linkahead_server: LinkAheadTestServer, keyring_env: dict[str, str]) -> None:
    # The backend comes from keyringrc.cfg in XDG_CONFIG_HOME, as a user would configure it.
    rc = Path(keyring_env["XDG_CONFIG_HOME"]) / "python_keyring" / "keyringrc.cfg"
    rc.parent.mkdir(parents=True)
    rc.write_text(f"[backend]\ndefault-keyring = {PLAINTEXT}\n")
    password = linkahead_server.users["admin"]
    stored = subprocess.run(
        [sys.executable, "-m", "keyring", "set", LEGACY_PREFIX + linkahead_server.url, "admin"],
        env=keyring_env, input=password + "\n", capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
    )
    assert stored.returncode == 0, stored.stderr
    assert keyring_file(keyring_env).is_file()

    result = run_python(LOGIN_SCRIPT, {**keyring_env, "LA_URL": linkahead_server.url, "LA_DEBUG": "1"})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOGGED-IN" in result.stdout
    assert linkahead_server.counters.logins == 1
    assert linkahead_server.counters.failed_logins == 0
    assert password not in result.stdout + result.stderr  # DEBUG logging was on


def test_password_in_keyring_logs_in_in_process_env_variable(
        linkahead_server: LinkAheadTestServer, file_keyring: dict[str, str]) -> None:
    keyring.set_password(LEGACY_PREFIX + linkahead_server.url, "admin", linkahead_server.users["admin"])

    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                                password_method="keyring")
    data = connection.retrieve(["Info"]).read()

    assert b'username="admin"' in data
    assert linkahead_server.counters.logins == 1
    assert keyring_file(file_keyring).is_file()


def test_keyring_service_option_overrides_the_service(
        linkahead_server: LinkAheadTestServer, file_keyring: dict[str, str]) -> None:
    keyring.set_password("my-linkahead", "admin", linkahead_server.users["admin"])
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                                password_method="keyring", keyring_service="my-linkahead")
    connection.retrieve(["Info"])
    assert linkahead_server.counters.logins == 1


def test_username_is_required(file_keyring: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="'username' is required for password_method 'keyring'"):
        linkahead.configure_connection(url="http://127.0.0.1:9/", password_method="keyring")


def test_password_changed_meanwhile_is_read_again(
        linkahead_server: LinkAheadTestServer, file_keyring: dict[str, str]) -> None:
    store_password(linkahead_server.url, "admin", linkahead_server.users["admin"])
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                                password_method="keyring")
    connection.retrieve(["Info"])
    # The password is rotated at the server and in the keyring (say, by another terminal).
    linkahead_server.users["admin"] = "rotated-Pa55word"
    store_password(linkahead_server.url, "admin", "rotated-Pa55word")
    linkahead_server.invalidate_sessions()

    connection.retrieve(["Info"])

    assert linkahead_server.counters.logins == 2
    assert linkahead_server.counters.failed_logins == 1  # the old password, once


# -- no terminal -----------------------------------------------------------------------------------


def test_nothing_stored_without_terminal_is_a_clear_error(
        linkahead_server: LinkAheadTestServer, keyring_env: dict[str, str]) -> None:
    env = {**keyring_env, "PYTHON_KEYRING_BACKEND": PLAINTEXT, "LA_URL": linkahead_server.url}
    started = time.monotonic()
    result = run_python(LOGIN_SCRIPT, env)  # stdin is /dev/null: no terminal
    assert time.monotonic() - started < 30  # an error, not a hang

    assert result.returncode == 3, result.stdout + result.stderr
    service = LEGACY_PREFIX + linkahead_server.url
    assert "ERROR LoginFailedError No password is stored in the keyring for user 'admin'" in result.stdout
    assert f"(service '{service}', backend {PLAINTEXT})" in result.stdout
    assert "standard input is not a terminal" in result.stdout
    assert (f"python -m linkahead_auth_keyring set --url {linkahead_server.url} --username admin"
            in result.stdout)
    assert f'keyring set "{service}" admin' in result.stdout
    assert "Traceback" not in result.stderr
    assert linkahead_server.counters.requests == 0


def test_rejected_password_without_terminal_names_service_and_fix_and_keeps_entry(
        linkahead_server: LinkAheadTestServer, file_keyring: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-Pa55word-xyz"
    store_password(linkahead_server.url, "admin", wrong)
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                                password_method="keyring", debug=True)

    with pytest.raises(LoginFailedError) as caught:
        connection.retrieve(["Info"])

    message = str(caught.value)
    service = LEGACY_PREFIX + linkahead_server.url
    assert (f"The server rejected the password stored in the keyring for user 'admin' (service '{service}', "
            f"backend {PLAINTEXT}); the entry was left unchanged.") in message
    assert "python -m linkahead_auth_keyring set --url" in message
    assert wrong not in message and wrong not in caplog.text
    assert keyring.get_password(service, "admin") == wrong  # never deleted silently
    assert linkahead_server.counters.failed_logins == 1
    assert linkahead_server.counters.logins == 0


# -- backend failures ------------------------------------------------------------------------------


def test_fail_backend_is_a_clear_error_naming_the_backend(
        linkahead_server: LinkAheadTestServer, keyring_env: dict[str, str]) -> None:
    env = {**keyring_env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "LA_URL": linkahead_server.url}
    result = run_python(LOGIN_SCRIPT, env)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "ERROR LoginFailedError The keyring backend keyring.backends.fail.Keyring failed while reading " \
           "the password of user 'admin'" in result.stdout
    assert "No usable keyring backend is installed or configured" in result.stdout
    assert "pip install keyrings.alt" in result.stdout
    assert "Traceback" not in result.stderr
    assert linkahead_server.counters.requests == 0


def test_backend_that_cannot_be_loaded_is_a_configuration_error(keyring_env: dict[str, str]) -> None:
    env = {**keyring_env, "PYTHON_KEYRING_BACKEND": "nosuch_module.Keyring", "LA_URL": "http://127.0.0.1:9/"}
    result = run_python(LOGIN_SCRIPT, env)

    assert result.returncode == 3, result.stdout + result.stderr
    assert ("ERROR ConfigurationError The keyring backend cannot be loaded "
            "(PYTHON_KEYRING_BACKEND='nosuch_module.Keyring'): ModuleNotFoundError") in result.stdout
    assert "python -m keyring --list-backends" in result.stdout


def test_misspelt_backend_in_keyringrc_names_the_file(keyring_env: dict[str, str]) -> None:
    rc = Path(keyring_env["XDG_CONFIG_HOME"]) / "python_keyring" / "keyringrc.cfg"
    rc.parent.mkdir(parents=True)
    rc.write_text("[backend]\ndefault-keyring = keyrings.alt.file.PlainTextKeyring\n")
    result = run_python(LOGIN_SCRIPT, {**keyring_env, "LA_URL": "http://127.0.0.1:9/"})

    assert result.returncode == 3, result.stdout + result.stderr
    assert ("ERROR ConfigurationError The keyring backend cannot be loaded (default-keyring = "
            f"keyrings.alt.file.PlainTextKeyring in {rc}): AttributeError") in result.stdout


def test_unwritable_keyring_file_names_backend_and_hides_password(
        file_keyring: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # A directory where the keyring file should be: the backend's write fails with an OS error.
    keyring_file(file_keyring).mkdir(parents=True)
    secret = "never-shown-Pa55"
    with pytest.raises(LoginFailedError) as caught:
        store_password("http://127.0.0.1:9/", "admin", secret)
    message = str(caught.value)
    assert message.startswith(f"The keyring backend {PLAINTEXT} failed while storing the password of user 'admin'")
    assert "IsADirectoryError" in message
    assert secret not in message and secret not in caplog.text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no raw keyring traceback


# -- the terminal ----------------------------------------------------------------------------------


def spawn_login(env: dict[str, str], script_dir: Path) -> Terminal:
    script = script_dir / "login.py"
    script.write_text(LOGIN_SCRIPT)
    child = Terminal(sys.executable, [str(script)], env=env, encoding="utf-8", timeout=30)
    child.logfile_read = io.StringIO()  # everything the terminal showed
    return child


def terminal_output(child: Terminal) -> str:
    assert isinstance(child.logfile_read, io.StringIO)
    return child.logfile_read.getvalue()


def test_first_use_on_a_terminal_asks_once_and_stores(
        linkahead_server: LinkAheadTestServer, keyring_env: dict[str, str], tmp_path: Path) -> None:
    password = linkahead_server.users["admin"]
    env = {**keyring_env, "PYTHON_KEYRING_BACKEND": PLAINTEXT, "LA_URL": linkahead_server.url, "LA_DEBUG": "1"}
    child = spawn_login(env, tmp_path)
    try:
        child.expect(f"Password for admin at {linkahead_server.url} \\(will be stored in the keyring\\): ")
        child.sendline(password)
        child.expect("LOGGED-IN")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert password not in terminal_output(child)  # not echoed, not logged
    assert stored_in_file(keyring_env, LEGACY_PREFIX + linkahead_server.url, "admin") == password
    assert linkahead_server.counters.logins == 1

    # The next run finds it: no prompt, stdin not even a terminal.
    result = run_python(LOGIN_SCRIPT, env)
    assert "LOGGED-IN" in result.stdout, result.stdout + result.stderr


def test_wrong_stored_password_fixed_on_a_terminal_is_stored(
        linkahead_server: LinkAheadTestServer, keyring_env: dict[str, str], tmp_path: Path) -> None:
    service = LEGACY_PREFIX + linkahead_server.url
    env = {**keyring_env, "PYTHON_KEYRING_BACKEND": PLAINTEXT, "LA_URL": linkahead_server.url, "LA_DEBUG": "1"}
    seeded = run_python("import keyring, sys; keyring.set_password(*sys.argv[1:])", env,
                        args=(service, "admin", "stale-Pa55word"))
    assert seeded.returncode == 0, seeded.stderr
    password = linkahead_server.users["admin"]

    child = spawn_login(env, tmp_path)
    try:
        child.expect(f"The server rejected the stored password. Password for admin at "
                     f"{linkahead_server.url} \\(replaces the stored one\\): ")
        child.sendline(password)
        child.expect("LOGGED-IN")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)

    assert child.exitstatus == 0
    assert password not in terminal_output(child)
    assert stored_in_file(keyring_env, service, "admin") == password
    assert linkahead_server.counters.failed_logins == 1
    assert linkahead_server.counters.logins == 1


# -- the command -----------------------------------------------------------------------------------


def write_ini(url: str, extra: str = "") -> None:
    # The working directory is a fresh temporary folder (tests/conftest.py).
    Path("pylinkahead.ini").write_text(
        f"[Connection]\nurl = {url}\nusername = admin\npassword_method = keyring\n{extra}"
        "[Misc]\nsomething = else\n"
    )


def test_command_set_show_delete_from_configuration(
        linkahead_server: LinkAheadTestServer, file_keyring: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    write_ini(linkahead_server.url)
    password = linkahead_server.users["admin"]
    service = LEGACY_PREFIX + linkahead_server.url

    assert keyring_cli(["show-service"]) == 0
    assert capsys.readouterr().out == service + "\n"

    assert keyring_cli(["set", "--stdin"], stdin=io.StringIO(password + "\n")) == 0
    out = capsys.readouterr().out
    assert out == f"Stored the password of 'admin' under service '{service}' in the keyring backend {PLAINTEXT}.\n"
    assert keyring.get_password(service, "admin") == password

    assert keyring_cli(["show-service", "-v"]) == 0
    assert capsys.readouterr().out == f"{service}\nusername: admin\nbackend:  {PLAINTEXT}\nstored:   yes\n"

    linkahead.configure_connection().retrieve(["Info"])  # everything from the ini file
    assert linkahead_server.counters.logins == 1

    assert keyring_cli(["delete"]) == 0
    assert "Deleted the password of 'admin'" in capsys.readouterr().out
    assert keyring.get_password(service, "admin") is None
    assert keyring_cli(["delete"]) == 0
    assert "nothing to delete" in capsys.readouterr().out


def test_command_as_a_process_never_prints_the_password(
        linkahead_server: LinkAheadTestServer, keyring_env: dict[str, str]) -> None:
    env = {**keyring_env, "PYTHON_KEYRING_BACKEND": PLAINTEXT}
    password = linkahead_server.users["admin"]
    command = [sys.executable, "-m", "linkahead_auth_keyring", "set", "--url", linkahead_server.url,
               "--username", "admin"]

    refused = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=SUBPROCESS_TIMEOUT)
    assert refused.returncode == 1
    assert "error: Standard input is not a terminal, so the password cannot be asked for. Pass --stdin" \
           in refused.stderr

    stored = subprocess.run([*command, "--stdin"], env=env, input=password + "\n", capture_output=True,
                            text=True, timeout=SUBPROCESS_TIMEOUT)
    assert stored.returncode == 0, stored.stderr
    assert password not in stored.stdout + stored.stderr
    assert stored_in_file(keyring_env, service_name(linkahead_server.url), "admin") == password


def test_command_errors_without_url_or_username(file_keyring: dict[str, str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert keyring_cli(["show-service"]) == 1
    assert "error: No url: pass --url, or set 'url = ...'" in capsys.readouterr().err
    assert keyring_cli(["delete", "--url", "http://127.0.0.1:9/"]) == 1
    assert "error: No user name: pass --username" in capsys.readouterr().err
    assert keyring_cli(["show-service", "--url", "ftp://h/"]) == 1
    assert "has no http:// or https:// scheme" in capsys.readouterr().err


def test_command_honours_keyring_service_from_the_ini(
        linkahead_server: LinkAheadTestServer, file_keyring: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    write_ini(linkahead_server.url, "keyring_service = team-linkahead\n")
    assert keyring_cli(["set", "--stdin"], stdin=io.StringIO(linkahead_server.users["admin"])) == 0
    assert keyring.get_password("team-linkahead", "admin") == linkahead_server.users["admin"]
    linkahead.configure_connection().retrieve(["Info"])
    assert linkahead_server.counters.logins == 1


# -- forget and demo -------------------------------------------------------------------------------


def test_logout_keeps_the_password_unless_asked_to_delete_it(
        linkahead_server: LinkAheadTestServer, file_keyring: dict[str, str]) -> None:
    service = service_name(linkahead_server.url)
    store_password(linkahead_server.url, "admin", linkahead_server.users["admin"])
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                                password_method="keyring")
    connection.method.forget(connection.config)
    assert keyring.get_password(service, "admin") == linkahead_server.users["admin"]

    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                                password_method="keyring", keyring_delete_on_logout=True)
    connection.method.forget(connection.config)
    assert keyring.get_password(service, "admin") is None
    assert delete_password(linkahead_server.url, "admin") is False


def test_demo_config_uses_a_keyring_file_in_the_workdir(
        linkahead_server: LinkAheadTestServer, file_keyring: dict[str, str], tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    workdir.mkdir()
    answer = demo_config(server=linkahead_server, workdir=workdir)
    assert answer == {"username": "admin"}
    kept = configparser.ConfigParser()
    kept.read(workdir / "keyring_pass.cfg")
    assert kept.sections()  # the demo's own file, not the user's keyring
    linkahead.configure_connection(url=linkahead_server.url, password_method="keyring", **answer).retrieve(["Info"])
    assert linkahead_server.counters.logins == 1
    assert not keyring_file(file_keyring).exists()


def test_linkahead_auth_logout_deletes_only_when_configured(
        linkahead_server: LinkAheadTestServer, keyring_env: dict[str, str]) -> None:
    env = {**keyring_env, "PYTHON_KEYRING_BACKEND": PLAINTEXT}
    service = service_name(linkahead_server.url)
    cli = str(Path(sys.executable).with_name("linkahead-auth"))
    seeded = run_python("import keyring, sys; keyring.set_password(*sys.argv[1:])", env,
                        args=(service, "admin", linkahead_server.users["admin"]))
    assert seeded.returncode == 0, seeded.stderr

    write_ini(linkahead_server.url)
    for command in ("login", "logout"):
        done = subprocess.run([cli, command], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=SUBPROCESS_TIMEOUT)
        assert done.returncode == 0, done.stdout + done.stderr
    assert stored_in_file(keyring_env, service, "admin") == linkahead_server.users["admin"]

    write_ini(linkahead_server.url, "keyring_delete_on_logout = true\n")
    done = subprocess.run([cli, "logout"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stored_in_file(keyring_env, service, "admin") is None
    assert linkahead_server.counters.logins == 1
