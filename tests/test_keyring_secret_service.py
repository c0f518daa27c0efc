"""password_method 'keyring' against a real Secret Service: gnome-keyring-daemon on a private D-Bus.

Each daemon pair (dbus-daemon with a minimal configuration that activates nothing, and
gnome-keyring-daemon unlocked with a password on stdin) runs in its own process group with
HOME, XDG_* folders and XDG_RUNTIME_DIR in a temporary folder, and is killed at teardown. When the
daemons cannot be started here the tests skip with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.core
import linkahead
import pytest
from linkahead.exceptions import LoginFailedError
from linkahead.testing import LinkAheadTestServer
from linkahead_auth_keyring import get_password, service_name, store_password

SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
LEGACY_PREFIX = "linkahead \u2014 "
START_TIMEOUT = 15.0
SUBPROCESS_TIMEOUT = 60

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={socket_dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

LOGIN_SCRIPT = """
import os, sys
import linkahead
from linkahead.exceptions import LinkAheadException
try:
    connection = linkahead.configure_connection(url=os.environ["LA_URL"], username="admin",
                                                password_method="keyring", debug=True)
    data = connection.retrieve(["Info"]).read().decode()
except LinkAheadException as error:
    print("ERROR", type(error).__name__, error, flush=True)
    sys.exit(3)
print("LOGGED-IN" if 'username="admin"' in data else "UNEXPECTED " + data, flush=True)
"""


@dataclass
class SecretService:
    """A running private session bus with an unlocked gnome-keyring Secret Service."""

    env: dict[str, str]
    bus: subprocess.Popen[bytes]
    daemon: subprocess.Popen[bytes]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGCONT)  # a stopped group ignores SIGTERM until continued
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _read_address(bus: subprocess.Popen[bytes], deadline: float) -> str:
    # dbus-daemon prints its address once it listens: that line is the readiness signal.
    assert bus.stdout is not None
    os.set_blocking(bus.stdout.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline:
        chunk = bus.stdout.read() or b""
        buffer += chunk
        if b"\n" in buffer:
            return buffer.split(b"\n", 1)[0].decode()
        if bus.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError(f"dbus-daemon printed no address (exit status {bus.poll()})")


def _wait_for_secrets_name(address: str, daemon: subprocess.Popen[bytes], deadline: float) -> None:
    # NameHasOwner does not activate anything; it only says whether the daemon registered yet.
    from jeepney.bus_messages import message_bus  # jeepney ships no types
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=address) as connection:
        while time.monotonic() < deadline:
            reply = connection.send_and_get_reply(message_bus.NameHasOwner("org.freedesktop.secrets"), timeout=5)
            if reply.body[0]:
                return
            if daemon.poll() is not None:
                raise RuntimeError(f"gnome-keyring-daemon exited with status {daemon.returncode}")
            time.sleep(0.02)
    raise RuntimeError(f"gnome-keyring-daemon did not register org.freedesktop.secrets within {START_TIMEOUT} s")


@contextlib.contextmanager
def secret_service() -> Iterator[SecretService]:
    """Start the daemons (or skip the test with the reason); kill them afterwards."""
    missing = [tool for tool in ("dbus-daemon", "gnome-keyring-daemon") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"Secret Service tests need {' and '.join(missing)} (Debian: dbus, gnome-keyring)")
    # A short path: the bus socket lives here and unix socket paths are limited to ~100 bytes.
    root = Path(tempfile.mkdtemp(prefix="la-ss-"))
    runtime = root / "run"
    runtime.mkdir(mode=0o700)
    (root / "bus.conf").write_text(BUS_CONFIG.format(socket_dir=runtime))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON_KEYRING", "KEYRING_PROPERTY", "DBUS_", "GNOME_KEYRING"))}
    env.update(HOME=str(root / "home"), XDG_DATA_HOME=str(root / "data"), XDG_CONFIG_HOME=str(root / "config"),
               XDG_CACHE_HOME=str(root / "cache"), XDG_RUNTIME_DIR=str(runtime))
    started: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        bus = subprocess.Popen(["dbus-daemon", f"--config-file={root / 'bus.conf'}", "--nofork", "--print-address=1"],
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(bus)
        env["DBUS_SESSION_BUS_ADDRESS"] = _read_address(bus, deadline)
        daemon = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                                  env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(daemon)
        assert daemon.stdin is not None
        daemon.stdin.write(b"login-keyring-Pa55")  # the new login keyring's password
        daemon.stdin.close()
        _wait_for_secrets_name(env["DBUS_SESSION_BUS_ADDRESS"], daemon, deadline)
    except (OSError, RuntimeError) as error:
        for process in reversed(started):
            _kill_group(process)
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot start a private Secret Service: {error}")
    try:
        yield SecretService(env=env, bus=bus, daemon=daemon)
    finally:
        for process in reversed(started):
            _kill_group(process)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def service_env() -> Iterator[dict[str, str]]:
    """Environment for processes using the private Secret Service through PYTHON_KEYRING_BACKEND."""
    with secret_service() as running:
        yield {**running.env, "PYTHON_KEYRING_BACKEND": SECRET_SERVICE}


@pytest.fixture
def in_process(service_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """This process uses the private Secret Service (keyring's own detection re-run)."""
    with pytest.MonkeyPatch.context() as patch:
        for key in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND", "XDG_RUNTIME_DIR"):
            patch.setenv(key, service_env[key])
        patch.setattr(sys, "stdin", open(os.devnull))  # no terminal, even under `pytest -s`
        keyring.core.init_backend()
        assert type(keyring.get_keyring()).__module__ == "keyring.backends.SecretService"
        try:
            yield service_env
        finally:
            sys.stdin.close()
    keyring.core.init_backend()


def run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)


