"""A total deadline for each request, on top of the per-operation socket time-outs.

Socket time-outs bound each wait for the next bytes, so a server that trickles one byte at a
time keeps a request alive forever. Each request therefore gets a :class:`Deadline`; one
watchdog thread (shared by every connection of the process) shuts the request's socket down
when its deadline passes, which ends the blocked read at once. The transport then reports a
:class:`~linkahead.exceptions.LinkAheadTimeoutError`.

A deadline is finished -- and the watchdog leaves the socket alone -- before the connection
goes back to the pool, under the watchdog's lock, so the watchdog can never hit a connection
that another request is using by then.
"""

from __future__ import annotations

import _thread
import heapq
import http.client
import itertools
import os
import socket
import threading
import time
import weakref
from typing import Any

__all__ = ["Deadline", "WATCHDOG", "current", "attach_to"]

# Poll again this soon when the deadline passed before the connection had a socket (connecting).
_RETRY = 0.05


class Deadline:
    """The deadline of one request: when it passes, the request's socket is shut down.

    Its state changes under the watchdog's lock (see :class:`_Watchdog`), so finishing a request
    and expiring it never overlap.
    """

    __slots__ = ("at", "seconds", "fired", "_connection", "_socket", "_done")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.fired = False
        # Weak: an answer nobody reads must not keep its connection alive until the deadline.
        self._connection: weakref.ref[Any] | None = None
        # The socket too: an answer with "Connection: close" takes the socket from its connection
        # (http.client hands it to the response and sets connection.sock to None), and its body,
        # delimited by the end of the stream, must still end at the deadline.
        self._socket: weakref.ref[Any] | None = None
        self._done = False

    def attach(self, connection: Any) -> None:
        """The urllib3 connection this request uses (called in the request's thread)."""
        if not self._done:
            self._connection = weakref.ref(connection)
            sock = getattr(connection, "sock", None)
            if sock is not None:
                try:
                    self._socket = weakref.ref(sock)
                except TypeError:
                    pass

    @property
    def done(self) -> bool:
        return self._done

    def _expire(self) -> bool:
        """Shut the socket down; ``False`` when there is no socket yet (try again shortly)."""
        if self._done:
            return True
        connection = self._connection() if self._connection is not None else None
        sock = getattr(connection, "sock", None)
        if sock is None and self._socket is not None:
            sock = self._socket()  # handed to the response (Connection: close), or closed already
        if sock is None:
            # Not connected yet: try again shortly. Gone: nothing is left to stop.
            return connection is None and self._connection is not None
        self.fired = True
        raw = sock if isinstance(sock, socket.socket) else getattr(sock, "socket", None)
        try:
            # socket.socket's own shutdown, also for an SSLSocket: the blocked reader sees the
            # end of the stream, and the TLS object stays intact for its cleanup.
            if isinstance(raw, socket.socket):
                socket.socket.shutdown(raw, socket.SHUT_RDWR)
        except OSError:
            pass
        return True


class _Watchdog:
    """One daemon thread that expires deadlines in order; started on first use."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every deadline and the thread (also what a forked child does)."""
        self._heap: list[tuple[float, int, Deadline]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition(threading.Lock())
        self._started = False
        self._finished = 0

    def watch(self, deadline: Deadline) -> None:
        with self._condition:
            first = not self._heap or deadline.at < self._heap[0][0]
            heapq.heappush(self._heap, (deadline.at, next(self._counter), deadline))
            if not self._started:
                # The low-level start does not wait until the new thread has run once, as
                # threading.Thread.start() does: on a busy machine (a login node, a loaded CI
                # runner) that hand-shake kept the first request waiting for the scheduler for
                # tens of milliseconds. The thread is a daemon (never joined at exit) either way;
                # _run never returns.
                self._started = True
                _thread.start_new_thread(self._run, ())
            elif first:
                self._condition.notify()

    def finished(self, deadline: Deadline) -> None:
        """The request is over (answer read, failed or closed): the watchdog must not touch it.

        Finished deadlines are dropped from the heap lazily; it is compacted once half of it are
        finished ones.
        """
        with self._condition:
            if deadline._done:
                return
            deadline._done = True
            deadline._connection = None
            self._finished += 1
            if self._finished > 64 and self._finished * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2]._done]
                heapq.heapify(self._heap)
                self._finished = 0

    def pending(self) -> int:
        """Deadlines still watched (for tests and benchmarks)."""
        with self._condition:
            return sum(1 for entry in self._heap if not entry[2]._done)

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._heap and self._heap[0][2]._done:
                    heapq.heappop(self._heap)
                    self._finished = max(0, self._finished - 1)
                if not self._heap:
                    self._condition.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                _, _, deadline = heapq.heappop(self._heap)
                if not deadline._expire():
                    deadline.at = time.monotonic() + _RETRY
                    heapq.heappush(self._heap, (deadline.at, next(self._counter), deadline))


WATCHDOG = _Watchdog()

if hasattr(os, "register_at_fork"):
    # A forked child has no watchdog thread, and the lock may have been held by another thread
    # at the fork: start afresh (the parent's requests are not the child's to watch).
    os.register_at_fork(after_in_child=WATCHDOG.reset)

_local = threading.local()


def current() -> Deadline | None:
    """The deadline of the request this thread is sending, if any."""
    deadline: Deadline | None = getattr(_local, "deadline", None)
    return deadline


def set_current(deadline: Deadline | None) -> None:
    _local.deadline = deadline


class _LineRecorder:
    """Wraps a response's stream while its head is parsed, remembering the last line read."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.last = b"\n"

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self._stream.readline(limit)
        self.last = line
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class TruncatedHeadError(http.client.RemoteDisconnected):
    """The answer ended inside its status line or headers."""


class _CompleteHeadResponse(http.client.HTTPResponse):
    """An ``http.client`` response that refuses a head cut short.

    ``http.client`` takes ``HTTP/1.1 200`` followed by the end of the stream for a complete answer
    with no headers and an empty body. A status line or header block that the end of the stream
    cuts off is an error here, like any other answer that breaks off.
    """

    def begin(self) -> None:
        if self.headers is not None:
            return
        stream = self.fp
        recorder = _LineRecorder(stream)
        self.fp = recorder
        try:
            super().begin()
        finally:
            if self.fp is recorder:
                self.fp = stream
        if not recorder.last.endswith(b"\n"):
            self.close()
            raise TruncatedHeadError("the answer ended inside its status line or headers")


class _TrackedConnection:
    """Mixed into urllib3's connection classes: tells the current deadline which connection it is,
    and parses answers with :class:`_CompleteHeadResponse`."""

    response_class = _CompleteHeadResponse

    def connect(self) -> None:
        deadline = current()
        if deadline is not None:
            deadline.attach(self)
        super().connect()  # type: ignore[misc]
        if deadline is not None:
            deadline.attach(self)  # now with its socket

    def request(self, *args: Any, **kwargs: Any) -> Any:
        deadline = current()
        if deadline is not None:
            deadline.attach(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


_tracked: dict[type, type] = {}
_tracked_lock = threading.Lock()


def attach_to(pool: Any) -> None:
    """Make ``pool`` (a urllib3 connection pool) build connections that report to the deadline."""
    base = getattr(pool, "ConnectionCls", None)
    if base is None or issubclass(base, _TrackedConnection):
        return
    with _tracked_lock:
        tracked = _tracked.get(base)
        if tracked is None:
            tracked = type(f"Tracked{base.__name__}", (_TrackedConnection, base), {})
            _tracked[base] = tracked
    pool.ConnectionCls = tracked
