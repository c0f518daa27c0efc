"""A forked child never uses the parent's sockets or locks (issue 20).

Real ``os.fork`` through ``multiprocessing``'s fork context; each child reports through a pipe,
waited on with a bound (a child that deadlocks shows up as a time-out here, not as a hang).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import linkahead
import pytest
from linkahead import configuration, plugins
from linkahead.connection import connection as connection_module
from linkahead.session_store import SessionStore, key_name
from linkahead.testing import LinkAheadTestServer

if "fork" not in multiprocessing.get_all_start_methods():
    pytest.skip("no fork start method on this platform", allow_module_level=True)

BOUND = 30.0


def _in_forked_child(work: Callable[[], str]) -> str:
    """Run ``work`` in a forked child; its answer, or the child's error."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)

    def child(pipe: Pipe) -> None:
        try:
            pipe.send(work())
        except BaseException as error:  # reported to the parent
            pipe.send(f"error {type(error).__name__}: {error}")

    process = context.Process(target=child, args=(sending,), daemon=True)
    process.start()
    sending.close()
    try:
        if not receiving.poll(BOUND):
            raise AssertionError(f"the forked child did not answer within {BOUND:.0f} s (deadlocked?)")
        answer: str = receiving.recv()
        return answer
    finally:
        process.join(BOUND)
        if process.is_alive():
            process.kill()
            process.join(BOUND)


def _whoami() -> str:
    data = linkahead.get_connection().retrieve(["Info"]).read()
    return "admin" if b'username="admin"' in data else "unexpected"


@pytest.fixture
def configured(linkahead_server: LinkAheadTestServer, tmp_path: Path) -> Iterator[LinkAheadTestServer]:
    linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                   password=linkahead_server.users["admin"], session_cache=str(tmp_path / "s"))
    yield linkahead_server


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(
        configured: LinkAheadTestServer) -> None:
    assert _whoami() == "admin"
    assert configured.counters.connections == 1  # the parent's pooled keep-alive connection
    for _ in range(3):
        assert _in_forked_child(lambda: ",".join(_whoami() for _ in range(3))) == "admin,admin,admin"
    # Each child connected by itself (it did not write into the parent's socket) ...
    assert configured.counters.connections == 4
    # ... and the parent's pooled connection is still intact and still the one it uses.
    for _ in range(3):
        assert _whoami() == "admin"
    assert configured.counters.connections == 4
    assert configured.counters.logins == 1  # the children kept the session: the same user's


def test_a_forked_child_does_not_wait_for_locks_a_parent_thread_held(configured: LinkAheadTestServer) -> None:
    # At the fork the parent holds every lock a child's first request needs, as a thread in the
    # middle of configuring and logging in would. Without the fork handlers the child deadlocks.
    connection = linkahead.get_connection()
    held: list[Any] = [connection.auth._lock, connection_module._configure_lock, configuration._config_lock,
            plugins._running_lock]
    for lock in held:
        lock.acquire()
    try:
        assert _in_forked_child(_whoami) == "admin"
    finally:
        for lock in held:
            lock.release()
    assert _whoami() == "admin"


def test_a_forked_child_does_not_keep_the_store_lock_of_its_parent(tmp_path: Path) -> None:
    store = SessionStore(str(tmp_path / "sessions"), explicit=True)
    key = key_name("https://example.org/", "admin", "plain")
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    with store.lock(key) as lock:
        assert lock.try_acquire()  # a thread of the parent is logging in
        child = context.Process(target=_wait, args=(ready, release), daemon=True)
        child.start()
        assert ready.wait(BOUND)  # the child runs (its fork handlers have run)
    try:
        # The parent finished (closed its descriptor); the child is still alive. Had it kept its
        # copy of the descriptor, it would hold the flock and every other process would wait.
        assert child.is_alive()
        with store.lock(key) as again:
            assert again.try_acquire()
    finally:
        release.set()
        child.join(BOUND)


def _wait(ready: Any, release: Any) -> None:
    ready.set()
    release.wait(BOUND)


def test_a_hung_plugin_call_of_the_parent_does_not_block_the_child() -> None:
    started, stop = threading.Event(), threading.Event()

    def hang() -> None:
        started.set()
        stop.wait(BOUND)

    worker = threading.Thread(target=plugins._run_bounded, args=(hang, BOUND, "hang", 4242), daemon=True)
    worker.start()
    assert started.wait(BOUND)
    try:
        # In the child the hung call's thread does not exist; the same plugin's next call must run.
        assert _in_forked_child(lambda: str(plugins._run_bounded(lambda: "ran", 5.0, "next", 4242))) == "ran"
    finally:
        stop.set()
        worker.join(BOUND)
