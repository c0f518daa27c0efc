"""Benchmark report: this connection against a bare ``requests.Session`` and the legacy client.

Run with ``./run bench`` (``--quick`` for a seconds-long check of the machinery). One run
measures everything against ONE embedded server process (``python -m linkahead.testing``):

- client CPU and wall time per authenticated request -- every client in its own worker process
  (``bench/worker.py``), rounds alternating between them, medians reported;
- cold start (import + configure) and peak memory of a fresh interpreter, in the development
  venv and in a clean venv with regular installs (``build/bench-venv``), against ``import
  requests`` in the same venv;
- logins caused by 1/4/16/64 threads meeting an expired session;
- logins when 1/8/32 processes with 4 threads each start together on a fresh session store, and
  when they start again within the session's lifetime (``bench/sessions.py``);
- time to first answer of a short script with ``pass`` and ``plain``: no store, warm store, legacy;
- the legacy ``linkahead`` 0.21 client (``build/bench-legacy-venv``) as a comparison column.

A full run writes ``bench/results.json``, the tables in ``docs/benchmarks.rst`` and the plot
``docs/_static/benchmarks.png``; ``--render bench/results.json`` redraws them without measuring.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench import sessions
else:
    import sessions  # bench/sessions.py: this folder is the script's first sys.path entry

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "bench" / "worker.py"
USERNAME = "admin"
PASSWORD = "bench-Pa55word"
# Every plugin of this repository: the cold-start goal is "with all plugins installed" (issue 20).
STANDARD_PLUGINS = ("plain", "input", "pass", "keyring", "auth_token", "unauthenticated", "exec")
LEGACY_REQUIREMENT = "linkahead==0.21.0"
TARGET_CPU = 1.02
TARGET_COLD = 1.05  # issue 20: import + configure <= 1.05x import requests, all plugins installed
TARGET_FIRST = 1.00  # issue 20: first answer with a warm store <= 1.00x a hand-written requests login + GET
RESULTS_BEGIN = ".. begin generated results (bench/run.py rewrites everything up to the end marker)"
RESULTS_END = ".. end generated results"
CLIENT_LABELS = {
    "connection": "linkahead-connection",
    "session": "requests.Session (trust_env=True)",
    "session-noenv": "requests.Session (trust_env=False)",
    "session-nojar": "requests.Session (trust_env=False, no cookie jar)",
    "legacy": "legacy linkahead 0.21",
}


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and why."""


# -- processes that talk in lines ------------------------------------------------------------


