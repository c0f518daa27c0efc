"""Installing from a checkout works as the README and getting-started say, and every distribution
carries its Project-URLs.

The documented ``pip install "./core[standard]" ./plugins/...`` line is run for real by pip, with
``--dry-run`` (nothing changes in the test's environment), ``--no-index`` (no network: the
dependencies are already installed here) and ``--no-build-isolation`` (hatchling from this
environment). pip then builds each folder's metadata and resolves the ``standard`` extra from the
folders on the command line -- the part that would fail if the line were wrong. A full install into
a fresh virtual environment needs the package index and about 20 s; it was checked by hand.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "https://gitlab.com/linkahead/linkahead-connection"
PYPROJECTS = [ROOT / "core" / "pyproject.toml", *sorted((ROOT / "plugins").glob("*/pyproject.toml"))]


def documented_install_line(path: Path) -> str:
    lines = [line.strip().removeprefix("$ ") for line in path.read_text(encoding="utf-8").splitlines()
             if 'pip install "./core[standard]"' in line]
    assert len(lines) == 1, f"{path.name}: expected one install-from-checkout line, found {lines}"
    return lines[0]


def test_readme_and_getting_started_give_the_same_install_line() -> None:
    assert documented_install_line(ROOT / "README.md") == documented_install_line(ROOT / "docs" / "getting-started.rst")


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda path: path.parent.name)
def test_every_distribution_has_documentation_source_and_issue_urls(pyproject: Path) -> None:
    # tomllib from 3.11 on; on 3.10 tomli, its original (hatchling, a development tool, depends on it).
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    urls = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["urls"]
    assert set(urls) == {"Documentation", "Source", "Issues"}
    assert urls["Issues"] == f"{REPOSITORY}/-/issues"
    for key in ("Documentation", "Source"):
        assert urls[key].startswith(f"{REPOSITORY}/-/"), urls[key]
        # The link points into this repository: the file or folder it names must exist here.
        relative = urls[key].split("/-/", 1)[1].split("/", 2)[2]
        assert (ROOT / relative).exists(), f"{key} of {pyproject}: {relative} does not exist"


def test_the_documented_line_resolves_every_standard_method_from_the_checkout(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    arguments = shlex.split(documented_install_line(ROOT / "README.md"))
    assert arguments[:2] == ["pip", "install"]
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation",
         "--disable-pip-version-check", "--quiet", "--report", str(report), *arguments[2:]],
        cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    )
    assert result.returncode == 0, result.stderr
    planned = {item["metadata"]["name"]: item for item in json.loads(report.read_text())["install"]}
    assert set(planned) == {"linkahead-connection", "linkahead-auth-plain", "linkahead-auth-input",
                            "linkahead-auth-auth-token", "linkahead-auth-unauthenticated"}
    for name, item in planned.items():
        assert item["download_info"]["url"].startswith("file://"), name  # from the checkout, not an index
        project_urls = item["metadata"].get("project_url", [])
        assert f"Issues, {REPOSITORY}/-/issues" in project_urls, (name, project_urls)
