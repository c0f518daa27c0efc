"""Security round three (issue 18), the session store: a stored session serves only whoever could log in.

Separate ``_Connection()`` objects stand in for processes (each has its own in-memory session and
shares only the store's folder, as processes do); the cross-process figures are kept by
test_session_store_processes.py. Real logins against the embedded server, real files, FIFOs and
symbolic links.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from linkahead.connection.connection import _Connection
from linkahead.exceptions import LoginFailedError
from linkahead.session_store import InsecureSessionStoreWarning, SessionStore
from linkahead.testing import LinkAheadTestServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the session store needs POSIX")


def connect(server: LinkAheadTestServer, store: Path, **extra: object) -> _Connection:
    options: dict[str, object] = {"url": server.url, "username": "admin", "password": server.users["admin"],
                                  "password_method": "plain", "session_cache": str(store), "timeout": 5,
                                  **extra}
    return _Connection().configure(**options)


def info(connection: _Connection) -> bytes:
    return connection.retrieve(["Info"]).read()


def entries(store: Path) -> list[Path]:
    return sorted(store.glob("*.session"))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


# -- 1. bound to the credential source ---------------------------------------------------------------


def test_a_wrong_password_is_never_served_from_the_store(linkahead_server: LinkAheadTestServer,
                                                         store: Path) -> None:
    info(connect(linkahead_server, store))
    assert linkahead_server.counters.logins == 1
    wrong = connect(linkahead_server, store, password="WRONG-password")
    with pytest.raises(LoginFailedError):
        wrong._login()
    with pytest.raises(LoginFailedError):
        info(wrong)
    assert linkahead_server.counters.failed_logins >= 2
    # The right password still gets the stored session without a login (issue 12's figure).
    info(connect(linkahead_server, store))
    assert linkahead_server.counters.logins == 1
    text = entries(store)[0].read_text()
    assert linkahead_server.users["admin"] not in text and "WRONG" not in text


def test_an_explicit_login_always_asks_the_server(linkahead_server: LinkAheadTestServer, store: Path) -> None:
    info(connect(linkahead_server, store))
    again = connect(linkahead_server, store)
    again._login()
    assert linkahead_server.counters.logins == 2
    again.auth.login()  # linkahead-auth login
    assert linkahead_server.counters.logins == 3


def test_the_binding_is_a_salted_keyed_digest(linkahead_server: LinkAheadTestServer, store: Path) -> None:
    info(connect(linkahead_server, store))
    entry = json.loads(entries(store)[0].read_text())
    assert len(entry["salt"]) == 32 and len(entry["binding"]) == 64
    assert entry["url"] == linkahead_server.url.rstrip("/") + "/" and entry["method"] == "plain"


EXEC_ANSWER = """\
import json, sys
print(json.dumps({"version": 1, "username": sys.argv[1], "password": sys.argv[2]}))
"""


def test_two_exec_commands_without_username_get_their_own_accounts(
        linkahead_server: LinkAheadTestServer, store: Path, tmp_path: Path) -> None:
    pytest.importorskip("linkahead_auth_exec")
    linkahead_server.add_user("other", "other-Pa55word")
    script = tmp_path / "answer.py"
    script.write_text(EXEC_ANSWER)

    def exec_connection(user: str, password: str) -> _Connection:
        return _Connection().configure(url=linkahead_server.url, password_method="exec", session_cache=str(store),
                                       exec_command=[sys.executable, str(script), user, password], timeout=5)

    assert b'username="admin"' in info(exec_connection("admin", linkahead_server.users["admin"]))
    assert b'username="other"' in info(exec_connection("other", "other-Pa55word"))
    assert len(entries(store)) == 2
    assert linkahead_server.counters.logins == 2
    assert b'username="other"' in info(exec_connection("other", "other-Pa55word"))
    assert linkahead_server.counters.logins == 2


def test_entries_check_their_url_user_and_method(linkahead_server: LinkAheadTestServer, store: Path) -> None:
    info(connect(linkahead_server, store))
    path = entries(store)[0]
    entry = json.loads(path.read_text())
    for field, value in (("url", "http://elsewhere.invalid/"), ("username", "mallory"), ("method", "input")):
        changed = dict(entry, **{field: value})
        path.write_text(json.dumps(changed))
        before = linkahead_server.counters.logins
        info(connect(linkahead_server, store))
        assert linkahead_server.counters.logins == before + 1, field


# -- 3. store robustness ---------------------------------------------------------------------------


def run_bounded(function: Callable[[], object], seconds: float) -> None:
    """Run ``function`` in a thread; fail (instead of hanging the suite) when it does not return in time."""
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            function()
            outcome.append(None)
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if outcome[0] is not None:
        raise outcome[0]


@pytest.mark.parametrize("kind", ["fifo", "symlink", "device"])
def test_a_fifo_device_or_symlink_entry_is_ignored_with_a_warning(
        linkahead_server: LinkAheadTestServer, store: Path, tmp_path: Path, kind: str) -> None:
    info(connect(linkahead_server, store))
    path = entries(store)[0]
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "symlink":
        target = tmp_path / "elsewhere"
        target.write_text("{}")
        path.symlink_to(target)
    else:
        try:
            os.mknod(path, 0o600 | 0o020000, os.makedev(1, 3))  # a character device like /dev/null
        except PermissionError:
            pytest.skip("creating a device node needs CAP_MKNOD")
    connection = connect(linkahead_server, store)
    with pytest.warns(InsecureSessionStoreWarning, match=r"(FIFO|symbolic link|device).*rm "):
        run_bounded(lambda: info(connection), 10)
    report: dict[str, object] = {}
    run_bounded(lambda: report.update(connect(linkahead_server, store).auth.shared_session()), 10)
    assert report["refused"] and "rm " in str(report["refused"])
    with pytest.warns(InsecureSessionStoreWarning):
        run_bounded(lambda: connect(linkahead_server, store).auth.logout(), 10)


def test_a_future_issued_at_does_not_lock_the_entry_and_login_replaces_it(
        linkahead_server: LinkAheadTestServer, store: Path) -> None:
    connection = connect(linkahead_server, store)
    info(connection)
    path = entries(store)[0]
    entry = json.loads(path.read_text())
    future = dict(entry, issued_ms=entry["issued_ms"] + 10 * 365 * 86400 * 1000, session_id="planted",
                  token=linkahead_server.make_token("admin"))
    path.write_text(json.dumps(future))
    connect(linkahead_server, store).auth.login()
    stored = json.loads(path.read_text())
    assert stored["session_id"] != "planted" and stored["issued_ms"] < future["issued_ms"]
    assert connect(linkahead_server, store).auth.shared_session()["exists"] is True


def test_logout_is_not_undone_by_renewals_of_running_processes(linkahead_server: LinkAheadTestServer,
                                                               store: Path) -> None:
    running = connect(linkahead_server, store)
    info(running)
    connect(linkahead_server, store).auth.logout()
    assert entries(store) == []
    running.auth._published = float("-inf")  # make the next renewal due at once
    for _ in range(3):
        info(running)
    assert entries(store) == []
    # A new login afterwards is not replaced by the old session's renewals either.
    fresh = connect(linkahead_server, store)
    fresh.auth.login()
    fresh_id = json.loads(entries(store)[0].read_text())["session_id"]
    running.auth._published = float("-inf")
    info(running)
    assert json.loads(entries(store)[0].read_text())["session_id"] == fresh_id


SKEWED_WRITER = """\
import sys, time
real = time.time
time.time = lambda: real() - 3600.0   # this process's clock is an hour behind
from linkahead.connection.connection import _Connection
c = _Connection().configure(url=sys.argv[1], username="admin", password=sys.argv[2], password_method="plain",
                            session_cache=sys.argv[3], timeout=5)
