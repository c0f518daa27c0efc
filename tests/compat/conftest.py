"""Cached virtual environments for the compatibility suite (issue 11).

The suite runs upstream's client, ``linkahead`` 0.21.0 from the package index, in real virtual
environments next to this project:

- ``upstream_venv``: ``linkahead==0.21.0`` alone (the reference for the wire comparison);
- ``overlay_venv``: ``linkahead==0.21.0`` first, then this project's core and the ``plain`` and
  ``pass`` plugins as non-editable wheels built from the working tree, installed over it with pip
  (the supported install);
- :func:`fresh_venv`: a new environment in a test's temporary folder, for tests that change what
  is installed (reverse order, upgrade, uninstall).

Everything downloaded lands once in a wheelhouse under the cache folder
(``$LINKAHEAD_COMPAT_CACHE``, default ``~/.cache/linkahead-connection/compat/``); environments are
then made offline from it (``--no-index``). Each cached item is named by a hash of what goes into
it: upstream's version and our ``pyproject.toml`` files for the wheelhouse, the sources for our
wheels and the overlay. A file lock per item keeps parallel runs (other worktrees, CI) from racing.
When the package index cannot be reached and the wheelhouse is not cached yet, every test that
needs it is skipped with the reason. pip's own configuration (index, mirror, certificates) is used
as it is: no index URL is named here.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

UPSTREAM = "linkahead==0.21.0"
# The release before it, for the upgrade states of the install matrix.
UPSTREAM_PREVIOUS = "linkahead==0.20.0"
# Upstream's optional dependency its configuration check uses; installed as a user of it would.
UPSTREAM_EXTRA_REQUIREMENTS = ("jsonschema",)
# pip too: environments are made without ensurepip and get pip from here.
# pytest: the matrix runs a test suite in an environment with both (pytest's assert-rewriting
# finder is placed before the import hook).
WHEELHOUSE_REQUIREMENTS = ("pip", "pytest", UPSTREAM, *UPSTREAM_EXTRA_REQUIREMENTS)
REPO = Path(__file__).resolve().parents[2]
OUR_PROJECTS = (REPO / "core", REPO / "plugins" / "plain", REPO / "plugins" / "pass", REPO / "plugins" / "exec")
OUR_PREFIXES = ("linkahead_connection-", "linkahead_auth_")

# Captured before any test runs: the autouse isolation points HOME at a temporary folder, and
# pip's user configuration (a registry mirror, say) lives in the real one.
ORIGINAL_ENV = dict(os.environ)
CACHE = Path(ORIGINAL_ENV.get("LINKAHEAD_COMPAT_CACHE") or Path.home() / ".cache" / "linkahead-connection" / "compat")

PIP_TIMEOUT = 600  # seconds for one pip run (downloads on a slow mirror)
REACH_TIMEOUT = 90  # seconds for the reachability probe
STALE_AFTER = 2 * 24 * 3600  # seconds; older source-keyed items are pruned

_ENVIRONMENT_NOISE = (
    "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYLINKAHEADINI", "PIP_REQUIRE_VIRTUALENV",
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
    "PASSWORD_STORE_DIR", "GNUPGHOME", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST",
)


class Unreachable(Exception):
    """The package index could not be reached; the message says why."""


@dataclass(frozen=True)
class Venv:
    """A virtual environment made by this suite."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def script(self, name: str) -> Path:
        return self.path / "bin" / name

    def run(self, *args: str | os.PathLike[str], env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``args`` (a command of this environment or any other) with this environment first on PATH."""
        run_env = clean_env(env)
        run_env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{run_env.get('PATH', '')}"
        run_env["VIRTUAL_ENV"] = str(self.path)
        done = subprocess.run([str(arg) for arg in args], env=run_env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def pip(self, *args: str | os.PathLike[str], wheels: Wheels, timeout: float = PIP_TIMEOUT,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """``python -m pip <args>`` offline, from the wheelhouse and our wheels."""
        return self.run(self.python, "-m", "pip", *args, env=wheels.offline_env(), timeout=timeout, check=check)


@dataclass(frozen=True)
class Wheels:
    """Where environments install from: the wheelhouse (upstream and all dependencies) and our wheels."""

    wheelhouse: Path
    ours: Path

    def our_files(self) -> list[Path]:
        return sorted(self.ours.glob("*.whl"))

    def offline_env(self) -> dict[str, str]:
        """pip settings for installing from these folders only (also for a printed repair command)."""
        links = " ".join(filter(None, [str(self.wheelhouse), str(self.ours), ORIGINAL_ENV.get("PIP_FIND_LINKS")]))
        return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": links}


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The original environment without what would leak the developer's setup into a subprocess."""
    env = {key: value for key, value in ORIGINAL_ENV.items() if key not in _ENVIRONMENT_NOISE}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # As the isolation fixture: no session store unless a test names one (the default store
    # would otherwise be the machine's per-user folder in /tmp, shared by every test run).
    env["LINKAHEAD_SESSION_CACHE"] = "none"
    env.update(extra or {})
    return env


def _pip_env() -> dict[str, str]:
    # pip runs with the original HOME so that its user configuration applies.
    return clean_env()


@contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold the cache's lock ``name`` (blocks while another run holds it)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:16]


def _files(project: Path) -> list[Path]:
    return sorted(path for path in project.rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc")
                  and ".egg-info" not in str(path))


def source_key() -> str:
    """A hash of everything our wheels are built from."""
    parts = []
    for project in OUR_PROJECTS:
        for path in _files(project):
            parts += [str(path.relative_to(REPO)).encode(), path.read_bytes()]
    return _digest(*parts)


def wheelhouse_key() -> str:
    """A hash of what the wheelhouse holds: the Python, upstream's version and our dependencies."""
    parts = [sys.version.encode(), " ".join((*WHEELHOUSE_REQUIREMENTS, UPSTREAM_PREVIOUS)).encode()]
    parts += [(project / "pyproject.toml").read_bytes() for project in OUR_PROJECTS]
    return _digest(*parts)


def _complete(path: Path) -> bool:
    return (path / ".complete").is_file()


def _mark_complete(path: Path) -> None:
    (path / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), encoding="utf-8")


