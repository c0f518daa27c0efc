"""The plugin author's kit, tested the way a third party uses it: the acme-sso example plugin.

The example lives in ``docs/examples/acme-sso/`` as its own distribution (``./run setup`` installs
it). Its behaviour is tested by its own suite, which is run here exactly as its author would run
it -- ``pytest`` in the plugin's folder, where the ``linkahead_server`` fixture arrives through
linkahead-connection's ``pytest11`` entry point and nothing of this repository's test setup applies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import linkahead
import pytest
from linkahead.plugins import installed_methods, load_method
from linkahead.testing import LinkAheadTestServer

pytest.importorskip("acme_linkahead_sso", reason="the example is not installed: pip install -e docs/examples/acme-sso")

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "acme-sso"
EXAMPLE_TESTS = 18  # the example's test cases, parametrised ones counted singly


def test_the_example_suite_passes_in_its_own_folder(tmp_path: Path) -> None:
    # The counts come from the JUnit XML report, not from pytest's summary line (whose wording is
    # pytest's to change); -W error: a warning on any Python fails the example's suite.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    report = tmp_path / "report.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", f"--junitxml={report}",
         "tests"],
        cwd=EXAMPLE, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=100,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    root = ElementTree.parse(report).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None, output
    counts = {name: int(suite.get(name, "0")) for name in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": EXAMPLE_TESTS, "failures": 0, "errors": 0, "skipped": 0}, output


def test_the_method_is_found_through_its_entry_point() -> None:
    entry_point = installed_methods()["acme-sso"]
    assert entry_point.value == "acme_linkahead_sso"
    assert entry_point.dist is not None and entry_point.dist.name == "acme-linkahead-sso"
    method = load_method("acme-sso")
    assert [option.name for option in method.options()] == [
        "acme_sso_url", "acme_sso_client_id", "acme_sso_secret_file",
    ]
    assert all(option.required for option in method.options())


def test_the_example_builds_a_wheel_with_entry_point_and_type_marker(tmp_path: Path) -> None:
    # --no-isolation: build with the hatchling already installed instead of fetching one.
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(EXAMPLE)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=100,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("acme_linkahead_sso-0.1.0-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "acme_linkahead_sso/__init__.py" in names
        assert "acme_linkahead_sso/py.typed" in names
        assert not any(name.startswith("tests/") for name in names)
        info = "acme_linkahead_sso-0.1.0.dist-info"
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = archive.read(f"{info}/METADATA").decode()
    assert "[linkahead.auth]\nacme-sso = acme_linkahead_sso" in entry_points
    assert "Requires-Dist: linkahead-connection>=0.1" in metadata
    assert "Requires-Dist: requests>=2.28" in metadata


def test_acme_options_are_tolerated_when_another_method_is_selected(linkahead_server: LinkAheadTestServer) -> None:
    # A user switches an acme-sso configuration to plain for a moment and keeps the acme_sso_* lines:
    # the core tolerates them because it derives the prefix 'acme_sso_' from the method name 'acme-sso'.
    Path("pylinkahead.ini").write_text(
        "[Connection]\n"
        f"url = {linkahead_server.url}\n"
        "password_method = plain\n"
        "username = admin\n"
        f"password = {linkahead_server.users['admin']}\n"
        "acme_sso_url = https://sso.acme.example/linkahead\n",
        encoding="utf-8",
    )
    assert linkahead.get_connection().retrieve(["Info"]).status == 200
