"""Sessions under churn (issue 13, items 14 and 15).

- The session deadline comes from the token's own issued-at (clamped to the window in which the
  request was in flight, which is the skew allowance), not from when the answer arrived.
- A late answer carrying an older renewal never replaces the newer token held.
- One broken connection during a login does not fail the threads waiting for it; an outage costs
  a bounded number of login attempts, shared by the waiting threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from urllib.parse import quote

import linkahead
import pytest
from linkahead.connection.connection import _Connection
from linkahead.exceptions import LinkAheadConnectionError
from linkahead.testing import LinkAheadTestServer, RequestInfo
from linkahead.testing.server import Fault
from linkahead.tokens import parse_token, session_token_from_set_cookie

WAIT = 10.0


def connect(server: LinkAheadTestServer) -> _Connection:
    return linkahead.configure_connection(url=server.url, username="admin", password=server.users["admin"],
                                          password_method="plain", timeout=(5.0, 10.0))


def next_millisecond() -> None:
    """Let the clock move on, so the next token has a later issued-at (a clock tick, not a readiness wait)."""
    start = int(time.time() * 1000)
    while int(time.time() * 1000) <= start:
        time.sleep(0.0005)


class SlowRoute:
    """``GET Slow``: the server issues the renewal when the request arrives, then waits to answer."""

    def __init__(self, delay: float | None = None) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.delay = delay

    def __call__(self, request: RequestInfo) -> tuple[int, Mapping[str, str], bytes]:
        self.entered.set()
        if self.delay is not None:
            self.release.wait(self.delay)  # a slow server: the scenario, not a readiness wait
        else:
            self.release.wait(WAIT)
        return 200, {}, b"<Slow/>"


def in_thread(work: object) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()  # type: ignore[operator]
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


# -- item 14: the token's own clock, never an older token ---------------------------------------


def test_a_late_answer_with_an_older_renewal_does_not_replace_the_newer_token(
        linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    connection.retrieve(["Info"]).read()
    slow = SlowRoute()
    with linkahead_server.route("GET", "Slow", slow):
        thread, errors = in_thread(lambda: connection.retrieve(["Slow"]).read())
        assert slow.entered.wait(WAIT)  # the slow request's renewal is issued now ...
        next_millisecond()
        connection.retrieve(["Entity"]).read()  # ... and this one's later
        newer = connection.auth.state.token
        assert newer is not None
        slow.release.set()
        thread.join(WAIT)
    assert errors == []
    assert connection.auth.state.token == newer
    assert connection.auth.state.issued_ms == parse_token(newer).issued_at_ms


def test_the_deadline_counts_from_the_tokens_issued_at_not_from_the_answers_arrival(
        linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    connection.retrieve(["Info"]).read()
    slow = SlowRoute(delay=0.6)
    with linkahead_server.route("GET", "Slow", slow):
        connection.retrieve(["Slow"]).read()
    state = connection.auth.state
    assert state.token is not None
    info = parse_token(state.token)
    lifetime = info.timeout_ms / 1000.0
    margin = min(30.0, lifetime / 10)
    # The token was issued when the request arrived, 0.6 s before its answer.
    assert state.refresh_at <= info.expires_at - margin + 0.05
    assert state.refresh_at >= info.expires_at - margin - 0.05


@pytest.mark.parametrize("skew", [-100.0, 100.0], ids=["server-clock-behind", "server-clock-ahead"])
def test_a_skewed_server_clock_is_clamped_to_the_logins_flight(linkahead_server: LinkAheadTestServer,
                                                               skew: float) -> None:
    connection = connect(linkahead_server)

    def skewed(request: RequestInfo) -> Fault | None:
        if request.path != "login":
            return None
        token = request.server.make_token("admin", issued_at=time.time() + skew, timeout=60.0)
        # make_token gives the raw JSON an administrator hands out; a cookie carries it encoded.
        return Fault(headers={"Set-Cookie": f"SessionToken={quote(token, safe='')}; Path=/"})

    linkahead_server.fault = skewed
    sent = time.time()
    state = connection.auth.current()  # logs in; nothing else is sent
    received = time.time()
    assert linkahead_server.counters.logins == 1
    # By its own clock the token died 40 s ago (or lives 100 s longer); the deadline stays within
    # one round trip of what a token issued during the login allows: no login storm, no late 401.
    assert sent + 60 - 6 <= state.refresh_at <= received + 60 - 6


# -- item 15: a transient reset during a login, and a real outage ---------------------------------


def run_sixteen(connection: _Connection) -> tuple[list[bytes], list[BaseException]]:
    barrier = threading.Barrier(16)
    answers: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=WAIT)
            answers.append(connection.retrieve(["Entity"]).read())
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers, errors


def test_one_reset_during_a_login_fails_none_of_the_waiting_threads(linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    dropped: list[str] = []
    lock = threading.Lock()

    def drop_first_login(request: RequestInfo) -> Fault | None:
        with lock:
            if request.path == "login" and not dropped:
                dropped.append(request.path)
                return Fault(delay=1.0, drop=True)  # the waiters queue up meanwhile
        return None

    linkahead_server.fault = drop_first_login
    answers, errors = run_sixteen(connection)
    assert errors == []
    assert len(answers) == 16
    assert linkahead_server.counters.faults == 1
    assert linkahead_server.counters.logins == 1


def test_an_outage_during_a_login_costs_two_attempts_shared_by_the_waiters(
        linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    connection.retrieve(["Info"]).read()
    linkahead_server.invalidate_sessions()
    linkahead_server.reset_counters()
    linkahead_server.fault = lambda request: Fault(delay=1.0, drop=True) if request.path == "login" else None
    answers, errors = run_sixteen(connection)
    assert answers == []
    assert len(errors) == 16
    assert all(isinstance(error, LinkAheadConnectionError) for error in errors)
    assert linkahead_server.counters.faults == 2  # the login and its one repeat, for all sixteen
    linkahead_server.fault = None
    assert connection.retrieve(["Entity"]).read().startswith(b"<Response")
    assert linkahead_server.counters.logins == 1


def test_a_login_that_times_out_is_not_repeated(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                                password=linkahead_server.users["admin"], timeout=(2.0, 0.3))
    linkahead_server.fault = lambda request: Fault(delay=1.0) if request.path == "login" else None
    with pytest.raises(LinkAheadConnectionError):
        connection.retrieve(["Entity"])
    assert linkahead_server.counters.faults == 1


def test_renewal_cookie_parsing_agrees_with_the_full_parser(linkahead_server: LinkAheadTestServer) -> None:
    from linkahead.tokens import session_times

    for user, roles in (("admin", ["administration"]), ("odd", ['a],1,2,"b', "x,y"]), ("none", [])):
        linkahead_server.add_user(user, "pw", roles)
        token = session_token_from_set_cookie(linkahead_server.session_cookie(user))
        assert token is not None
        info = parse_token(token)
        assert session_times(token) == (info.issued_at_ms, info.timeout_ms)
    assert session_times(linkahead_server.make_token("admin", one_time=True)) is None
    assert session_times("garbage") is None