def _prune(prefix: str, keep: Path) -> None:
    """Remove items named ``prefix*`` other than ``keep`` that no run has used for a while."""
    now = time.time()
    for old in CACHE.glob(prefix + "*"):
        if old != keep and old.is_dir() and now - old.stat().st_mtime > STALE_AFTER:
            shutil.rmtree(old, ignore_errors=True)


def _pip(*args: str, timeout: float = PIP_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], env=_pip_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def _probe_index() -> None:
    """Ask pip itself for upstream's wheel; :class:`Unreachable` when it cannot get it in time."""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            done = _pip("download", "--no-deps", "--timeout", "20", "--retries", "1", "-d", scratch, UPSTREAM,
                        timeout=REACH_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Unreachable(f"package index unreachable: 'pip download {UPSTREAM}' took over "
                              f"{REACH_TIMEOUT} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Unreachable(f"package index unreachable: 'pip download {UPSTREAM}' failed: {last}")


def build_our_wheels() -> Path:
    """Our wheels, built from the working tree once per source state."""
    target = CACHE / f"ours-{source_key()}"
    with locked("ours"):
        if not _complete(target):
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            # The dev environment's hatchling builds them: no download, no isolated build env.
            done = _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(target),
                        *map(str, OUR_PROJECTS))
            if done.returncode != 0:
                raise AssertionError(f"building our wheels failed:\n{done.stdout}\n{done.stderr}")
            _mark_complete(target)
        target.touch()
        _prune("ours-", target)
    return target


def fill_wheelhouse(ours: Path) -> Path:
    """Upstream's wheel and every dependency of it and of ours, downloaded once."""
    target = CACHE / f"wheels-{wheelhouse_key()}"
    with locked("wheels"):
        if not _complete(target):
            _probe_index()
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            done = _pip("download", "-q", "-d", str(target), "--find-links", str(ours),
                        *WHEELHOUSE_REQUIREMENTS, *map(str, sorted(ours.glob("*.whl"))))
            if done.returncode == 0:  # a second run: pip resolves one version of a project per run
                done = _pip("download", "-q", "-d", str(target), UPSTREAM_PREVIOUS)
            if done.returncode != 0:
                raise Unreachable(f"downloading {UPSTREAM} and its dependencies failed: "
                                  f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
            for ours_copy in target.iterdir():
                if ours_copy.name.startswith(OUR_PREFIXES):
                    ours_copy.unlink()  # ours come from the source-keyed folder
            _mark_complete(target)
        target.touch()
        _prune("wheels-", target)
    return target


def make_venv(path: Path, wheels: Wheels, *requirements: str) -> Venv:
    """A new virtual environment at ``path`` with pip and ``requirements`` from the wheelhouse.

    ``venv`` without its own pip bootstrap and the running pip installing into it (``--python``)
    take a few seconds; ``ensurepip`` alone takes over ten on a busy machine.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(path)], env=_pip_env(),
                   capture_output=True, timeout=120, check=True)
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"), "install", "-q",
                           "pip", *requirements], env=clean_env(wheels.offline_env()), capture_output=True,
                          text=True, timeout=PIP_TIMEOUT, check=False)
    if done.returncode != 0:
        raise AssertionError(f"making the environment {path} failed:\n{done.stdout}\n{done.stderr}")
    return Venv(path)


def install_upstream(venv: Venv, wheels: Wheels) -> None:
    venv.pip("install", "-q", UPSTREAM, *UPSTREAM_EXTRA_REQUIREMENTS, wheels=wheels)


def install_ours(venv: Venv, wheels: Wheels, *extra: str) -> None:
    """Our wheels, as ``pip install linkahead-auth-pass`` would put them (not editable)."""
    venv.pip("install", "-q", *extra, *map(str, wheels.our_files()), wheels=wheels)


def fresh_venv(path: Path, wheels: Wheels, *, upstream: bool = False, ours: bool = False) -> Venv:
    """A new environment in a test's folder: upstream first and/or then ours, with pip, as asked."""
    venv = make_venv(path, wheels, *((UPSTREAM, *UPSTREAM_EXTRA_REQUIREMENTS) if upstream else ()))
    if ours:
        install_ours(venv, wheels)
    return venv


def _cached_venv(name: str, wheels: Wheels, build: Sequence[str]) -> Venv:
    path = CACHE / name
    with locked("venvs"):
        if not _complete(path):
            shutil.rmtree(path, ignore_errors=True)
            fresh_venv(path, wheels, upstream="upstream" in build, ours="ours" in build)
            _mark_complete(path)
        path.touch()
        _prune(name.rsplit("-", 1)[0] + "-", path)
    return Venv(path)


@pytest.fixture(scope="session")
def compat_wheels() -> Wheels:
    """The wheelhouse and our freshly built wheels; skips the test when the index is unreachable."""
    try:
        ours = build_our_wheels()
        return Wheels(fill_wheelhouse(ours), ours)
    except Unreachable as unreachable:
        pytest.skip(str(unreachable))


@pytest.fixture(scope="session")
def upstream_venv(compat_wheels: Wheels) -> Venv:
    """``linkahead==0.21.0`` alone, cached."""
    return _cached_venv(f"venv-upstream-{compat_wheels.wheelhouse.name[len('wheels-'):]}", compat_wheels,
                        ["upstream"])


@pytest.fixture(scope="session")
def overlay_venv(compat_wheels: Wheels) -> Venv:
    """``linkahead==0.21.0``, then our core and plugins over it with pip; cached per source state."""
    key = compat_wheels.wheelhouse.name[len("wheels-"):] + compat_wheels.ours.name[len("ours-"):]
    return _cached_venv(f"venv-overlay-{key}", compat_wheels, ["upstream", "ours"])


@pytest.fixture(scope="session")
def uv() -> Path:
    """The ``uv`` command, from a cached environment of its own (one ~17 MB download)."""
    path = CACHE / f"venv-uv-{_digest(sys.version.encode())}"
    try:
        with locked("venvs"):
            if not _complete(path):
                shutil.rmtree(path, ignore_errors=True)
                subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], env=_pip_env(),
                               capture_output=True, timeout=120, check=True)
                done = subprocess.run([sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"),
                                       "install", "-q", "--timeout", "20", "uv"], env=_pip_env(),
                                      capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
                if done.returncode != 0:
                    raise Unreachable(f"could not install uv: {(done.stderr.strip().splitlines() or [''])[-1]}")
                _mark_complete(path)
            path.touch()
    except (Unreachable, subprocess.TimeoutExpired) as error:
        pytest.skip(str(error))
    return path / "bin" / "uv"


def dependent_wheel(folder: Path) -> Path:
    """A stand-in for a tool built on upstream (caoscrawler, say): a distribution that requires ``linkahead``.

    Written by hand (a wheel is a zip with three metadata files): no build backend, no download.
    """
    import base64
    import zipfile

    name, version = "linkahead_dependent_standin", "1.0"
    files = {
        f"{name}/__init__.py": b"import linkahead\n",
        f"{name}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: linkahead-dependent-standin\nVersion: {version}\n"
            "Requires-Dist: linkahead\n").encode(),
        f"{name}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()) + f"{name}-{version}.dist-info/RECORD,,\n"
    files[f"{name}-{version}.dist-info/RECORD"] = record.encode()
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel
