"""The connection against the embedded server: login, session cookie, 401 handling, status errors."""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping

import linkahead
import pytest
from linkahead.connection.connection import _Connection, make_uri_path
from linkahead.exceptions import (
    HTTPClientError,
    HTTPForbiddenError,
    HTTPResourceNotFoundError,
    HTTPServerError,
    HTTPURITooLongError,
    LinkAheadConnectionError,
    LoginFailedError,
)
from linkahead.testing import LinkAheadTestServer, RequestInfo


def connect(server: LinkAheadTestServer, **extra: object) -> _Connection:
    return linkahead.configure_connection(
        url=server.url, username="admin", password=server.users["admin"], password_method="plain", **extra
    )


def test_configure_then_retrieve_info(linkahead_server: LinkAheadTestServer) -> None:
    linkahead.configure_connection(
        url=linkahead_server.url, username="admin", password=linkahead_server.users["admin"], password_method="plain"
    )
    response = linkahead.get_connection().retrieve(["Info"])
    assert response.status == 200
    assert b'<UserInfo username="admin" realm="PAM">' in response.read()
    assert linkahead_server.counters.logins == 1


def test_configuring_sends_nothing(linkahead_server: LinkAheadTestServer) -> None:
    connect(linkahead_server)
    assert linkahead_server.counters.requests == 0


