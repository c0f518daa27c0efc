"""Security round three (issue 18): the generative audit, extended to hostile answers and store states.

Hostile answers: a real loopback server logs everyone in with a drawn session token and then
answers with a drawn status whose reason phrase, extra headers and (optionally gzip-compressed)
body echo the request's Cookie header in drawn shapes. The property: the token -- whole or any
twelve characters of it in a row, raw or percent-encoded -- appears in no error text, chained
exception, log record (DEBUG) or ``linkahead-auth status`` output, and every read ends within
the request deadline and the decompression bounds.

Store states: a stored entry of the right login is put into a drawn state (a FIFO, a symbolic link,
another owner, a token issued in the future, a concurrent logout, garbage, a planted entry for
another password) and a process is configured with the right or a wrong password. The property:
it never hangs, a wrong password is never served (the server's answer decides), the right one
logs in at most once, and the token never shows.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from linkahead.cli import main
from linkahead.connection.connection import _Connection
from linkahead.exceptions import LinkAheadException, LoginFailedError
from linkahead.testing import LinkAheadTestServer

AUDIT = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

RARE = "QZXJVWK"
# Cookie octets only: what a server's Set-Cookie may carry (and what the client adopts).
token_part = st.tuples(st.sampled_from(RARE), st.sampled_from("0123456789%-_.!*~")).map("".join)
tokens = st.lists(token_part, min_size=10, max_size=20).map(lambda parts: "".join(parts) + "QZ")


def pieces(token: str, size: int = 12) -> set[str]:
    return {token[i:i + size] for i in range(len(token) - size + 1)}


def assert_hidden(token: str, *texts: str) -> None:
    haystack = "\n".join(texts)
    leaked = [form for form in (token, quote(token, safe="")) if form in haystack]
    leaked += [piece for piece in pieces(token) if piece in haystack]
    assert not leaked, f"token {token!r} leaked as {leaked[:3]!r}"


def shown(error: BaseException) -> str:
    texts = ["".join(traceback.format_exception(error)), str(error), repr(error),
             str(getattr(error, "reason", ""))]
    for inner in (error.__cause__, error.__context__):
        if inner is not None:
            texts.append(shown(inner))
    return "\n".join(texts)


class HostileServer:
    """Logs everyone in with ``token``; answers everything else as ``answer`` says."""

    def __init__(self) -> None:
        self.token = ""
        self.answer: Callable[[str], bytes] = lambda cookie: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.connections: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next((int(line.split(":", 1)[1]) for line in lines
                               if line.lower().startswith("content-length:")), 0)
                while len(buffer) < length:
                    buffer += connection.recv(65536)
                buffer = buffer[length:]
                if lines[0].startswith("POST /login"):
                    connection.sendall(b"HTTP/1.1 200 OK\r\nSet-Cookie: SessionToken=" + self.token.encode()
                                       + b"; Path=/\r\nContent-Length: 0\r\n\r\n")
                    continue
                cookie = next((line for line in lines if line.lower().startswith("cookie:")), "Cookie: none")
                connection.sendall(self.answer(cookie))

    def close(self) -> None:
        self.sock.close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(10)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.close()


REASONS = [
    lambda cookie: f"Bad {cookie}",
    lambda cookie: cookie.partition("=")[2],
    lambda cookie: f"x {quote(cookie.partition('=')[2], safe='')} y",
    lambda cookie: f"{cookie[:30]} and then {cookie[30:]}",
    lambda cookie: "Plain Bad Request",
]


def answer_for(status: int, reason: Callable[[str], str], header: bool, compressed: str) -> Callable[[str], bytes]:
    def answer(cookie: str) -> bytes:
        body = f"<Error>{cookie}</Error>".encode("latin-1")
        headers = ["Content-Type: text/xml"]
        if header:
            headers.append(f"X-Echo: {cookie}")
            headers.append(f"Warning: 199 - \"{cookie}\"")
        if compressed == "gzip":
            body = gzip.compress(body)
            headers.append("Content-Encoding: gzip")
        elif compressed == "bomb":
            body = gzip.compress(bytes(8 << 20) + body)
            headers.append("Content-Encoding: gzip")
        headers.append(f"Content-Length: {len(body)}")
        head = f"HTTP/1.1 {status} {reason(cookie)}\r\n" + "\r\n".join(headers) + "\r\n\r\n"
        return head.encode("latin-1") + body
    return answer


@AUDIT
@given(token=tokens, status=st.sampled_from([200, 400, 403, 404, 409, 413, 500, 502]),
       reason=st.sampled_from(range(len(REASONS))), header=st.booleans(),
       compressed=st.sampled_from(["none", "gzip", "bomb"]))
def test_hostile_answers_never_show_the_token(hostile: HostileServer, caplog: pytest.LogCaptureFixture,
                                              capsys: pytest.CaptureFixture[str], token: str, status: int,
                                              reason: int, header: bool, compressed: str) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    hostile.token = token
    hostile.answer = answer_for(status, REASONS[reason], header, compressed)
    connection = _Connection().configure(url=hostile.url, username="admin", password="Pa55-word-Q",
                                         session_cache="none", timeout=5)
    texts: list[str] = []
    started = time.monotonic()
    try:
        response = connection.retrieve(["Entity"])
        data = response.read()
        texts.append(str(response.getheader("Content-Type")))
        if compressed == "gzip" and status < 300:
            assert data.startswith(b"<Error>")
    except LinkAheadException as error:
        texts.append(shown(error))
        if compressed == "bomb" and status < 300:
            assert "max_compression_ratio" in str(error)
    assert time.monotonic() - started < 10
    Path("pylinkahead.ini").write_text(f"[Connection]\nurl = {hostile.url}\nusername = admin\n"
                                       "password = Pa55-word-Q\nsession_cache = none\ntimeout = 5\n")
    for argv in (["status"], ["status", "--json"], ["-v", "status"]):
        main(argv)
        out, err = capsys.readouterr()
        texts += [out, err]
    records = [record.getMessage() for record in caplog.records]
    assert_hidden(token, *texts, *records, caplog.text)


# -- store states ---------------------------------------------------------------------------------

STATES = ["fifo", "symlink", "foreign", "future", "logout", "garbage", "planted", "non_latin1", "intact"]


def put_into_state(state: str, store: Path, path: Path, server: LinkAheadTestServer) -> None:
    entry = json.loads(path.read_text())
    if state == "fifo":
        path.unlink()
        os.mkfifo(path, 0o600)
    elif state == "symlink":
        target = store.parent / "elsewhere.json"
        target.write_text(json.dumps(entry))
        path.unlink()
        path.symlink_to(target)
    elif state == "foreign":
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        os.chown(path, 65534, 65534)
    elif state == "future":
        path.write_text(json.dumps(dict(entry, issued_ms=entry["issued_ms"] + 10**12)))
    elif state == "logout":
        _Connection().configure(url=server.url, username="admin", password=server.users["admin"],
                                session_cache=str(store), timeout=5).auth.logout()
    elif state == "garbage":
        path.write_bytes(b"\xff{not json")
    elif state == "planted":
        # Another password's entry: same key file, another binding.
        path.write_text(json.dumps(dict(entry, salt="00" * 16, binding="11" * 32)))
    elif state == "non_latin1":
        path.write_text(json.dumps(dict(entry, token=entry["token"] + "\u20ac")))


def bounded(action: Callable[[], object], seconds: float) -> BaseException | None:
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            action()
            outcome.append(None)
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for more than {seconds} s"
    return outcome[0]


@pytest.fixture(scope="module")
def store_server() -> Iterator[LinkAheadTestServer]:
    with LinkAheadTestServer() as server:
        yield server


@AUDIT
@given(state=st.sampled_from(STATES), right=st.booleans(), action=st.sampled_from(["request", "login", "status"]))
def test_store_states_never_hang_never_serve_a_wrong_password(
        store_server: LinkAheadTestServer, tmp_path_factory: pytest.TempPathFactory,
        caplog: pytest.LogCaptureFixture, state: str, right: bool, action: str) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    store = tmp_path_factory.mktemp("store") / "sessions"
    server = store_server
    first = _Connection().configure(url=server.url, username="admin", password=server.users["admin"],
                                    session_cache=str(store), timeout=5)
    first.retrieve(["Info"]).read()
    token = first.auth.state.token
    assert token
    path = next(store.glob("*.session"))
    put_into_state(state, store, path, server)
    password = server.users["admin"] if right else "WRONG-password-Q"
    server.reset_counters()

    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the refusals warn; what matters here is the outcome
            connection = _Connection().configure(url=server.url, username="admin", password=password,
                                                 session_cache=str(store), timeout=5)
            if action == "request":
                connection.retrieve(["Info"]).read()
            elif action == "login":
                connection._login()
            else:
                connection.auth.shared_session()

    error = bounded(run, 15)
    if right:
        assert error is None, error
        assert server.counters.logins <= 1
        if action == "login":
            assert server.counters.logins == 1  # an explicit login always asks the server
    elif action != "status":
        assert isinstance(error, LoginFailedError), error
        assert server.counters.logins == 0
    assert_hidden(token, caplog.text, *(shown(error) for error in [error] if error is not None))
