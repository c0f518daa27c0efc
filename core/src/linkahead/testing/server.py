"""An embedded server that speaks the LinkAhead authentication protocol (stdlib only).

Real HTTP/1.1 with keep-alive on a loopback socket, in a background thread. It implements what a
client of the connection needs: ``POST /login`` (form), the ``SessionToken`` cookie with session
(``"S"``) and one-time (``"O"``) tokens, renewal on every authenticated response, expiry,
``GET``/``DELETE /logout``, ``GET /Info``, anonymous access, and switches and counters for tests.
Every other path answers 200 with an XML echo of the request (its raw, undecoded path and query),
so ``retrieve``/``insert``/... work.

As strict as a real server where clients have got it wrong: a ``SessionToken`` cookie whose value is
not percent-encoded (a raw ``"``, ``,``, ``[``, ``]``, ``\\`` or space in it) is answered 400, and
:meth:`LinkAheadTestServer.make_token` hands out tokens in the raw JSON form an administrator hands
out, which a client must encode before it puts one into a cookie. Bodies may come with
``Content-Length`` or chunked (a streamed multipart upload). ``request_log`` records every request
as it came over the wire, for tests that compare clients.

Faults for robustness tests: :meth:`LinkAheadTestServer.restart` (all sessions and connections
gone), ``response_delay`` (a slow server) and ``fault`` (a function that sees every request, the
login included, and may answer it with a :class:`Fault`: an error status, a broken ``Set-Cookie``,
a delay, or a connection closed before or in the middle of the answer).

Not a LinkAhead server: no entities, no permissions beyond "authenticated or not".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import quoteattr

__all__ = ["LinkAheadTestServer", "Counters", "Route", "Fault", "FaultFunction", "LoggedRequest", "DEFAULT_USERS"]

DEFAULT_USERS: Mapping[str, str] = {"admin": "admin-Pa55word"}
DEFAULT_MAX_BODY = 64 << 20
"""The largest request body the server reads (64 MiB); larger ones are answered 413."""


class _BodyTooLarge(Exception):
    """A request body beyond ``max_body``."""
"""The users of a server created without ``users=``: name to password."""

Route = Callable[["RequestInfo"], "tuple[int, Mapping[str, str], bytes] | None"]


@dataclass
class Counters:
    """What the server has seen since start (or :meth:`LinkAheadTestServer.reset_counters`)."""

    logins: int = 0
    """Successful ``POST /login``."""
    failed_logins: int = 0
    """``POST /login`` answered 401."""
    requests: int = 0
    """Every request, logins included."""
    connections: int = 0
    """TCP connections accepted (keep-alive reuse keeps this low)."""
    rejected: int = 0
    """Requests answered 401 (failed logins included)."""
    logouts: int = 0
    """``/logout`` requests."""
    one_time_logins: int = 0
    """Requests authenticated by a one-time token."""
    anonymous: int = 0
    """Requests served as user ``anonymous``."""
    bearer: int = 0
    """Requests authenticated by an ``Authorization: Bearer`` header (see ``bearer_tokens``)."""
    tokens_issued: int = 0
    """Tokens made by :meth:`LinkAheadTestServer.make_token` (e.g. by a test's SSO endpoint)."""
    faults: int = 0
    """Requests answered with a :class:`Fault` (see ``LinkAheadTestServer.fault``)."""


@dataclass
class RequestInfo:
    """One request as a custom :data:`Route` sees it."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    user: str | None
    server: LinkAheadTestServer = field(repr=False)


@dataclass
class LoggedRequest:
    """One request as it came over the wire (see ``LinkAheadTestServer.request_log``).

    ``path`` and ``query`` are raw: not percent-decoded, so ``%2F`` and ``/`` stay apart.
    """

    method: str
    path: str
    """The raw path, the server's root path included."""
    query: str | None
    """The raw query (after ``?``), ``None`` when the request target has no ``?``."""
    headers: Mapping[str, str]
    body: bytes
    """The body; a chunked body is joined."""
    status: int = 0
    """The status the server answered with (0 while it is being served)."""

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    @property
    def cookie(self) -> str | None:
        """The raw ``Cookie`` header."""
        return self.headers.get("Cookie")


@dataclass(frozen=True)
class Fault:
    """How to misbehave for one request; returned by a :data:`FaultFunction`.

    The fields combine; their effects apply in this order:

    :param delay: seconds to wait before anything else (interrupted by :meth:`LinkAheadTestServer.stop`).
    :param drop: close the connection without answering at all.
    :param status: answer with this status, ``headers`` and ``body`` instead of the normal answer
        (the request is then not served; for ``POST /login`` no session is made).
    :param headers: headers added to the answer -- the fault's or, without ``status``, the normal
        one, where they replace headers of the same name (a broken ``Set-Cookie``, say).
    :param body: the body of a ``status`` answer.
    :param cut_after: send the headers (announcing the full ``Content-Length``) and only this many
        bytes of the body, then close the connection: a response cut off in the middle.
    """

    delay: float = 0.0
    drop: bool = False
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    cut_after: int | None = None


FaultFunction = Callable[[RequestInfo], "Fault | None"]
"""Sees every request (``user`` is still ``None``: it runs before authentication); ``None`` serves
it normally."""


class LinkAheadTestServer:
    """An embedded LinkAhead-protocol server on loopback.

    Use it as a context manager (or :meth:`start`/:meth:`stop`)::

        with LinkAheadTestServer() as server:
            linkahead.configure_connection(url=server.url, username="admin",
                                           password=server.users["admin"], password_method="plain")

    :param users: user name to password (default :data:`DEFAULT_USERS`).
    :param anonymous: answer requests without a token as user ``anonymous`` instead of 401.
    :param session_timeout: lifetime of session tokens in seconds (renewed on every request).
    :param root_path: the server's root path, e.g. ``"/linkahead/"``; other paths answer 404.
    :param ssl_context: serve HTTPS with this server-side context.
    :param host: the address to bind (loopback by default).
    :param port: the port to bind; 0 (the default) picks a free one (see :attr:`port`).
    :raises OSError: the address cannot be bound (e.g. the port is in use).
    """

    def __init__(self, users: Mapping[str, str] | None = None, *, anonymous: bool = False,
                 session_timeout: float = 3600.0, root_path: str = "/",
                 ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1",
                 realm: str = "PAM", port: int = 0, max_body: int | None = DEFAULT_MAX_BODY,
                 idle_timeout: float | None = None) -> None:
        self.users: dict[str, str] = dict(DEFAULT_USERS if users is None else users)
        self.max_body = max_body
        """Request bodies larger than this (bytes) are answered 413 and the connection closed; None: no limit."""
        self.idle_timeout = idle_timeout
        """Seconds a connection may stay silent (between or inside requests) before it is closed; None: no limit."""
        self.roles: dict[str, list[str]] = {name: ["administration"] if name == "admin" else [] for name in self.users}
        self.anonymous = anonymous
        self.session_timeout = session_timeout
        self.root_path = "/" + root_path.strip("/") + "/" if root_path.strip("/") else "/"
        self.realm = realm
        self.counters = Counters()
        self.files: dict[str, bytes] = {}
        self.routes: dict[tuple[str, str], Route] = {}
        self.response_delay = 0.0
        """Seconds to wait before answering each request (interrupted by :meth:`stop`)."""
        self.fault: FaultFunction | None = None
        """Called for every request, logins included; a :class:`Fault` it returns is applied."""
        self.last_request_headers: dict[str, str] = {}
        self.request_log: list[LoggedRequest] | None = None
        """Set it to a list and every request is appended to it (off by default: a long-running
        server must not grow)."""
        self.bearer_tokens: dict[str, str] = {}
        """Bearer token to user name: a request with the header ``Authorization: Bearer <token>``
        (and no ``SessionToken`` cookie) is served as that user, counted in ``counters.bearer``, as
        an SSO front end in front of LinkAhead would; no session cookie is issued for it. An
        unknown token is answered 401. See :meth:`add_bearer_token`."""
        self._secret = secrets.token_bytes(32)
        self._valid_after_ms = 0
        self._replays: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ssl_context = ssl_context
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def url(self) -> str:
        """The base URL, ready for ``configure_connection(url=...)``."""
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}{self.root_path}"

    def start(self) -> LinkAheadTestServer:
        """Serve in a daemon thread. The socket already listens, so no readiness wait is needed."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"linkahead-test-server-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket and all open connections."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> LinkAheadTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- switches -----------------------------------------------------------------------------

    def invalidate_sessions(self) -> None:
        """Make every token issued so far invalid, as a server restart would."""
        with self._lock:
            self._valid_after_ms = int(time.time() * 1000) + 1
        # Tokens issued in the same millisecond must not survive.
        while int(time.time() * 1000) <= self._valid_after_ms:
            time.sleep(0.0005)

    def restart(self) -> None:
        """Behave as if the server restarted: every session is gone and every open connection is closed.

        The listening socket stays, so clients reconnect to the same ``url``.
        """
        self.invalidate_sessions()
        self._httpd.close_connections()

    def reset_counters(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self.counters = Counters()

    def add_user(self, name: str, password: str, roles: list[str] | None = None) -> None:
        """Add (or replace) the user ``name`` with ``password`` and ``roles``."""
        self.users[name] = password
        self.roles[name] = list(roles or [])

    def add_bearer_token(self, token: str, username: str) -> None:
        """Accept ``Authorization: Bearer <token>`` as ``username`` (an existing user).

        :raises ValueError: ``username`` is not a user of this server, or ``token`` is empty or
            holds whitespace (a header value ``Bearer <token>`` could not carry it).
        """
        if username not in self.users:
            raise ValueError(f"{username!r} is not a user of this server; add it first with add_user()")
        if not isinstance(token, str) or not token or any(c.isspace() for c in token):
            raise ValueError("a bearer token must be a non-empty string without whitespace")
        self.bearer_tokens[token] = username

    @contextmanager
    def route(self, method: str, path: str, handler: Route) -> Iterator[None]:
        """Answer ``method path`` (path below the root path, e.g. ``"Entity"``) with ``handler``.

        ``path`` is matched against the raw request path (``Entity/a%2Fb``, not decoded); a path
        ending in ``*`` matches every path that starts with the part before it (``"Entity*"``).
        """
        self.routes[(method, path)] = handler
        try:
            yield
        finally:
            self.routes.pop((method, path), None)

    def _prefix_route(self, method: str, path: str) -> Route | None:
        for (route_method, route_path), handler in list(self.routes.items()):
            if route_method == method and route_path.endswith("*") and path.startswith(route_path[:-1]):
                return handler
        return None

    # -- tokens -------------------------------------------------------------------------------

    def make_token(self, username: str, *, one_time: bool = False, timeout: float | None = None,
                   issued_at: float | None = None, max_replays: int = 1, replay_timeout: float = 30.0) -> str:
        """A token for ``username`` in the raw JSON form an administrator hands out
        (``["O","OneTimeAuthenticationToken","admin",...]``); a client percent-encodes it for the cookie.

        :param timeout: lifetime in seconds (default: ``session_timeout``; one-time: 7 days).
        :param issued_at: seconds since the epoch (default: now); in the past for an expired token.
        """
        self._count(tokens_issued=1)
        return self._make_token(username, one_time=one_time, timeout=timeout, issued_at=issued_at,
                                max_replays=max_replays, replay_timeout=replay_timeout)

    def _make_token(self, username: str, *, one_time: bool = False, timeout: float | None = None,
                    issued_at: float | None = None, max_replays: int = 1, replay_timeout: float = 30.0) -> str:
        issued_ms = int((time.time() if issued_at is None else issued_at) * 1000)
        if timeout is None:
            timeout = 604800.0 if one_time else self.session_timeout
        fields: list[Any] = [
            "O" if one_time else "S", "OneTimeAuthenticationToken" if one_time else self.realm, username,
            self.roles.get(username, []), [], issued_ms, int(timeout * 1000), secrets.token_hex(16),
        ]
        if one_time:
            fields_tail = [max_replays, int(replay_timeout * 1000)]
        else:
            fields_tail = []
        fields.append(self._checksum(fields[:8] + fields_tail))
        fields.extend(fields_tail)
        return json.dumps(fields, separators=(",", ":"))

    def _checksum(self, fields: list[Any]) -> str:
        data = json.dumps(fields, separators=(",", ":")).encode()
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def check_token(self, value: str) -> tuple[str, bool] | None:
        """``(username, one_time)`` for a valid token value, else ``None``. Counts one-time replays."""
        try:
            fields = json.loads(unquote(value))
            kind, _realm, username = fields[0], fields[1], fields[2]
            issued_ms, timeout_ms, nonce, checksum = fields[5], fields[6], fields[7], fields[8]
            tail = fields[9:]
        except (ValueError, TypeError, IndexError, KeyError):
            return None
        if not isinstance(checksum, str) or not hmac.compare_digest(checksum, self._checksum(fields[:8] + tail)):
            return None
        now_ms = time.time() * 1000
        with self._lock:
            if issued_ms < self._valid_after_ms or now_ms > issued_ms + timeout_ms:
                return None
            if username not in self.users:
                return None
            if kind == "O":
                max_replays = tail[0] if tail else 1
                used = self._replays.get(nonce, 0)
                if used >= max_replays:
                    return None
                self._replays[nonce] = used + 1
                return username, True
        return (username, False) if kind == "S" else None

    def session_cookie(self, username: str) -> str:
        """A ``Set-Cookie`` value with a fresh session token for ``username``."""
        token = quote(self._make_token(username), safe="")
        return f"SessionToken={token}; Path=/; Max-Age={int(self.session_timeout)}; HttpOnly"

    def _count(self, **increments: int) -> None:
        with self._lock:
            for name, amount in increments.items():
                setattr(self.counters, name, getattr(self.counters, name) + amount)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when a test's threads connect at once, and
    # Linux then resets some of those connections.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 owner: LinkAheadTestServer) -> None:
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # Headers and body go out in separate writes; without NODELAY, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.owner._ssl_context is not None:
            sock = self.owner._ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.owner._count(connections=1)
        with self.sockets_lock:
            self.open_sockets.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.sockets_lock:
            for sock in list(self.open_sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.open_sockets.clear()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up is not a test failure; keep stderr quiet


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LinkAheadTestServer/1"
    server: _HTTPServer
    fault: Fault | None = None
    logged: LoggedRequest | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        idle = self.server.owner.idle_timeout
        if idle is not None:
            # A client that stays silent for longer (between requests, or in the middle of one)
            # is disconnected: the read fails with a time-out and the handler ends.
            self.connection.settimeout(idle)
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        try:
            self._serve_request(method)
        except OSError:
            raise  # the client went away: nothing to answer
        except Exception as error:  # noqa: BLE001 -- reported to the client and stderr
            # A test that set the server up wrongly (bearer_tokens as a list, a route that raises)
            # must hear why, not meet a silently dropped connection.
            import traceback

            traceback.print_exc()
            self.close_connection = True
            self.fault = None
            text = " ".join(f"embedded test server error: {type(error).__name__}: {error}".split())
            # Also as the reason phrase, which client errors quote ("answered 500 <reason>").
            reason = text.encode("latin-1", "replace").decode("latin-1")[:300]
            self._reply(500, _xml_error(text), reason=reason)

    def _serve_request(self, method: str) -> None:
        owner = self.server.owner
        owner._count(requests=1)
        try:
            body: bytes | None = self._read_body()
        except ValueError:
            body = None  # not chunked as announced; answered below, after the request is logged
        except _BodyTooLarge:
            self.close_connection = True
            self._reply(413, _xml_error(f"The request body is larger than {owner.max_body} bytes."))
            return
        owner.last_request_headers = dict(self.headers.items())
        logged: LoggedRequest | None = None
        if owner.request_log is not None:
            raw_path, has_query, raw_query = self.path.partition("?")
            logged = LoggedRequest(method, raw_path, raw_query if has_query else None,
                                   dict(self.headers.items()), b"" if body is None else body)
            owner.request_log.append(logged)
        self.logged = logged
        if body is None:
            self.close_connection = True
            self._reply(400, _xml_error("The body is not chunked as 'Transfer-Encoding: chunked' announces."))
            return
        if owner.response_delay and owner._stopping.wait(owner.response_delay):
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        self.fault = None
        fault_function = owner.fault
        if fault_function is not None and self._apply_fault(fault_function, method, parts.path, parts.query, body):
            return
        if not parts.path.startswith(owner.root_path):
            self._reply(404, _xml_error("not below the root path " + owner.root_path))
            return
        path = parts.path[len(owner.root_path):]
        unencoded = _unencoded_cookie(self.headers.get("Cookie"))
        if unencoded:
            # A real server's cookie parser stops at these characters; say so instead of a 401.
            self._reply(400, _xml_error(
                f"The SessionToken cookie is not percent-encoded (it contains {unencoded} unencoded). "
                "Cookie values must be URL-encoded: send quote(token, safe='')."))
            return
        if path == "login" and method == "POST":
            self._login(body)
            return
        if path == "logout":
            owner._count(logouts=1)
            self._reply(200, b"<Response/>", {"Set-Cookie": "SessionToken=; Path=/; Max-Age=0"})
            return
        user, cookie = self._authenticate()
        if user is None:
            owner._count(rejected=1)
            self._reply(401, _xml_error(self._why_rejected()))
            return
        headers = {"Set-Cookie": cookie} if cookie else {}
        route = owner.routes.get((method, path)) or owner._prefix_route(method, path)
        if route is not None:
            answer = route(RequestInfo(method, path, parts.query, dict(self.headers.items()), body, user, owner))
            if answer is not None:
                status, extra, data = answer
                self._reply(status, data, {**headers, **extra})
                return
        if path == "Info":
            self._reply(200, self._info(user), headers)
        elif path.startswith("FileSystem/"):
            # upstream sends FileSystem//a/b for the path "/a/b"; the file is "a/b" either way
            content = owner.files.get(unquote(path[len("FileSystem/"):]).lstrip("/"))
            if content is None:
                self._reply(404, _xml_error("no such file"), headers)
            else:
                self._reply(200, content, {**headers, "Content-Type": "application/octet-stream"})
        else:
            echo = (f"<Response method={quoteattr(method)} path={quoteattr(path)} "
                    f"query={quoteattr(parts.query)} user={quoteattr(user)} length=\"{len(body)}\"/>")
            self._reply(200, echo.encode(), headers)

    def _read_body(self) -> bytes:
        limit = self.server.owner.max_body
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                total += size
                if limit is not None and total > limit:
                    raise _BodyTooLarge
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if limit is not None and length > limit:
            raise _BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _apply_fault(self, fault_function: FaultFunction, method: str, path: str, query: str, body: bytes) -> bool:
        """Ask ``fault_function`` about this request; True when the fault has answered it."""
        owner = self.server.owner
        below_root = path[len(owner.root_path):] if path.startswith(owner.root_path) else path
        fault = fault_function(RequestInfo(method, below_root, query, dict(self.headers.items()), body, None, owner))
        if fault is None:
            return False
        owner._count(faults=1)
        if fault.delay and owner._stopping.wait(fault.delay):
            self.close_connection = True
            return True
        if fault.drop:
            self._hang_up()
            return True
        self.fault = fault
        if fault.status is not None:
            self._reply(fault.status, fault.body)
            return True
        return False

    def _hang_up(self) -> None:
        """Close the connection at once, without a word (what a crashing server does)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _login(self, body: bytes) -> None:
        owner = self.server.owner
        form = parse_qs(body.decode("utf-8", "replace"))
        username = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        expected = owner.users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            owner._count(failed_logins=1, rejected=1)
            self._reply(401, _xml_error("Authentication failed. Username or password wrong."))
            return
        owner._count(logins=1)
        self._reply(200, b"<Response/>", {"Set-Cookie": owner.session_cookie(username)})

    def _authenticate(self) -> tuple[str | None, str | None]:
        """The user of this request and the renewed cookie to send back."""
        owner = self.server.owner
        token = _cookie(self.headers.get("Cookie"), "SessionToken")
        if token:
            checked = owner.check_token(token)
            if checked is not None:
                username, one_time = checked
                if one_time:
                    owner._count(one_time_logins=1)
                return username, owner.session_cookie(username)
            return None, None
        scheme, _, credential = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            bearer_tokens = owner.bearer_tokens
            if not isinstance(bearer_tokens, Mapping):
                raise TypeError("bearer_tokens must be a dict of bearer token to user name, "
                                f"not {type(bearer_tokens).__name__}; see LinkAheadTestServer.add_bearer_token()")
            bearer_user = bearer_tokens.get(credential.strip())
            if bearer_user is None:
                return None, None
            owner._count(bearer=1)
            return bearer_user, None
        if owner.anonymous:
            owner._count(anonymous=1)
            return "anonymous", None
        return None, None

    def _why_rejected(self) -> str:
        """The 401 text: says what was wrong with a bearer header, since test authors guess at it."""
        if _cookie(self.headers.get("Cookie"), "SessionToken"):
            return "Please login. (The SessionToken is unknown, expired or used up.)"
        authorization = self.headers.get("Authorization")
        if not authorization:
            return "Please login."
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            return "Please login. (This bearer token is not in the test server's bearer_tokens.)"
        return ("Please login. (The test server understands only 'Authorization: Bearer <token>' "
                "for tokens registered in bearer_tokens.)")

    def _info(self, user: str) -> bytes:
        owner = self.server.owner
        realm = "anonymous" if user == "anonymous" else owner.realm
        roles = "".join(f"<Role>{role}</Role>" for role in owner.roles.get(user, ["anonymous"]))
        return (
            f"<Response><UserInfo username={quoteattr(user)} realm={quoteattr(realm)}>"
            f"<Roles>{roles}</Roles></UserInfo><Info><Counts files=\"{len(owner.files)}\"/></Info></Response>"
        ).encode()

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None,
               reason: str | None = None) -> None:
        fault = self.fault
        if fault is not None and fault.headers:
            headers = {**(headers or {}), **fault.headers}
        if self.logged is not None:
            self.logged.status = status
        self.send_response(status, reason)
        headers = headers or {}
        self.send_header("Content-Type", headers.get("Content-Type", "text/xml; charset=utf-8"))
        for name, value in headers.items():
            if name != "Content-Type":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault is not None and fault.cut_after is not None:
            self.wfile.write(body[:fault.cut_after])
            self._hang_up()
            return
        self.wfile.write(body)


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


_NOT_COOKIE_OCTETS = '"[], \\'


def _unencoded_cookie(header: str | None) -> str:
    """The characters (named, never the value: it is a secret) that make a SessionToken cookie raw."""
    value = _cookie(header, "SessionToken")
    if not value:
        return ""
    found = sorted({char for char in value if char in _NOT_COOKIE_OCTETS})
    return ", ".join("a space" if char == " " else repr(char) for char in found)


def _xml_error(text: str) -> bytes:
    return f"<Response><Error description={quoteattr(text)}/></Response>".encode()
