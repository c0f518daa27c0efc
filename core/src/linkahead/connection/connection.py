"""The process-wide connection to a LinkAhead server (the legacy ``linkahead.connection.connection`` API).

Typical use::

    import linkahead
    linkahead.configure_connection(url="https://localhost:10443", username="admin",
                                   password_method="input")
    response = linkahead.get_connection().retrieve(["Entity", "123"])

Where credentials come from is decided by the ``password_method`` plugin; everything else -- the
login, the ``SessionToken`` cookie and its renewal, the one repeat after a 401, thread safety --
happens here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from .. import configuration, plugins
from ..configuration import ConnectionConfig
from ..exceptions import (
    ConfigurationError,
    LoginFailedError,
    error_for_status,
)
from ..options import CORE_OPTIONS
from ..version import __version__
from .session import AuthSession
from .transport import RequestsTransport, Response, Transport

__all__ = ["configure_connection", "get_connection", "make_uri_path", "_Connection"]

logger = logging.getLogger("linkahead.connection")

USER_AGENT = f"linkahead-connection/{__version__}"


def make_uri_path(segments: Iterable[str] | None = None, query: Mapping[str, str | None] | None = None) -> str:
    """Join URL-quoted path segments and a query: ``["Entity", "a/b"]`` -> ``Entity/a%2Fb``.

    A query value of ``None`` gives a bare flag (``?flag``).

    :raises ValueError: a segment, key or value cannot be encoded as UTF-8 (a lone surrogate).
    """
    path = "/".join(quote(str(segment), safe="") for segment in segments or ())
    if query:
        parts = []
        for key, value in query.items():
            parts.append(quote(str(key), safe="") + ("" if value is None else "=" + quote(str(value), safe="")))
        path += "?" + "&".join(parts)
    return path


class _Connection:
    """The connection singleton; get it with :func:`get_connection`.

    Methods mirror the legacy client: :meth:`retrieve`, :meth:`insert`, :meth:`update`,
    :meth:`delete`, :meth:`post_form_data`, :meth:`put_form_data`, :meth:`download_file`,
    :meth:`activate_user`. Each returns the response (``status``, ``reason``, ``read()``,
    ``getheader()``, ``getheaders()``) or raises an error from :mod:`linkahead.exceptions`.
    It is safe to use from many threads at once.
    """

    __instance: _Connection | None = None
    __instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._config: ConnectionConfig | None = None
        self._method: plugins.Method | None = None
        self._transport: Transport | None = None
        self._auth: AuthSession | None = None
        self._default_headers = {"Accept": "text/xml", "User-Agent": USER_AGENT}

    @classmethod
    def get_instance(cls) -> _Connection:
        """The process-wide connection (created, not configured, on first call)."""
        if cls.__instance is None:
            with cls.__instance_lock:
                if cls.__instance is None:
                    cls.__instance = cls()
        return cls.__instance

    # -- configuration ------------------------------------------------------------------------

    def configure(self, **kwargs: Any) -> _Connection:
        """(Re)configure from defaults, ``pylinkahead.ini`` and ``kwargs``; see :func:`configure_connection`.

        Everything is checked before the old session is replaced, so a failed reconfiguration
        leaves the previous configuration working.
        """
        implementation = kwargs.get("implementation")
        settings = configuration.collect(kwargs)
        installed = plugins.installed_methods()  # one scan of the metadata serves both uses
        method = plugins.load_method(settings.method, installed)
        # Options of installed but unselected methods are tolerated: "keyring_service" with
        # method plain, "acme_sso_url" for a method named "acme-sso".
        prefixes = {name.replace("-", "_") + "_" for name in (*installed, *plugins.STANDARD_METHODS)}
        config = configuration.validate(settings, [*CORE_OPTIONS, *method.options()], method.name, prefixes)
        if config.get("debug"):
            _enable_debug_logging()
        if implementation is None:
            transport: Transport = RequestsTransport()
        elif callable(implementation):
            transport = implementation()
        else:
            raise ConfigurationError(
                "implementation must be a callable returning a transport object "
                "(with configure(**config) and request(method, path, headers, body))."
            )
        transport.configure(**dict(config))
        self.close()
        self._config = config
        self._method = method
        self._transport = transport
        self._auth = AuthSession(method, config, self._send)
        if logger.isEnabledFor(logging.DEBUG):  # the label reads distribution metadata
            logger.debug("Configured connection to %s with password method %s.", config["url"], method.label)
        return self

    @property
    def config(self) -> ConnectionConfig:
        """The effective configuration (read-only)."""
        if self._config is None:
            raise ConfigurationError("The connection is not configured; call linkahead.configure_connection().")
        return self._config

    @property
    def method(self) -> plugins.Method:
        """The loaded password method."""
        if self._method is None:
            raise ConfigurationError("The connection is not configured; call linkahead.configure_connection().")
        return self._method

    @property
    def auth(self) -> AuthSession:
        """The authentication state (for diagnostics and tests)."""
        if self._auth is None:
            raise ConfigurationError("The connection is not configured; call linkahead.configure_connection().")
        return self._auth

    def close(self) -> None:
        """Drop the session and close pooled connections (no logout request is sent)."""
        transport = self._transport
        self._transport = None
        self._auth = None
        close = getattr(transport, "close", None)
        if callable(close):
            close()

    # -- the legacy request methods -----------------------------------------------------------

    def retrieve(self, entity_uri_segments: Iterable[str] | None = None,
                 query_dict: Mapping[str, str | None] | None = None, **kwargs: Any) -> Response:
        """``GET`` the resource at ``entity_uri_segments`` (e.g. ``["Entity", "12"]``)."""
        return self._http_request("GET", make_uri_path(entity_uri_segments, query_dict), **kwargs)

    def insert(self, entity_uri_segment: Iterable[str] | None, body: bytes | str,
               query_dict: Mapping[str, str | None] | None = None, **kwargs: Any) -> Response:
        """``POST`` ``body`` to ``entity_uri_segment``."""
        return self._http_request("POST", make_uri_path(entity_uri_segment, query_dict), body=body, **kwargs)

    def update(self, entity_uri_segment: Iterable[str] | None, body: bytes | str,
               query_dict: Mapping[str, str | None] | None = None, **kwargs: Any) -> Response:
        """``PUT`` ``body`` to ``entity_uri_segment``."""
        return self._http_request("PUT", make_uri_path(entity_uri_segment, query_dict), body=body, **kwargs)

    def delete(self, entity_uri_segments: Iterable[str] | None,
               query_dict: Mapping[str, str | None] | None = None, **kwargs: Any) -> Response:
        """``DELETE`` the resource at ``entity_uri_segments``."""
        return self._http_request("DELETE", make_uri_path(entity_uri_segments, query_dict), **kwargs)

    def post_form_data(self, entity_uri_segment: str | Iterable[str], params: Mapping[str, str]) -> Response:
        """``POST`` ``params`` as ``application/x-www-form-urlencoded``."""
        return self._form("POST", entity_uri_segment, params)

    def put_form_data(self, entity_uri_segment: str | Iterable[str], params: Mapping[str, str]) -> Response:
        """``PUT`` ``params`` as ``application/x-www-form-urlencoded``."""
        return self._form("PUT", entity_uri_segment, params)

    def download_file(self, path: str) -> Response:
        """``GET`` a file from the server's file system (``FileSystem/<path>``)."""
        return self.retrieve(["FileSystem", *path.strip("/").split("/")])

    def activate_user(self, link: str) -> Response:
        """Follow an account activation ``link`` (from the server's e-mail) as an anonymous request."""
        parts = urlsplit(link)
        base = urlsplit(self.config["url"])
        base_path = base.path if base.path.endswith("/") else base.path + "/"
        path = parts.path[len(base_path):] if parts.path.startswith(base_path) else parts.path.lstrip("/")
        if parts.query:
            path += "?" + parts.query
        self.logout()
        return self._check(self._send("GET", path, self._default_headers, None))

    def logout(self) -> None:
        """Log out at the server and forget the session token (the next request logs in again)."""
        if self._auth is not None:
            self._auth.logout()

    def refresh_credentials(self) -> None:
        """Ask the password method for fresh credentials now (hook ``refresh``, reason ``"requested"``)."""
        self.auth.refresh()

    def _form(self, method: str, segment: str | Iterable[str], params: Mapping[str, str]) -> Response:
        segments = [segment] if isinstance(segment, str) else list(segment)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._http_request(method, make_uri_path(segments), headers=headers, body=urlencode(params))

    # -- the one place that sends an authenticated request --------------------------------------

    def _http_request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                      body: bytes | str | None = None, **kwargs: Any) -> Response:
        """Send a request with the session; after a 401, recover once and send it once more."""
        auth = self._auth
        if auth is None:
            raise ConfigurationError("The connection is not configured; call linkahead.configure_connection().")
        state = auth.current()
        for attempt in (1, 2):
            request_headers = {**self._default_headers, **headers} if headers else dict(self._default_headers)
            request_headers.update(state.headers)
            sent_at = time.time()
            response = self._send(method, path, request_headers, body)
            auth.adopt(response, state, sent_at)
            if response.status != 401:
                return self._check(response)
            response.read()  # free the connection for the retry
            if attempt == 2:
                break
            state = auth.rejected(state)
        raise LoginFailedError(
            f"The server answered 401 (not authenticated) to {method} {path} even after a fresh "
            f"login with password method {self.method.label}. The account may lack access, or "
            "the server rejects the session; check username and the server's authentication realm."
        )

    def _send(self, method: str, path: str, headers: Mapping[str, str], body: Any) -> Response:
        transport = self._transport
        if transport is None:
            raise ConfigurationError("The connection is not configured; call linkahead.configure_connection().")
        if "User-Agent" not in headers:
            headers = {**self._default_headers, **headers}
        return transport.request(method, path, headers, body)

    def _check(self, response: Response) -> Response:
        if response.status < 400:
            return response
        raise error_for_status(response.status, response.reason, response.read())