class LineProcess:
    """A child process answering commands on stdin with lines on stdout, read with a time-out."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr, text=True, env=env, cwd=tempfile.gettempdir())
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def readline(self, timeout: float = 120.0) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"{self.name}: no answer within {timeout:.0f} s") from None
        if line is None:
            raise BenchError(f"{self.name} exited ({self._process.poll()}): {self.stderr_tail()}")
        return line

    def ask(self, command: str, timeout: float = 120.0) -> str:
        assert self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self.readline(timeout)

    def stderr_tail(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace").strip()
        return " | ".join(text.splitlines()[-3:]) or "(no error output)"

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=15)
        self._stderr.close()


class Server(LineProcess):
    """``python -m linkahead.testing`` with its stdin controls (``invalidate``, ``counters``)."""

    def __init__(self) -> None:
        super().__init__("the benchmark server", [sys.executable, "-m", "linkahead.testing", "--control",
                                                  "--port", "0", "--user", f"{USERNAME}:{PASSWORD}"])
        line = self.readline(30)  # readiness: the server prints its URL once it listens
        if not line.startswith("URL "):
            raise BenchError(f"the benchmark server did not start: {line!r}")
        self.url = line.split()[1]

    def invalidate(self) -> None:
        answer = self.ask("invalidate")
        if answer != "INVALIDATED":
            raise BenchError(f"the server did not invalidate its sessions: {answer!r}")

    def counters(self) -> dict[str, int]:
        answer = self.ask("counters")
        if not answer.startswith("COUNTERS "):
            raise BenchError(f"the server sent no counters: {answer!r}")
        counters: dict[str, int] = json.loads(answer[len("COUNTERS "):])
        return counters


class Worker(LineProcess):
    """``bench/worker.py`` for one client kind, run by ``python`` (whose venv decides the client)."""

    def __init__(self, kind: str, python: Path, url: str) -> None:
        env = {**os.environ, "HOME": tempfile.gettempdir()}  # no user's pylinkahead.ini
        env.pop("PYLINKAHEADINI", None)
        env.pop("XDG_RUNTIME_DIR", None)
        env["LINKAHEAD_SESSION_CACHE"] = "none"  # no session store: the measured sessions are per process
        super().__init__(f"worker {kind}", [str(python), str(WORKER), kind, url, USERNAME, PASSWORD], env)
        line = self.readline(60)
        if not line.startswith("READY "):
            raise BenchError(f"worker {kind} did not start: {line!r} {self.stderr_tail()}")
        self.info: dict[str, Any] = json.loads(line[len("READY "):])

    def command(self, command: str, timeout: float = 300.0) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.ask(command, timeout))
        if "error" in answer and "wall" not in answer:
            raise BenchError(f"{self.name}: {answer['error']}")
        return answer


# -- virtual environments ----------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def tree_hash(paths: Sequence[Path]) -> str:
    """A hash of the pyproject files and the sources a clean install copies (stale venvs rebuild)."""
    digest = hashlib.sha256()
    for base in paths:
        files = [base] if base.is_file() else sorted(
            p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_venv(venv: Path, key: str, install: Sequence[str], log: Path) -> Path:
    """A venv at ``venv`` with ``install`` (pip arguments) installed, rebuilt when ``key`` changes."""
    stamp = venv / ".bench-key"
    python = venv_python(venv)
    if python.exists() and stamp.exists() and stamp.read_text() == key:
        return python
    shown = venv.relative_to(ROOT) if venv.is_relative_to(ROOT) else venv
    print(f"Building {shown} (pip install {' '.join(install)}) ...", file=sys.stderr, flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)  # build/ does not exist in a fresh checkout
    with log.open("w") as out:
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *install],
        ]
        for step in steps:
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, timeout=900).returncode:
                tail = " | ".join(log.read_text().strip().splitlines()[-3:])
                raise BenchError(f"{' '.join(step[:4])} ... failed (log {log}): {tail}")
    stamp.write_text(key)
    return python


def compile_bytecode(python: Path, paths: Sequence[Path]) -> None:
    """Write ``.pyc`` files: with PYTHONDONTWRITEBYTECODE set nothing else does, and a cold start
    that compiles from source measures the compiler, not the import."""
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", *map(str, paths)],
                   check=True, stdout=subprocess.DEVNULL, timeout=300)


def site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True, timeout=60)
    return Path(out.stdout.strip())


def extra_distributions() -> list[Path]:
    """Further distributions of this repository that a user installs with the core.

    Every top-level folder with a ``pyproject.toml`` besides ``core`` -- such as the small
    ``linkahead_connection`` package whose ``.pth`` import hook serves the modules shared with
    upstream (issue 17) -- goes into the clean venv too, so that the cold start is measured with
    it: after merging it, ``./run bench`` measures the hook without further changes here.
    """
    return sorted(folder for folder in ROOT.iterdir()
                  if folder.is_dir() and folder.name not in ("core", "build", "docs", "plugins", "bench", "tests")
                  and not folder.name.startswith(".") and (folder / "pyproject.toml").is_file())


def clean_venv() -> Path:
    sources = [ROOT / "core", *(ROOT / "plugins" / name for name in STANDARD_PLUGINS), *extra_distributions()]
    key = tree_hash([s / "pyproject.toml" for s in sources] + [s / "src" for s in sources])
    python = ensure_venv(ROOT / "build" / "bench-venv", key, [str(s) for s in sources],
                         ROOT / "build" / "bench-venv.log")
    compile_bytecode(python, [site_packages(python)])
    return python


def legacy_venv() -> Path:
    python = ensure_venv(ROOT / "build" / "bench-legacy-venv", LEGACY_REQUIREMENT, [LEGACY_REQUIREMENT],
                         ROOT / "build" / "bench-legacy-venv.log")
    compile_bytecode(python, [site_packages(python)])
    return python


# -- measurements --------------------------------------------------------------------------------


def bench_requests(workers: dict[str, Worker], requests: int, rounds: int) -> dict[str, dict[str, float]]:
    """Median CPU and wall microseconds per request, rounds alternating between the workers."""
    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in workers}
    kinds = list(workers)
    for number in range(rounds):
        # Rotate the order too, so no client always runs right after the same other one.
        for kind in kinds[number % len(kinds):] + kinds[:number % len(kinds)]:
            samples[kind].append(workers[kind].command(f"run {requests}"))
    return {
        kind: {
            "cpu_us": statistics.median(s["cpu"] for s in runs) / requests * 1e6,
            "wall_us": statistics.median(s["wall"] for s in runs) / requests * 1e6,
            "cpu_us_min": min(s["cpu"] for s in runs) / requests * 1e6,
            "cpu_us_max": max(s["cpu"] for s in runs) / requests * 1e6,
        }
        for kind, runs in samples.items()
    }


def bench_logins(server: Server, workers: dict[str, Worker], threads: Sequence[int],
                 repeats: int) -> dict[str, list[dict[str, Any]]]:
    """Logins at the server when ``t`` threads meet a session the server has just invalidated."""
    results: dict[str, list[dict[str, Any]]] = {}
    for kind, worker in workers.items():
        rows = []
        for count in threads:
            logins, errors, walls, first_error = [], 0, [], ""
            for _ in range(repeats):
                server.invalidate()
                before = server.counters()
                answer = worker.command(f"burst {count}")
                after = server.counters()
                logins.append(after["logins"] - before["logins"])
                errors += answer["errors"]
                walls.append(answer["wall"])
                first_error = first_error or answer["error"]
            rows.append({"threads": count, "logins": logins, "errors": errors, "first_error": first_error,
                         "wall_ms": statistics.median(walls) * 1e3})
        results[kind] = rows
    return results


def run_child(python: Path, code: str, env: dict[str, str], args: Sequence[str] = ()) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (KiB) of ``python -c code``; ``os.wait4`` gives
    this child's own resource usage (RUSAGE_CHILDREN would be the maximum over all children)."""
    started = time.perf_counter()
    process = subprocess.Popen([str(python), "-c", code, *args], env=env, cwd="/",
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    errors = process.stderr.read().decode("utf-8", "replace")
    process.stderr.close()
    if process.returncode:
        raise BenchError(f"{python} -c {code!r} failed: {errors.strip()[-300:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def bench_cold_start(url: str, pythons: dict[str, tuple[Path, str]], runs: int) -> dict[str, dict[str, Any]]:
    """Median wall/CPU milliseconds and peak RSS of import + configure, ``import requests`` and
    ``pass`` in each venv (``pythons``: venv name -> interpreter and the client it has)."""
    configure = (
        "import linkahead; linkahead.configure_connection("
        f"url={url!r}, username={USERNAME!r}, password={PASSWORD!r}, password_method='plain')"
    )
    codes = {"configure": configure, "requests": "import requests", "python": "pass"}
    # A home of its own, as a user has one: no pylinkahead.ini in it, and the entry-point cache
    # that the first (warm-up) run writes there is what every later start of a user finds.
    home = tempfile.mkdtemp(prefix="bench-home-")
    env = {**os.environ, "HOME": home, "PYTHONDONTWRITEBYTECODE": "1"}
    for key in ("PYLINKAHEADINI", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "LINKAHEAD_SESSION_CACHE"):
        env.pop(key, None)
    variants = [(venv, what) for venv in pythons for what in codes]
    for venv, what in variants:  # warm the OS file cache
        run_child(pythons[venv][0], codes[what], env)
    samples: dict[tuple[str, str], list[tuple[float, float, int]]] = {v: [] for v in variants}
    for number in range(runs):
        for variant in variants[number % len(variants):] + variants[:number % len(variants)]:
            venv, what = variant
            samples[variant].append(run_child(pythons[venv][0], codes[what], env))
    results: dict[str, dict[str, Any]] = {}
    for venv, (python, client) in pythons.items():
        entry: dict[str, Any] = {"python": str(python), "client": client}
        for what in codes:
            runs_ = samples[(venv, what)]
            entry[what] = {"wall_ms": statistics.median(r[0] for r in runs_) * 1e3,
                           "cpu_ms": statistics.median(r[1] for r in runs_) * 1e3,
                           "maxrss_mib": statistics.median(r[2] for r in runs_) / 1024}
        entry["wall_ratio"] = entry["configure"]["wall_ms"] / entry["requests"]["wall_ms"]
        entry["rss_ratio"] = entry["configure"]["maxrss_mib"] / entry["requests"]["maxrss_mib"]
        results[venv] = entry
    import shutil

    shutil.rmtree(home, ignore_errors=True)
    return results


def count_distributions(python: Path) -> int:
    code = "import importlib.metadata as m; print(len(list(m.distributions())))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return int(out.stdout)


# -- the whole run ---------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform,
                    "date": time.strftime("%Y-%m-%d"), "commit": git_commit()},
        "settings": {"requests_per_round": args.requests, "rounds": args.rounds, "cold_runs": args.cold_runs,
                     "threads": args.threads, "login_repeats": args.login_repeats, "quick": args.quick,
                     "processes": args.processes, "first_runs": args.first_runs},
        "unavailable": {},
    }
    dev_python = Path(sys.executable)
    pythons: dict[str, tuple[Path, str]] = {"dev": (dev_python, "linkahead-connection")}
    legacy_python: Path | None = None
    if not args.quick:
        compile_bytecode(dev_python, [ROOT / "core" / "src", *(ROOT / "plugins").glob("*/src")])
    if args.clean_venv:
        try:
            pythons["clean"] = (clean_venv(), "linkahead-connection")
        except (BenchError, subprocess.SubprocessError, OSError) as error:
            results["unavailable"]["clean"] = str(error)
    if args.legacy:
        try:
            legacy_python = legacy_venv()
            pythons["legacy"] = (legacy_python, "linkahead 0.21")
        except (BenchError, subprocess.SubprocessError, OSError) as error:
            results["unavailable"]["legacy"] = f"not installable: {error}"
    results["distributions"] = {venv: count_distributions(python) for venv, (python, _) in pythons.items()}

    with ExitStack() as stack:
        server = Server()
        stack.callback(server.close)
        workers: dict[str, Worker] = {}
        for kind in ("connection", "session", "session-noenv", "session-nojar"):
            workers[kind] = Worker(kind, dev_python, server.url)
            stack.callback(workers[kind].close)
        if legacy_python is not None:
            try:
                workers["legacy"] = Worker("legacy", legacy_python, server.url)
                stack.callback(workers["legacy"].close)
            except BenchError as error:
                results["unavailable"]["legacy"] = f"does not run against the embedded server: {error}"
                pythons.pop("legacy", None)
        results["clients"] = {kind: worker.info for kind, worker in workers.items()}
        print(f"server {server.url}; clients: {', '.join(workers)}", file=sys.stderr, flush=True)
        results["per_request"] = bench_requests(workers, args.requests, args.rounds)
        print("per-request rounds done", file=sys.stderr, flush=True)
        login_workers = {kind: w for kind, w in workers.items() if kind in ("connection", "legacy")}
        results["logins"] = bench_logins(server, login_workers, args.threads, args.login_repeats)
        print("login bursts done", file=sys.stderr, flush=True)
        results["cold_start"] = bench_cold_start(server.url, pythons, args.cold_runs)
        print("cold starts done", file=sys.stderr, flush=True)
        # The clean venv where there is one: a user's install, as for the cold start.
        clients = {"connection": pythons["clean"][0] if "clean" in pythons else dev_python}
        if "legacy" in pythons:
            clients["legacy"] = pythons["legacy"][0]
        try:
            results["process_logins"] = sessions.bench_process_logins(
                server.counters, server.url, USERNAME, PASSWORD, clients, args.processes)
            print("process waves done", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory(prefix="bench-first-") as folder:
                results["first_answer"] = sessions.bench_first_answer(
                    run_child, server.url, USERNAME, PASSWORD, clients, args.first_runs, Path(folder))
            print("first answers done", file=sys.stderr, flush=True)
        except sessions.BenchError as error:
            raise BenchError(str(error)) from None
    return results


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


# -- the report --------------------------------------------------------------------------------


def simple_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A reStructuredText grid table -- also readable as printed text.

    A grid table, not a simple one: in a simple table a row whose first cell is empty continues
    the row above, which merged "first wave" and "second wave" into one cell.
    """
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def rule(character: str) -> str:
        return "+" + "+".join(character * (width + 2) for width in widths) + "+"

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    out = [rule("-"), line(header), rule("=")]
    for row in rows:
        out += [line(row), rule("-")]
    return out


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it is met."""
    checks: list[dict[str, Any]] = []
    per_request = results["per_request"]
    ours = per_request["connection"]
    if "session-noenv" in per_request:
        ratio = ours["cpu_us"] / per_request["session-noenv"]["cpu_us"]
        checks.append({"target": f"client CPU per request <= {TARGET_CPU:.2f}x requests.Session (trust_env=False)",
                       "measured": f"{ratio:.3f}x", "met": ratio <= TARGET_CPU})
    if "session-nojar" in per_request:
        ratio = ours["cpu_us"] / per_request["session-nojar"]["cpu_us"]
        checks.append({"target": f"(same, against a Session that also keeps no cookie jar: <= {TARGET_CPU:.2f}x)",
                       "measured": f"{ratio:.3f}x", "met": ratio <= TARGET_CPU})
    cold = results["cold_start"].get("clean") or results["cold_start"]["dev"]
    where = "clean venv" if "clean" in results["cold_start"] else "dev venv (no clean venv in this run)"
    legacy = results["cold_start"].get("legacy")
    upstream = f" (upstream 0.21: {legacy['wall_ratio']:.3f}x)" if legacy else ""
    checks.append({"target": f"cold start <= {TARGET_COLD:.2f}x import requests ({where}, all plugins)",
                   "measured": f"{cold['wall_ratio']:.3f}x{upstream}", "met": cold["wall_ratio"] <= TARGET_COLD})
    first = {(row["method"], row["variant"]): row for row in results.get("first_answer", {}).get("rows", [])}
    if ("plain", "warm store") in first and ("plain", "requests by hand") in first:
        by_hand = first[("plain", "requests by hand")]["wall_ms"]
        ratio = first[("plain", "warm store")]["wall_ms"] / by_hand
        upstream = f" (upstream 0.21: {first[('plain', 'legacy')]['wall_ms'] / by_hand:.3f}x)" \
            if ("plain", "legacy") in first else ""
        checks.append({"target": f"first answer, warm store <= {TARGET_FIRST:.2f}x requests login + GET by hand",
                       "measured": f"{ratio:.3f}x{upstream}", "met": ratio <= TARGET_FIRST})
    checks.append({"target": f"peak memory <= {TARGET_COLD:.2f}x import requests ({where})",
                   "measured": f"{cold['rss_ratio']:.3f}x", "met": cold["rss_ratio"] <= TARGET_COLD})
    logins = [max(row["logins"]) for row in results["logins"]["connection"]]
    errors = sum(row["errors"] for row in results["logins"]["connection"])
    threads = "/".join(str(row["threads"]) for row in results["logins"]["connection"])
    checks.append({"target": f"one login after session expiry at {threads} threads",
                   "measured": "/".join(map(str, logins)) + (f", {errors} errors" if errors else ""),
                   "met": all(n == 1 for n in logins) and not errors})
    waves = results.get("process_logins", {}).get("connection")
    if waves:
        counts = "/".join(str(row["processes"]) for row in waves)
        for name, target, text in (("first", 1, "fresh store"), ("second", 0, "second wave")):
            measured = [row[name]["logins"] for row in waves]
            errors = sum(row[name]["errors"] for row in waves)
            checks.append({"target": f"logins from {counts} processes x {sessions.THREADS} threads, {text}: {target}",
                           "measured": "/".join(map(str, measured)) + (f", {errors} errors" if errors else ""),
                           "met": all(n == target for n in measured) and not errors})
    return checks


def report_lines(results: dict[str, Any]) -> list[str]:
    """The report as reStructuredText: tables with short titles; printed as it is."""
    out: list[str] = []
    machine = results["machine"]
    settings = results["settings"]
    out += [f"Measured {machine['date']} at commit ``{machine['commit']}`` on {machine['cpus']} CPUs, "
            f"Python {machine['python']}; {settings['rounds']} rounds of {settings['requests_per_round']} "
            f"requests per client, {settings['cold_runs']} cold starts per variant"
            + (" (quick mode: numbers are not meaningful)." if settings["quick"] else "."), ""]

    out += ["**Targets**", ""]
    out += simple_table(["target", "measured", "met"],
                        [[c["target"], c["measured"], "yes" if c["met"] else "NO"] for c in targets(results)])

    per_request = results["per_request"]
    ours = per_request["connection"]
    rows = []
    for kind, label in CLIENT_LABELS.items():
        if kind in per_request:
            value = per_request[kind]
            rows.append([label, f"{value['cpu_us']:.0f}", f"{value['cpu_us_min']:.0f}-{value['cpu_us_max']:.0f}",
                         f"{value['wall_us']:.0f}", f"{ours['cpu_us'] / value['cpu_us']:.3f}",
                         f"{ours['wall_us'] / value['wall_us']:.3f}"])
        elif kind == "legacy":
            rows.append([label, "--", "--", "--", "--", _why(results, "legacy")])
    out += ["", "**Per authenticated request** (median over rounds; ratio = linkahead-connection / row)", ""]
    out += simple_table(["client", "CPU us", "CPU range", "wall us", "CPU ratio", "wall ratio"], rows)

    rows = []
    names = {"dev": "dev venv (editable)", "clean": "clean venv (pip install)", "legacy": "legacy venv"}
    for venv, entry in results["cold_start"].items():
        for what, code in (("configure", "import + configure"), ("requests", "import requests"),
                           ("python", "python -c pass")):
            value = entry[what]
            ratio = f"{entry['wall_ratio']:.3f}" if what == "configure" else ""
            rss_ratio = f"{entry['rss_ratio']:.3f}" if what == "configure" else ""
            rows.append([f"{names.get(venv, venv)}: {entry['client'] if what == 'configure' else ''}".rstrip(": "),
                         code, f"{value['wall_ms']:.1f}", f"{value['cpu_ms']:.1f}", f"{value['maxrss_mib']:.1f}",
                         ratio, rss_ratio])
    for venv in ("clean", "legacy"):
        if venv in results["unavailable"]:
            rows.append([names[venv], "--", "--", "--", "--", "--", _why(results, venv)])
    out += ["", "**Cold start** of a fresh interpreter (median; ratios against ``import requests`` "
            "in the same venv; distributions installed: "
            + ", ".join(f"{k} {v}" for k, v in results["distributions"].items()) + ")", ""]
    out += simple_table(["venv: client", "code", "wall ms", "CPU ms", "peak RSS MiB", "wall ratio", "RSS ratio"],
                        rows)

    threads = [row["threads"] for row in results["logins"]["connection"]]
    rows = []
    for kind in ("connection", "legacy"):
        if kind in results["logins"]:
            cells = []
            for row in results["logins"][kind]:
                logins = row["logins"]
                text = str(max(logins)) if min(logins) == max(logins) else f"{min(logins)}-{max(logins)}"
                if row["errors"]:
                    text += f" ({row['errors']} errors)"
                cells.append(text)
            rows.append([CLIENT_LABELS[kind], *cells])
        else:
            rows.append([CLIENT_LABELS[kind], _why(results, "legacy"), *([""] * (len(threads) - 1))])
    out += ["", f"**Logins** when N threads meet an expired session (server-side count; "
            f"{settings['login_repeats']} repeats, range shown when they differ)", ""]
    out += simple_table(["client", *(f"{n} thread{'s' if n != 1 else ''}" for n in threads)], rows)
    errors = [f"{CLIENT_LABELS[k]}: {row['first_error']}" for k, rs in results["logins"].items()
              for row in rs if row["first_error"]]
    if errors:
        out += ["", "First error seen: " + errors[0].replace("*", r"\*")]
    out += session_lines(results)
    return out


def session_lines(results: dict[str, Any]) -> list[str]:
    """The session-store tables (absent from results of runs before the store existed)."""
    out: list[str] = []
    waves = results.get("process_logins")
    if waves:
        counts = [row["processes"] for row in waves["connection"]]
        rows = []
        for kind, label in (("connection", "linkahead-connection, session store"), ("legacy", CLIENT_LABELS["legacy"])):
            for name, text in (("first", "first wave"), ("second", "second wave")):
                if kind not in waves:
                    if name == "first":
                        rows.append([label, "", _why(results, "legacy"), *([""] * (len(counts) - 1))])
                    continue
                cells = []
                for row in waves[kind]:
                    cell = str(row[name]["logins"])
                    if row[name]["errors"]:
                        cell += f" ({row[name]['errors']} errors)"
                    cells.append(cell)
                rows.append([label if name == "first" else "", text, *cells])
        out += ["", f"**Logins from processes** started together, {sessions.THREADS} threads each, each thread one "
                "request (server-side count; the second wave starts within the session's lifetime)", ""]
        out += simple_table(["client", "wave", *(f"{n} process{'es' if n != 1 else ''}" for n in counts)], rows)
    first = results.get("first_answer")
    if first:
        by = {(row["method"], row["variant"]): row for row in first["rows"]}
        rows = []
        by_hand = by.get(("plain", "requests by hand"))
        for (method, variant), row in by.items():
            baseline = by.get((method, "no store"))
            legacy = by.get((method, "legacy"))
            rows.append([method, variant, f"{row['wall_ms']:.0f}", f"{row['cpu_ms']:.0f}",
                         f"{row['wall_ms'] / baseline['wall_ms']:.2f}" if baseline else "--",
                         f"{row['wall_ms'] / legacy['wall_ms']:.2f}" if legacy else "--",
                         f"{row['wall_ms'] / by_hand['wall_ms']:.2f}" if by_hand else "--"])
        for method, reason in first.get("unavailable", {}).items():
            rows.append([method, "--", "--", "--", "--", "--", str(reason)[:120]])
        out += ["", "**Time to first answer** of a short script (``import linkahead``, ``configure_connection``, "
                "one ``retrieve([\"Info\"])``) in a fresh interpreter (median; ratios of wall time)", ""]
        out += simple_table(["method", "variant", "wall ms", "CPU ms", "vs no store", "vs legacy",
                             "vs requests by hand"], rows)
        binding = first.get("binding")
        if binding:
            out += ["", f"Of each ``plain`` warm-store run, {binding['ms']:.1f} ms (median) is the store's check "
                    f"that the password given to the process is the one that logged in (PBKDF2-HMAC-SHA256, "
                    f"{binding['iterations']:,} rounds; issue 18). ``pass`` gives no password to the process "
                    "and has no such check."]
    return out


def _why(results: dict[str, Any], what: str) -> str:
    reason = str(results["unavailable"].get(what, "not measured in this run (--quick or --no-legacy)"))
    return reason.replace("\n", " ")[:200]


def write_rst(path: Path, lines: list[str], plot: Path | None) -> None:
    """Replace the generated part of ``path`` (between the markers) with ``lines``."""
    text = path.read_text()
    begin, end = text.find(RESULTS_BEGIN), text.find(RESULTS_END)
    if begin < 0 or end < begin:
        raise BenchError(f"{path} lacks the markers {RESULTS_BEGIN!r} ... {RESULTS_END!r}")
    body = [RESULTS_BEGIN, "", *lines, ""]
    if plot is not None and plot.exists():
        body += [f".. image:: {Path(os.path.relpath(plot, path.parent)).as_posix()}",
                 "   :alt: per-request CPU and wall time, cold start and peak memory, logins under threads "
                 "and from processes",
                 "   :class: full-width",
                 f"   :target: {Path(os.path.relpath(plot, path.parent)).as_posix()}", ""]
    path.write_text(text[:begin] + "\n".join(body) + "\n" + text[end:])


def plot(results: dict[str, Any], path: Path) -> bool:
    """Draw the PNG; matplotlib is optional (imported here only), so a missing one skips the plot."""
    try:
        matplotlib: Any = importlib.import_module("matplotlib")
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return False
    matplotlib.use("Agg")
    pyplot: Any = importlib.import_module("matplotlib.pyplot")
    waves = results.get("process_logins")
    panels = 4 if waves else 3
    # Two by two, about 1200 x 950 pixels: readable at full page width (docs/_static/custom.css).
    figure, grid = pyplot.subplots(2, 2, figsize=(12, 9.5), constrained_layout=True)
    axes = list(grid.flat)
    left, middle, right = axes[:3]
    if panels == 3:
        axes[3].set_visible(False)
    short = {"connection": "linkahead-\nconnection", "session": "Session\ntrust_env=True",
             "session-noenv": "Session\ntrust_env=False", "session-nojar": "Session trust_env\n=False, no jar",
             "legacy": "legacy\nlinkahead 0.21"}
    colours = {"connection": "#1f77b4", "session": "#ff7f0e", "session-noenv": "#ffbb78", "session-nojar": "#ffe4c4",
               "legacy": "#7f7f7f"}

    kinds = [k for k in CLIENT_LABELS if k in results["per_request"]]
    positions = range(len(kinds))
    cpu = [results["per_request"][k]["cpu_us"] for k in kinds]
    wall = [results["per_request"][k]["wall_us"] for k in kinds]
    left.bar([p - 0.2 for p in positions], cpu, 0.4, label="client CPU", color=[colours[k] for k in kinds])
    left.bar([p + 0.2 for p in positions], wall, 0.4, label="wall", color=[colours[k] for k in kinds],
             alpha=0.45, hatch="//")
    for p, value in zip(positions, cpu, strict=True):
        left.annotate(f"{value:.0f}", (p - 0.2, value), ha="center", va="bottom", fontsize=8)
    left.set_xticks(list(positions), [short[k] for k in kinds], fontsize=8)
    left.set_ylabel("microseconds per request (median)")
    left.set_title("Per authenticated request\n(solid: client CPU, hatched: wall)")

    labels, wall_ms, rss = [], [], []
    for venv, entry in results["cold_start"].items():
        for what, text in (("configure", "client"), ("requests", "requests")):
            labels.append(f"{venv}\n{text}")
            wall_ms.append(entry[what]["wall_ms"])
            rss.append(entry[what]["maxrss_mib"])
    positions = range(len(labels))
    middle.bar(list(positions), wall_ms, 0.6, color=[
        ("#7f7f7f" if x.startswith("legacy") else "#1f77b4") if "client" in x else "#ff7f0e" for x in labels])
    for p, value in zip(positions, wall_ms, strict=True):
        middle.annotate(f"{value:.0f}", (p, value), ha="center", va="bottom", fontsize=8)
    middle.set_xticks(list(positions), labels, fontsize=8)
    middle.set_ylabel("cold start, ms (median wall)")
    twin = middle.twinx()
    twin.plot(list(positions), rss, "kD", label="peak RSS")
    twin.set_ylabel("peak RSS, MiB (diamonds)")
    twin.set_ylim(0, max(rss) * 1.3)
    middle.set_title("Cold start of a new interpreter per venv\n(blue: import + configure the client; "
                     "orange: import requests)")

    for kind in ("connection", "legacy"):
        if kind in results["logins"]:
            rows = results["logins"][kind]
            right.plot([r["threads"] for r in rows], [max(r["logins"]) for r in rows], "o-",
                       color=colours[kind], label=CLIENT_LABELS[kind])
    counts = [r["threads"] for r in results["logins"]["connection"]]
    most = max(max(r["logins"]) for rows in results["logins"].values() for r in rows)
    right.set_xscale("log", base=2)
    right.set_yscale("log", base=2)
    right.set_xticks(counts, [str(n) for n in counts])
    ticks = [2**n for n in range(max(most, 1).bit_length() + 1)]
    right.set_yticks(ticks, [str(n) for n in ticks])
    right.set_ylim(0.7, max(ticks) * 1.4)
    right.set_xlabel("threads meeting an expired session")
    right.set_ylabel("logins at the server (max over repeats)")
    right.set_title("Logins after session expiry")
    right.legend(fontsize=8)
    if waves:
        plot_waves(axes[3], waves, colours)
    figure.suptitle(f"linkahead-connection benchmarks ({results['machine']['date']}, "
                    f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']})")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return True


def plot_waves(axis: Any, waves: dict[str, list[dict[str, Any]]], colours: dict[str, str]) -> None:
    """Logins against processes started together: store first and second wave, legacy."""
    counts = [row["processes"] for row in waves["connection"]]
    lines = [("connection", "first", "store, first wave", "o-"), ("connection", "second", "store, second wave", "s--"),
             ("legacy", "first", "legacy, first wave", "o-"), ("legacy", "second", "legacy, second wave", "s--")]
    for kind, name, label, style in lines:
        if kind in waves:
            # Zero cannot sit on a log axis: plotted at 0.5, labelled 0.
            values = [max(row[name]["logins"], 0.5) for row in waves[kind]]
            axis.plot(counts, values, style, color=colours[kind], label=label)
    most = max(row[name]["logins"] for rows in waves.values() for row in rows for name in ("first", "second"))
    axis.set_xscale("log", base=2)
    axis.set_yscale("log", base=2)
    axis.set_xticks(counts, [str(n) for n in counts])
    ticks = [2**n for n in range(max(most, 1).bit_length() + 1)]
    axis.set_yticks([0.5, *ticks], ["0", *(str(n) for n in ticks)])
    axis.set_ylim(0.35, max(ticks) * 1.4)
    axis.set_xlabel(f"processes started together ({sessions.THREADS} threads each)")
    axis.set_ylabel("logins at the server")
    axis.set_title("Logins from processes\n(session store vs. legacy client)")
    axis.legend(fontsize=8)


# -- command line ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny counts, no legacy or clean venv, writes only what --json/--plot/--rst name")
    parser.add_argument("--requests", type=int, help="requests per round (default 1000; quick 20)")
    parser.add_argument("--rounds", type=int, help="rounds per client (default 9; quick 3)")
    parser.add_argument("--cold-runs", type=int, help="cold starts per variant (default 21; quick 3)")
    parser.add_argument("--threads", type=lambda s: [int(n) for n in s.split(",")], default=[1, 4, 16, 64],
                        help="thread counts for the login test (default 1,4,16,64)")
    parser.add_argument("--login-repeats", type=int, help="bursts per thread count (default 3; quick 1)")
    parser.add_argument("--processes", type=lambda s: [int(n) for n in s.split(",")],
                        help="process counts for the session-store waves (default 1,8,32; quick 1,3)")
    parser.add_argument("--first-runs", type=int, help="runs of the first-answer script per variant "
                        "(default 11; quick 1)")
    parser.add_argument("--no-legacy", dest="legacy", action="store_false", default=None,
                        help="skip the legacy client")
    parser.add_argument("--no-clean-venv", dest="clean_venv", action="store_false", default=None,
                        help="skip the clean venv")
    parser.add_argument("--json", type=Path, help="write the results here (default bench/results.json)")
    parser.add_argument("--plot", type=Path, help="write the PNG here (default docs/_static/benchmarks.png)")
    parser.add_argument("--rst", type=Path, help="rewrite the results in this page (default docs/benchmarks.rst)")
    parser.add_argument("--render", type=Path, metavar="JSON", help="report stored results; measure nothing")
    args = parser.parse_args(argv)
    quick = args.quick
    for name, full, small in (("requests", 1000, 20), ("rounds", 9, 3), ("cold_runs", 21, 3),
                              ("login_repeats", 3, 1), ("processes", [1, 8, 32], [1, 3]), ("first_runs", 11, 1)):
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    for name in ("legacy", "clean_venv"):
        if getattr(args, name) is None:
            setattr(args, name, not quick)
    if not quick:
        args.json = args.json or ROOT / "bench" / "results.json"
        args.plot = args.plot or ROOT / "docs" / "_static" / "benchmarks.png"
        args.rst = args.rst or ROOT / "docs" / "benchmarks.rst"
    return args


@contextmanager
def timed(what: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"{what} took {time.perf_counter() - started:.1f} s", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.render:
            results = json.loads(args.render.read_text())
        else:
            with timed("measuring"):
                results = measure(args)
        lines = report_lines(results)
        print("\n".join(lines))
        if args.json and not args.render:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        drawn = plot(results, args.plot) if args.plot else False
        if args.rst:
            write_rst(args.rst, lines, args.plot if drawn or (args.plot and args.plot.exists()) else None)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
