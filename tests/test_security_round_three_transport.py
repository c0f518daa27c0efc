"""Security round three (issue 18): hostile answers stay bounded and show no secret.

Each server here is a real socket on loopback that misbehaves on purpose: it trickles a body
delimited by the end of the stream, cuts its status line short, echoes the Cookie in its reason
phrase, or sends a real gzip bomb.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import linkahead
import pytest
from linkahead.cli import main
from linkahead.connection.connection import _Connection
from linkahead.exceptions import ConfigurationError, HTTPClientError, LinkAheadConnectionError, LinkAheadTimeoutError
from linkahead.testing import LinkAheadTestServer

TOKEN = "SessionSecretToken0123456789abcdefABCDEF"

Handler = Callable[[socket.socket, bytes], None]


class RawServer:
    """A loopback HTTP server whose every answer is written by hand."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.connections: list[socket.socket] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):  # the client may hang up at any point
            while not self.stop.is_set():
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                headers, _, body = head.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in headers.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += connection.recv(65536)
                self.handler(connection, headers)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for connection in self.connections:  # ends reads blocked on kept-alive connections
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(10)


@pytest.fixture
def raw_server() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def anonymous(url: str, **extra: object) -> _Connection:
    return _Connection().configure(url=url, password_method="unauthenticated", session_cache="none",
                                   **{"timeout": 1, **extra})


def test_a_trickled_close_delimited_body_ends_at_the_deadline(
        raw_server: Callable[[Handler], RawServer]) -> None:
    stop = threading.Event()

    def trickle(connection: socket.socket, head: bytes) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/xml\r\n\r\n")
        while not stop.is_set():  # one byte every 0.2 s for as long as the client listens
            connection.sendall(b"x")
            stop.wait(0.2)
        raise OSError("done")

    server = raw_server(trickle)
    connection = anonymous(server.url, timeout=1)
    started = time.monotonic()
    try:
        with pytest.raises(LinkAheadTimeoutError, match="did not complete within 2 s"):
            connection.retrieve(["Info"]).read()
    finally:
        stop.set()
    assert time.monotonic() - started < 4.0


