"""The default transport: HTTP(S) through a :class:`requests.Session`.

A transport is what ``implementation=`` names: an object with ``configure(**config)`` and
``request(method, path, headers, body)`` returning a response with ``status``, ``reason``,
``read()``, ``getheader(name)`` and ``getheaders()``. The core adds authentication on top; the
transport knows nothing about sessions or credentials.

Choices that differ from a plain ``requests.Session``:

- ``trust_env`` is off: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` cannot override ``cacert``, and
  ``~/.netrc`` cannot add an ``Authorization`` header. Proxies from ``HTTPS_PROXY``/``HTTP_PROXY``
  are resolved by the configuration, and ``NO_PROXY`` is applied here as requests would.
- The cookie jar refuses every cookie: the core manages the ``SessionToken`` cookie itself.
- No automatic retries and no redirects: a request goes out once; the core decides.
"""

from __future__ import annotations

import http.cookiejar
import logging
import os
import warnings
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.utils

from ..exceptions import ConfigurationError, LinkAheadConnectionError, LinkAheadTimeoutError

__all__ = ["Transport", "Response", "RequestsTransport", "RequestsResponse", "InsecureConnectionWarning"]

logger = logging.getLogger("linkahead.connection")

POOL_SIZE = 64


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


class InsecureConnectionWarning(UserWarning):
    """Issued once when ``ssl_insecure`` switches certificate checks off."""


class _RefuseAllCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class RequestsResponse:
    """A :class:`requests.Response` seen through the legacy ``http.client``-like interface."""

    __slots__ = ("_consumed", "_response", "reason", "status")

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self.status: int = response.status_code
        self.reason: str = response.reason or ""
        self._consumed = False

    def read(self, size: int | None = None) -> bytes:
        """Read the body; without ``size`` all of it (the connection is then free for reuse)."""
        try:
            if size is None or size < 0:
                if self._consumed:
                    return b""
                self._consumed = True
                return self._response.content
            data: bytes = self._response.raw.read(size)
            return data
        except requests.RequestException as error:
            raise _connection_error(error, self._response.url or "", ()) from None

    def getheader(self, name: str, default: str | None = None) -> str | None:
        value: str | None = self._response.headers.get(name, default)
        return value

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self._response.headers.items())

    def close(self) -> None:
        self._response.close()


class RequestsTransport:
    """The default transport, built on :mod:`requests`."""

    def __init__(self) -> None:
        self._session: requests.Session | None = None
        self._base_url = ""
        self._timeout: Any = None
        self._verify: bool | str = True
        self._proxies: dict[str, str] = {}
        self._secrets: tuple[str, ...] = ()

    def configure(self, **config: Any) -> None:
        """Set up the session from the effective configuration (``url``, ``timeout``, ``cacert``, ...)."""
        self.close()
        url = str(config["url"])
        self._base_url = url if url.endswith("/") else url + "/"
        self._timeout = config.get("timeout")
        self._verify = _verify_setting(config)
        self._proxies = _proxies_for(self._base_url, config)
        self._secrets = tuple(
            p for p in (urlsplit(u).password for u in self._proxies.values()) if p
        )
        session = requests.Session()
        session.trust_env = False
        session.cookies.set_policy(_RefuseAllCookies())
        session.verify = self._verify
        session.proxies = dict(self._proxies)
        session.max_redirects = 0
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        if self._proxies:
            logger.debug("Using proxies for %s: %s", self._base_url, _redacted_proxies(self._proxies))

    @property
    def base_url(self) -> str:
        return self._base_url

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                body: bytes | str | None = None) -> RequestsResponse:
        """Send one request to ``<base url><path>``; no retries, no redirects."""
        session = self._session
        if session is None:
            raise LinkAheadConnectionError("The connection is not configured; call configure_connection() first.")
        url = self._base_url + path.lstrip("/")
        try:
            response = session.request(
                method, url, headers=headers, data=body, timeout=self._timeout,
                stream=True, allow_redirects=False,
            )
        except requests.RequestException as error:
            raise _connection_error(error, url, self._secrets) from None
        return RequestsResponse(response)

    def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None