c.retrieve(["Info"]).read()
"""


def test_a_writer_with_a_skewed_clock_does_not_end_the_session_for_the_others(
        linkahead_server: LinkAheadTestServer, store: Path) -> None:
    # A process's clock cannot be skewed for real without CAP_SYS_TIME for the whole machine (and
    # the other tests): the child replaces time.time, which is what a skewed clock looks like to it.
    subprocess.run([sys.executable, "-c", SKEWED_WRITER, linkahead_server.url, linkahead_server.users["admin"],
                    str(store)], check=True, timeout=60)
    assert linkahead_server.counters.logins == 1
    info(connect(linkahead_server, store))
    assert linkahead_server.counters.logins == 1


def test_a_stored_token_with_non_latin1_characters_is_refused_when_read(
        linkahead_server: LinkAheadTestServer, store: Path) -> None:
    info(connect(linkahead_server, store))
    path = entries(store)[0]
    entry = json.loads(path.read_text())
    path.write_text(json.dumps(dict(entry, token=entry["token"] + "\u20ac")))
    assert SessionStore(str(store), explicit=True).read(path.name[:-len(".session")]) is None
    info(connect(linkahead_server, store))  # logs in once instead of failing every request
    assert linkahead_server.counters.logins == 2


FULL_DISK_WRITER = """\
import json, os, resource, signal, sys
from linkahead.session_store import SessionStore, StoredSession
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))  # no file may grow beyond 64 bytes: a full disk
store = SessionStore(sys.argv[1], explicit=True)
entry = StoredSession.make("http://h/", "u", "plain", "t" * 400, 4e9)
try:
    store.write("k" * 40, entry, force=True)
