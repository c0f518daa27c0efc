"""Upstream's names on the connection, with upstream's meaning (issue 17, point 2), without upstream.

``tests/compat/test_upstream_names.py`` checks the same names against upstream 0.21.0 itself; these
tests pin the details that need our own parts: the embedded server's requests, the session store,
the messages.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import linkahead
import pytest
from linkahead import configuration, exceptions
from linkahead.connection import connection as module
from linkahead.connection.connection import _Connection, _DefaultCaosDBServerConnection
from linkahead.connection.transport import RequestsTransport
from linkahead.exceptions import ConfigurationError, LoginFailedError
from linkahead.testing import LinkAheadTestServer, RequestInfo


def _cookies(server: LinkAheadTestServer, path: str = "Entity") -> list[str]:
    seen: list[str] = []

    def record(request: RequestInfo) -> tuple[int, Mapping[str, str], bytes]:
        seen.append(request.headers.get("Cookie", ""))
        return 200, {}, b"<Response/>"

    server.routes[("GET", path)] = record
    return seen


def _plain(server: LinkAheadTestServer, **extra: Any) -> _Connection:
    return linkahead.configure_connection(url=server.url, username="admin", password=server.users["admin"],
                                          password_method="plain", **extra)


def _raw(token: str) -> str:
    return json.dumps(json.loads(unquote(token)), separators=(",", ":"))


# -- the default transport and the module's names --------------------------------------------------

def test_the_default_transport_has_upstreams_name_and_base_path(linkahead_server: LinkAheadTestServer) -> None:
    assert _DefaultCaosDBServerConnection()._base_path is None  # upstream's, before configure
    connection = _plain(linkahead_server)
    transport = connection._delegate_connection
    assert isinstance(transport, _DefaultCaosDBServerConnection) and isinstance(transport, RequestsTransport)
    assert transport._base_path == linkahead_server.url
    explicit = _plain(linkahead_server, implementation=_DefaultCaosDBServerConnection)
    assert isinstance(explicit._delegate_connection, _DefaultCaosDBServerConnection)
    assert explicit.retrieve(["Info"]).status == 200


def test_the_named_default_transport_still_needs_a_real_url() -> None:
    with pytest.raises(ConfigurationError, match="url"):
        linkahead.configure_connection(url="unittests", password_method="unauthenticated",
                                       implementation=_DefaultCaosDBServerConnection)
    with pytest.raises(ConfigurationError, match="'url' is required"):
        linkahead.configure_connection(password_method="unauthenticated",
                                       implementation=_DefaultCaosDBServerConnection)
    with pytest.raises(ConfigurationError, match="has no http:// or https:// scheme"):  # a factory of ours
        linkahead.configure_connection(url="unittests", password_method="unauthenticated",
                                       implementation=lambda: RequestsTransport())


def test_base_path_keeps_the_root_path() -> None:
    with LinkAheadTestServer(root_path="/linkahead/") as server:
        connection = linkahead.configure_connection(url=server.url.rstrip("/"), username="admin",
                                                    password=server.users["admin"], password_method="plain")
        assert connection._delegate_connection._base_path == server.url  # type: ignore[union-attr]
        assert server.url.endswith("/linkahead/")


@pytest.mark.parametrize("name", ["ConfigurationError", "HTTPClientError", "HTTPForbiddenError",
                                  "HTTPResourceNotFoundError", "HTTPServerError", "HTTPURITooLongError",
                                  "LinkAheadConnectionError", "LinkAheadException", "LoginFailedError"])
def test_the_module_re_exports_upstreams_exception_classes(name: str) -> None:
    assert getattr(module, name) is getattr(exceptions, name)


def test_the_module_re_exports_upstreams_configuration_functions() -> None:
    assert module.get_config is configuration.get_config
    assert module.config_to_yaml is configuration.config_to_yaml


# -- _authenticator.auth_token -------------------------------------------------------------------

def test_auth_token_reads_the_session_decoded(linkahead_server: LinkAheadTestServer) -> None:
    connection = _plain(linkahead_server)
    authenticator = connection._authenticator
    assert authenticator is not None and authenticator.auth_token is None  # no login yet
    connection.retrieve(["Info"]).read()
    token = authenticator.auth_token
    assert token is not None and token.startswith('["S","PAM","admin"')  # decoded, as upstream holds it
    assert quote(token, safe="") == connection.auth.state.token
    shown = repr(authenticator) + repr(connection.auth.state)
    assert token not in shown and quote(token, safe="") not in shown and "***" in shown


def test_writing_auth_token_makes_it_the_session(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.add_user("other", "other-Pa55word")
    cookies = _cookies(linkahead_server)
    connection = _plain(linkahead_server)
    connection.retrieve(["Entity"]).read()
    other = _raw(linkahead_server.make_token("other"))
    assert connection._authenticator is not None
    connection._authenticator.auth_token = other
    connection.retrieve(["Entity"]).read()
    assert cookies[-1] == f"SessionToken={quote(other, safe='')}"  # sent percent-encoded
    assert linkahead_server.counters.logins == 1  # adopted, no login
    assert connection.get_username() == "admin"  # the configured user, as before


def test_writing_none_makes_the_next_request_log_in(linkahead_server: LinkAheadTestServer) -> None:
    connection = _plain(linkahead_server)
    connection.retrieve(["Info"]).read()
    assert connection._authenticator is not None
    connection._authenticator.auth_token = None
    assert connection._authenticator.auth_token is None
    connection.retrieve(["Info"]).read()
    assert linkahead_server.counters.logins == 2


def test_a_written_token_that_the_server_refuses_is_recovered_from(linkahead_server: LinkAheadTestServer) -> None:
    connection = _plain(linkahead_server)
    assert connection._authenticator is not None
    connection._authenticator.auth_token = "not-a-session"
    assert connection.retrieve(["Info"]).status == 200  # 401, then the password logs in
    assert linkahead_server.counters.logins == 1 and linkahead_server.counters.rejected == 1


def test_a_written_token_is_not_shared_through_the_session_store(linkahead_server: LinkAheadTestServer,
                                                                 tmp_path: Path) -> None:
    linkahead_server.add_user("other", "other-Pa55word")
    store = tmp_path / "sessions"
    # Another process of this user logged in and stored its session.
    first = _Connection().configure(url=linkahead_server.url, username="admin", password_method="plain",
                                    password=linkahead_server.users["admin"], session_cache=str(store))
    first.retrieve(["Info"]).read()
    connection = _plain(linkahead_server, session_cache=str(store))
    assert connection.auth.shared_session()["user"] == "admin"
    assert connection._authenticator is not None
    connection._authenticator.auth_token = _raw(linkahead_server.make_token("other"))
    connection.retrieve(["Info"]).read()  # the answer renews the written session: kept in this process
    assert connection.auth.state.token is not None and "%22other%22" in connection.auth.state.token
    assert connection.auth.shared_session()["user"] == "admin"
    assert linkahead_server.counters.logins == 1


def test_the_login_after_a_refused_written_token_is_shared_as_usual(linkahead_server: LinkAheadTestServer,
                                                                    tmp_path: Path) -> None:
    store = tmp_path / "sessions"
    connection = _plain(linkahead_server, session_cache=str(store))
    assert connection._authenticator is not None
    connection._authenticator.auth_token = "not-a-session"
    connection.retrieve(["Info"]).read()  # 401, then the password logs in and stores the session
    second = _Connection().configure(url=linkahead_server.url, username="admin", password_method="plain",
                                     password=linkahead_server.users["admin"], session_cache=str(store))
    second.retrieve(["Info"]).read()
    assert linkahead_server.counters.logins == 1


def test_auth_token_with_the_token_method_is_the_configured_one_until_renewed(
        linkahead_server: LinkAheadTestServer) -> None:
    raw = _raw(linkahead_server.make_token("admin", one_time=True))
    connection = linkahead.configure_connection(url=linkahead_server.url, auth_token=raw)
    assert connection._authenticator is not None
    assert connection._authenticator.auth_token == raw  # before any request, as upstream
    connection.retrieve(["Info"]).read()
    renewed = connection._authenticator.auth_token
    assert renewed is not None and renewed.startswith('["S"')  # the server's session


def test_unauthenticated_holds_no_token_and_ignores_a_written_one() -> None:
    with LinkAheadTestServer(anonymous=True) as server:
        cookies = _cookies(server)
        connection = linkahead.configure_connection(url=server.url, password_method="unauthenticated")
        assert connection._authenticator is not None
        connection._authenticator.auth_token = _raw(server.make_token("admin"))
        connection.retrieve(["Entity"]).read()
        assert connection._authenticator.auth_token is None
        assert cookies == [""]  # as upstream's Unauthenticated: never a token


# -- _login() --------------------------------------------------------------------------------------

def test_login_with_unauthenticated_raises_naming_the_method_and_the_fix() -> None:
    connection = linkahead.configure_connection(url="https://example.com", password_method="unauthenticated")
    with pytest.raises(LoginFailedError) as info:
        connection._login()
    message = str(info.value)
    assert "unauthenticated" in message and "password_method = plain" in message and "auth_token" in message
    assert connection._authenticator is not None
    with pytest.raises(LoginFailedError):
        connection._authenticator.login()


def test_login_with_auth_token_raises_naming_the_method_and_the_fix(linkahead_server: LinkAheadTestServer) -> None:
    raw = _raw(linkahead_server.make_token("admin", one_time=True))
    connection = linkahead.configure_connection(url="https://example.com", auth_token=raw)
    with pytest.raises(LoginFailedError) as info:
        connection._login()
    message = str(info.value)
    assert "auth_token" in message and "new token" in message and "configure_connection(auth_token=" in message
    assert raw not in message and quote(raw, safe="") not in message
    assert linkahead_server.counters.requests == 0


def test_login_with_a_password_still_logs_in(linkahead_server: LinkAheadTestServer) -> None:
    connection = _plain(linkahead_server)
    connection._login()
    connection._login()
    assert linkahead_server.counters.logins == 2


# -- a custom implementation needs no url ---------------------------------------------------------

class _Answer:
    status = 200

    def read(self, size: int = -1) -> bytes:
        return b"ok"

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return default

    def getheaders(self) -> dict[str, str]:
        return {}


class _Transport:
    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def configure(self, **config: Any) -> None:
        self.config = config

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None,
                **kwargs: Any) -> _Answer:
        self.seen.append((method, path, dict(headers or {})))
        return _Answer()


def test_a_custom_implementation_needs_no_url() -> None:
    connection = linkahead.configure_connection(password_method="unauthenticated", implementation=_Transport)
    assert connection._http_request(method="GET", path="test").read() == b"ok"
    transport = connection._delegate_connection
    assert isinstance(transport, _Transport)
    assert transport.config["url"] is None
    assert [(method, path, "Cookie" in headers) for method, path, headers in transport.seen] == [
        ("GET", "test", False)]
    assert connection.activate_user("https://elsewhere/Activation?token=x").read() == b"ok"


# -- socket_proxy ----------------------------------------------------------------------------------

def test_socket_proxy_is_accepted_with_a_deprecation_warning(linkahead_server: LinkAheadTestServer) -> None:
    Path("pylinkahead.ini").write_text(
        f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = plain\n"
        f"password = {linkahead_server.users['admin']}\nsocket_proxy = localhost:12345\n", encoding="utf-8")
    Path("pylinkahead.ini").chmod(0o600)
    with pytest.warns(DeprecationWarning, match="socket_proxy .* is deprecated and ignored") as caught:
        connection = linkahead.configure_connection()
    assert caught[0].filename == __file__  # points at the caller
    assert "https_proxy = socks5://" in str(caught[0].message)
    assert connection.retrieve(["Info"]).status == 200  # straight to the server: the value is ignored


def test_no_socket_proxy_no_warning(linkahead_server: LinkAheadTestServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        _plain(linkahead_server)


def test_a_password_in_socket_proxy_is_never_shown(linkahead_server: LinkAheadTestServer) -> None:
    with pytest.warns(DeprecationWarning) as caught:
        connection = _plain(linkahead_server, socket_proxy="jo:s3cret-Pa55@socks.example.org:1080")
    assert connection.config["socket_proxy"] == "jo:***@socks.example.org:1080"
    shown = repr(connection.config) + " ".join(str(warning.message) for warning in caught)
    assert "s3cret" not in shown
