"""The default transport: HTTP(S) through a :class:`requests.Session`.

A transport is what ``implementation=`` names: an object with ``configure(**config)`` and
``request(method, path, headers, body)`` returning a response with ``status``, ``reason``,
``read()``, ``getheader(name)`` and ``getheaders()``. The core adds authentication on top; the
transport knows nothing about sessions or credentials.

Choices that differ from a plain ``requests.Session``:

- ``trust_env`` is off: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` cannot override ``cacert``, and
  ``~/.netrc`` cannot add an ``Authorization`` header. Proxies from ``HTTPS_PROXY``/``HTTP_PROXY``
  are resolved by the configuration, which also applies ``NO_PROXY`` to them as requests would.
- The cookie jar refuses every cookie: the core manages the ``SessionToken`` cookie itself.
- No automatic retries and no redirects: a request goes out once; the core decides.
- ``timeout`` applies to every request, the login included: the connect time-out bounds the TCP
  connect (and, through a proxy, the connect to the proxy), the read time-out bounds each wait
  for the next bytes of the TLS handshake or the response, and their sum bounds the whole
  request -- connecting, sending, and reading the complete answer -- so a server that trickles
  its answer a byte at a time cannot hold it longer (see :mod:`.deadline`).
- Warnings at configure time, once per configuration: :class:`InsecureConnectionWarning` when
  ``ssl_insecure`` switches certificate checks off, :class:`CleartextPasswordWarning` when
  credentials would cross the network unencrypted.
- A proxy's password never appears in a log record or an error message.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import logging
import os
import re
import ssl
import sys
import warnings
import weakref
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any, Protocol
from urllib.parse import SplitResult, unquote, urlsplit

import requests
import requests.adapters
import requests.utils
import urllib3.exceptions

from ..exceptions import ConfigurationError, LinkAheadConnectionError, LinkAheadTimeoutError
from ..redaction import QUOTE_LIMIT, hide_userinfo, quoted, redact, redact_url_passwords
from .deadline import WATCHDOG, Deadline, attach_to, set_current

__all__ = [
    "Transport",
    "Response",
    "RequestsTransport",
    "RequestsResponse",
    "InsecureConnectionWarning",
    "CleartextPasswordWarning",
    "is_loopback_host",
    "total_deadline",
]

logger = logging.getLogger("linkahead.connection")

POOL_SIZE = 64

# Password methods that send nothing secret; every other method sends a password, a token or
# credential headers.
_NO_SECRET_METHODS = frozenset({"unauthenticated"})


# Frames in these folders are ours (warnings point past them): the package's own modules, and the
# modules shared with upstream, which the import hook serves from another folder.
_PACKAGE_DIRS = tuple({
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    os.path.dirname(os.path.abspath(sys.modules["linkahead"].__file__ or __file__)),
})


class Response(Protocol):
    """What a transport's ``request`` returns."""

    status: int
    reason: str

    def read(self, size: int | None = None) -> bytes: ...

    def getheader(self, name: str, default: str | None = None) -> str | None: ...

    def getheaders(self) -> list[tuple[str, str]]: ...


class Transport(Protocol):
    """The ``implementation=`` interface of the legacy client."""

    def configure(self, **config: Any) -> None: ...

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                body: bytes | str | None = None) -> Response: ...


DEFAULT_MAX_DECOMPRESSED_SIZE = 1 << 30
"""Option ``max_decompressed_size``: bytes a compressed answer may expand to (1 GiB)."""
DEFAULT_MAX_COMPRESSION_RATIO = 100.0
"""Option ``max_compression_ratio``: how many times larger than on the wire a compressed answer may get."""
_RATIO_FLOOR = 1 << 20  # the ratio is checked once this much (1 MiB) has been decompressed
_CHUNK = 1 << 16


class InsecureConnectionWarning(UserWarning):
    """``ssl_insecure`` switched TLS certificate checks off for an ``https://`` url.

    Issued once per configuration (each :func:`~linkahead.configure_connection` that sets it),
    however many requests follow; urllib3's own per-request ``InsecureRequestWarning`` for that
    host is silenced so the warning is not repeated on every request.
    """


