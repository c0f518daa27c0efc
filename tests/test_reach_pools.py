"""One login for worker pools and a Dask cluster (issue 20).

Real ``multiprocessing`` pools (fork, spawn, forkserver), a real ``ProcessPoolExecutor`` and a real
``dask.distributed.LocalCluster`` with worker processes; each worker process calls
``linkahead.get_connection()`` (configured from ``pylinkahead.ini``, ``session_cache`` left at
``auto``) when it starts, then runs tasks. The embedded server counts the logins: one per user and
host, none when a session is stored already. No store folder is named: the isolation fixture
leaves no ``$XDG_RUNTIME_DIR`` and a private ``$TMPDIR``, so this is the store of issue 20's
"root shells, containers, CI".

The worker functions live in a module written into the test's folder and put on ``PYTHONPATH``:
spawned processes import them by name (this file is imported by path, not by name).
"""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from linkahead.testing import LinkAheadTestServer

TIMEOUT = 180.0
# Starting interpreters and a cluster takes seconds on an idle machine, far longer on a busy one.
pytestmark = pytest.mark.timeout(600)

WORKERS = '''
import os

import linkahead


def start() -> None:
    """A pool's initializer: every worker process connects as soon as it starts."""
    linkahead.get_connection().retrieve(["Info"]).read()


def whoami(_: object = None) -> tuple[int, str]:
    data = linkahead.get_connection().retrieve(["Info"]).read()
    return os.getpid(), "admin" if b'username="admin"' in data else data[:200].decode("utf-8", "replace")


def with_connection(connection: object, _: object = None) -> tuple[int, str]:
    """A task that was handed a connection object (pickled on the way)."""
    data = connection.retrieve(["Info"]).read()  # type: ignore[attr-defined]
    return os.getpid(), "admin" if b'username="admin"' in data else "unexpected"
'''


@pytest.fixture
def workers_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "reach_pool_workers.py").write_text(WORKERS)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    reach_pool_workers = importlib.import_module("reach_pool_workers")

    yield reach_pool_workers
    sys.modules.pop("reach_pool_workers", None)


@pytest.fixture
def ini(linkahead_server: LinkAheadTestServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = Path("pylinkahead.ini").resolve()
    path.write_text("[Connection]\n"
                    f"url = {linkahead_server.url}\nusername = admin\n"
                    f"password = {linkahead_server.users['admin']}\npassword_method = plain\n"
                    "timeout = 60\n")
    monkeypatch.setenv("PYLINKAHEADINI", str(path))  # also where a worker's working directory differs
    monkeypatch.delenv("LINKAHEAD_SESSION_CACHE")  # the default store, as users get it
    return path


def _store() -> Path:
    return Path(os.environ["TMPDIR"]) / f"linkahead-sessions-{os.geteuid()}"


def _check(results: list[tuple[int, str]]) -> set[int]:
    assert [answer for _, answer in results] == ["admin"] * len(results)
    return {pid for pid, _ in results}


@pytest.mark.parametrize("kind", ["fork", "spawn", "forkserver"])
def test_a_multiprocessing_pool_logs_in_once(linkahead_server: LinkAheadTestServer, ini: Path,
                                             workers_module: Any, kind: str) -> None:
    if kind not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {kind} start method on this platform")
    context = multiprocessing.get_context(kind)
    with context.Pool(4, initializer=workers_module.start) as pool:
        pids = _check(pool.map_async(workers_module.whoami, range(16)).get(TIMEOUT))
    assert os.getpid() not in pids
    assert linkahead_server.counters.logins == 1
    assert linkahead_server.counters.failed_logins == 0
    assert len(list(_store().glob("*.session"))) == 1
    # A second pool within the session's lifetime: no login at all.
    with context.Pool(4, initializer=workers_module.start) as pool:
        _check(pool.map_async(workers_module.whoami, range(8)).get(TIMEOUT))
    assert linkahead_server.counters.logins == 1


def test_a_process_pool_executor_logs_in_once_and_not_at_all_after_the_parent(
        linkahead_server: LinkAheadTestServer, ini: Path, workers_module: Any) -> None:
    import linkahead

    linkahead.get_connection().retrieve(["Info"]).read()  # the parent logs in first
    assert linkahead_server.counters.logins == 1
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=workers_module.start) as executor:
        _check(list(executor.map(workers_module.whoami, range(16), timeout=TIMEOUT)))
        # A connection handed to the tasks crosses by pickling and works on the other side.
        connection = linkahead.get_connection()
        handed = [executor.submit(workers_module.with_connection, connection) for _ in range(4)]
        _check([future.result(TIMEOUT) for future in handed])
    assert linkahead_server.counters.logins == 1


def test_a_dask_local_cluster_logs_in_once(linkahead_server: LinkAheadTestServer, ini: Path,
                                           workers_module: Any) -> None:
    distributed = pytest.importorskip("distributed")
    import linkahead

    with distributed.LocalCluster(n_workers=4, threads_per_worker=2, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster, timeout=TIMEOUT) as client:
        client.wait_for_workers(4, timeout=TIMEOUT)
        started = client.run(workers_module.start)  # every worker process, at once
        assert len(started) == 4
        assert linkahead_server.counters.logins == 1
        pids = _check(client.gather(client.map(workers_module.whoami, range(32), pure=False), direct=False))
        assert os.getpid() not in pids
        # A task closing over the parent's connection: Dask pickles it, the worker rebuilds it
        # from its options (no secret travels) and uses the stored session.
        connection = linkahead.get_connection()
        futures = client.map(workers_module.with_connection, [connection] * 8, range(8), pure=False)
        _check(client.gather(futures))
        assert linkahead_server.counters.logins == 1
        # The parent itself used the stored session as well.
        assert linkahead_server.counters.failed_logins == 0
