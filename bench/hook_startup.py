"""What the import hook costs a Python process that never imports ``linkahead``.

``linkahead_connection.pth`` runs at every interpreter start of an environment where
``linkahead-connection`` is installed. This benchmark builds two environments from the same
wheelhouse under ``build/bench-hook/``:

- ``upstream``: ``linkahead==0.21.0`` alone;
- ``both``: the same, then this checkout's core and every plugin (wheels, not editable).

and times ``python -c pass`` and ``python -c "import json"`` in each, alternating between the two
environments, ``--runs`` times (median wall milliseconds; the spread as the interquartile range).
It also lists the modules the ``both`` interpreter has loaded that the ``upstream`` one has not.

Run: ``.venv/bin/python bench/hook_startup.py [--runs 200]``. Writes ``bench/hook_startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench-hook"
UPSTREAM = "linkahead==0.21.0"
PROGRAMS = {"pass": "pass", "import json": "import json"}
MODULES = "import sys, json; print(json.dumps(sorted(sys.modules)))"


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done


def make_venv(name: str, install: list[str]) -> Path:
    path = WORK / name
    if not (path / "bin" / "python").exists():
        run(sys.executable, "-m", "venv", "--without-pip", path)
        run(sys.executable, "-m", "pip", "--python", path / "bin" / "python", "install", "-q", *install)
    return path / "bin" / "python"


def our_wheels() -> list[str]:
    wheels = WORK / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()
    projects = [ROOT / "core", *sorted(path.parent for path in (ROOT / "plugins").glob("*/pyproject.toml"))]
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, *projects)
    return [str(wheel) for wheel in sorted(wheels.glob("*.whl"))]


def clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "LINKAHEAD_CONNECTION_HOOK", "PYTHONDONTWRITEBYTECODE")}
    return env


def time_once(python: Path, code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([str(python), "-c", code], env=env, check=True)
    return (time.perf_counter() - start) * 1000


def summary(samples: list[float]) -> dict[str, float]:
    quartiles = statistics.quantiles(samples, n=4)
    return {"median_ms": round(statistics.median(samples), 2), "iqr_ms": round(quartiles[2] - quartiles[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    if (WORK / "both").exists():  # our wheels change with the checkout: rebuild that environment
        run("rm", "-rf", WORK / "both")
    pythons = {
        "upstream": make_venv("upstream", [UPSTREAM]),
        "both": make_venv("both", [UPSTREAM, *our_wheels()]),
    }
    env = clean_env()
    for python in pythons.values():  # write bytecode once, so that every timed run reads it
        run(python, "-c", MODULES, env=env)
    samples: dict[str, dict[str, list[float]]] = {name: {label: [] for label in PROGRAMS} for name in pythons}
    for _ in range(args.runs):
        for label, code in PROGRAMS.items():
            for name, python in pythons.items():
                samples[name][label].append(time_once(python, code, env))
    loaded = {name: set(json.loads(run(python, "-c", MODULES, env=env).stdout)) for name, python in pythons.items()}
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "system": platform.platform(), "cpus": os.cpu_count()},
        "runs": args.runs,
        "timings": {name: {label: summary(values) for label, values in by_label.items()}
                    for name, by_label in samples.items()},
        "ratio_both_to_upstream": {
            label: round(statistics.median(samples["both"][label]) / statistics.median(samples["upstream"][label]), 3)
            for label in PROGRAMS},
        "modules_added_by_the_hook": sorted(loaded["both"] - loaded["upstream"]),
    }
    (ROOT / "bench" / "hook_startup.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
