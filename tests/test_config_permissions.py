"""A configuration file holding a secret that other users may read gets a warning, as ssh gives."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import linkahead
import pytest
from linkahead import configuration
from linkahead.configuration import InsecureConfigFileWarning
from linkahead.testing import LinkAheadTestServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="mode bits are POSIX; Windows uses ACLs")

PASSWORD = "perm-Te5t-password"


def write_ini(mode: int, body: str, name: str = "pylinkahead.ini") -> Path:
    path = Path(name)
    path.write_text(body, encoding="utf-8")
    os.chmod(path, mode)
    return path


def collect_warnings() -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        configuration.collect({})
    return [w for w in caught if issubclass(w.category, InsecureConfigFileWarning)]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o601, 0o660, 0o664, 0o700 | 0o004])
@pytest.mark.parametrize("key", ["password", "auth_token"])
def test_readable_by_others_warns_with_the_fix(mode: int, key: str) -> None:
    path = write_ini(mode, f"[Connection]\nurl = http://localhost/\n{key} = {PASSWORD}\n")
    caught = collect_warnings()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message == (
        f"The configuration file 'pylinkahead.ini' holds {key} but other users may read it "
        f"(mode {mode:o}). Make it private: chmod 600 {path}"
    )
    assert PASSWORD not in message
    assert issubclass(InsecureConfigFileWarning, UserWarning)


def test_both_secrets_are_named() -> None:
    write_ini(0o644, f"[Connection]\npassword = {PASSWORD}\nauth_token = {PASSWORD}\n")
    [caught] = collect_warnings()
    assert "holds auth_token and password but" in str(caught.message)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_private_file_is_quiet(mode: int) -> None:
    write_ini(mode, f"[Connection]\nurl = http://localhost/\npassword = {PASSWORD}\n")
    assert collect_warnings() == []


@pytest.mark.parametrize("body", [
    "[Connection]\nurl = http://localhost/\nusername = admin\npassword_method = pass\n",
    f"[Connection]\nurl = http://localhost/\n[Misc]\npassword = {PASSWORD}\n",  # another tool's section
    "[Connection]\nurl = http://localhost/\npassword =\n",
])
def test_readable_file_without_a_secret_is_quiet(body: str) -> None:
    write_ini(0o644, body)
    assert collect_warnings() == []


def test_the_file_named_by_pylinkahead_ini_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.ini"
    path.write_text(f"[Connection]\npassword = {PASSWORD}\n", encoding="utf-8")
    os.chmod(path, 0o640)
    monkeypatch.setenv("PYLINKAHEADINI", str(path))
    [caught] = collect_warnings()
    assert f"chmod 600 {path}" in str(caught.message)


def test_configure_connection_warns_pointing_at_the_caller(linkahead_server: LinkAheadTestServer) -> None:
    write_ini(0o644, f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\n"
                     f"password = {linkahead_server.users['admin']}\n")
    with pytest.warns(InsecureConfigFileWarning, match="chmod 600 pylinkahead.ini") as record:
        connection = linkahead.configure_connection()
    assert record[0].filename == __file__  # the warning points at the caller, not into the package
    assert connection.retrieve(["Info"]).status == 200  # a warning, not an error
    os.chmod("pylinkahead.ini", 0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureConfigFileWarning)
        linkahead.configure_connection()


def test_the_warning_reaches_a_script_on_stderr(linkahead_server: LinkAheadTestServer) -> None:
    write_ini(0o644, f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\n"
                     f"password = {linkahead_server.users['admin']}\n")
    script = "import linkahead; linkahead.configure_connection(https_proxy=None, http_proxy=None)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ), check=False)
    assert done.returncode == 0
    assert "InsecureConfigFileWarning" in done.stderr
    assert "chmod 600 pylinkahead.ini" in done.stderr
    assert linkahead_server.users["admin"] not in done.stderr
