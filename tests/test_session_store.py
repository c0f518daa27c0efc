"""The session store in one process: what is written where, refusals, renewals, logout, isolation.

Separate connection objects (``_Connection()``) stand in for processes here: each has its own
in-memory session, exactly as two processes would, and shares only the store's folder. The
tests with real separate processes are in test_session_store_processes.py.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
import warnings
from pathlib import Path

import linkahead
import pytest
from linkahead import session_store
from linkahead.connection.connection import _Connection
from linkahead.exceptions import ConfigurationError
from linkahead.session_store import InsecureSessionStoreWarning, SessionStore, StoredSession, key_name
from linkahead.testing import LinkAheadTestServer

NOBODY = 65534


def connection(server: LinkAheadTestServer, store: Path | str, **extra: object) -> _Connection:
    options: dict[str, object] = {"url": server.url, "username": "admin", "password": server.users["admin"],
                                  "password_method": "plain", "session_cache": str(store), **extra}
    return _Connection().configure(**options)


def info(connection: _Connection) -> bytes:
    return connection.retrieve(["Info"]).read()


def session_file(store: Path) -> Path:
    files = sorted(store.glob("*.session"))
    assert len(files) == 1, files
    return files[0]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


# -- what is stored, where -----------------------------------------------------------------------


def test_the_first_login_is_stored_privately_and_the_next_connection_uses_it(
        linkahead_server: LinkAheadTestServer, store: Path) -> None:
    first = connection(linkahead_server, store)
    assert b'username="admin"' in info(first)
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    path = session_file(store)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = json.loads(path.read_text())
    assert set(entry) == {"format", "url", "username", "method", "token", "expires_at", "issued_ms", "user",
                          "realm", "source", "salt", "binding", "session_id", "expires_in"}
    assert entry["user"] == "admin" and entry["realm"] == "PAM" and entry["method"] == "plain"
    assert linkahead_server.users["admin"] not in path.read_text()  # never a password
    second = connection(linkahead_server, store)
    assert b'username="admin"' in info(second)
    assert linkahead_server.counters.logins == 1


def test_entries_are_keyed_by_url_user_and_method(linkahead_server: LinkAheadTestServer, store: Path) -> None:
    linkahead_server.add_user("other", "other-Pa55")
    info(connection(linkahead_server, store))
    info(connection(linkahead_server, store, username="other", password="other-Pa55"))
    assert linkahead_server.counters.logins == 2
    with LinkAheadTestServer() as second_server:
        info(connection(second_server, store))
        assert second_server.counters.logins == 1
    assert len(list(store.glob("*.session"))) == 3
    assert key_name("http://h/", "u", "plain") == key_name("http://h", "u", "plain")
    assert key_name("http://h/", "u", "plain") != key_name("http://h/", "u", "pass")


def test_a_stored_session_that_the_server_rejects_costs_one_login_for_everybody(
        linkahead_server: LinkAheadTestServer, store: Path) -> None:
    first, second = connection(linkahead_server, store), connection(linkahead_server, store)
    info(first)
    info(second)
    linkahead_server.restart()
    linkahead_server.reset_counters()
    info(second)  # 401, nothing newer stored: logs in and stores the new session
    info(first)   # 401, a newer session is stored: checked with the server and adopted
    third = connection(linkahead_server, store)
    info(third)
    assert linkahead_server.counters.logins == 1
    assert first.auth.state.token is not None


def test_a_newer_stored_session_from_before_a_restart_is_checked_not_trusted(
        linkahead_server: LinkAheadTestServer, store: Path) -> None:
    first, second = connection(linkahead_server, store), connection(linkahead_server, store)
    info(first)
    info(second)
    time.sleep(0.002)  # let the clock tick so the renewal is strictly newer (a clock tick, not a wait)
    second.auth._publish(second.auth.state)  # second's renewal is now the stored one
    linkahead_server.restart()
    linkahead_server.reset_counters()
    info(first)  # the stored session is newer than first's, but dead too: one login, no error
    assert linkahead_server.counters.logins == 1
    assert linkahead_server.counters.rejected == 2  # first's request, and one check of the stored session


def test_renewals_are_written_back_newest_wins(store: Path) -> None:
    with LinkAheadTestServer(session_timeout=2.0) as server:
        first = connection(server, store)
        info(first)
        stored = json.loads(session_file(store).read_text())
        time.sleep(0.3)  # longer than the write-back margin (a tenth of 2 s): the scenario is time passing
        info(first)
        renewed = json.loads(session_file(store).read_text())
        assert renewed["issued_ms"] > stored["issued_ms"]
        assert renewed["expires_at"] > stored["expires_at"]
        # An older token is never written over a newer one.
        old = StoredSession(**{key: stored[key] for key in StoredSession._fields})
        SessionStore(str(store), explicit=True).write(session_file(store).stem, old)
        assert json.loads(session_file(store).read_text())["issued_ms"] == renewed["issued_ms"]


def test_an_expired_stored_session_is_not_used(store: Path) -> None:
    with LinkAheadTestServer(session_timeout=1.0) as server:
        info(connection(server, store))
        entry = json.loads(session_file(store).read_text())
        entry["expires_at"], entry["expires_in"] = time.time() - 1, -1.0
        session_file(store).write_text(json.dumps(entry))
        info(connection(server, store))
        assert server.counters.logins == 2


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"format": 99}', b"\xff" * 70000,
                                     b'{"format": 1, "url": 1}'])
def test_a_garbled_entry_is_as_if_nothing_were_stored(linkahead_server: LinkAheadTestServer, store: Path,
                                                      content: bytes) -> None:
    info(connection(linkahead_server, store))
    session_file(store).write_bytes(content)
    assert b'username="admin"' in info(connection(linkahead_server, store))
    assert linkahead_server.counters.logins == 2


# -- logout -------------------------------------------------------------------------------------


def test_logout_ends_the_stored_session_for_every_later_process(linkahead_server: LinkAheadTestServer,
                                                               store: Path) -> None:
    info(connection(linkahead_server, store))
    fresh = connection(linkahead_server, store)  # holds nothing in memory yet
    assert fresh.auth.logout() is True
    assert linkahead_server.counters.logouts == 1
    assert list(store.glob("*.session")) == []
    info(connection(linkahead_server, store))
    assert linkahead_server.counters.logins == 2


def test_a_running_process_does_not_bring_back_a_session_removed_by_logout(store: Path) -> None:
    with LinkAheadTestServer(session_timeout=2.0) as server:
        running = connection(server, store)
        info(running)
        assert connection(server, store).auth.logout() is True
        time.sleep(0.3)  # past the write-back margin, so the next renewal would be written back
        info(running)  # still works (the server does not revoke the token) ...
        assert list(store.glob("*.session")) == []  # ... but is not stored again
        info(connection(server, store))
        assert server.counters.logins == 2


# -- refusals, like ssh ---------------------------------------------------------------------------


def refused(server: LinkAheadTestServer, store: Path) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert b'username="admin"' in info(connection(server, store))
    messages = [str(w.message) for w in caught if issubclass(w.category, InsecureSessionStoreWarning)]
    assert len(messages) == 1, messages
    return messages[0]


def test_a_folder_others_can_read_is_refused_and_nothing_is_read(linkahead_server: LinkAheadTestServer,
                                                                 store: Path) -> None:
    info(connection(linkahead_server, store))
    store.chmod(0o755)
    message = refused(linkahead_server, store)
    assert f"Permissions 0755 for the session store folder {store} are too open" in message
    assert f"chmod 700 {store}" in message
    assert linkahead_server.counters.logins == 2  # the stored session was not used


def test_a_file_others_can_read_is_refused(linkahead_server: LinkAheadTestServer, store: Path) -> None:
    info(connection(linkahead_server, store))
    path = session_file(store)
    path.chmod(0o640)
    message = refused(linkahead_server, store)
    assert f"Permissions 0640 for the session store file {path} are too open" in message
    assert f"chmod 600 {path}" in message
    assert linkahead_server.counters.logins == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("what", ["folder", "file"])
def test_a_store_of_another_user_is_refused(linkahead_server: LinkAheadTestServer, store: Path, what: str) -> None:
    info(connection(linkahead_server, store))
    path = store if what == "folder" else session_file(store)
    os.chown(path, NOBODY, NOBODY)
    message = refused(linkahead_server, store)
    assert f"The session store {what} {path} belongs to user id {NOBODY}, not to you (0)" in message
    assert linkahead_server.counters.logins == 2


def test_a_symbolic_link_in_the_store_is_refused(linkahead_server: LinkAheadTestServer, store: Path,
                                                 tmp_path: Path) -> None:
    info(connection(linkahead_server, store))
    path = session_file(store)
    elsewhere = tmp_path / "elsewhere"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    message = refused(linkahead_server, store)
    assert "is a symbolic link" in message
    assert linkahead_server.counters.logins == 2


# -- turning it off, defaults, a store that cannot be used ----------------------------------------


@pytest.mark.parametrize("off", ["none", "off", "false", None])
def test_session_cache_none_stores_nothing(linkahead_server: LinkAheadTestServer, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, off: str | None) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    for _ in range(2):
        info(_Connection().configure(url=linkahead_server.url, username="admin",
                                     password=linkahead_server.users["admin"], session_cache=off))
    assert linkahead_server.counters.logins == 2
    assert list(runtime.iterdir()) == []


def test_auto_uses_the_runtime_folder(linkahead_server: LinkAheadTestServer, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKAHEAD_SESSION_CACHE")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", session_store.InsecureSessionStoreWarning)
        for _ in range(2):
            first = _Connection().configure(url=linkahead_server.url, username="admin",
                                            password=linkahead_server.users["admin"])
            info(first)
    # A runtime folder on disk (this test's is) is used, with a warning that says so.
    on_disk = [w for w in caught if issubclass(w.category, session_store.InsecureSessionStoreWarning)]
    assert bool(on_disk) == (session_store.in_memory(str(runtime)) is False), [str(w.message) for w in caught]
    assert first.config["session_cache"] == "auto"
    assert linkahead_server.counters.logins == 1
    assert len(list((runtime / "linkahead-sessions").glob("*.session"))) == 1


@pytest.mark.parametrize("runtime_mode", [None, 0o755])
def test_auto_without_a_private_runtime_folder_uses_the_per_user_folder_in_the_temporary_directory(
        linkahead_server: LinkAheadTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        runtime_mode: int | None) -> None:
    # Issue 20: root shells, containers, su, SSH and CI have no $XDG_RUNTIME_DIR; the store then
    # lives where tmux and ssh-agent keep theirs (the isolation fixture points TMPDIR at a
    # private folder of this test).
    monkeypatch.delenv("LINKAHEAD_SESSION_CACHE")
    if runtime_mode is not None:
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=runtime_mode)
        runtime.chmod(runtime_mode)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    for _ in range(2):
        info(_Connection().configure(url=linkahead_server.url, username="admin",
                                     password=linkahead_server.users["admin"]))
    assert linkahead_server.counters.logins == 1
    folder = Path(os.environ["TMPDIR"]) / f"linkahead-sessions-{os.geteuid()}"
    assert len(list(folder.glob("*.session"))) == 1
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_store_that_cannot_be_created_works_as_today_with_one_debug_line(
        linkahead_server: LinkAheadTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    caplog.set_level(logging.DEBUG, logger="linkahead")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = connection(linkahead_server, blocker / "sessions")
        for _ in range(3):
            info(one)
    assert linkahead_server.counters.logins == 1
    lines = [r.getMessage() for r in caplog.records if "Not using the session store" in r.getMessage()]
    assert len(lines) == 1
    assert "cannot be used" in lines[0]


def test_methods_that_never_log_in_do_not_look_at_the_store(linkahead_server: LinkAheadTestServer,
                                                            store: Path) -> None:
    token = linkahead_server.make_token("admin")
    info(_Connection().configure(url=linkahead_server.url, auth_token=token, session_cache=str(store)))
    assert not store.exists()


@pytest.mark.parametrize("value", [["a"], 3, "a\nb", "relative/sessions"])
def test_bad_session_cache_values_are_clear_errors(linkahead_server: LinkAheadTestServer, value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        linkahead.configure_connection(url=linkahead_server.url, username="admin", password="x",
                                       session_cache=value)
    assert "session_cache" in str(caught.value)


def test_session_cache_from_the_ini_file(linkahead_server: LinkAheadTestServer, store: Path,
                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ini = tmp_path / "pylinkahead.ini"
    ini.write_text(f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = plain\n"
                   f"password = {linkahead_server.users['admin']}\nsession_cache = {store}\n")
    monkeypatch.setenv("PYLINKAHEADINI", str(ini))
    for _ in range(2):
        info(_Connection().configure())
    assert linkahead_server.counters.logins == 1
    assert session_file(store).exists()


# -- no token anywhere ---------------------------------------------------------------------------


def test_the_stored_token_appears_in_no_log_record_or_repr(linkahead_server: LinkAheadTestServer, store: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="linkahead")
    first = connection(linkahead_server, store, debug=True)
    info(first)
    second = connection(linkahead_server, store, debug=True)
    info(second)
    linkahead_server.restart()
    info(first)
    info(second)
    token = json.loads(session_file(store).read_text())["token"]
    entry = SessionStore(str(store), explicit=True).read(session_file(store).stem)
    assert entry is not None and entry.token == token
    shown = "\n".join([caplog.text, repr(entry), str(entry), repr(second.auth.state),
                       repr(second.auth.shared_session()), repr(second.config)])
    for secret in {token, first.auth.state.token or "", second.auth.state.token or ""} - {""}:
        assert secret not in shown
        assert secret[-40:] not in shown
    assert "Using the session from the session store" in caplog.text


# -- pass: no decryption for a process that finds a stored session ---------------------------------


def test_a_pass_user_decrypts_once_for_many_processes(linkahead_server: LinkAheadTestServer, store: Path,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    if not (shutil.which("gpg") or shutil.which("gpg2")):
        pytest.skip("gpg is not installed")
    from linkahead_auth_pass.demo import prepare_demo_store

    for name in ("GNUPGHOME", "PASSWORD_STORE_DIR"):
        monkeypatch.delenv(name, raising=False)  # monkeypatch restores what the demo store sets
    gpg = shutil.which("gpg2") or shutil.which("gpg")
    assert gpg is not None
    options = prepare_demo_store(gpg, linkahead_server.users["admin"], tmp_path / "pass")
    monkeypatch.setenv("GNUPGHOME", os.environ["GNUPGHOME"])
    monkeypatch.setenv("PASSWORD_STORE_DIR", os.environ["PASSWORD_STORE_DIR"])

    def pass_connection() -> _Connection:
        return _Connection().configure(url=linkahead_server.url, password_method="pass", session_cache=str(store),
                                       **options)

    info(pass_connection())
    # Without a password store the method could not decrypt anything; the stored session is enough.
    monkeypatch.setenv("PASSWORD_STORE_DIR", str(tmp_path / "no-such-store"))
    for _ in range(3):
        assert b'username="admin"' in info(pass_connection())
    assert linkahead_server.counters.logins == 1
