"""The install-state matrix (issue 17): whatever pip or uv does, the result is a working state.

``linkahead-connection`` and upstream ``linkahead`` both provide the import package ``linkahead``
but no file of it belongs to both: the modules they share are served by our import hook. Each
test here builds a fresh environment (offline, from the cached wheelhouse and our wheels built
from this checkout), changes it as a user would, and checks that it ends in one of the working
states:

- ``both``: upstream's whole data API, on our connection: ``linkahead.common.models`` uses our
  ``get_connection``, a login through the plugin-only ``exec`` method works, and
  ``linkahead.__version__`` is upstream's;
- ``ours``: this project alone (login through ``exec``; no data API);
- ``upstream``: the client alone, exactly as without us (no hook module left behind).

In every state ``pip check`` passes and no file is listed in two distributions' ``RECORD``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from linkahead.testing import LinkAheadTestServer

from .conftest import UPSTREAM, UPSTREAM_PREVIOUS, Venv, Wheels, clean_env, dependent_wheel, make_venv

pytestmark = pytest.mark.timeout(900)

PROBE = Path(__file__).parent / "drivers" / "install_state.py"
UPSTREAM_VERSION = UPSTREAM.split("==")[1]
OURS = ("linkahead-connection", "linkahead-auth-plain", "linkahead-auth-pass", "linkahead-auth-exec")
PASSWORD = "matrix-secret-1"

Step = Callable[["Matrix"], None]


class Matrix:
    """One environment of the matrix and the operations a user runs on it."""

    def __init__(self, path: Path, wheels: Wheels, uv: Path | None) -> None:
        self.wheels = wheels
        self.uv_command = uv
        self.venv = make_venv(path / "venv", wheels)
        self.extra = path / "extra"
        self.extra.mkdir()

    def pip(self, *args: str) -> None:
        self.venv.pip(*args, wheels=self.wheels)

    def uv(self, *args: str) -> None:
        assert self.uv_command is not None
        links = [arg for folder in (self.wheels.wheelhouse, self.wheels.ours, self.extra)
                 for arg in ("--find-links", str(folder))]
        where = ["--offline", "--no-index", *links] if args[0] == "install" else []
        done = self.venv.run(self.uv_command, "pip", args[0], *where, "--python", str(self.venv.python),
                             *args[1:], timeout=300)
        assert done.returncode == 0, f"uv pip {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"

    def ours(self) -> list[str]:
        return [str(wheel) for wheel in self.wheels.our_files()]


# -- the operations ---------------------------------------------------------------------------

def pip_upstream(m: Matrix) -> None:
    m.pip("install", "-q", UPSTREAM, "jsonschema")


def pip_upstream_previous(m: Matrix) -> None:
    m.pip("install", "-q", UPSTREAM_PREVIOUS, "jsonschema")


def pip_upgrade_upstream(m: Matrix) -> None:
    m.pip("install", "-q", "-U", UPSTREAM)


def pip_reinstall_upstream(m: Matrix) -> None:
    m.pip("install", "-q", "--force-reinstall", "--no-deps", UPSTREAM)


def pip_ours(m: Matrix) -> None:
    m.pip("install", "-q", *m.ours())


def pip_reinstall_ours(m: Matrix) -> None:
    m.pip("install", "-q", "--force-reinstall", "--no-deps", *m.ours())


def pip_uninstall_upstream(m: Matrix) -> None:
    m.pip("uninstall", "-y", "-q", "linkahead")


def pip_uninstall_ours(m: Matrix) -> None:
    m.pip("uninstall", "-y", "-q", *OURS)


def pip_dependent(m: Matrix) -> None:
    """A tool that requires ``linkahead`` (as caoscrawler does) pulls upstream in after us."""
    wheel = dependent_wheel(m.extra)
    m.pip("install", "-q", "--find-links", str(m.extra), str(wheel))


def uv_upstream(m: Matrix) -> None:
    m.uv("install", UPSTREAM, "jsonschema")


def uv_ours(m: Matrix) -> None:
    m.uv("install", *m.ours())


def uv_reinstall_upstream(m: Matrix) -> None:
    m.uv("install", "--reinstall-package", "linkahead", UPSTREAM)


def uv_upgrade_upstream(m: Matrix) -> None:
    m.uv("install", "--upgrade", UPSTREAM)


def uv_uninstall_upstream(m: Matrix) -> None:
    m.uv("uninstall", "linkahead")


def uv_uninstall_ours(m: Matrix) -> None:
    m.uv("uninstall", *OURS)


def uv_upstream_previous(m: Matrix) -> None:
    m.uv("install", UPSTREAM_PREVIOUS, "jsonschema")


STATES: dict[str, tuple[tuple[Step, ...], str]] = {
    "pip: upstream, then ours": ((pip_upstream, pip_ours), "both"),
    "pip: ours, then upstream": ((pip_ours, pip_upstream), "both"),
    "pip: both, then upstream reinstalled": ((pip_upstream, pip_ours, pip_reinstall_upstream), "both"),
    "pip: both, then ours reinstalled": ((pip_upstream, pip_ours, pip_reinstall_ours), "both"),
    "pip: upstream 0.20 and ours, then upstream upgraded": (
        (pip_upstream_previous, pip_ours, pip_upgrade_upstream), "both"),
    "pip: both, then upstream uninstalled": ((pip_upstream, pip_ours, pip_uninstall_upstream), "ours"),
    "pip: both, then ours uninstalled": ((pip_upstream, pip_ours, pip_uninstall_ours), "upstream"),
    "pip: ours, then a tool that requires linkahead": ((pip_ours, pip_dependent), "both"),
    "pip: ours alone": ((pip_ours,), "ours"),
    "uv: upstream, then ours": ((uv_upstream, uv_ours), "both"),
    "uv: ours, then upstream": ((uv_ours, uv_upstream), "both"),
    "uv: both, then upstream reinstalled": ((uv_upstream, uv_ours, uv_reinstall_upstream), "both"),
    "uv: upstream 0.20 and ours, then upstream upgraded": (
        (uv_upstream_previous, uv_ours, uv_upgrade_upstream), "both"),
    "uv: both, then upstream uninstalled": ((uv_upstream, uv_ours, uv_uninstall_upstream), "ours"),
    "uv: both, then ours uninstalled": ((uv_upstream, uv_ours, uv_uninstall_ours), "upstream"),
}


# -- the checks -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server() -> Iterator[LinkAheadTestServer]:
    with LinkAheadTestServer(users={"alice": PASSWORD}) as running:
        yield running


def _credential_script(folder: Path) -> Path:
    script = folder / "credentials.py"
    script.write_text(
        "import json, sys\n"
        f"json.dump({{'version': 1, 'username': 'alice', 'password': {PASSWORD!r}}}, sys.stdout)\n",
        encoding="utf-8")
    script.chmod(stat.S_IRWXU)
    return script


def _probe(venv: Venv, server: LinkAheadTestServer, work: Path) -> dict[str, Any]:
    env = {"HOME": str(work), "PROBE_URL": server.url, "PROBE_EXEC": str(_credential_script(work))}
    done = venv.run(venv.python, PROBE, cwd=work, env=env, timeout=120)
    assert done.returncode == 0, f"the probe failed:\n{done.stdout}\n{done.stderr}"
    assert not done.stderr.strip(), f"the probe wrote to stderr:\n{done.stderr}"
    observed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return observed


def _files_in_two_records(venv: Venv) -> dict[str, list[str]]:
    (site,) = venv.path.glob("lib/python*/site-packages")
    listed: dict[str, list[str]] = {}
    for record in site.glob("*.dist-info/RECORD"):
        for line in record.read_text(encoding="utf-8").splitlines():
            path = line.rsplit(",", 2)[0]
            if path and not path.endswith(".pyc"):
                listed.setdefault(os.path.normpath(site / path), []).append(record.parent.name)
    return {path: owners for path, owners in listed.items() if len(owners) > 1}


def _check(state: str, venv: Venv, server: LinkAheadTestServer, work: Path) -> dict[str, Any]:
    seen = _probe(venv, server, work)
    assert "import_error" not in seen, seen["import_error"]
    if state in ("both", "ours"):
        assert seen["ours"] and seen["plugin_api"], seen
        assert isinstance(seen["login"], dict), seen["login"]
        assert seen["login"] == {"status": 200, "user": "alice"}
        assert "linkahead_connection" in seen["served"]["linkahead"], seen["served"]
    if state == "both":
        assert seen["upstream"] == UPSTREAM_VERSION, seen
        assert seen["data_api"] == ["Record", "Container", "execute_query", "administration", "find", "RecordType"]
        assert seen["models_import"] is True, seen["models_import"]
        assert seen["data_api_on_our_connection"] is True
        assert seen["version"] == UPSTREAM_VERSION, "linkahead.__version__ must be upstream's"
    if state == "ours":
        assert seen["upstream"] is None and seen["data_api"] == [], seen
        assert seen["version"] == seen["ours"]
    if state == "upstream":
        assert seen["ours"] is None and seen["hook_module"] is None, seen
        assert seen["plugin_api"] is False and "Record" in seen["data_api"], seen
        assert seen["file"].endswith(os.path.join("site-packages", "linkahead", "__init__.py"))
        assert seen["version"] == UPSTREAM_VERSION
    done = venv.run(venv.python, "-m", "pip", "check")
    assert done.returncode == 0, f"pip check:\n{done.stdout}{done.stderr}"
    assert _files_in_two_records(venv) == {}
    if state != "upstream":
        done = venv.run(venv.script("linkahead-auth"), "doctor", cwd=work, env={"HOME": str(work)})
        assert done.returncode == 0, done.stdout + done.stderr
        expected = f"linkahead {UPSTREAM_VERSION}" if state == "both" else "not installed"
        assert expected in done.stdout, done.stdout
    return seen


@pytest.mark.parametrize("name", list(STATES))
def test_install_state(name: str, compat_wheels: Wheels, request: pytest.FixtureRequest,
                       server: LinkAheadTestServer, tmp_path: Path) -> None:
    steps, expected = STATES[name]
    uv = request.getfixturevalue("uv") if name.startswith("uv") else None
    matrix = Matrix(tmp_path, compat_wheels, uv)
    for step in steps:
        step(matrix)
    work = tmp_path / "probe"
    work.mkdir()
    _check(expected, matrix.venv, server, work)


def test_our_ini_options_do_not_break_import_when_both_are_installed(
        compat_wheels: Wheels, server: LinkAheadTestServer, tmp_path: Path) -> None:
    """Upstream's schema check (jsonschema installed) used to crash ``import linkahead`` on our options."""
    matrix = Matrix(tmp_path, compat_wheels, None)
    pip_ours(matrix)
    pip_upstream(matrix)
    work = tmp_path / "probe"
    work.mkdir()
    script = _credential_script(work)
    ini = work / "pylinkahead.ini"
    ini.write_text(f"[Connection]\nurl = {server.url}\npassword_method = exec\nexec_command = {matrix.venv.python} "
                   f"{script}\nsession_cache = off\n", encoding="utf-8")
    ini.chmod(0o600)
    code = ("import linkahead as db\n"
            "connection = db.get_connection()\nconnection._login()\n"
            "print(connection.get_username(), db.Record.__module__)\n")
    done = matrix.venv.run(matrix.venv.python, "-c", code, cwd=work, env={"HOME": str(work)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["alice", "linkahead.common.models"]


def test_pytest_sees_our_linkahead_when_both_are_installed(compat_wheels: Wheels, tmp_path: Path) -> None:
    """pytest's assert-rewriting finder goes first on ``sys.meta_path``; our pytest plugin must not let it
    load ``linkahead`` past the import hook."""
    matrix = Matrix(tmp_path, compat_wheels, None)
    pip_upstream(matrix)
    pip_ours(matrix)
    matrix.pip("install", "-q", "pytest")
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_both.py").write_text(
        "import linkahead\n\n"
        "def test_both(linkahead_server):\n"
        "    assert linkahead.hookimpl and linkahead.Record\n"
        "    assert 'linkahead_connection' in linkahead.connection.connection.__file__\n", encoding="utf-8")
    done = matrix.venv.run(matrix.venv.python, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", suite,
                           cwd=suite, env={"HOME": str(tmp_path)}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


PLUGIN_SOURCE = """\
import linkahead as db
from linkahead import Credentials, PasswordCredentials, hookimpl
from linkahead.exceptions import ConfigurationError
from linkahead.options import Option


@hookimpl
def get_credentials(config: dict[str, object]) -> Credentials:
    if not config:
        raise ConfigurationError("no configuration")
    return PasswordCredentials("alice", "secret")


OPTION = Option("x", "y")
reveal_type(db.Record)
"""


@pytest.mark.parametrize("with_upstream", [False, True], ids=["ours", "both"])
def test_type_checkers_find_the_plugin_api(with_upstream: bool, compat_wheels: Wheels, tmp_path: Path) -> None:
    """No ``py.typed`` in the shared folder: the wheel's partial stub package ``linkahead-stubs`` types
    the plugin API in both states, and leaves ``db.Record`` upstream's type where upstream is installed."""
    matrix = Matrix(tmp_path, compat_wheels, None)
    if with_upstream:
        pip_upstream(matrix)
    pip_ours(matrix)
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN_SOURCE, encoding="utf-8")
    done = matrix.venv.run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-executable",
                           matrix.venv.python, plugin, cwd=tmp_path, env={"HOME": str(tmp_path)}, timeout=300)
    record_type = "def (.*) -> linkahead.common.models.Record" if with_upstream else "Any"
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(f"Revealed type is \"{record_type}\"", done.stdout), done.stdout