except OSError as error:
    print(error.errno)
"""


def test_a_full_disk_leaves_no_temporary_file(store: Path) -> None:
    # RLIMIT_FSIZE makes every write beyond 64 bytes fail (EFBIG) in the child, as a full disk
    # fails it with ENOSPC; filling a real file system would need a mount (root) or fill /tmp.
    store.mkdir(mode=0o700)
    result = subprocess.run([sys.executable, "-c", FULL_DISK_WRITER, str(store)], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip().isdigit()
    assert sorted(p.name for p in store.iterdir()) == []


def test_waiting_for_the_lock_is_bounded_by_the_request_deadline_and_says_who_holds_it(
        linkahead_server: LinkAheadTestServer, store: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = connect(linkahead_server, store)
    key = first.auth._store_key
    holder = SessionStore(str(store), explicit=True)
    with holder.lock(key) as lock:
        assert lock.try_acquire()
        caplog.set_level(logging.INFO, logger="linkahead.connection")
        started = time.monotonic()
        info(connect(linkahead_server, store, timeout=1.5))  # request deadline: 1.5 + 1.5 s
        waited = time.monotonic() - started
    assert 2.0 <= waited < 5.0, waited
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(f"process {os.getpid()}" in m and "Waiting for the session store's lock" in m for m in messages)


def test_the_lock_is_not_held_while_the_password_method_asks(linkahead_server: LinkAheadTestServer,
                                                             store: Path) -> None:
    """A method that waits (a person typing) must not hold the store's lock meanwhile."""
    asked = threading.Event()
    release = threading.Event()
    holds: list[bool] = []

    class Slow:
        from linkahead.hookspecs import hookimpl

        @hookimpl
        def get_credentials(self, config: object) -> object:
            from linkahead import PasswordCredentials

            key = connection.auth._store_key
            with SessionStore(str(store), explicit=True).lock(key) as probe:
                holds.append(not probe.try_acquire())
            asked.set()
            release.wait(10)
            return PasswordCredentials("admin", linkahead_server.users["admin"])

    connection = _Connection().configure(url=linkahead_server.url, username="admin", password_method=Slow(),
                                         session_cache=str(store), timeout=5)
    worker = threading.Thread(target=lambda: info(connection), daemon=True)
    worker.start()
    assert asked.wait(10)
    release.set()
    worker.join(10)
    assert holds == [False]
    assert entries(store)


@pytest.mark.parametrize("explicit", [False, True])
def test_a_refused_login_asks_for_a_better_password_without_the_lock(
        linkahead_server: LinkAheadTestServer, store: Path, explicit: bool) -> None:
    """input's refresh after a wrong password prompts again: the store's lock must not be held then."""
    holds: list[bool] = []

    class Retyped:
        from linkahead.hookspecs import hookimpl

        @hookimpl
        def get_credentials(self, config: object) -> object:
            from linkahead import PasswordCredentials

            return PasswordCredentials("admin", "mistyped-password")

        @hookimpl
        def refresh(self, config: object, credentials: object, reason: str) -> object:
            from linkahead import PasswordCredentials

            with SessionStore(str(store), explicit=True).lock(connection.auth._store_key) as probe:
                holds.append(not probe.try_acquire())
            return PasswordCredentials("admin", linkahead_server.users["admin"])

    connection = _Connection().configure(url=linkahead_server.url, username="admin", password_method=Retyped(),
                                         session_cache=str(store), timeout=5)
    if explicit:
        connection.auth.login()
    else:
        info(connection)
    assert holds == [False]
    assert linkahead_server.counters.failed_logins == 1 and linkahead_server.counters.logins == 1
    assert entries(store)
