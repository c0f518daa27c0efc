"""The session store without ``$XDG_RUNTIME_DIR`` (issue 20): the per-user folder in the temporary
directory, created 0700, refused when someone else made it or put something in its place.

The isolation fixture gives each test a private ``$TMPDIR``; these tests delete
``LINKAHEAD_SESSION_CACHE`` so that the default (``auto``) applies.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import pytest
from linkahead.connection.connection import _Connection
from linkahead.session_store import InsecureSessionStoreWarning, resolve, temporary_folder
from linkahead.testing import LinkAheadTestServer


@pytest.fixture(autouse=True)
def _default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKAHEAD_SESSION_CACHE")


def _folder() -> Path:
    return Path(os.environ["TMPDIR"]) / f"linkahead-sessions-{os.geteuid()}"


def _connect(server: LinkAheadTestServer) -> _Connection:
    connection = _Connection().configure(url=server.url, username="admin", password=server.users["admin"])
    connection.retrieve(["Info"]).read()
    return connection


def test_auto_without_runtime_folder_is_the_per_user_temporary_folder() -> None:
    store, reason = resolve("auto")
    assert store is not None and store.directory == str(_folder()) == temporary_folder()
    assert not store.follow
    assert "$XDG_RUNTIME_DIR is not set" in reason and "temporary directory" in reason


def test_tmpdir_must_be_absolute_else_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", "relative/tmp")
    assert temporary_folder() == f"/tmp/linkahead-sessions-{os.geteuid()}"


def test_processes_share_one_login_and_the_folder_is_private(linkahead_server: LinkAheadTestServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            _connect(linkahead_server)
    assert linkahead_server.counters.logins == 1
    info = _folder().lstat()
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid()
    for entry in _folder().iterdir():
        assert stat.S_IMODE(entry.lstat().st_mode) == 0o600


def _refused(server: LinkAheadTestServer, match: str) -> None:
    for _ in range(2):  # each new connection says it once
        with pytest.warns(InsecureSessionStoreWarning, match=match):
            _connect(server)
    assert server.counters.logins == 2  # no store: each connection logged in by itself


def test_a_folder_someone_else_made_is_refused(linkahead_server: LinkAheadTestServer) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a folder that belongs to another user needs root")
    _folder().mkdir(mode=0o700)
    os.chown(_folder(), 65534, 65534)
    _refused(linkahead_server, "belongs to user id 65534")
    assert list(_folder().iterdir()) == []


def test_a_symbolic_link_in_its_place_is_refused_even_to_a_private_folder(
        linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    _folder().symlink_to(target)
    _refused(linkahead_server, "symbolic link")
    assert list(target.iterdir()) == []


def test_a_file_in_its_place_is_refused(linkahead_server: LinkAheadTestServer) -> None:
    _folder().write_text("not a folder")
    _refused(linkahead_server, "not a folder of yours")


def test_a_folder_of_ours_that_is_too_open_is_refused(linkahead_server: LinkAheadTestServer) -> None:
    _folder().mkdir(mode=0o700)
    _folder().chmod(0o755)
    _refused(linkahead_server, "chmod 700")


def test_a_missing_temporary_directory_is_not_created(linkahead_server: LinkAheadTestServer,
                                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "no-such-folder"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _connect(linkahead_server)
    assert not (tmp_path / "no-such-folder").exists()