class CleartextPasswordWarning(UserWarning):
    """``url`` is plain ``http://`` to a host that is not loopback, and the password method sends a secret.

    The password (or token) would cross the network unencrypted. Issued once per configuration.
    Loopback hosts (``127.0.0.0/8``, ``::1``, ``localhost``) and ``password_method =
    unauthenticated`` do not warn. Names below ``.localhost`` (``db.localhost``) do: whether they
    reach this machine is up to the system's resolver.
    """


class _RefuseAllCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class _ErrorContext:
    """What an error message needs besides the url: the proxy in use, the secrets to hide, the deadline."""

    __slots__ = ("deadline", "max_ratio", "max_size", "proxy", "secrets")

    def __init__(self, proxy: str | None = None, secrets: tuple[str, ...] = (),
                 deadline: Deadline | None = None, max_size: float | None = DEFAULT_MAX_DECOMPRESSED_SIZE,
                 max_ratio: float | None = DEFAULT_MAX_COMPRESSION_RATIO) -> None:
        self.proxy = proxy
        self.secrets = secrets
        self.deadline = deadline
        self.max_size = max_size
        self.max_ratio = max_ratio

    def for_request(self, deadline: Deadline | None) -> _ErrorContext:
        return _ErrorContext(self.proxy, self.secrets, deadline, self.max_size, self.max_ratio)


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connection pools report each connection to the request's deadline."""

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
        pool = super().get_connection_with_tls_context(*args, **kwargs)
        attach_to(pool)
        return pool

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:  # requests before 2.32
        pool = super().get_connection(*args, **kwargs)
        attach_to(pool)
        return pool


def total_deadline(timeout: Any) -> float | None:
    """Seconds a whole request may take: connect plus read time-out (``None``: no time-out)."""
    if timeout is None:
        return None
    if isinstance(timeout, tuple):
        connect, read = timeout
        if connect is None or read is None:
            return None
        return float(connect) + float(read)
    return 2.0 * float(timeout)


