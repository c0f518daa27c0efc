"""Benchmarks: the connection's client-side cost against a bare ``requests.Session``.

Run with ``./run bench``. The embedded server runs in a separate process, so the CPU time
measured here (``time.process_time``) is the client's alone. Rounds alternate between the two
clients so that drift (frequency scaling, other load) hits both alike; medians are reported.

Targets (issue 2): <= 1.02x client CPU per request; <= 1.10x cold start (import + configure vs
``import requests``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PASSWORD = "bench-Pa55word"


@contextmanager
def server_process() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "linkahead.testing", "--users", json.dumps({"admin": PASSWORD})],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # readiness: the server prints its URL once it listens
        if not line.startswith("URL "):
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        yield line.split()[1]
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


def per_request(run: Callable[[int], None], requests: int) -> tuple[float, float]:
    """CPU and wall seconds per request for ``run(requests)``."""
    cpu, wall = time.process_time(), time.perf_counter()
    run(requests)
    return (time.process_time() - cpu) / requests, (time.perf_counter() - wall) / requests


def bench_requests(url: str, requests: int, rounds: int) -> dict[str, float]:
    import linkahead
    import requests as requests_lib

    connection = linkahead.configure_connection(url=url, username="admin", password=PASSWORD,
                                                password_method="plain")
    connection.retrieve(["Info"]).read()

    bare = requests_lib.Session()
    login = bare.post(url + "login", data={"username": "admin", "password": PASSWORD})
    cookie = {"Cookie": login.headers["Set-Cookie"].split(";")[0]}

    def through_connection(count: int) -> None:
        for _ in range(count):
            connection.retrieve(["Entity"]).read()

    def through_requests(count: int) -> None:
        # A fair baseline: the same request with the session cookie, adopting each renewal.
        headers = {"Accept": "text/xml", **cookie}
        for _ in range(count):
            response = bare.get(url + "Entity", headers=headers)
            response.content  # noqa: B018 -- read the body like the connection's caller does
            renewed = response.headers.get("Set-Cookie")
            if renewed:
                headers["Cookie"] = renewed.split(";")[0]

    through_connection(100)  # warm-up: pools, caches
    through_requests(100)
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for _ in range(rounds):
        ours.append(per_request(through_connection, requests))
        theirs.append(per_request(through_requests, requests))
    cpu_ours = statistics.median(c for c, _ in ours)
    cpu_bare = statistics.median(c for c, _ in theirs)
    wall_ours = statistics.median(w for _, w in ours)
    wall_bare = statistics.median(w for _, w in theirs)
    return {
        "cpu_us_connection": cpu_ours * 1e6, "cpu_us_requests": cpu_bare * 1e6, "cpu_ratio": cpu_ours / cpu_bare,
        "wall_us_connection": wall_ours * 1e6, "wall_us_requests": wall_bare * 1e6, "wall_ratio": wall_ours / wall_bare,
    }


def bench_cold_start(url: str, runs: int) -> dict[str, float]:
    configure = (
        "import linkahead; linkahead.configure_connection("
        f"url={url!r}, username='admin', password={PASSWORD!r}, password_method='plain')"
    )
    env = {**os.environ, "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYLINKAHEADINI", None)

    def once(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd="/")
        return time.perf_counter() - started

    once(configure), once("import requests")  # warm the OS file cache
    ours, theirs, empty = [], [], []
    for _ in range(runs):
        ours.append(once(configure))
        theirs.append(once("import requests"))
        empty.append(once("pass"))
    return {
        "cold_ms_configure": statistics.median(ours) * 1e3,
        "cold_ms_import_requests": statistics.median(theirs) * 1e3,
        "cold_ms_python": statistics.median(empty) * 1e3,
        "cold_ratio": statistics.median(ours) / statistics.median(theirs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cold-runs", type=int, default=21)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    with server_process() as url:
        results = bench_requests(url, args.requests, args.rounds)
        results.update(bench_cold_start(url, args.cold_runs))
    print(f"{'measure':<40}{'connection':>14}{'baseline':>14}{'ratio':>8}")
    print(f"{'client CPU per request (us)':<40}{results['cpu_us_connection']:>14.1f}"
          f"{results['cpu_us_requests']:>14.1f}{results['cpu_ratio']:>8.3f}")
    print(f"{'wall time per request (us)':<40}{results['wall_us_connection']:>14.1f}"
          f"{results['wall_us_requests']:>14.1f}{results['wall_ratio']:>8.3f}")
    print(f"{'cold start: import+configure (ms)':<40}{results['cold_ms_configure']:>14.1f}"
          f"{results['cold_ms_import_requests']:>14.1f}{results['cold_ratio']:>8.3f}")
    print(f"(python -c pass alone: {results['cold_ms_python']:.1f} ms)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