def test_password_stored_by_secret_tool_under_legacy_name_logs_in(
        linkahead_server: LinkAheadTestServer, service_env: dict[str, str]) -> None:
    if shutil.which("secret-tool") is None:
        pytest.skip("needs secret-tool (Debian: libsecret-tools)")
    password = linkahead_server.users["admin"]
    # libsecret's own tool, not Python keyring: the attributes are what keyring (and the legacy client) use.
    stored = run(["secret-tool", "store", "--label=LinkAhead", "service", LEGACY_PREFIX + linkahead_server.url,
                  "username", "admin"], service_env, stdin=password)
    assert stored.returncode == 0, stored.stderr

    result = run([sys.executable, "-c", LOGIN_SCRIPT], {**service_env, "LA_URL": linkahead_server.url})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOGGED-IN" in result.stdout
    assert password not in result.stdout + result.stderr  # DEBUG logging was on
    assert linkahead_server.counters.logins == 1


def test_command_stores_where_secret_tool_finds_it(
        linkahead_server: LinkAheadTestServer, service_env: dict[str, str]) -> None:
    password = linkahead_server.users["admin"]
    stored = run([sys.executable, "-m", "linkahead_auth_keyring", "set", "--stdin", "--url", linkahead_server.url,
                  "--username", "admin"], service_env, stdin=password + "\n")
    assert stored.returncode == 0, stored.stderr
    assert f"in the keyring backend {SECRET_SERVICE}." in stored.stdout
    if shutil.which("secret-tool"):
        found = run(["secret-tool", "lookup", "service", service_name(linkahead_server.url), "username", "admin"],
                    service_env)
        assert found.stdout == password

    result = run([sys.executable, "-c", LOGIN_SCRIPT], {**service_env, "LA_URL": linkahead_server.url})
    assert "LOGGED-IN" in result.stdout, result.stdout + result.stderr