class RequestsResponse:
    """A :class:`requests.Response` seen through the legacy ``http.client``-like interface."""

    __slots__ = ("_consumed", "_context", "_decoded", "_response", "reason", "status")

    def __init__(self, response: requests.Response, context: _ErrorContext | None = None) -> None:
        self._response = response
        self._context = context or _ErrorContext()
        self.status: int = response.status_code
        self.reason: str = response.reason or ""
        self._consumed = False
        self._decoded = 0
        deadline = self._context.deadline
        if deadline is not None:
            raw = response.raw
            release = getattr(raw, "release_conn", None)
            if callable(release):
                def release_after_deadline() -> None:
                    # Finished first, under the watchdog's lock: once the connection is back
                    # in the pool the watchdog must not shut it down.
                    WATCHDOG.finished(deadline)
                    release()

                raw.release_conn = release_after_deadline  # type: ignore[method-assign]

    def read(self, size: int | None = None) -> bytes:
        """Read the body; without ``size`` all of it (the connection is then free for reuse).

        :raises LinkAheadTimeoutError: the server stopped sending for longer than the read time-out.
        :raises LinkAheadConnectionError: the connection broke while reading.
        """
        try:
            data = self._read(size)
            deadline = self._context.deadline
            if deadline is not None and deadline.fired:
                # The watchdog shut the socket down: to a body delimited by the end of the stream
                # (Connection: close, no Content-Length) that looks like its regular end.
                raise TimeoutError("the request's deadline passed")
            return data
        except _TooLarge as too_large:
            failure = LinkAheadConnectionError(str(too_large))
            self._response.close()
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            failure = _connection_error(error, self._response.url or "", self._context)
        # Raised outside the except block: no __context__ leads back to the request.
        self._finish()
        raise failure

    def _read(self, size: int | None) -> bytes:
        if size is None or size < 0:
            if self._consumed:
                return b""
            self._consumed = True
            if not self._compressed():
                content: bytes = self._response.content
                self._finish()
                return content
            chunks = []
            while True:
                chunk = self._decoded_read(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
            self._finish()
            return b"".join(chunks)
        data: bytes = self._decoded_read(size) if self._compressed() else self._response.raw.read(size)
        if not data:
            self._finish()
        return data

    def getheader(self, name: str, default: str | None = None) -> str | None:
        value: str | None = self._response.headers.get(name, default)
        return value

    def _compressed(self) -> bool:
        encoding = (self._response.headers.get("Content-Encoding") or "").strip().lower()
        return encoding not in ("", "identity")

    def _decoded_read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes, within the bounds on the expansion.

        urllib3 decompresses no more than it is asked for per call, so a bomb is stopped after
        :data:`_CHUNK` bytes past a limit, not after it has filled the memory.
        """
        raw = self._response.raw
        data: bytes = raw.read(size, decode_content=True)
        self._decoded += len(data)
        context = self._context
        url = _cut(self._response.url or "")
        if context.max_size is not None and self._decoded > context.max_size:
            raise _TooLarge(
                f"The answer from {url} expands to more than {context.max_size:.0f} bytes when decompressed "
                f"(max_decompressed_size). Raise max_decompressed_size (or set it to null) if answers are "
                "legitimately this large."
            )
        wire = max(int(raw.tell()), 1)
        if context.max_ratio is not None and self._decoded > _RATIO_FLOOR and self._decoded > context.max_ratio * wire:
            raise _TooLarge(
                f"The answer from {url} expands more than {context.max_ratio:g} times when decompressed "
                f"({wire} bytes became more than {self._decoded}; max_compression_ratio): a decompression bomb, "
                "or unusually repetitive data. Raise max_compression_ratio (or set it to null) if that is "
                "expected."
            )
        return data

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self._response.headers.items())

    def close(self) -> None:
        self._finish()
        self._response.close()

    def _finish(self) -> None:
        if self._context.deadline is not None:
            WATCHDOG.finished(self._context.deadline)


class _TooLarge(Exception):
    """Internal: a compressed answer exceeded a bound (the message says which and how to raise it)."""


class RequestsTransport:
    """The default transport, built on :mod:`requests`."""

    def __init__(self) -> None:
        self._session: requests.Session | None = None
        self._base_url = ""
        self._timeout: Any = None
        self._verify: bool | str = True
        self._proxies: dict[str, str] = {}
        self._context = _ErrorContext()

    def configure(self, **config: Any) -> None:
        """Set up the session from the effective configuration (``url``, ``timeout``, ``cacert``, ...).

        Everything is checked before the previous session is closed.

        :raises ConfigurationError: ``cacert`` is not a readable PEM file.
        """
        url = str(config["url"])
        base_url = url if url.endswith("/") else url + "/"
        parts = urlsplit(base_url)
        verify = _verify_setting(config, parts)
        proxies = _proxies_for(base_url, config)
        _warn_if_cleartext(config, parts)

        self.close()
        self._base_url = base_url
        self._timeout = config.get("timeout")
        self._verify = verify
        self._proxies = proxies
        self._context = _ErrorContext(
            proxies.get(parts.scheme.lower()), _proxy_secrets(proxies.values()),
            max_size=config.get("max_decompressed_size", DEFAULT_MAX_DECOMPRESSED_SIZE),
            max_ratio=config.get("max_compression_ratio", DEFAULT_MAX_COMPRESSION_RATIO),
        )
        self._session = self._new_session()
        _transports.add(self)
        if self._context.proxy:
            logger.debug("Using the proxy %s for %s.", redact_proxy_url(self._context.proxy), base_url)

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.cookies.set_policy(_RefuseAllCookies())
        session.verify = self._verify
        session.proxies = dict(self._proxies)
        adapter = _DeadlineAdapter(pool_connections=2, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _after_fork_in_child(self) -> None:
        """A forked child starts with an empty pool: the parent's sockets stay the parent's.

        The old session is not closed -- closing is the parent's business, and the child's copies
        of its descriptors go when the old session is collected (closing a copy sends nothing).
        """
        if self._session is not None:
            self._session = self._new_session()

    @property
    def base_url(self) -> str:
        """The configured url, ending in ``/``; request paths are joined below it."""
        return self._base_url

    @property
    def _base_path(self) -> str | None:
        """Upstream's name for :attr:`base_url` (``None`` before :meth:`configure`).

        Upstream's data layer shows it when an answer is not what it expected (``Query.execute``:
        "Server did not return the query ... URL: ...").
        """
        return self._base_url or None

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                body: bytes | str | None = None) -> RequestsResponse:
        """Send one request to ``<base url><path>``; no redirects, and no retries but one:

        a ``GET``, ``HEAD`` or ``OPTIONS`` whose connection was closed before any answer came (a
        kept-alive connection that the server or a proxy had just dropped) is sent once more, on
        a new connection, within the same time-out. Nothing else is repeated.

        :raises LinkAheadTimeoutError: no connection or no answer within ``timeout``.
        :raises LinkAheadConnectionError: refused, TLS check failed, proxy failed, connection reset.
        """
        session = self._session
        if session is None:
            raise LinkAheadConnectionError("The connection is not configured; call configure_connection() first.")
        url = self._base_url + path.lstrip("/")
        seconds = total_deadline(self._timeout)
        deadline = Deadline(seconds) if seconds is not None else None
        context = self._context.for_request(deadline)
        if deadline is not None:
            WATCHDOG.watch(deadline)
        set_current(deadline)
        try:
            try:
                response = session.request(
                    method, url, headers=headers, data=body, timeout=self._timeout,
                    stream=True, allow_redirects=False,
                )
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
                if not (method.upper() in _SAFE_TO_REPEAT and _closed_before_an_answer(error)):
                    raise
                logger.debug("The connection for %s %s was closed before any answer (a dropped kept-alive "
                             "connection); sending it once more.", method, path)
                response = session.request(
                    method, url, headers=headers, data=body, timeout=self._timeout,
                    stream=True, allow_redirects=False,
                )
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            failure = _connection_error(error, url, context)
        except UnicodeError as error:
            # A header or body that cannot be encoded; its text would quote the whole value.
            failure = LinkAheadConnectionError(
                f"Cannot send the request to {url}: a header or the body holds text that cannot be "
                f"encoded ({type(error).__name__}; the value is not shown, it may be a credential). "
                "Check the credentials and proxy settings for broken or non-Latin-1 characters."
            )
        else:
            return RequestsResponse(response, context)
        finally:
            set_current(None)
        # Raised outside the except blocks: the error keeps no __context__ leading back to the
        # request, whose body may hold the password.
        if deadline is not None:
            WATCHDOG.finished(deadline)
        raise failure

    def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None


_transports: weakref.WeakSet[RequestsTransport] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for transport in list(_transports):
        transport._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- configuration checks and warnings ----------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``), ``127.0.0.0/8`` and ``::1``; no name is resolved."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name in ("localhost", "127.0.0.1", "::1") or name.endswith(".localhost"):
        return True
    import ipaddress  # only for other addresses; keeps the common start light

    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package."""
    level = 1
    frame: FrameType | None = sys._getframe(1)  # the function that calls warnings.warn: stacklevel 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIRS):
        frame = frame.f_back
        level += 1
    return level


