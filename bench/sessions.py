"""Benchmarks of the session store (issue 12, point 6), used by ``bench/run.py``.

- **Logins from processes**: N processes (4 threads each) start together -- released at once
  after all of them have imported and configured the client -- and send one request per thread;
  the server counts the logins. Then a second wave within the session's lifetime. With the store
  the targets are 1 and 0; the legacy client logs in once per process (or thread) every time.
- **Time to first answer** of a short script (``import``, ``configure_connection``, one
  ``retrieve(["Info"])``) with ``pass`` and ``plain``: without a store, with a warm store, and
  the legacy client -- medians of fresh interpreters, in one run, as ratios.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

THREADS = 4

WAVE_CHILD = r"""
import json, sys, threading
import linkahead
linkahead.configure_connection(**json.loads(sys.argv[1]))
connection = linkahead.get_connection()
print("ready", flush=True)
sys.stdin.readline()
barrier = threading.Barrier(int(sys.argv[2]))
errors = []

def work():
    try:
        barrier.wait(60)
        connection.retrieve(["Info"]).read()
    except Exception as error:
        errors.append(f"{type(error).__name__}: {error}"[:200])

threads = [threading.Thread(target=work) for _ in range(int(sys.argv[2]))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"errors": len(errors), "error": errors[0] if errors else ""}), flush=True)
"""

FIRST_ANSWER = (
    "import json, sys, linkahead; linkahead.configure_connection(**json.loads(sys.argv[1])); "
    "linkahead.get_connection().retrieve(['Info']).read()"
)

# The baseline of issue 20's first-answer goal: the same answer with requests written by hand (a
# login, then the GET with the session cookie), in the same venv.
BY_HAND = (
    "import json, sys, requests; o = json.loads(sys.argv[1]); s = requests.Session(); "
    "r = s.post(o['url'] + 'login', data={'username': o['username'], 'password': o['password']}, timeout=30); "
    "r.raise_for_status(); "
    "s.get(o['url'] + 'Info', headers={'Cookie': r.headers['Set-Cookie'].split(';')[0]}, timeout=30).content"
)

RunChild = Callable[[Path, str, dict[str, str], Sequence[str]], tuple[float, float, int]]


class BenchError(RuntimeError):
    """A step of these benchmarks failed; the message says which."""


def wave(python: Path, options: dict[str, Any], count: int, env: dict[str, str]) -> dict[str, Any]:
    """``count`` processes of ``python`` go at once; errors and wall seconds after the go."""
    processes = [subprocess.Popen([str(python), "-c", WAVE_CHILD, json.dumps(options), str(THREADS)], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=tempfile.gettempdir())
                 for _ in range(count)]
    try:
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()  # blocks until the child is ready (or died)
            if line.strip() != "ready":
                raise BenchError(f"a wave process did not start: {line!r} "
                                 f"{process.stderr.read()[-300:] if process.stderr else ''}")
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        errors, first = 0, ""
        for process in processes:
            out, err = process.communicate(timeout=300)
            if process.returncode:
                raise BenchError(f"a wave process failed: {err.strip()[-300:]}")
            answer = json.loads(out.strip().splitlines()[-1])
            errors += answer["errors"]
            first = first or answer["error"]
        return {"errors": errors, "error": first, "wall_ms": (time.perf_counter() - started) * 1e3}
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def bench_process_logins(counters: Callable[[], dict[str, int]], url: str, username: str, password: str,
                         pythons: dict[str, Path], counts: Sequence[int]) -> dict[str, list[dict[str, Any]]]:
    """Logins per wave for each client (``connection`` with a fresh store per count, ``legacy``)."""
    results: dict[str, list[dict[str, Any]]] = {}
    home = tempfile.TemporaryDirectory(prefix="bench-home-")
    env = _env(Path(home.name))
    for kind, python in pythons.items():
        rows = []
        for count in counts:
            with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
                options: dict[str, Any] = {"url": url, "username": username, "password": password,
                                           "password_method": "plain"}
                if kind == "connection":
                    options["session_cache"] = str(Path(folder) / "sessions")
                row: dict[str, Any] = {"processes": count, "threads": THREADS}
                for name in ("first", "second"):
                    before = counters()["logins"]
                    outcome = wave(python, options, count, env)
                    row[name] = {"logins": counters()["logins"] - before, **outcome}
                rows.append(row)
        results[kind] = rows
    home.cleanup()
    return results


def bench_first_answer(run_child: RunChild, url: str, username: str, password: str,
                       pythons: dict[str, Path], runs: int, workdir: Path) -> dict[str, Any]:
    """Median wall/CPU ms of the short script per method and variant; ``pass`` needs gpg and pass.

    ``pythons["connection"]`` runs the connection's variants and the hand-written requests script
    (the same venv), ``pythons["legacy"]`` the legacy client.
    """
    (workdir / "home").mkdir(mode=0o700)
    env = _env(workdir / "home")  # a home of its own: the entry-point cache lives there, as for a user
    methods: dict[str, dict[str, Any]] = {"plain": {"password": password}}
    unavailable: dict[str, str] = {}
    gpg = shutil.which("gpg2") or shutil.which("gpg")
    if gpg is None:
        unavailable["pass"] = "gpg is not installed"
    else:
        try:
            from linkahead_auth_pass.demo import prepare_demo_store

            saved = {key: os.environ.get(key) for key in ("GNUPGHOME", "PASSWORD_STORE_DIR")}
            options = prepare_demo_store(gpg, password, workdir)
            env.update(GNUPGHOME=os.environ["GNUPGHOME"], PASSWORD_STORE_DIR=os.environ["PASSWORD_STORE_DIR"])
            for key, value in saved.items():  # the bench process itself keeps its own environment
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            methods["pass"] = {"password_identifier": options["password_identifier"]}
        except Exception as error:  # noqa: BLE001 -- reported as unavailable, the rest still runs
            unavailable["pass"] = f"cannot prepare a password store: {type(error).__name__}: {error}"
    store = str(workdir / "sessions")
    variants: list[tuple[str, str, Path, dict[str, Any], str]] = []
    for method, extra in methods.items():
        base = {"url": url, "username": username, "password_method": method, **extra}
        variants.append((method, "no store", pythons["connection"], {**base, "session_cache": "none"}, FIRST_ANSWER))
        variants.append((method, "warm store", pythons["connection"], {**base, "session_cache": store}, FIRST_ANSWER))
        if method == "plain":
            variants.append((method, "requests by hand", pythons["connection"],
                             {"url": url, "username": username, "password": password}, BY_HAND))
        if "legacy" in pythons and (method != "pass" or shutil.which("pass")):
            variants.append((method, "legacy", pythons["legacy"], base, FIRST_ANSWER))
    for _, _, python, options, code in variants:  # warm the file cache, gpg's agent, the store, the caches
        run_child(python, code, env, [json.dumps(options)])
    samples: dict[int, list[tuple[float, float, int]]] = {index: [] for index in range(len(variants))}
    order = list(range(len(variants)))
    for number in range(runs):
        for index in order[number % len(order):] + order[:number % len(order)]:
            _, _, python, options, code = variants[index]
            samples[index].append(run_child(python, code, env, [json.dumps(options)]))
    rows = []
    for index, (method, variant, _, _, _) in enumerate(variants):
        runs_ = samples[index]
        rows.append({"method": method, "variant": variant,
                     "wall_ms": statistics.median(r[0] for r in runs_) * 1e3,
                     "cpu_ms": statistics.median(r[1] for r in runs_) * 1e3})
    return {"rows": rows, "unavailable": unavailable, "binding": binding_cost(password, runs)}


def binding_cost(password: str, runs: int) -> dict[str, float]:
    """What a warm store's check of a password given to the process costs: one PBKDF2 binding
    (issue 18), computed once per process that uses a stored session with ``plain``."""
    from linkahead.session_store import BINDING_ITERATIONS, bind

    times = []
    for _ in range(max(runs, 3)):
        start = time.perf_counter()
        bind(password.encode("utf-8"), os.urandom(16).hex())
        times.append(time.perf_counter() - start)
    return {"ms": statistics.median(times) * 1e3, "iterations": BINDING_ITERATIONS}


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": str(home)}  # no user's pylinkahead.ini
    for key in ("PYLINKAHEADINI", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "LINKAHEAD_SESSION_CACHE"):
        env.pop(key, None)
    return env
