"""Every install state other than the supported one is detected and explained (issue 11, point 3).

Both distributions own the import package ``linkahead`` and six of its files. Each test makes a
fresh environment from the cached wheelhouse (offline) and changes it as a user would with pip:

- reverse order: this project first, then ``pip install linkahead==0.21.0``;
- upgrade: the supported overlay, then ``pip install --force-reinstall --no-deps linkahead==0.21.0``
  (what ``pip install -U linkahead`` does to the shared files when a new upstream comes out);
- uninstalling either distribution from the overlay.

In the broken states ``import linkahead`` must still work as upstream (where upstream's files are
there), and ``linkahead-auth`` must fail with one message naming who replaced the files and the
repair command, never a traceback; the printed repair command must restore a working overlay.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from .conftest import Venv, Wheels, clean_env, fresh_venv, install_upstream

# The first test that needs an environment may build it (downloads on a cold cache); each
# subprocess has its own time-out.
pytestmark = pytest.mark.timeout(600)

UPSTREAM_API = (
    "import linkahead as db, linkahead.common.models, linkahead.apiutils\n"
    "for name in ('Record', 'Container', 'execute_query', 'administration', 'find'):\n"
    "    assert hasattr(db, name), name\n"
)
OUR_API = "import linkahead, linkahead.plugins, linkahead_auth_pass\nassert linkahead.hookimpl\n"
REPAIR = re.compile(r"((?:'[^']*python[^']*'|\S*python\S*) -m pip install .+|uv pip install .+)$")


def _python(venv: Venv, code: str, tmp_path: Path) -> tuple[int, str]:
    done = venv.run(venv.python, "-c", code, cwd=tmp_path, env={"HOME": str(tmp_path)})
    return done.returncode, done.stdout + done.stderr


def _auth(venv: Venv, tmp_path: Path, *args: str) -> tuple[int, str]:
    done = venv.run(venv.script("linkahead-auth"), *args, cwd=tmp_path, env={"HOME": str(tmp_path)})
    return done.returncode, done.stdout + done.stderr


def _one_message(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output, output
    assert len(lines) == 1, f"expected one message, got:\n{output}"
    return lines[0]


def _repair(venv: Venv, wheels: Wheels, message: str, tmp_path: Path) -> None:
    """Run the repair command the message printed, as the user would (pip finds our wheels offline)."""
    found = REPAIR.search(message)
    assert found, f"no repair command in: {message}"
    command = shlex.split(found.group(1))
    done = venv.run(*command, cwd=tmp_path, env={"HOME": str(tmp_path), **wheels.offline_env()}, timeout=300)
    assert done.returncode == 0, f"the repair command {command} failed:\n{done.stdout}\n{done.stderr}"


def _assert_working_overlay(venv: Venv, tmp_path: Path) -> None:
    code, output = _python(venv, UPSTREAM_API + OUR_API, tmp_path)
    assert code == 0, output
    code, output = _auth(venv, tmp_path, "methods")
    assert code == 0 and "pass" in output and "Traceback" not in output, output


def _assert_replaced_by_upstream(venv: Venv, wheels: Wheels, tmp_path: Path) -> None:
    code, output = _python(venv, UPSTREAM_API, tmp_path)
    assert code == 0, f"import linkahead no longer works as upstream:\n{output}"
    code, output = _auth(venv, tmp_path, "methods")
    assert code != 0
    message = _one_message(output)
    assert "linkahead 0.21.0" in message, message
    _repair(venv, wheels, message, tmp_path)
    _assert_working_overlay(venv, tmp_path)


def test_reverse_order_is_explained_and_repaired(compat_wheels: Wheels, tmp_path: Path) -> None:
    venv = fresh_venv(tmp_path / "venv", compat_wheels, ours=True)
    install_upstream(venv, compat_wheels)
    _assert_replaced_by_upstream(venv, compat_wheels, tmp_path)


def test_upstream_upgrade_over_the_overlay_is_explained_and_repaired(compat_wheels: Wheels, tmp_path: Path) -> None:
    venv = fresh_venv(tmp_path / "venv", compat_wheels, upstream=True, ours=True)
    _assert_working_overlay(venv, tmp_path)
    venv.pip("install", "-q", "--force-reinstall", "--no-deps", "linkahead==0.21.0", wheels=compat_wheels)
    _assert_replaced_by_upstream(venv, compat_wheels, tmp_path)


def test_doctor_names_the_owner_of_each_shared_file(overlay_venv: Venv, tmp_path: Path) -> None:
    code, output = _auth(overlay_venv, tmp_path, "doctor")
    assert code == 0 and "Traceback" not in output, output
    for name in ("__init__.py", "configuration.py", "exceptions.py", "version.py", "connection/__init__.py",
                 "connection/connection.py"):
        assert f"linkahead/{name}" in output
    assert "linkahead-connection" in output and "linkahead 0.21.0" in output  # ours, and upstream also lists it


def test_uninstalling_upstream_from_the_overlay(compat_wheels: Wheels, tmp_path: Path) -> None:
    """pip deletes every file upstream's RECORD lists, the six shared ones included."""
    venv = fresh_venv(tmp_path / "venv", compat_wheels, upstream=True, ours=True)
    venv.pip("uninstall", "-y", "-q", "linkahead", wheels=compat_wheels)
    # The shared files are gone with upstream; what is left imports as a namespace package.
    code, output = _python(venv, "from linkahead import configure_connection", tmp_path)
    assert code != 0
    code, output = _auth(venv, tmp_path, "methods")
    assert code != 0
    message = _one_message(output)
    assert "missing" in message, message
    _repair(venv, compat_wheels, message, tmp_path)
    code, output = _auth(venv, tmp_path, "methods")
    assert code == 0, output
    code, output = _python(venv, OUR_API + "import linkahead as db\nassert not hasattr(db, 'Record')\n", tmp_path)
    assert code == 0, output