def _verify_setting(config: Mapping[str, Any], parts: SplitResult) -> bool | str:
    if config.get("ssl_insecure"):
        if parts.scheme.lower() == "https":
            warnings.warn(
                f"ssl_insecure is set: the TLS certificate of {_cut(parts.hostname or '')} is NOT checked, so anyone "
                "between you and the server can read your password and data. Use cacert = /path/ca.pem "
                "instead.",
                InsecureConnectionWarning,
                stacklevel=_caller_stacklevel(),
            )
            # urllib3 would repeat its own warning on every request; silence it for this host only,
            # not for every other user of urllib3 in the process.
            warnings.filterwarnings(
                "ignore",
                message=f"Unverified HTTPS request is being made to host '{re.escape(parts.hostname or '')}'",
                category=urllib3.exceptions.InsecureRequestWarning,
            )
        return False
    cacert = config.get("cacert")
    if cacert:
        cacert = str(cacert)
        if not os.path.isfile(cacert):
            raise ConfigurationError(
                f"cacert = {quoted(cacert)} is not a file. Point it to a PEM file with the certificate "
                "authority that signed the server's certificate."
            )
        try:
            ssl.create_default_context(cafile=cacert)
        except (ssl.SSLError, OSError, ValueError) as error:
            raise ConfigurationError(
                f"cacert = {quoted(cacert)} holds no usable PEM certificate ({_one_line(error)}). It must contain "
                "the '-----BEGIN CERTIFICATE-----' block of the certificate authority that signed the "
                "server's certificate."
            ) from None
        return cacert
    return True


