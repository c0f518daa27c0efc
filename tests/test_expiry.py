"""Expiry-aware credentials: refresh shortly before expiry, single flight, header credentials.

These tests let tokens of one or two seconds run out, so they wait that long on purpose: the
waiting is the scenario (time passing), not a wait for a server to become ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import linkahead
import pytest
from linkahead import Credentials, HeaderCredentials, TokenCredentials, hookimpl
from linkahead.connection.connection import _Connection
from linkahead.exceptions import LoginFailedError
from linkahead.testing import LinkAheadTestServer

LIFETIME = 1.5


class SsoLikePlugin:
    """Hands out short-lived LinkAhead tokens, as an organisation's SSO plugin would."""

    def __init__(self, server: LinkAheadTestServer, lifetime: float = LIFETIME) -> None:
        self.server = server
        self.lifetime = lifetime
        self.refreshes: list[str] = []
        self.__name__ = "sso-like"

    def issue(self) -> TokenCredentials:
        return TokenCredentials(self.server.make_token("admin", timeout=self.lifetime))

    @hookimpl
    def get_credentials(self, config: Any) -> Credentials:
        return self.issue()

    @hookimpl
    def refresh(self, config: Any, credentials: Credentials, reason: str) -> Credentials:
        self.refreshes.append(reason)
        return self.issue()


class BearerPlugin:
    """Request headers for an SSO front end, with an expiry."""

    def __init__(self, server: LinkAheadTestServer, lifetime: float = LIFETIME) -> None:
        self.server = server
        self.lifetime = lifetime
        self.refreshes: list[str] = []
        self.issued = 0
        self.__name__ = "bearer"

    def issue(self) -> HeaderCredentials:
        self.issued += 1
        key = f"bearer-{self.issued}-secret"
        self.server.bearer_tokens = {key: "admin"}  # the front end accepts only the newest one
        return HeaderCredentials({"Authorization": f"Bearer {key}"}, expires_at=time.time() + self.lifetime)

    @hookimpl
    def get_credentials(self, config: Any) -> Credentials:
        return self.issue()

    @hookimpl
    def refresh(self, config: Any, credentials: Credentials, reason: str) -> Credentials:
        self.refreshes.append(reason)
        return self.issue()


def wait_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.time()))


def run_threads(count: int, work: Callable[[], None]) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            work()
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.fixture
def short_sessions() -> Any:
    with LinkAheadTestServer(session_timeout=LIFETIME) as server:
        yield server


def test_token_is_refreshed_before_expiry_by_one_thread_for_sixteen(short_sessions: LinkAheadTestServer) -> None:
    server = short_sessions
    plugin = SsoLikePlugin(server)
    connection = linkahead.configure_connection(url=server.url, password_method=plugin)
    connection.retrieve(["Info"]).read()
    server.reset_counters()
    # Idle until the session is inside its refresh margin, but not yet dead at the server.
    wait_until(connection.auth.state.refresh_at + 0.01)

    def work() -> None:
        for _ in range(3):
            connection.retrieve(["Entity"]).read()

    assert run_threads(16, work) == []
    assert plugin.refreshes == ["expired"]
    assert server.counters.tokens_issued == 1  # one refresh, whatever the thread count
    assert server.counters.rejected == 0  # no 401 at all, let alone to a caller
    assert server.counters.requests == 48


def test_a_401_still_refreshes_with_reason_rejected(linkahead_server: LinkAheadTestServer) -> None:
    plugin = SsoLikePlugin(linkahead_server, lifetime=3600)
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    connection.retrieve(["Info"]).read()
    linkahead_server.invalidate_sessions()
    linkahead_server.reset_counters()

    def work() -> None:
        connection.retrieve(["Entity"]).read()

    assert run_threads(16, work) == []
    assert plugin.refreshes == ["rejected"]
    assert linkahead_server.counters.tokens_issued == 1


def test_password_session_is_renewed_by_a_login_before_it_dies(short_sessions: LinkAheadTestServer) -> None:
    server = short_sessions
    connection = linkahead.configure_connection(url=server.url, username="admin", password=server.users["admin"])
    connection.retrieve(["Info"]).read()
    wait_until(connection.auth.state.refresh_at + 0.01)
    connection.retrieve(["Info"]).read()
    assert server.counters.logins == 2
    assert server.counters.rejected == 0


def test_a_busy_session_is_kept_alive_by_renewals(short_sessions: LinkAheadTestServer) -> None:
    server = short_sessions
    connection = linkahead.configure_connection(url=server.url, username="admin", password=server.users["admin"])
    end = time.time() + 2 * LIFETIME
    count = 0
    while time.time() < end:
        connection.retrieve(["Entity"]).read()
        count += 1
    assert count > 10
    assert server.counters.logins == 1


def test_header_credentials_are_sent_and_refreshed_before_expiry(linkahead_server: LinkAheadTestServer) -> None:
    plugin = BearerPlugin(linkahead_server)
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    assert b'username="admin"' in connection.retrieve(["Info"]).read()
    assert linkahead_server.last_request_headers["Authorization"] == "Bearer bearer-1-secret"
    wait_until(connection.auth.state.refresh_at + 0.01)

    def work() -> None:
        connection.retrieve(["Entity"]).read()

    assert run_threads(16, work) == []
    assert plugin.refreshes == ["expired"]
    assert linkahead_server.last_request_headers["Authorization"] == "Bearer bearer-2-secret"
    assert linkahead_server.counters.rejected == 0
    assert linkahead_server.counters.bearer == 17


def test_rejected_header_credentials_are_refreshed_once(linkahead_server: LinkAheadTestServer) -> None:
    plugin = BearerPlugin(linkahead_server, lifetime=3600)
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    connection.retrieve(["Info"]).read()
    linkahead_server.bearer_tokens = {}  # the front end forgot every token
    assert connection.retrieve(["Entity"]).status == 200
    assert plugin.refreshes == ["rejected"]
    assert linkahead_server.counters.rejected == 1


def test_refresh_on_request(linkahead_server: LinkAheadTestServer) -> None:
    plugin = SsoLikePlugin(linkahead_server, lifetime=3600)
    connection: _Connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    connection.retrieve(["Info"]).read()
    connection.refresh_credentials()
    assert plugin.refreshes == ["requested"]
    assert connection.retrieve(["Info"]).status == 200


def test_no_refresh_loop_when_the_plugin_returns_expired_credentials(linkahead_server: LinkAheadTestServer) -> None:
    plugin = SsoLikePlugin(linkahead_server, lifetime=3600)
    plugin.issue = lambda: TokenCredentials(  # type: ignore[method-assign]
        linkahead_server.make_token("admin", issued_at=time.time() - 10, timeout=5)
    )
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    with pytest.raises(LoginFailedError):
        connection.retrieve(["Info"])
    # One refresh when the first credentials were born expired, then the server's verdict.
    assert len(plugin.refreshes) <= 2
    assert linkahead_server.counters.requests <= 2