def test_uninstalling_ours_from_the_overlay(compat_wheels: Wheels, tmp_path: Path) -> None:
    """pip deletes the six shared files with us: upstream is broken until it is reinstalled."""
    venv = fresh_venv(tmp_path / "venv", compat_wheels, upstream=True, ours=True)
    venv.pip("uninstall", "-y", "-q", "linkahead-connection", wheels=compat_wheels)
    code, output = _python(venv, "from linkahead import configure_connection", tmp_path)
    assert code != 0, "the shared files are still there: pip kept them?"
    code, output = _python(venv, "import linkahead.common.models", tmp_path)
    assert code != 0, "upstream's data layer still imports without the shared files?"
    assert not venv.script("linkahead-auth").exists()
    # The repair the docs give: upstream's files back.
    venv.pip("install", "-q", "--force-reinstall", "--no-deps", "linkahead==0.21.0", wheels=compat_wheels)
    code, output = _python(venv, UPSTREAM_API, tmp_path)
    assert code == 0, output


def test_the_overlay_reports_no_problem(overlay_venv: Venv, compat_wheels: Wheels, tmp_path: Path) -> None:
    """The supported order (upstream, then ours with pip): nothing is wrong and pip agrees."""
    _assert_working_overlay(overlay_venv, tmp_path)
    done = overlay_venv.run(overlay_venv.python, "-m", "pip", "check", env=compat_wheels.offline_env())
    assert done.returncode == 0, done.stdout + done.stderr


def test_uv_pip_install_over_upstream(uv: Path, compat_wheels: Wheels, tmp_path: Path) -> None:
    """What ``uv pip install`` does with the two distributions (documented in the client page)."""
    venv = fresh_venv(tmp_path / "venv", compat_wheels)
    links = [arg for folder in (compat_wheels.wheelhouse, compat_wheels.ours) for arg in ("--find-links", str(folder))]
    base = [str(uv), "pip", "install", "--offline", "--no-index", *links, "--python", str(venv.python)]
    done = venv.run(*base, "linkahead==0.21.0", *["jsonschema"], timeout=300)
    assert done.returncode == 0, done.stderr
    done = venv.run(*base, *map(str, compat_wheels.our_files()), timeout=300)
    assert done.returncode == 0, done.stderr
    _assert_working_overlay(venv, tmp_path)
    # Reverse: uv reinstalls upstream over us.
    done = venv.run(*base, "--reinstall-package", "linkahead", "linkahead==0.21.0", timeout=300)
    assert done.returncode == 0, done.stderr
    code, output = _auth(venv, tmp_path, "methods")
    assert code != 0
    message = _one_message(output)
    assert "linkahead 0.21.0" in message, message
    # uv wrote INSTALLER "uv": the repair command is uv's, and it works (uv found on PATH).
    found = REPAIR.search(message)
    assert found and found.group(1).startswith("uv pip install"), message
    path = f"{uv.parent}{os.pathsep}{clean_env().get('PATH', '')}"
    done = venv.run(*shlex.split(found.group(1)), cwd=tmp_path,
                    env={"HOME": str(tmp_path), "UV_OFFLINE": "1", "PATH": path}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_working_overlay(venv, tmp_path)