def _warn_if_cleartext(config: Mapping[str, Any], parts: SplitResult) -> None:
    method = str(config.get("password_method") or "plain")
    if parts.scheme.lower() != "http" or method in _NO_SECRET_METHODS:
        return
    host = parts.hostname or ""
    name = host.rstrip(".").lower()
    if is_loopback_host(host) and not name.endswith(".localhost"):
        return
    if name.endswith(".localhost"):
        # RFC 6761 reserves *.localhost for loopback, but the system resolver decides: without
        # systemd-resolved or nss-myhostname it asks /etc/hosts and DNS, which may answer anything.
        warnings.warn(
            f"url {_cut(f'{parts.scheme}://{parts.netloc}/')} is plain http to {_cut(host)}: the password or token "
            f"of password_method {method!r} is sent in clear text, and whether a name below .localhost "
            "reaches this machine is up to your system's resolver (/etc/hosts, DNS). Use http://localhost/, "
            "http://127.0.0.1/ or an https:// url.",
            CleartextPasswordWarning,
            stacklevel=_caller_stacklevel(),
        )
        return
    warnings.warn(
        f"url {_cut(f'{parts.scheme}://{parts.netloc}/')} is plain http to {_cut(host)}, which is not this "
        f"machine: the password or token of password_method {method!r} crosses the network in clear text, readable "
        "by anyone on the way. Use an https:// url.",
        CleartextPasswordWarning,
        stacklevel=_caller_stacklevel(),
    )


def _proxies_for(base_url: str, config: Mapping[str, Any]) -> dict[str, str]:
    proxies: dict[str, str] = {}
    for scheme in ("https", "http"):
        value = config.get(f"{scheme}_proxy")
        if not value:
            continue
        # NO_PROXY has already been applied by the configuration, which knows where a proxy came from.
        proxies[scheme] = str(value)
    return proxies


# -- redaction ---------------------------------------------------------------------------------


def redact_proxy_url(proxy: str) -> str:
    """``proxy`` with its password replaced by ``***`` (``socks5://user:***@host:1080``)."""
    return hide_userinfo(proxy)


def _proxy_secrets(proxies: Any) -> tuple[str, ...]:
    secrets: list[str] = []
    for proxy in proxies:
        try:
            password = urlsplit(proxy).password
        except ValueError:
            continue
        if password:
            secrets.extend({password, unquote(password)})
    # Longest first, so a password containing another is hidden whole.
    return tuple(sorted(set(secrets), key=len, reverse=True))


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    return redact_url_passwords(redact(text, secrets))