def _enable_debug_logging() -> None:
    package_logger = logging.getLogger("linkahead")
    package_logger.setLevel(logging.DEBUG)
    if not package_logger.handlers and not logging.getLogger().handlers:
        package_logger.addHandler(logging.StreamHandler())


def configure_connection(**kwargs: Any) -> _Connection:
    """Configure the process-wide connection and return it.

    Values are merged, lowest to highest priority: defaults, the ``[Connection]`` section of the
    first ``pylinkahead.ini`` found, these keyword arguments. Nothing is sent to the server here;
    the first request authenticates.

    :param url: the server's base URL (``https://host:port/`` or with a root path).
    :param username: the user name.
    :param password: the password (for ``password_method="plain"``).
    :param password_method: the name of an installed password method (default ``"plain"``), or a
        plugin object with hook implementations.
    :param auth_token: a LinkAhead token; implies ``password_method="auth_token"``.
    :param timeout: seconds (default 210), a ``(connect, read)`` pair, or ``None`` for none.
    :param ssl_insecure: ``True`` disables TLS certificate checks (warns).
    :param cacert: a PEM file of trusted certificate authorities.
    :param https_proxy: proxy for https URLs; ``None`` means no proxy even if ``HTTPS_PROXY`` is set.
    :param http_proxy: proxy for http URLs; ``None`` means no proxy even if ``HTTP_PROXY`` is set.
    :param implementation: a callable returning the transport (default: requests-based).
    :raises ConfigurationError: an option is missing, unknown or invalid (the message says which).
    :raises PasswordMethodNotFoundError: no such password method is installed.
    :raises PluginError: the password method's plugin is broken.
    """
    return _Connection.get_instance().configure(**kwargs)


def get_connection() -> _Connection:
    """Return the process-wide connection, configuring it from ``pylinkahead.ini`` on first use."""
    connection = _Connection.get_instance()
    if connection._config is None:
        with _configure_lock:
            if connection._config is None:
                connection.configure()
    return connection


_configure_lock = threading.Lock()

