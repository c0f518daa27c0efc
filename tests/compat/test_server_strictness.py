"""The embedded server is as strict as a real one where clients go wrong (issue 11, point 5), so that
the differential and overlay suites cannot pass on a lax server. Raw HTTP (``http.client``): the
point is exactly what goes over the wire.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, Mapping
from urllib.parse import quote

import pytest
from linkahead.testing import LinkAheadTestServer, RequestInfo


@pytest.fixture
def server() -> Iterator[LinkAheadTestServer]:
    with LinkAheadTestServer() as running:
        running.request_log = []
        yield running


def _send(server: LinkAheadTestServer, method: str, target: str, headers: Mapping[str, str] | None = None,
          body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None and "Transfer-Encoding" not in (headers or {}):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_make_token_gives_the_raw_json_an_administrator_hands_out(server: LinkAheadTestServer) -> None:
    token = server.make_token("admin", one_time=True)
    fields = json.loads(token)  # raw JSON, not percent-encoded
    assert fields[:3] == ["O", "OneTimeAuthenticationToken", "admin"] and len(fields) == 11
    assert json.loads(server.make_token("admin"))[0] == "S"


@pytest.mark.parametrize("spelling", ["raw", "raw with a space"])
def test_a_cookie_that_is_not_percent_encoded_is_refused(server: LinkAheadTestServer, spelling: str) -> None:
    token = server.make_token("admin")
    if spelling == "raw with a space":
        token = token.replace(",", ", ", 1)
    status, body = _send(server, "GET", "/Entity/1", {"Cookie": f"SessionToken={token}"})
    assert status == 400
    text = body.decode()
    assert "not percent-encoded" in text and "quote(token" in text
    assert json.loads(token)[7] not in text  # the token (a secret) is never echoed, not even its nonce
    assert server.request_log is not None and server.request_log[-1].status == 400


def test_the_encoded_cookie_is_accepted(server: LinkAheadTestServer) -> None:
    token = quote(server.make_token("admin"), safe="")
    status, body = _send(server, "GET", "/Entity/1", {"Cookie": f"SessionToken={token};"})
    assert status == 200 and b'user="admin"' in body


def test_the_echo_and_the_log_show_the_raw_path_and_query(server: LinkAheadTestServer) -> None:
    cookie = {"Cookie": f"SessionToken={quote(server.make_token('admin'), safe='')}"}
    status, body = _send(server, "GET", "/Entity/a%2Fb/%2E?query=FIND%20x&flag", cookie)
    assert status == 200
    assert b'path="Entity/a%2Fb/%2E"' in body and b'query="query=FIND%20x&amp;flag"' in body
    _send(server, "GET", "/Entity", cookie)
    assert server.request_log is not None
    first, second = server.request_log
    assert (first.method, first.path, first.query) == ("GET", "/Entity/a%2Fb/%2E", "query=FIND%20x&flag")
    assert second.query is None  # no "?" at all, which is not the same as an empty query
    assert first.cookie == cookie["Cookie"] and first.content_type is None


def test_chunked_bodies_are_joined_and_broken_ones_refused(server: LinkAheadTestServer) -> None:
    cookie = f"SessionToken={quote(server.make_token('admin'), safe='')}"
    chunked = {"Cookie": cookie, "Transfer-Encoding": "chunked", "Content-Type": "text/xml"}
    status, body = _send(server, "POST", "/Entity", chunked, b"4\r\n<Req\r\n6\r\nuest/>\r\n0\r\n\r\n")
    assert status == 200 and b'length="10"' in body
    assert server.request_log is not None and server.request_log[-1].body == b"<Request/>"
    status, body = _send(server, "POST", "/Entity", chunked, b"not chunked at all\r\n")
    assert status == 400 and b"not chunked" in body


def test_a_route_ending_in_a_star_answers_every_path_below(server: LinkAheadTestServer) -> None:
    seen: list[str] = []

    def answer(request: RequestInfo) -> tuple[int, dict[str, str], bytes]:
        seen.append(request.path)
        return 200, {}, b"<Response routed='yes'/>"

    cookie = {"Cookie": f"SessionToken={quote(server.make_token('admin'), safe='')}"}
    with server.route("GET", "User/*", answer):
        assert _send(server, "GET", "/User/PAM/x", cookie) == (200, b"<Response routed='yes'/>")
        assert _send(server, "GET", "/User/a%2Fb", cookie)[0] == 200
        status, body = _send(server, "GET", "/Users", cookie)
    assert seen == ["User/PAM/x", "User/a%2Fb"]
    assert status == 200 and b"routed" not in body  # not below User/: the echo
