"""The names upstream's callers use of ``linkahead.connection.connection`` mean what they mean in
upstream 0.21.0, with this project installed over upstream (issue 17, point 2).

``drivers/upstream_names.py`` runs in upstream's own environment and in the overlay environment
against the same embedded server (which serves anonymous requests and answers queries without a
``<Query>`` element, as a wrong root path or a proxy's page would); each step's observations must be
equal. The steps follow upstream's own unit tests (``MockUpServerConnection``, upstream's real file
in both environments) and its data layer (``Query.execute`` reading ``_base_path``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from linkahead.testing import LinkAheadTestServer

from .conftest import REPO, Venv, Wheels, clean_env, fresh_venv

pytestmark = pytest.mark.timeout(600)

DRIVER = Path(__file__).parent / "drivers" / "upstream_names.py"
STEPS = ("no_query_in_answer", "wrong_root_path", "default_transport", "reexports", "mockup_unauthenticated",
         "login_unauthenticated", "mockup_auth_token", "write_auth_token_with_password_method",
         "socket_proxy_in_ini")
# Where ours observes something else on purpose: step -> {key: ours}. Upstream accepts socket_proxy
# silently (its ini schema calls it deprecated); ours says so with a DeprecationWarning.
OURS_ONLY = {"socket_proxy_in_ini": {"deprecation_warnings": 1}}


def _run(venv: Venv, server: LinkAheadTestServer, work: Path) -> dict[str, Any]:
    work.mkdir()
    spec = {
        "url": server.url,
        "token": json.dumps(json.loads(unquote(server.make_token("admin", one_time=True))), separators=(",", ":")),
        "renewed": quote(server.make_token("admin"), safe=""),
        "workdir": str(work),
    }
    done = venv.run(venv.python, DRIVER, json.dumps(spec), cwd=work, env={"HOME": str(work)}, timeout=120)
    assert done.returncode == 0, f"the driver failed in {venv.path}:\n{done.stderr}\n{done.stdout}"
    observed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return observed


@pytest.fixture(scope="module")
def standard_overlay_venv(compat_wheels: Wheels, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The overlay plus the ``auth_token`` and ``unauthenticated`` plugins (upstream's tests use both)."""
    tmp = tmp_path_factory.mktemp("standard-overlay")
    extra = tmp / "wheels"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(extra), str(REPO / "plugins" / "auth_token"),
                           str(REPO / "plugins" / "unauthenticated")],
                          env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    venv = fresh_venv(tmp / "venv", compat_wheels, upstream=True, ours=True)
    venv.pip("install", "-q", "--no-deps", *map(str, sorted(extra.glob("*.whl"))), wheels=compat_wheels)
    return venv


@pytest.fixture(scope="module")
def both(upstream_venv: Venv, standard_overlay_venv: Venv,
         tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], str]:
    tmp = tmp_path_factory.mktemp("names")
    with LinkAheadTestServer(anonymous=True) as server:
        upstream = _run(upstream_venv, server, tmp / "upstream")
        ours = _run(standard_overlay_venv, server, tmp / "ours")
        return upstream, ours, server.url


def test_the_driver_runs_every_step() -> None:
    source = DRIVER.read_text(encoding="utf-8")
    defined = {line[4:].split("(")[0] for line in source.splitlines() if line.startswith("def ")}
    assert defined - {"main"} - {name for name in defined if name.startswith("_")} == set(STEPS)


@pytest.mark.parametrize("step", STEPS)
def test_same_observations_as_upstream(both: tuple[dict[str, Any], dict[str, Any], str], step: str) -> None:
    upstream, ours, _url = both
    mine = dict(ours[step]) if isinstance(ours[step], dict) else ours[step]
    for key, value in OURS_ONLY.get(step, {}).items():
        assert mine.pop(key) == value, (step, key, ours[step])
        assert upstream[step][key] == 0, (step, key, upstream[step])
        mine[key] = upstream[step][key]
    assert mine == upstream[step], f"{step}:\nupstream: {upstream[step]}\nours:     {ours[step]}"


def test_a_query_answered_without_query_element_names_the_url(
        both: tuple[dict[str, Any], dict[str, Any], str]) -> None:
    """Upstream's own error, not ``AttributeError: ... no attribute '_base_path'``."""
    _upstream, ours, url = both
    assert ours["no_query_in_answer"]["class"] == "LinkAheadConnectionError"
    assert ours["no_query_in_answer"]["message"].endswith(f"URL: {url}")
    assert ours["wrong_root_path"]["message"].endswith(f"URL: {url}wrong/path/")
    assert ours["default_transport"]["base_path"] == url