def test_the_hook_can_be_switched_off(compat_wheels: Wheels, tmp_path: Path) -> None:
    """``LINKAHEAD_CONNECTION_HOOK=0``: plain upstream, and ``linkahead-auth`` says why it cannot run."""
    matrix = Matrix(tmp_path, compat_wheels, None)
    pip_upstream(matrix)
    pip_ours(matrix)
    env = {"HOME": str(tmp_path), "LINKAHEAD_CONNECTION_HOOK": "0"}
    code = "import linkahead\nprint(linkahead.__file__, hasattr(linkahead, 'hookimpl'))"
    done = matrix.venv.run(matrix.venv.python, "-c", code, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    file, has_hookimpl = done.stdout.split()
    assert file.endswith(os.path.join("site-packages", "linkahead", "__init__.py")) and has_hookimpl == "False"
    done = matrix.venv.run(matrix.venv.script("linkahead-auth"), "methods", cwd=tmp_path, env=env)
    assert done.returncode == 1 and "LINKAHEAD_CONNECTION_HOOK" in done.stderr and "Traceback" not in done.stderr
    done = matrix.venv.run(matrix.venv.script("linkahead-auth"), "doctor", cwd=tmp_path, env=env)
    assert done.returncode == 0 and "switched off" in done.stdout, done.stdout + done.stderr


def test_the_hook_costs_nothing_where_linkahead_is_not_imported(compat_wheels: Wheels, tmp_path: Path) -> None:
    """At interpreter start the hook loads no module beyond its own two (no requests, pluggy, metadata)."""
    matrix = Matrix(tmp_path, compat_wheels, None)
    pip_upstream(matrix)
    code = "import sys, json; print(json.dumps(sorted(sys.modules)))"
    without = json.loads(matrix.venv.run(matrix.venv.python, "-c", code, env={"HOME": str(tmp_path)}).stdout)
    pip_ours(matrix)
    with_hook = json.loads(matrix.venv.run(matrix.venv.python, "-c", code, env={"HOME": str(tmp_path)}).stdout)
    # Codecs are site's own: from 3.13 it decodes any .pth file as utf-8-sig (the upstream-only
    # environment has none).
    added = {name for name in set(with_hook) - set(without) if not name.startswith("encodings.")}
    assert added == {"linkahead_connection", "linkahead_connection.hook"}, added
    assert not {"requests", "pluggy", "importlib.metadata", "typing", "linkahead"} & set(with_hook)
    # python -S skips every .pth file: nothing of ours is loaded, and that is documented.
    done = matrix.venv.run(matrix.venv.python, "-S", "-c", code, env={"HOME": str(tmp_path)})
    assert "linkahead_connection.hook" not in json.loads(done.stdout)


def test_the_hook_never_breaks_interpreter_start(compat_wheels: Wheels, tmp_path: Path) -> None:
    """A damaged install (the hook module gone, the .pth left) still starts Python silently."""
    matrix = Matrix(tmp_path, compat_wheels, None)
    pip_ours(matrix)
    (site,) = matrix.venv.path.glob("lib/python*/site-packages")
    (site / "linkahead_connection" / "hook.py").unlink()
    done = matrix.venv.run(matrix.venv.python, "-c", "print('started')", env={"HOME": str(tmp_path)})
    assert done.returncode == 0 and done.stdout == "started\n" and done.stderr == "", done.stderr
    assert clean_env()  # the environment helper stays importable for the other tests


def test_the_wheel_holds_every_module_once_in_the_package_and_as_a_stub(compat_wheels: Wheels) -> None:
    """Each source module is in the wheel: the shared ones under linkahead_connection/shared/, the rest in
    linkahead/; every one but __init__/version also as linkahead-stubs/*.pyi. Nothing else in linkahead/."""
    import zipfile

    (wheel,) = [path for path in compat_wheels.our_files() if path.name.startswith("linkahead_connection-")]
    names = set(zipfile.ZipFile(wheel).namelist())
    package = Path(__file__).resolve().parents[2] / "core" / "src" / "linkahead"
    shared = {"__init__.py", "configuration.py", "exceptions.py", "version.py", "connection/__init__.py",
              "connection/connection.py"}
    for source in package.rglob("*.py"):
        relative = source.relative_to(package).as_posix()
        if relative in shared:
            assert f"linkahead_connection/shared/linkahead/{relative}" in names, relative
            assert f"linkahead/{relative}" not in names, relative
        else:
            assert f"linkahead/{relative}" in names, relative
        if relative not in ("__init__.py", "version.py"):
            assert f"linkahead-stubs/{relative[:-3]}.pyi" in names, relative
    assert {"linkahead-stubs/__init__.pyi", "linkahead-stubs/py.typed", "linkahead_connection.pth",
            "linkahead_connection.start", "pytest_linkahead.py"} <= names
    assert not [name for name in names if name.startswith("linkahead/") and not name.endswith(".py")]
