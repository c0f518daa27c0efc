"""``linkahead-auth token``: the session for curl, job scripts and workers on other hosts (issue 20)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from linkahead.testing import LinkAheadTestServer

CLI = [shutil.which("linkahead-auth", path=str(Path(sys.executable).parent)) or "linkahead-auth"]
TIMEOUT = 120


def _host(tmp_path: Path, name: str, server: LinkAheadTestServer, password: bool = True) -> dict[str, str]:
    """The environment of a process on host ``name``: its own ini file and its own session store."""
    folder = tmp_path / name
    folder.mkdir(mode=0o700)
    ini = folder / "pylinkahead.ini"
    lines = ["[Connection]", f"url = {server.url}", "username = admin", f"session_cache = {folder / 'sessions'}"]
    if password:
        lines += ["password_method = plain", f"password = {server.users['admin']}"]
    ini.write_text("\n".join(lines) + "\n")
    ini.chmod(0o600)
    return {**os.environ, "PYLINKAHEADINI": str(ini)}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT)


def test_token_prints_the_cookie_value_and_reuses_the_stored_session(linkahead_server: LinkAheadTestServer,
                                                                     tmp_path: Path) -> None:
    env = _host(tmp_path, "a", linkahead_server)
    first = _cli(env, "token")
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert first.stdout == token + "\n" and token
    assert first.stderr == ""
    assert linkahead_server.counters.logins == 1
    # What curl does with it: the header as printed, nothing else.
    request = urllib.request.Request(linkahead_server.url + "Info", headers={"Cookie": f"SessionToken={token}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # our loopback server
        assert b'username="admin"' in answer.read()
    second = _cli(env, "token")
    assert second.returncode == 0 and second.stdout.strip()
    assert linkahead_server.counters.logins == 1  # the store's session, no second login


def test_token_json_has_the_expiry_and_the_ready_header(linkahead_server: LinkAheadTestServer,
                                                        tmp_path: Path) -> None:
    result = _cli(_host(tmp_path, "a", linkahead_server), "token", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["format"] == 1
    assert data["header"] == f"Cookie: SessionToken={data['token']}"
    assert data["cookie"] == f"SessionToken={data['token']}"
    assert data["user"] == "admin" and data["realm"] == "PAM" and data["url"] == linkahead_server.url
    assert time.time() < data["expires_at"] <= time.time() + linkahead_server.session_timeout + 5
    assert isinstance(data["expires"], str)


def test_token_is_never_logged_even_at_debug_level(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    result = _cli(_host(tmp_path, "a", linkahead_server), "token", "-v")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert "DEBUG" in result.stderr
    assert token not in result.stderr
    assert linkahead_server.users["admin"] not in result.stderr + result.stdout


def test_two_hosts_with_separate_stores_log_in_once_in_total(linkahead_server: LinkAheadTestServer,
                                                             tmp_path: Path) -> None:
    # Host A logs in once and hands the session over; host B (its own store, no password at
    # all) runs several worker processes on auth_token alone.
    token = _cli(_host(tmp_path, "a", linkahead_server), "token").stdout.strip()
    assert token
    host_b = {**_host(tmp_path, "b", linkahead_server, password=False), "LINKAHEAD_TOKEN": token}
    worker = ("import os, linkahead; linkahead.configure_connection(auth_token=os.environ['LINKAHEAD_TOKEN']); "
              "print(b'username=\"admin\"' in linkahead.get_connection().retrieve(['Info']).read())")
    processes = [subprocess.Popen([sys.executable, "-c", worker], env=host_b, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for process in processes:
        out, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0 and out.strip() == "True", err
    assert linkahead_server.counters.logins == 1
    assert not (tmp_path / "b" / "sessions").exists()  # a handed-over token is never stored


def test_a_method_without_a_session_token_is_a_clear_error(linkahead_server: LinkAheadTestServer,
                                                           tmp_path: Path) -> None:
    linkahead_server.anonymous = True
    env = _host(tmp_path, "a", linkahead_server, password=False)
    result = _cli(env, "--method", "unauthenticated", "token")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "gives this connection no session token" in result.stderr


def test_in_process_the_token_goes_to_stdout_only(linkahead_server: LinkAheadTestServer, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from linkahead.cli import main

    Path("pylinkahead.ini").write_text(f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\n"
                                       f"password = {linkahead_server.users['admin']}\n"
                                       f"session_cache = {tmp_path / 'sessions'}\n")
    caplog.set_level(logging.DEBUG, logger="linkahead")
    assert main(["-v", "token"]) == 0
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert token and token not in captured.err
    assert all(token not in record.getMessage() for record in caplog.records)
