"""A misbehaving server: restarts, error statuses, cut and dropped connections, slow answers,
broken ``Set-Cookie`` headers, 401 for ever.

Each fault must end in the documented error within the time-out, with a bounded number of
logins (counted by the server) and no retry beyond the one repeat after a 401.
(The basic 401 cases live in test_connection.py; these extend them.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import linkahead
import pytest
from linkahead.connection.connection import _Connection
from linkahead.exceptions import (
    HTTPServerError,
    LinkAheadConnectionError,
    LinkAheadException,
    LinkAheadTimeoutError,
    LoginFailedError,
)
from linkahead.testing import LinkAheadTestServer, RequestInfo
from linkahead.testing.server import Fault

READ_TIMEOUT = 1.0
# Generous slack for a loaded CI machine; the point is "bounded", not "fast".
SLACK = 3.0


def connect(server: LinkAheadTestServer, **extra: object) -> _Connection:
    return linkahead.configure_connection(
        url=server.url, username="admin", password=server.users["admin"], password_method="plain",
        timeout=(2.0, READ_TIMEOUT), **extra,
    )


def on(path: str, fault: Fault) -> Callable[[RequestInfo], Fault | None]:
    """A fault function that misbehaves for ``path`` only."""
    return lambda request: fault if request.path == path else None


def logged_in(server: LinkAheadTestServer) -> _Connection:
    connection = connect(server)
    connection.retrieve(["Info"]).read()
    server.reset_counters()
    return connection


# -- restarts ---------------------------------------------------------------------------------


def test_restart_mid_run_get_logs_in_once_more(linkahead_server: LinkAheadTestServer) -> None:
    connection = logged_in(linkahead_server)
    for _ in range(3):
        connection.retrieve(["Entity", "1"]).read()
    linkahead_server.restart()
    for _ in range(3):
        assert b'user="admin"' in connection.retrieve(["Entity", "1"]).read()
    assert linkahead_server.counters.logins == 1
    assert linkahead_server.counters.rejected == 1
    assert linkahead_server.counters.connections == 1  # a new one: the restart closed the old one


@pytest.mark.parametrize("body", [b"<Insert>" + bytes(range(256)) * 4096 + b"</Insert>",
                                  "<Insert name='Grüße \u2603'/>"])
def test_restart_mid_run_post_body_is_sent_again_intact(linkahead_server: LinkAheadTestServer,
                                                        body: bytes | str) -> None:
    connection = logged_in(linkahead_server)
    received: list[bytes] = []

    def record(request: RequestInfo) -> None:
        if request.path == "Entity":
            received.append(request.body)

    linkahead_server.fault = record
    linkahead_server.restart()
    response = connection.insert(["Entity"], body=body)
    assert response.status == 200
    expected = body if isinstance(body, bytes) else body.encode("utf-8")
    assert f'length="{len(expected)}"'.encode() in response.read()
    assert received == [expected, expected]  # rejected once, repeated once, byte for byte
    assert linkahead_server.counters.logins == 1


def test_restart_with_sixteen_threads_posting_causes_one_login(linkahead_server: LinkAheadTestServer) -> None:
    connection = logged_in(linkahead_server)
    linkahead_server.restart()
    barrier = threading.Barrier(16)
    lengths: list[bytes] = []
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            body = f"<Insert n='{number}'/>" * (number + 1)
            echo = connection.insert(["Entity"], body=body).read()
            if f'length="{len(body)}"'.encode() in echo:
                lengths.append(echo)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(lengths) == 16
    assert linkahead_server.counters.logins == 1


# -- error statuses ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_raised_without_retry(linkahead_server: LinkAheadTestServer, status: int) -> None:
    connection = logged_in(linkahead_server)
    linkahead_server.fault = on("Entity", Fault(status=status, body=b"<Error/>"))
    with pytest.raises(HTTPServerError) as info:
        connection.retrieve(["Entity"])
    assert info.value.status == status
    assert f"The server answered {status}" in str(info.value)
    assert linkahead_server.counters.requests == 1
    assert linkahead_server.counters.logins == 0
    linkahead_server.fault = None
    assert connection.retrieve(["Entity"]).status == 200  # the session survived


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_at_login_fail_the_login_once(linkahead_server: LinkAheadTestServer, status: int) -> None:
    connection = connect(linkahead_server)
    linkahead_server.fault = on("login", Fault(status=status))
    for _ in range(3):
        with pytest.raises(HTTPServerError) as info:
            connection.retrieve(["Entity"])
        assert f"The login of user 'admin' failed: the server answered {status}" in str(info.value)
    # One login attempt per call: no storm, no hidden retries.
    assert linkahead_server.counters.requests == 3
    linkahead_server.fault = None
    assert connection.retrieve(["Entity"]).status == 200
    assert linkahead_server.counters.logins == 1


# -- broken connections -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["Entity", "login"])
@pytest.mark.parametrize("fault", [Fault(drop=True), Fault(cut_after=0), Fault(cut_after=5)],
                         ids=["dropped", "cut-after-headers", "cut-in-body"])
def test_connection_closed_mid_response(linkahead_server: LinkAheadTestServer, path: str, fault: Fault) -> None:
    connection = connect(linkahead_server)
    if path == "Entity":
        connection.retrieve(["Info"]).read()
    linkahead_server.reset_counters()
    linkahead_server.fault = on(path, fault)
    started = time.monotonic()
    with pytest.raises(LinkAheadConnectionError) as info:
        connection.retrieve(["Entity"]).read()
    assert time.monotonic() - started < READ_TIMEOUT + SLACK
    assert not isinstance(info.value, LinkAheadTimeoutError)
    assert f"{linkahead_server.url}{path}" in str(info.value)
    assert "broke before the whole answer arrived" in str(info.value)
    # A broken login is sent once more (issue 13 item 15) and no further. A GET whose connection
    # was closed before any answer is sent once more too (issue 19: a kept-alive connection a proxy
    # had just dropped); one whose answer broke off is not repeated.
    repeated = path == "login" or fault.drop
    assert linkahead_server.counters.requests == (2 if repeated else 1)
    linkahead_server.fault = None
    assert connection.retrieve(["Entity"]).read().startswith(b"<Response")


# -- slow answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["Entity", "login"])
def test_slow_answer_times_out_within_the_read_timeout(linkahead_server: LinkAheadTestServer, path: str) -> None:
    connection = connect(linkahead_server)
    if path == "Entity":
        connection.retrieve(["Info"]).read()
    linkahead_server.reset_counters()
    linkahead_server.fault = on(path, Fault(delay=READ_TIMEOUT + SLACK + 2))
    started = time.monotonic()
    with pytest.raises(LinkAheadTimeoutError) as info:
        connection.retrieve(["Entity"])
    elapsed = time.monotonic() - started
    assert READ_TIMEOUT * 0.9 <= elapsed < READ_TIMEOUT + SLACK
    assert "read time-out" in str(info.value)
    assert linkahead_server.counters.requests == 1
    assert linkahead_server.counters.logins == 0


def test_slow_but_within_the_timeout_succeeds(linkahead_server: LinkAheadTestServer) -> None:
    connection = logged_in(linkahead_server)
    linkahead_server.fault = on("Entity", Fault(delay=READ_TIMEOUT / 4))
    assert connection.retrieve(["Entity"]).status == 200


# -- broken Set-Cookie ------------------------------------------------------------------------

UNUSABLE_COOKIES = {
    "control-character": "SessionToken=\x01abc; Path=/",
    "quoted-with-space": 'SessionToken="a b"; Path=/',
    "oversized": "SessionToken=" + "%5B" * 6000 + "; Path=/",
    "no-value-attributes-only": "SessionToken; Path=/",
    "other-cookie": "JSESSIONID=abc; Path=/",
}


@pytest.mark.parametrize("cookie", list(UNUSABLE_COOKIES.values()), ids=list(UNUSABLE_COOKIES))
def test_unusable_renewal_cookie_is_ignored(linkahead_server: LinkAheadTestServer, cookie: str) -> None:
    connection = logged_in(linkahead_server)
    token = connection.auth.state.token
    linkahead_server.fault = on("Entity", Fault(headers={"Set-Cookie": cookie}))
    for _ in range(3):
        assert connection.retrieve(["Entity"]).status == 200
    assert connection.auth.state.token == token  # kept: the broken renewal was not adopted
    linkahead_server.fault = None
    assert connection.retrieve(["Entity"]).status == 200
    assert linkahead_server.counters.logins == 0
    assert linkahead_server.counters.rejected == 0


@pytest.mark.parametrize("cookie", list(UNUSABLE_COOKIES.values()), ids=list(UNUSABLE_COOKIES))
def test_unusable_login_cookie_is_a_login_error(linkahead_server: LinkAheadTestServer, cookie: str) -> None:
    connection = connect(linkahead_server)
    linkahead_server.fault = on("login", Fault(headers={"Set-Cookie": cookie}))
    for _ in range(2):
        with pytest.raises(LoginFailedError) as info:
            connection.retrieve(["Entity"])
        assert "sent no usable SessionToken cookie" in str(info.value)
    assert linkahead_server.counters.requests == 2  # one login per call, the request never went out


def test_a_header_too_long_to_read_is_a_connection_error(linkahead_server: LinkAheadTestServer) -> None:
    connection = logged_in(linkahead_server)
    linkahead_server.fault = on("Entity", Fault(headers={"Set-Cookie": "SessionToken=" + "a" * 70000}))
    with pytest.raises(LinkAheadConnectionError):
        connection.retrieve(["Entity"])
    assert linkahead_server.counters.requests == 1
    linkahead_server.fault = None
    assert connection.retrieve(["Entity"]).status == 200


def test_an_opaque_renewal_cookie_costs_at_most_one_login_per_request(linkahead_server: LinkAheadTestServer) -> None:
    # A well-formed cookie the server itself will not accept (a broken proxy rewriting it): the
    # client adopts it (tokens are opaque), the next request meets a 401 and logs in once.
    connection = logged_in(linkahead_server)
    linkahead_server.fault = on("Entity", Fault(headers={"Set-Cookie": "SessionToken=opaque; Path=/"}))
    calls = 5
    for _ in range(calls):
        assert connection.retrieve(["Entity"]).status == 200
    assert linkahead_server.counters.logins <= calls
    assert linkahead_server.counters.requests <= 3 * calls


# -- 401 for ever -----------------------------------------------------------------------------


def always(status: int) -> Callable[[RequestInfo], tuple[int, Mapping[str, str], bytes]]:
    return lambda request: (status, {}, b"<Response/>")


def test_401_for_ever_costs_one_login_per_call(linkahead_server: LinkAheadTestServer) -> None:
    connection = logged_in(linkahead_server)
    calls = 4
    with linkahead_server.route("GET", "Entity", always(401)):
        for _ in range(calls):
            started = time.monotonic()
            with pytest.raises(LoginFailedError, match="logged in again in between"):
                connection.retrieve(["Entity"])
            assert time.monotonic() - started < READ_TIMEOUT + SLACK
    assert linkahead_server.counters.logins == calls
    assert linkahead_server.counters.requests == 3 * calls  # request, login, repeat


def test_401_for_ever_with_sixteen_threads_is_bounded(linkahead_server: LinkAheadTestServer) -> None:
    connection = logged_in(linkahead_server)
    barrier = threading.Barrier(16)
    failures: list[type[BaseException]] = []

    def work() -> None:
        barrier.wait(timeout=10)
        try:
            connection.retrieve(["Entity"])
        except LinkAheadException as error:
            failures.append(type(error))

    with linkahead_server.route("GET", "Entity", always(401)):
        threads = [threading.Thread(target=work) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert failures == [LoginFailedError] * 16
    # Threads meeting the same rejected session share one login; never more than one per thread.
    assert 1 <= linkahead_server.counters.logins <= 16
    assert linkahead_server.counters.requests <= 16 * 3


def test_401_for_ever_with_a_token_asks_no_login(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url,
                                                auth_token=linkahead_server.make_token("admin"), timeout=5)
    with linkahead_server.route("GET", "Entity", always(401)):
        for _ in range(3):
            with pytest.raises(LoginFailedError, match="token"):
                connection.retrieve(["Entity"])
    assert linkahead_server.counters.logins == 0
    assert linkahead_server.counters.requests <= 3


def test_every_path_401_including_login(linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    linkahead_server.fault = lambda request: Fault(status=401)
    for _ in range(3):
        with pytest.raises(LoginFailedError, match="rejected the login"):
            connection.retrieve(["Entity"])
    assert linkahead_server.counters.requests == 3  # plain cannot refresh: one login attempt per call