# -- error mapping -----------------------------------------------------------------------------


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it wraps (``reason``, ``args[0]``, ``__cause__``, ``__context__``)."""
    pending = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [getattr(current, "reason", None), current.__cause__, current.__context__]
        if current.args:
            wrapped.append(current.args[0])
        pending.extend(inner for inner in wrapped if isinstance(inner, BaseException))


def _timeout_kind(error: BaseException) -> str | None:
    for inner in _causes(error):
        # urllib3 derives NewConnectionError ("refused", "no route") from ConnectTimeoutError.
        if isinstance(inner, urllib3.exceptions.NewConnectionError):
            continue
        if isinstance(inner, (requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)):
            return "connect"
        # urllib3 bounds the TLS handshake by the connect time-out but reports it as a read time-out.
        if isinstance(inner, TimeoutError) and "handshake" in str(inner).lower():
            return "handshake"
    for inner in _causes(error):
        if isinstance(inner, (requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
            return "read"
    return None


# Requests without side effects: one that met a dropped kept-alive connection is sent once more.
_SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "OPTIONS"})


def _closed_before_an_answer(error: BaseException) -> bool:
    """The connection was closed before any byte of an answer (not a time-out, not a cut answer)."""
    if _timeout_kind(error) is not None:
        return False
    return any(isinstance(inner, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))
               for inner in _causes(error))


# A connection that was made and then broke: the server closed it, or cut the answer short.
_BROKEN_ANSWER = (
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    urllib3.exceptions.ProtocolError,
    requests.exceptions.ChunkedEncodingError,
)


def _connection_error(error: BaseException, url: str, context: _ErrorContext) -> LinkAheadConnectionError:
    url = _cut(url)  # a 10 MB path is not repeated in the message
    detail = _redact(_innermost_reason(error), context.secrets)
    via = f" through the proxy {redact_proxy_url(context.proxy)}" if context.proxy else ""
    deadline = context.deadline
    if deadline is not None and deadline.fired:
        return LinkAheadTimeoutError(
            f"The request to {url}{via} did not complete within {deadline.seconds:g} s, the connect plus "
            "the read time-out: the server (or something between) answers too slowly, a few bytes at "
            "a time. Raise timeout if requests are legitimately this slow."
        )
    timeout = _timeout_kind(error)
    if timeout == "connect":
        return LinkAheadTimeoutError(
            f"Timed out connecting to {url}{via}: no connection within the connect time-out. "
            f"Check url, port and network, or raise timeout. ({detail})"
        )
    if timeout == "handshake":
        return LinkAheadTimeoutError(
            f"Timed out in the TLS handshake with {url}{via}: the server accepted the connection but did "
            f"not complete TLS within the connect time-out. Is it really an https server on this port? "
            f"({detail})"
        )
    if timeout == "read":
        return LinkAheadTimeoutError(
            f"Timed out waiting for {url}{via} to answer: nothing arrived within the read time-out. "
            f"The server may be overloaded; raise timeout if requests are legitimately slow. ({detail})"
        )
    if isinstance(error, requests.exceptions.SSLError) or any(
        isinstance(inner, ssl.SSLError) for inner in _causes(error)
    ):
        return LinkAheadConnectionError(f"TLS check failed for {url}{via}: {_tls_problem(detail)} ({detail})")
    if isinstance(error, requests.exceptions.ProxyError):
        return LinkAheadConnectionError(
            f"The proxy failed for {url}{via} ({detail}). Is the proxy running and does it let you "
            "through? Check https_proxy/http_proxy (and the "
            "HTTPS_PROXY/HTTP_PROXY environment variables), or set them to null for a direct connection."
        )
    if isinstance(error, requests.exceptions.InvalidSchema) and "socks" in detail.lower():
        return LinkAheadConnectionError(
            f"Cannot use the proxy for {url}: {detail} Install SOCKS support: pip install 'requests[socks]'."
        )
    if any(isinstance(inner, _BROKEN_ANSWER) for inner in _causes(error)):
        return LinkAheadConnectionError(
            f"The connection to {url}{via} broke before the whole answer arrived ({detail}). The server "
            "(or something between it and you) closed it; the request may or may not have taken effect."
        )
    if isinstance(error, (requests.ConnectionError, urllib3.exceptions.HTTPError, OSError)):
        if context.proxy:
            hint = "Is the proxy running and does it let you through, and are url and port right?"
        else:
            hint = "Is the server running, and are url and port right?"
        return LinkAheadConnectionError(f"Cannot connect to {url}{via} ({detail}). {hint}")
    return LinkAheadConnectionError(f"Request to {url}{via} failed: {type(error).__name__} ({detail})")


def _tls_problem(detail: str) -> str:
    """Which TLS check failed, in words, with the fix."""
    text = detail.lower()
    if "mismatch" in text or "doesn't match" in text or "not valid for" in text:
        return (
            "hostname check: the server's certificate is not issued for the host name in url. Use the "
            "host name the certificate names in url (cacert cannot fix a name mismatch)."
        )
    if "expired" in text:
        return "the server's certificate has expired (or is not yet valid); the server needs a new certificate."
    if "certificate verify failed" in text or "self-signed" in text or "self signed" in text:
        return (
            "certificate check: the server's certificate is not signed by a certificate authority you "
            "trust. Set cacert = /path/to/ca.pem to trust the authority that signed it."
        )
    if "wrong version number" in text or "record layer" in text or "http request" in text:
        return "the server does not speak TLS on this port; if it is a plain HTTP server, use an http:// url."
    return "the TLS handshake failed. Check url and port, and cacert if the server uses a private authority."


def _innermost_reason(error: BaseException) -> str:
    seen = error
    while True:
        inner = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    text = str(seen) or type(seen).__name__
    return " ".join(text.split())[:300]


def _cut(text: str) -> str:
    """``text`` for a message: at most :data:`~linkahead.redaction.QUOTE_LIMIT` characters."""
    return text if len(text) <= QUOTE_LIMIT else f"{text[:QUOTE_LIMIT]}... ({len(text)} characters)"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200]
