"""Connect and read time-outs on loopback, against real sockets that misbehave on purpose.

- Connect: a listening socket whose accept queue is full. Linux drops a SYN to a full backlog,
  so the client's connect hangs exactly as it would towards a host that does not answer.
- Read: the embedded server's ``response_delay``, or a raw server that accepts and stays silent
  (also during a TLS handshake), or one that stops in the middle of a body.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import linkahead
import pytest
from linkahead.connection.connection import _Connection
from linkahead.exceptions import LinkAheadConnectionError, LinkAheadTimeoutError
from linkahead.testing import LinkAheadTestServer

PASSWORD = "admin-Pa55word"
MARGIN = 3.0  # generous: a loaded CI machine may be slow to schedule us, never early


def _configure(url: str, **options: object) -> _Connection:
    settings: dict[str, object] = {"username": "admin", "password": PASSWORD, "password_method": "plain"}
    settings.update(options)
    return linkahead.configure_connection(url=url, **settings)


def _times_out(port: int, wait: float) -> bool:
    probe = socket.socket()
    probe.settimeout(wait)
    try:
        probe.connect(("127.0.0.1", port))
    except TimeoutError:
        return True
    except OSError:
        return False
    finally:
        probe.close()
    return False


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A port whose listening socket never accepts and whose backlog is full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers: list[socket.socket] = []
    try:
        for _ in range(16):  # bounded: a few connections fill a backlog of 0 on Linux
            if _times_out(port, 0.2):
                break
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        else:
            pytest.fail("could not fill the listen backlog; connects to a full queue are not dropped here")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


class _SilentServer:
    """Accepts connections, reads what comes, and answers ``reply`` (or nothing) -- then waits."""

    def __init__(self, reply: bytes = b"") -> None:
        self.reply = reply
        self.accepted = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._clients: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._clients.append(client)
            if self.reply:
                client.settimeout(2)
                with contextlib.suppress(OSError):
                    client.recv(65536)
                    client.sendall(self.reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for client in self._clients:
            client.close()
        self._listener.close()


@pytest.fixture
def silent_server() -> Iterator[_SilentServer]:
    server = _SilentServer()
    yield server
    server.close()


def _elapsed_error(call: object) -> tuple[float, LinkAheadTimeoutError]:
    assert callable(call)
    start = time.monotonic()
    with pytest.raises(LinkAheadTimeoutError) as caught:
        call()
    return time.monotonic() - start, caught.value


def test_connect_timeout_applies_to_the_login(unaccepting_port: int) -> None:
    connection = _configure(f"http://127.0.0.1:{unaccepting_port}/", timeout=(0.5, 30))
    # The first request is the login (POST login); it is what hangs in connect.
    elapsed, error = _elapsed_error(lambda: connection.retrieve(["Info"]))
    assert 0.4 < elapsed < 0.5 + MARGIN
    assert "Timed out connecting to" in str(error)
    assert "/login" in str(error)
    assert "connect time-out" in str(error)
    assert PASSWORD not in str(error)


def test_connect_timeout_over_https(unaccepting_port: int) -> None:
    connection = _configure(f"https://127.0.0.1:{unaccepting_port}/", timeout=(0.5, 30))
    elapsed, error = _elapsed_error(lambda: connection.retrieve(["Info"]))
    assert elapsed < 0.5 + MARGIN
    assert "connect time-out" in str(error)


def test_read_timeout_applies_to_the_login(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.response_delay = 30  # interrupted when the fixture stops the server
    connection = _configure(linkahead_server.url, timeout=(30, 0.5))
    elapsed, error = _elapsed_error(lambda: connection.retrieve(["Info"]))
    assert 0.4 < elapsed < 0.5 + MARGIN
    assert "Timed out waiting for" in str(error) and "/login" in str(error)
    assert "read time-out" in str(error)
    assert linkahead_server.counters.requests == 1  # the POST login arrived ...
    assert linkahead_server.counters.logins == 0  # ... and was never answered


def test_read_timeout_applies_to_every_request(linkahead_server: LinkAheadTestServer) -> None:
    connection = _configure(linkahead_server.url, timeout=(30, 0.5))
    assert connection.retrieve(["Info"]).status == 200
    linkahead_server.response_delay = 30
    for call in (lambda: connection.retrieve(["Entity", "1"]),
                 lambda: connection.insert(["Entity"], body="<Insert/>"),
                 lambda: connection.update(["Entity", "1"], body="<Update/>"),
                 lambda: connection.delete(["Entity", "1"])):
        elapsed, error = _elapsed_error(call)
        assert elapsed < 0.5 + MARGIN
        assert "read time-out" in str(error)
    assert linkahead_server.counters.logins == 1


def test_a_single_number_bounds_connect_and_read(linkahead_server: LinkAheadTestServer,
                                                   unaccepting_port: int) -> None:
    linkahead_server.response_delay = 30
    elapsed, _ = _elapsed_error(lambda: _configure(linkahead_server.url, timeout=1).retrieve(["Info"]))
    assert 0.9 < elapsed < 1 + MARGIN
    url = f"http://127.0.0.1:{unaccepting_port}/"
    elapsed, _ = _elapsed_error(lambda: _configure(url, timeout=1).retrieve(["Info"]))
    assert 0.9 < elapsed < 1 + MARGIN


def test_timeout_from_the_ini_file(linkahead_server: LinkAheadTestServer) -> None:
    Path("pylinkahead.ini").write_text(
        f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = plain\n"
        f"password = {PASSWORD}\ntimeout = (5, 0.5)\n", encoding="utf-8")
    linkahead_server.response_delay = 30
    elapsed, _ = _elapsed_error(lambda: linkahead.get_connection().retrieve(["Info"]))
    assert elapsed < 0.5 + MARGIN


def test_timeout_none_waits_for_a_slow_server(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.response_delay = 0.3
    connection = _configure(linkahead_server.url, timeout=None)
    assert connection.config["timeout"] is None
    assert connection.retrieve(["Info"]).status == 200


def test_silent_tls_handshake_times_out_within_the_connect_timeout(silent_server: _SilentServer) -> None:
    # urllib3 counts the TLS handshake as part of connecting.
    connection = _configure(f"https://127.0.0.1:{silent_server.port}/", timeout=(0.5, 30))
    elapsed, error = _elapsed_error(lambda: connection.retrieve(["Info"]))
    assert elapsed < 0.5 + MARGIN
    assert "Timed out in the TLS handshake" in str(error)
    assert "connect time-out" in str(error)
    assert silent_server.accepted == 1


def test_body_that_stops_arriving_times_out() -> None:
    server = _SilentServer(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100\r\n\r\n<Respo")
    try:
        connection = linkahead.configure_connection(url=f"http://127.0.0.1:{server.port}/",
                                                    password_method="unauthenticated", timeout=(30, 0.5))
        response = connection.retrieve(["Info"])
        assert response.status == 200
        elapsed, error = _elapsed_error(response.read)
        assert elapsed < 0.5 + MARGIN
        assert "read time-out" in str(error)
    finally:
        server.close()


def test_a_refused_connection_is_not_a_timeout() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])  # closed again: nothing listens there
    start = time.monotonic()
    with pytest.raises(LinkAheadConnectionError) as caught:
        _configure(f"http://127.0.0.1:{port}/", timeout=(30, 30)).retrieve(["Info"])
    assert time.monotonic() - start < MARGIN
    assert not isinstance(caught.value, LinkAheadTimeoutError)
    assert "Cannot connect to" in str(caught.value) and "Is the server running" in str(caught.value)