def test_the_session_is_reused_and_renewed(linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    tokens = []
    for _ in range(5):
        connection.retrieve(["Entity", "1"]).read()
        tokens.append(connection.auth.state.token)
    assert linkahead_server.counters.logins == 1
    # The server renews the token on every answer and the client adopts the newest one.
    assert len(set(tokens)) == 5


def test_keep_alive_reuses_one_connection(linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    for _ in range(20):
        connection.retrieve(["Entity"]).read()
    assert linkahead_server.counters.requests == 21
    assert linkahead_server.counters.connections == 1


def test_a_401_logs_in_again_once_and_repeats_the_request(linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    connection.retrieve(["Info"]).read()
    linkahead_server.invalidate_sessions()
    response = connection.insert(["Entity"], body=b"<Insert>payload</Insert>")
    assert response.status == 200
    echo = response.read()
    assert b'method="POST"' in echo
    assert b'length="24"' in echo  # the body was sent again, intact
    assert linkahead_server.counters.logins == 2
    assert linkahead_server.counters.rejected == 1


def test_a_second_401_is_a_login_error(linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    def always_401(request: RequestInfo) -> tuple[int, Mapping[str, str], bytes]:
        return 401, {}, b"<Response/>"

    with linkahead_server.route("GET", "Entity", always_401), pytest.raises(LoginFailedError) as info:
        connection.retrieve(["Entity"])
    assert "answered 401" in str(info.value)
    assert "logged in again in between" in str(info.value)
    assert "lack access" not in str(info.value)
    assert linkahead_server.counters.logins == 2  # the first login, one re-login, no storm


def test_wrong_password(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin", password="wrong")
    with pytest.raises(LoginFailedError) as info:
        connection.retrieve(["Info"])
    assert str(info.value) == (
        "The server rejected the login of user 'admin' (password_method 'plain'). Check the user name and the password."
    )
    assert linkahead_server.counters.failed_logins == 1


def test_server_down() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = linkahead.configure_connection(url=f"http://127.0.0.1:{port}/", username="a", password="b")
    with pytest.raises(LinkAheadConnectionError) as info:
        connection.retrieve(["Info"])
    message = str(info.value)
    assert f"Cannot connect to http://127.0.0.1:{port}/login" in message
    assert "Is the server running" in message


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (403, HTTPForbiddenError, "403 Forbidden"),
        (404, HTTPResourceNotFoundError, "404 Not Found"),
        (413, HTTPURITooLongError, "413"),
        (414, HTTPURITooLongError, "414"),
        (431, HTTPURITooLongError, "431"),
        (409, HTTPClientError, "409 Conflict"),
        (500, HTTPServerError, "500 Internal Server Error"),
        (503, HTTPServerError, "503 Service Unavailable"),
    ],
)
def test_status_mapping(status: int, error: type[Exception], text: str, linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    def answer(request: RequestInfo) -> tuple[int, Mapping[str, str], bytes]:
        return status, {}, b"<Error/>"

    with linkahead_server.route("GET", "Entity", answer), pytest.raises(error) as info:
        connection.retrieve(["Entity"])
    assert text in str(info.value)
    assert info.value.status == status  # type: ignore[attr-defined]
    assert info.value.body == b"<Error/>"  # type: ignore[attr-defined]


def test_request_methods_and_paths(linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    seen: list[tuple[str, str, str, bytes, Mapping[str, str]]] = []

    def record(request: RequestInfo) -> tuple[int, Mapping[str, str], bytes]:
        seen.append((request.method, request.path, request.query, request.body, request.headers))
        return 200, {}, b"<ok/>"

    for method in ("GET", "POST", "PUT", "DELETE"):
        linkahead_server.routes[(method, "Entity/a%2Fb")] = record
    connection.retrieve(["Entity", "a/b"], query_dict={"query": "FIND x", "flag": None}).read()
    connection.insert(["Entity", "a/b"], body="<Insert/>").read()
    connection.update(["Entity", "a/b"], body=b"<Update/>").read()
    connection.delete(["Entity", "a/b"]).read()
    connection.post_form_data(["Entity", "a/b"], {"k": "v w"}).read()
    connection.put_form_data(["Entity", "a/b"], {"k": "v"}).read()
    assert [(m, p, q, b) for m, p, q, b, _ in seen] == [
        ("GET", "Entity/a%2Fb", "query=FIND%20x&flag=", b""),
        ("POST", "Entity/a%2Fb", "", b"<Insert/>"),
        ("PUT", "Entity/a%2Fb", "", b"<Update/>"),
        ("DELETE", "Entity/a%2Fb", "", b""),
        ("POST", "Entity/a%2Fb", "", b"k=v+w"),
        ("PUT", "Entity/a%2Fb", "", b"k=v"),
    ]
    headers = seen[0][4]
    assert headers["Accept"] == "text/xml"
    assert headers["User-Agent"].startswith("linkahead-connection/")
    assert seen[4][4]["Content-Type"] == "application/x-www-form-urlencoded"


def test_make_uri_path() -> None:
    assert make_uri_path(["Entity", "a/b", "ä"]) == "Entity/a%2Fb/%C3%A4"
    assert make_uri_path(["Entity"], {"q": "a&b", "flag": None}) == "Entity?q=a%26b&flag="
    assert make_uri_path(["Entity"], {}) == "Entity?"  # as upstream: an empty query keeps its "?"
    assert make_uri_path(["Entity", "."]) == "Entity/%2E"
    assert make_uri_path(["Entity", ".."]) == "Entity/%2E%2E"
    assert make_uri_path(None) == ""


def test_download_file(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.files["data/file.bin"] = bytes(range(256)) * 100
    response = connect(linkahead_server).download_file("/data/file.bin")
    assert response.read(10) == bytes(range(10))
    assert response.read() == (bytes(range(256)) * 100)[10:]


def test_logout_forgets_the_token_and_the_next_request_logs_in(linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    connection.retrieve(["Info"]).read()
    connection.logout()
    assert connection.auth.state.token is None
    assert linkahead_server.counters.logouts == 1
    connection.retrieve(["Info"]).read()
    assert linkahead_server.counters.logins == 2


def test_activate_user_follows_the_link_without_a_session(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.anonymous = True
    connection = connect(linkahead_server)
    connection.retrieve(["Info"]).read()
    token = connection.auth.state.token
    response = connection.activate_user(f"{linkahead_server.url}Activate?token=abc")
    assert b'path="Activate" query="token=abc" user="anonymous"' in response.read()
    assert connection.auth.state.token == token  # the session is left alone
    assert linkahead_server.counters.logouts == 0
    connection.retrieve(["Info"]).read()
    assert linkahead_server.counters.logins == 1


def test_root_path_urls(tmp_path: object) -> None:
    with LinkAheadTestServer(root_path="/linkahead/") as server:
        assert server.url.endswith("/linkahead/")
        connection = connect(server)
        assert b'username="admin"' in connection.retrieve(["Info"]).read()


def test_unauthenticated_method_with_anonymous_server(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.anonymous = True
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method="unauthenticated")
    for _ in range(3):
        assert b'username="anonymous"' in connection.retrieve(["Info"]).read()
    assert connection.auth.state.token is None
    assert "Cookie" not in linkahead_server.last_request_headers
    assert linkahead_server.counters.logins == 0


def test_unauthenticated_method_refused(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method="unauthenticated")
    with pytest.raises(LoginFailedError) as info:
        connection.retrieve(["Info"])
    assert "Anonymous access was refused by the server" in str(info.value)
    assert "'unauthenticated'" in str(info.value)


def test_sixteen_threads_on_an_invalidated_session_cause_one_login(linkahead_server: LinkAheadTestServer) -> None:
    connection = connect(linkahead_server)
    connection.retrieve(["Info"]).read()
    linkahead_server.invalidate_sessions()
    linkahead_server.reset_counters()
    barrier = threading.Barrier(16)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(5):
                response = connection.retrieve(["Entity"])
                response.read()
                statuses.append(response.status)
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert statuses == [200] * 80
    assert linkahead_server.counters.logins == 1


def test_sixteen_threads_with_a_wrong_password_cause_one_failed_login(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, username="admin", password="wrong")
    barrier = threading.Barrier(16)
    messages: list[str] = []

    def work() -> None:
        barrier.wait(timeout=10)
        try:
            connection.retrieve(["Entity"])
        except LoginFailedError as error:
            messages.append(str(error))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(messages) == 16
    assert all("rejected the login of user 'admin'" in message for message in messages)
    # Threads that queued behind the failing login share its error instead of retrying.
    assert linkahead_server.counters.failed_logins == 1