def test_nothing_stored_without_terminal(linkahead_server: LinkAheadTestServer,
                                         in_process: dict[str, str]) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin", password_method="keyring")
    with pytest.raises(LoginFailedError) as caught:
        connection.retrieve(["Info"])
    assert (f"No password is stored in the keyring for user 'admin' (service "
            f"'{service_name(linkahead_server.url)}', backend {SECRET_SERVICE})") in str(caught.value)
    assert linkahead_server.counters.requests == 0


def test_rejected_password_is_replaced_only_by_the_user(
        linkahead_server: LinkAheadTestServer, in_process: dict[str, str]) -> None:
    store_password(linkahead_server.url, "admin", "stale-Pa55word")
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin", password_method="keyring")
    with pytest.raises(LoginFailedError, match="the entry was left unchanged"):
        connection.retrieve(["Info"])
    assert get_password(linkahead_server.url, "admin") == "stale-Pa55word"

    store_password(linkahead_server.url, "admin", linkahead_server.users["admin"])
    linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                   password_method="keyring").retrieve(["Info"])
    assert linkahead_server.counters.failed_logins == 1
    assert linkahead_server.counters.logins == 1


def test_locked_collection_is_a_clear_error(linkahead_server: LinkAheadTestServer,
                                            in_process: dict[str, str]) -> None:
    import secretstorage

    store_password(linkahead_server.url, "admin", linkahead_server.users["admin"])
    bus = secretstorage.dbus_init()
    try:
        secretstorage.get_default_collection(bus).lock()
    finally:
        bus.close()
    # Unlocking needs a prompt; this private bus has no prompter, so gnome-keyring refuses at once.
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin", password_method="keyring")
    with pytest.raises(LoginFailedError) as caught:
        connection.retrieve(["Info"])
    message = str(caught.value)
    assert message.startswith(f"The keyring backend {SECRET_SERVICE} failed while reading the password of user "
                              f"'admin' (service '{service_name(linkahead_server.url)}'): KeyringLocked")
    assert "The keyring is locked. Unlock it" in message
    assert linkahead_server.users["admin"] not in message
    assert linkahead_server.counters.requests == 0


def test_hanging_secret_service_times_out() -> None:
    # A stopped daemon accepts nothing and answers nothing: a real hang, bounded by keyring_timeout.
    with secret_service() as running:
        env = {**running.env, "PYTHON_KEYRING_BACKEND": SECRET_SERVICE}
        warm = run([sys.executable, "-c", "import keyring; keyring.get_password('x', 'y')"], env)
        assert warm.returncode == 0, warm.stderr
        os.kill(running.daemon.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            result = run([sys.executable, "-c", LOGIN_SCRIPT.replace('debug=True', 'keyring_timeout=1')],
                         {**env, "LA_URL": "http://127.0.0.1:9/"})
            elapsed = time.monotonic() - started
        finally:
            os.kill(running.daemon.pid, signal.SIGCONT)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "ERROR LoginFailedError The keyring did not answer within 1 s while reading the password of user " \
           "'admin'" in result.stdout
    assert elapsed < 20


def test_no_session_bus_names_the_backend_and_the_fix(keyring_env_without_bus: dict[str, str]) -> None:
    result = run([sys.executable, "-c", LOGIN_SCRIPT], {**keyring_env_without_bus, "LA_URL": "http://127.0.0.1:9/"})
    assert result.returncode == 3, result.stdout + result.stderr
    assert (f"ERROR LoginFailedError The keyring backend {SECRET_SERVICE} "
            f"(PYTHON_KEYRING_BACKEND='{SECRET_SERVICE}') failed while starting: FileNotFoundError") in result.stdout
    assert "DBUS_SESSION_BUS_ADDRESS" in result.stdout
    assert "gnome-keyring-daemon --start --components=secrets" in result.stdout
    assert "keyrings.alt" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.fixture
def keyring_env_without_bus(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON_KEYRING", "DBUS_"))}
    env.update(HOME=str(Path.home()), XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               PYTHON_KEYRING_BACKEND=SECRET_SERVICE, DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path / 'no-bus'}")
    return env