_insecure_warned = False


def _verify_setting(config: Mapping[str, Any]) -> bool | str:
    global _insecure_warned
    if config.get("ssl_insecure"):
        if not _insecure_warned:
            _insecure_warned = True
            warnings.warn(
                "ssl_insecure is set: the server's TLS certificate is NOT checked, so anyone between "
                "you and the server can read your password and data. Use cacert = /path/ca.pem instead.",
                InsecureConnectionWarning,
                stacklevel=4,
            )
        # One loud warning is enough; urllib3 would repeat its own on every request.
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return False
    cacert = config.get("cacert")
    if cacert:
        if not os.path.isfile(cacert):
            raise ConfigurationError(
                f"cacert = {cacert!r} ({config.get('cacert') and 'configured'}) is not a file. "
                "Point it to a PEM file with the certificate authority that signed the server's certificate."
            )
        return str(cacert)
    return True


def _proxies_for(base_url: str, config: Mapping[str, Any]) -> dict[str, str]:
    proxies: dict[str, str] = {}
    origins = getattr(config, "origin", None)
    for scheme in ("https", "http"):
        value = config.get(f"{scheme}_proxy")
        if not value:
            continue
        from_environment = origins is not None and str(origins(f"{scheme}_proxy")).startswith("environment")
        if from_environment and requests.utils.should_bypass_proxies(base_url, no_proxy=None):
            continue  # NO_PROXY applies to proxies from the environment, as in requests
        proxies[scheme] = str(value)
    return proxies


def _redacted_proxies(proxies: Mapping[str, str]) -> dict[str, str]:
    shown = {}
    for scheme, proxy in proxies.items():
        parts = urlsplit(proxy)
        if parts.password:
            proxy = proxy.replace(f":{parts.password}@", ":***@")
        shown[scheme] = proxy
    return shown


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _connection_error(error: requests.RequestException, url: str, secrets: tuple[str, ...]) -> LinkAheadConnectionError:
    detail = _redact(_innermost_reason(error), secrets)
    if isinstance(error, requests.ConnectTimeout):
        return LinkAheadTimeoutError(
            f"Timed out connecting to {url}: the server did not accept the connection within the "
            f"connect time-out. Check url and network, or raise timeout. ({detail})"
        )
    if isinstance(error, requests.ReadTimeout):
        return LinkAheadTimeoutError(
            f"Timed out waiting for {url} to answer: no response within the read time-out. "
            f"The server may be overloaded; raise timeout if requests are legitimately slow. ({detail})"
        )
    if isinstance(error, requests.exceptions.SSLError):
        which = "the server's certificate is not signed by a trusted authority"
        if "hostname" in detail.lower() or "match" in detail.lower():
            which = "the server's certificate does not match its host name"
        return LinkAheadConnectionError(
            f"TLS check failed for {url}: {which} ({detail}). Set cacert = /path/to/ca.pem to trust a "
            "private certificate authority, and make sure url uses the host name in the certificate."
        )
    if isinstance(error, requests.exceptions.ProxyError):
        return LinkAheadConnectionError(
            f"The proxy failed for {url} ({detail}). Check https_proxy/http_proxy, or set them to null."
        )
    if isinstance(error, requests.ConnectionError):
        return LinkAheadConnectionError(
            f"Cannot connect to {url} ({detail}). Is the server running, and are url and port right?"
        )
    return LinkAheadConnectionError(f"Request to {url} failed: {type(error).__name__} ({detail})")


def _innermost_reason(error: BaseException) -> str:
    seen = error
    while True:
        inner = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    text = str(seen) or type(seen).__name__
    return " ".join(text.split())[:300]
