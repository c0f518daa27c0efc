"""The benchmark's quick mode runs end to end, so ``bench/run.py`` cannot rot unnoticed.

It starts the real embedded server process and real worker processes; the numbers of a quick run
mean nothing, only their shape is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


@pytest.mark.timeout(60)
def test_quick_mode_reports_every_measure(tmp_path: Path) -> None:
    results_file = tmp_path / "results.json"
    plot_file = tmp_path / "plot.png"
    page = tmp_path / "page.rst"
    page.write_text("Title\n=====\n\n.. begin generated results (bench/run.py rewrites everything up to the "
                    "end marker)\n\nstale-placeholder\n\n.. end generated results\n\nkept\n")
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(results_file), "--plot", str(plot_file),
         "--rst", str(page)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    assert finished.returncode == 0, finished.stderr
    assert elapsed < 30, f"quick mode took {elapsed:.1f} s"

    for heading in ("**Targets**", "**Per authenticated request**", "**Cold start**", "**Logins**",
                    "**Logins from processes**", "**Time to first answer**"):
        assert heading in finished.stdout
    for label in ("linkahead-connection", "requests.Session (trust_env=True)", "requests.Session (trust_env=False)",
                  "legacy linkahead 0.21", "import + configure", "import requests", "64 threads"):
        assert label in finished.stdout

    results = json.loads(results_file.read_text())
    assert set(results["per_request"]) == {"connection", "session", "session-noenv", "session-nojar"}
    for value in results["per_request"].values():
        assert 0 < value["cpu_us"] <= value["wall_us"] * 2
    cold = results["cold_start"]["dev"]
    assert cold["configure"]["wall_ms"] > cold["python"]["wall_ms"] > 0
    assert cold["configure"]["maxrss_mib"] > 0
    assert [row["threads"] for row in results["logins"]["connection"]] == [1, 4, 16, 64]
    # The one claim that holds even in quick mode: single-flight logins.
    assert all(row["logins"] == [1] and row["errors"] == 0 for row in results["logins"]["connection"])
    assert "legacy" not in results["logins"]
    # The session store: one login per fresh store however many processes start, none in a second wave.
    waves = results["process_logins"]["connection"]
    assert [row["processes"] for row in waves] == [1, 3]
    assert [(row["first"]["logins"], row["second"]["logins"]) for row in waves] == [(1, 0), (1, 0)]
    assert all(row[wave]["errors"] == 0 for row in waves for wave in ("first", "second"))
    variants = {(row["method"], row["variant"]) for row in results["first_answer"]["rows"]}
    assert {("plain", "no store"), ("plain", "warm store"), ("plain", "requests by hand")} <= variants

    text = page.read_text()
    assert "stale-placeholder" not in text and text.endswith("kept\n") and "**Per authenticated request**" in text
    if "matplotlib is not installed" in finished.stderr:
        assert not plot_file.exists()
    else:
        assert plot_file.read_bytes().startswith(b"\x89PNG")
        assert ".. image:: " in text


def test_render_without_markers_fails_clearly(tmp_path: Path) -> None:
    results_file = tmp_path / "results.json"
    subprocess.run([sys.executable, str(BENCH), "--quick", "--threads", "1", "--json", str(results_file)],
                   check=True, capture_output=True, timeout=60, cwd=tmp_path)
    page = tmp_path / "page.rst"
    page.write_text("no markers\n")
    # --plot into the temporary folder: by default --render redraws the committed docs plot.
    finished = subprocess.run([sys.executable, str(BENCH), "--render", str(results_file), "--rst", str(page),
                               "--plot", str(tmp_path / "plot.png")],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert finished.returncode == 1
    assert "lacks the markers" in finished.stderr


@pytest.mark.timeout(120)
def test_a_venv_is_built_where_no_build_folder_exists_yet(tmp_path: Path) -> None:
    """A fresh checkout has no ``build/``: the full run's clean and legacy venvs (and their pip logs)
    must still be made, not reported as 'not installable'."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH.parent))  # run.py imports its neighbours
    try:
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(BENCH.parent))
    folder = tmp_path / "build"  # does not exist
    # "pip" is already in every new venv: nothing is downloaded, and the install succeeds.
    python = bench.ensure_venv(folder / "venv", "key-1", ["--no-index", "pip"], folder / "venv.log")
    assert python.exists()
    assert (folder / "venv.log").exists() and (folder / "venv" / ".bench-key").read_text() == "key-1"