@pytest.mark.parametrize("head", [b"HTTP/1.1 200", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK\r\nContent-Type: te"])
def test_a_truncated_status_line_or_head_is_an_error_not_an_empty_200(
        raw_server: Callable[[Handler], RawServer], head: bytes) -> None:
    def truncated(connection: socket.socket, request: bytes) -> None:
        connection.sendall(head)
        connection.shutdown(socket.SHUT_WR)
        raise OSError("done")

    server = raw_server(truncated)
    with pytest.raises(LinkAheadConnectionError, match="ended inside its status line or headers"):
        anonymous(server.url).retrieve(["Info"]).read()


def echoing_server(connection: socket.socket, head: bytes) -> None:
    """Logs everyone in, then answers 400 with the request's Cookie header as its reason phrase."""
    lines = head.decode("latin-1").split("\r\n")
    if lines[0].startswith("POST /login"):
        connection.sendall(b"HTTP/1.1 200 OK\r\nSet-Cookie: SessionToken=" + TOKEN.encode()
                           + b"; Path=/\r\nContent-Length: 0\r\n\r\n")
        return
    cookie = next((line for line in lines if line.lower().startswith("cookie:")), "no cookie")
    reason = f"Bad {cookie}".encode("latin-1")
    connection.sendall(b"HTTP/1.1 400 " + reason + b"\r\nContent-Length: 0\r\n\r\n")


def test_a_reason_phrase_echoing_the_cookie_is_not_shown(
        raw_server: Callable[[Handler], RawServer], capsys: pytest.CaptureFixture[str]) -> None:
    server = raw_server(echoing_server)
    connection = _Connection().configure(url=server.url, username="admin", password="Pa55word-x",
                                         session_cache="none", timeout=5)
    with pytest.raises(HTTPClientError) as info:
        connection.retrieve(["Info"])
    assert TOKEN[:12] not in str(info.value) and TOKEN[:12] not in info.value.reason
    assert "reason phrase not shown" in str(info.value)
    Path("pylinkahead.ini").write_text(f"[Connection]\nurl = {server.url}\nusername = admin\n"
                                       "password = Pa55word-x\nsession_cache = none\ntimeout = 5\n")
    code = main(["status", "--json"])
    out, err = capsys.readouterr()
    assert code != 0 and TOKEN[:12] not in out + err
    assert "reason phrase not shown" in json.loads(out)["error"]["message"]
    # A plain reason phrase is still shown.
    assert "Bad no cookie" not in out


def gzip_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_of_zeros(256 << 20)  # 256 MiB of zeros in about 256 KiB


def gzip_server(body: bytes) -> Handler:
    def answer(connection: socket.socket, head: bytes) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: text/xml\r\n"
                           + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return answer


def test_a_decompression_bomb_is_stopped_with_the_limit_named(
        raw_server: Callable[[Handler], RawServer], bomb: bytes) -> None:
    server = raw_server(gzip_server(bomb))
    started = time.monotonic()
    with pytest.raises(LinkAheadConnectionError, match="max_compression_ratio") as info:
        anonymous(server.url, timeout=10).retrieve(["Info"]).read()
    assert "Raise max_compression_ratio" in str(info.value)
    assert time.monotonic() - started < 5
    with pytest.raises(LinkAheadConnectionError, match="max_decompressed_size"):
        anonymous(server.url, timeout=10, max_compression_ratio=None,
                  max_decompressed_size=8 << 20).retrieve(["Info"]).read()
    # Streaming reads are bounded too.
    response = anonymous(server.url, timeout=10).retrieve(["Info"])
    with pytest.raises(LinkAheadConnectionError, match="max_compression_ratio"):
        while response.read(1 << 16):
            pass


def test_real_compressed_answers_still_arrive_whole_and_stream_decoded(
        raw_server: Callable[[Handler], RawServer]) -> None:
    payload = b"".join(b"<Entity id='%d' name='%s'/>\n" % (i, os.urandom(6).hex().encode()) for i in range(200000))
    server = raw_server(gzip_server(gzip.compress(payload)))
    assert anonymous(server.url, timeout=10).retrieve(["Info"]).read() == payload
    response = anonymous(server.url, timeout=10).retrieve(["Info"])
    chunks = []
    while chunk := response.read(1 << 16):
        chunks.append(chunk)
    assert b"".join(chunks) == payload


BOMB_MEMORY = """
import resource, sys
from linkahead.connection.connection import _Connection
from linkahead.exceptions import LinkAheadConnectionError
c = _Connection().configure(url=sys.argv[1], password_method="unauthenticated", session_cache="none", timeout=30)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    c.retrieve(["Info"]).read()
except LinkAheadConnectionError:
    pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_a_decompression_bomb_does_not_grow_the_process(
        raw_server: Callable[[Handler], RawServer], bomb: bytes) -> None:
    server = raw_server(gzip_server(bomb))
    result = subprocess.run([sys.executable, "-c", BOMB_MEMORY, server.url], capture_output=True, text=True,
                            timeout=120, check=True)
    assert int(result.stdout) < 64, f"grew by {result.stdout.strip()} MiB"


def test_a_backslash_in_a_proxy_password_is_refused_without_showing_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    proxy = "http://user:first\\second@127.0.0.1:9/"
    with pytest.raises(ConfigurationError, match="percent-encode it as %5C") as info:
        linkahead.configure_connection(url="http://127.0.0.1:9/", username="a", password="b", http_proxy=proxy)
    assert "first" not in str(info.value) and "second" not in str(info.value)
    Path("pylinkahead.ini").write_text(f"[Connection]\nurl = http://127.0.0.1:9/\nusername = a\npassword = b\n"
                                       f"http_proxy = {proxy}\n")
    main(["config"])
    out, err = capsys.readouterr()
    assert "first" not in out + err and "second" not in out + err


def test_a_10_mb_path_is_not_repeated_in_request_time_messages(
        raw_server: Callable[[Handler], RawServer]) -> None:
    def refuse(connection: socket.socket, head: bytes) -> None:
        connection.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(LinkAheadConnectionError) as info:
        anonymous(f"http://127.0.0.1:{port}/").retrieve(["x" * 10_000_000])
    assert len(str(info.value)) < 1000 and "characters)" in str(info.value)
    server = raw_server(refuse)
    connection = _Connection().configure(url=server.url, password_method="unauthenticated", session_cache="none",
                                         timeout=5)
    with pytest.raises(linkahead.exceptions.LoginFailedError) as refused:
        connection.retrieve(["y" * 10_000_000])
    assert len(str(refused.value)) < 1500


def test_a_10_mb_user_name_is_not_repeated_in_login_errors(linkahead_server: LinkAheadTestServer) -> None:
    connection = _Connection().configure(url=linkahead_server.url, username="u" * 10_000_000, password="x",
                                         session_cache="none", timeout=10)
    with pytest.raises(linkahead.exceptions.LoginFailedError) as info:
        connection.retrieve(["Info"])
    assert len(str(info.value)) < 1000 and "(10000000 characters)" in str(info.value)
