"""The embedded server's bearer-token support: what a plugin author returning header credentials meets.

The server plays an SSO front end: ``Authorization: Bearer <token>`` for a token registered in
``bearer_tokens`` is served as that token's user, without a session cookie.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

import linkahead
import pytest
from linkahead import Credentials, HeaderCredentials, hookimpl
from linkahead.demo import who_am_i
from linkahead.exceptions import HTTPServerError, LoginFailedError
from linkahead.testing import LinkAheadTestServer


class BearerPlugin:
    """Returns the bearer token it holds; ``refresh`` hands out the next one of ``spare``."""

    def __init__(self, token: str, spare: list[str] | None = None, scheme: str = "Bearer") -> None:
        self.token = token
        self.spare = list(spare or [])
        self.scheme = scheme
        self.reasons: list[str] = []

    def credentials(self) -> HeaderCredentials:
        return HeaderCredentials({"Authorization": f"{self.scheme} {self.token}"})

    @hookimpl
    def get_credentials(self, config: Mapping[str, Any]) -> Credentials:
        return self.credentials()

    @hookimpl
    def refresh(self, config: Mapping[str, Any], credentials: Credentials, reason: str) -> Credentials | None:
        self.reasons.append(reason)
        if not self.spare:
            return None
        self.token = self.spare.pop(0)
        return self.credentials()


def test_a_registered_bearer_token_is_served_as_its_user_without_a_login(
        linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.add_user("alice", "unused-here")
    linkahead_server.add_bearer_token("tok-1", "alice")
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=BearerPlugin("tok-1"))
    assert who_am_i(connection)["username"] == "alice"
    connection.retrieve(["Entity", "1"])
    counters = linkahead_server.counters
    assert (counters.bearer, counters.logins, counters.requests) == (2, 0, 2)
    assert linkahead_server.last_request_headers["Authorization"] == "Bearer tok-1"
    assert "Cookie" not in linkahead_server.last_request_headers  # no session for bearer requests


def test_the_scheme_is_case_insensitive(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.add_bearer_token("tok-1", "admin")
    plugin = BearerPlugin("tok-1", scheme="bearer")
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    assert who_am_i(connection)["username"] == "admin"


def test_a_revoked_bearer_token_makes_the_core_ask_for_a_new_one(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.add_bearer_token("tok-1", "admin")
    plugin = BearerPlugin("tok-1", spare=["tok-2"])
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    who_am_i(connection)
    del linkahead_server.bearer_tokens["tok-1"]  # the front end no longer accepts it
    linkahead_server.add_bearer_token("tok-2", "admin")
    assert who_am_i(connection)["username"] == "admin"
    assert plugin.reasons == ["rejected"]
    assert linkahead_server.counters.rejected == 1


def test_an_unknown_bearer_token_is_a_login_error_and_the_server_says_why(
        linkahead_server: LinkAheadTestServer) -> None:
    plugin = BearerPlugin("never-registered")
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    with pytest.raises(LoginFailedError, match="rejected by the server") as caught:
        connection.retrieve(["Info"])
    assert "never-registered" not in str(caught.value)
    assert linkahead_server.counters.bearer == 0
    assert plugin.reasons == ["rejected"]


def test_the_401_text_names_the_expected_header_format(linkahead_server: LinkAheadTestServer) -> None:
    # Plain requests: the connection turns a 401 into a login error, and the text is for people
    # looking at the exchange (a debugger, a proxy log).
    import requests

    for header, expected in [
        ("Bearer unknown", "not in the test server's bearer_tokens"),
        ("Token abc", "only 'Authorization: Bearer <token>'"),
        ("Bearer", "only 'Authorization: Bearer <token>'"),
    ]:
        answer = requests.get(linkahead_server.url + "Info", headers={"Authorization": header}, timeout=30)
        assert answer.status_code == 401
        description = ElementTree.fromstring(answer.text).find("Error")
        assert description is not None
        assert expected in description.get("description", "")


def test_a_misconfigured_server_answers_500_with_the_reason(linkahead_server: LinkAheadTestServer,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    linkahead_server.bearer_tokens = ["tok-1"]  # type: ignore[assignment]  # the mistake under test
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=BearerPlugin("tok-1"))
    with pytest.raises(HTTPServerError, match="bearer_tokens must be a dict of bearer token to user name"):
        connection.retrieve(["Info"])
    assert "TypeError" in capfd.readouterr().err  # the traceback, for the test's output


@pytest.mark.parametrize(("token", "user", "message"), [
    ("tok", "nobody", "not a user of this server"),
    ("", "admin", "non-empty string without whitespace"),
    ("two words", "admin", "non-empty string without whitespace"),
])
def test_add_bearer_token_checks_its_arguments(linkahead_server: LinkAheadTestServer, token: str, user: str,
                                               message: str) -> None:
    with pytest.raises(ValueError, match=message):
        linkahead_server.add_bearer_token(token, user)
