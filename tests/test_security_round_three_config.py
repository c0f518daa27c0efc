"""Security round three (issue 18): configuration that is not yours does not run.

git's ``safe.directory`` rule for ``pylinkahead.ini``: a file another user owns (not you, not
root) or that others may write is refused with a ConfigurationError naming the file, its owner
and how to trust it (``LINKAHEAD_TRUSTED_CONFIG``). Checks that root makes meaningless run as a
throw-away system user (created here with ``useradd --system``, removed afterwards).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import linkahead
import pytest
from linkahead import configuration
from linkahead.config_trust import MAX_CONFIG_BYTES, TRUST_VARIABLE
from linkahead.exceptions import ConfigurationError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="ownership and mode bits are POSIX")

NOBODY = 65534


class User(NamedTuple):
    name: str
    uid: int
    gid: int
    home: Path

    def run(self, code: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                       "LANG": "C.UTF-8", **(env or {})}
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                               sys.executable, "-c", code, *(args or [])],
                              env=environment, cwd=str(cwd or self.home), capture_output=True, text=True,
                              timeout=120)


@pytest.fixture
def throwaway_user() -> Iterator[User]:
    """A system user that exists only for this test (root makes ownership checks meaningless)."""
    if os.geteuid() != 0:
        pytest.skip("creating a throw-away system user needs root (CI runs as root)")
    if not shutil.which("useradd") or not shutil.which("setpriv") or not shutil.which("userdel"):
        pytest.skip("useradd/userdel/setpriv are not installed")
    name = "lat" + uuid.uuid4().hex[:12]
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=60)
    try:
        import pwd

        entry = pwd.getpwnam(name)
        home = Path(tempfile.mkdtemp(prefix="linkahead-throwaway-"))
        os.chown(home, entry.pw_uid, entry.pw_gid)
        try:
            user = User(name, entry.pw_uid, entry.pw_gid, home)
            probe = user.run("import linkahead")
            if probe.returncode != 0:
                # E.g. a pyenv interpreter whose libpython lies below root's private home (seen for
                # 3.10 here), or a checkout below a private folder (mktemp -d): another user cannot
                # start the interpreter or import the package under test.
                reason = (probe.stderr.strip().splitlines() or ["no output"])[-1]
                pytest.skip(f"this interpreter cannot import linkahead as another user: {reason}")
            yield user
        finally:
            shutil.rmtree(home, ignore_errors=True)
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=60)


EXEC_INI = """[Connection]
url = http://127.0.0.1:9/
password_method = exec
exec_command = {python} -c "open({marker!r}, 'w').write('ran')"
"""


def exec_ini(path: Path, marker: Path) -> None:
    path.write_text(EXEC_INI.format(python=sys.executable, marker=str(marker)))


def refused(path: Path) -> str:
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection()
    text = str(info.value)
    assert repr(str(path)) in text and TRUST_VARIABLE in text
    return text


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("where", ["cwd", "PYLINKAHEADINI", "home"])
def test_a_file_owned_by_another_user_is_refused_and_runs_nothing(
        where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    if where == "cwd":
        path = Path("pylinkahead.ini").absolute()
    elif where == "PYLINKAHEADINI":
        path = tmp_path / "shared.ini"
        monkeypatch.setenv("PYLINKAHEADINI", str(path))
    else:
        path = Path.home() / ".pylinkahead.ini"
    exec_ini(path, marker)
    os.chown(path, NOBODY, NOBODY)
    text = refused(path if where != "cwd" else Path("pylinkahead.ini"))
    assert "uid 65534" in text and "not to you" in text
    assert not marker.exists()
    # Trusted deliberately: read as before.
    monkeypatch.setenv(TRUST_VARIABLE, f"/nowhere{os.pathsep}{path}")
    configuration._reset_config()
    assert configuration.collect({}).values["password_method"] == "exec"


@pytest.mark.parametrize("mode", [0o646, 0o602])
def test_a_file_others_may_write_is_refused(mode: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = Path("pylinkahead.ini")
    exec_ini(path, tmp_path / "ran")
    path.chmod(mode)
    text = refused(path)
    assert "everyone may change it" in text and "chmod go-w" in text
    monkeypatch.setenv(TRUST_VARIABLE, "*")
    configuration._reset_config()
    assert configuration.collect({}).values["password_method"] == "exec"


def test_a_huge_config_file_is_refused_before_it_is_read() -> None:
    path = Path("pylinkahead.ini")
    with open(path, "wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2 GB that take no disk space
    with pytest.raises(ConfigurationError, match=f"over {MAX_CONFIG_BYTES} bytes are not read"):
        linkahead.configure_connection()


CHECK_AS_USER = """
import json, sys
from linkahead import configuration
from linkahead.exceptions import ConfigurationError
try:
    configuration.collect({})
    print(json.dumps({"ok": True}))
except ConfigurationError as error:
    print(json.dumps({"ok": False, "error": str(error)}))
"""


def test_as_a_throwaway_user_foreign_and_writable_files_are_refused_roots_are_not(throwaway_user: User) -> None:
    home = throwaway_user.home
    ini = home / "pylinkahead.ini"
    ini.write_text("[Connection]\nurl = http://127.0.0.1:9/\n")

    def check() -> dict[str, object]:
        result = throwaway_user.run(CHECK_AS_USER, cwd=home)
        assert result.returncode == 0, result.stderr[-2000:]
        loaded: dict[str, object] = json.loads(result.stdout)
        return loaded

    os.chown(ini, throwaway_user.uid, throwaway_user.gid)
    ini.chmod(0o644)
    assert check() == {"ok": True}
    ini.chmod(0o666)
    outcome = check()
    assert outcome["ok"] is False and "everyone may change it" in str(outcome["error"])
    ini.chmod(0o644)
    os.chown(ini, NOBODY, NOBODY)  # another user's file
    outcome = check()
    assert outcome["ok"] is False and "uid 65534" in str(outcome["error"])
    os.chown(ini, 0, 0)  # root's: trusted, like git trusts root-owned repositories
    assert check() == {"ok": True}


STATUS_AS_USER = """
import sys
from linkahead.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", ["status", "config"])
def test_as_a_throwaway_user_an_unsearchable_config_folder_gives_json_not_an_internal_error(
        throwaway_user: User, command: str) -> None:
    folder = throwaway_user.home / ".config" / "linkahead"
    folder.mkdir(parents=True)
    for path in (throwaway_user.home / ".config", folder):
        os.chown(path, throwaway_user.uid, throwaway_user.gid)
    folder.chmod(0)
    result = throwaway_user.run(STATUS_AS_USER, args=[command, "--json"])
    assert "internal error" not in result.stderr, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"] is False and "chmod u+rx" in report["error"]["message"]
