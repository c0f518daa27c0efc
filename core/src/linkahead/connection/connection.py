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

# Upstream linkahead ships a module of this name: the wheel carries this file under
# linkahead_connection/shared/ and the import hook serves it (see linkahead_connection/hook.py).

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from linkahead_connection import __version__

from .. import configuration, plugins
from ..configuration import ConnectionConfig
from ..configuration import config_to_yaml as config_to_yaml  # upstream's module re-exports these two
from ..configuration import get_config as get_config
from ..credentials import AnonymousCredentials, HeaderCredentials, PasswordCredentials, TokenCredentials
from ..exceptions import (
    ConfigurationError,
    HTTPResourceNotFoundError,
    LoginFailedError,
    ServerResponseError,
    error_for_status,
)

# The exception classes upstream's module imports, so that code importing them from here finds them.
from ..exceptions import HTTPClientError as HTTPClientError
from ..exceptions import HTTPForbiddenError as HTTPForbiddenError
from ..exceptions import HTTPServerError as HTTPServerError
from ..exceptions import HTTPURITooLongError as HTTPURITooLongError
from ..exceptions import LinkAheadConnectionError as LinkAheadConnectionError
from ..exceptions import LinkAheadException as LinkAheadException
from ..options import CORE_OPTIONS, text
from ..redaction import quoted, safe_reason
from ..tokens import cookie_value, parse_token
from .session import AuthSession, repeated_401_message
from .transport import RequestsResponse, RequestsTransport, Response, Transport, _caller_stacklevel

__all__ = [
    "configure_connection",
    "get_connection",
    "make_uri_path",
    "_Connection",
    "CaosDBServerConnection",
    "CaosDBHTTPResponse",
]

logger = logging.getLogger("linkahead.connection")

USER_AGENT = f"linkahead-connection/{__version__}"


def make_uri_path(segments: Iterable[str] | None = None, query: Mapping[str, str | None] | None = None) -> str:
    """Join URL-quoted path segments and a query: ``["Entity", "a/b"]`` -> ``Entity/a%2Fb``.

    As in the ``linkahead`` client, a query value of ``None`` gives an empty one (``?flag=``),
    which the server reads as a flag, and an empty query still adds the ``?``.

    :raises ValueError: a segment, key or value cannot be encoded as UTF-8 (a lone surrogate).
    :raises TypeError: ``query`` is not a mapping (a body passed in its place).
    """
    path = "/".join(_quote_segment(str(segment)) for segment in segments or ())
    if query is not None:
        if not isinstance(query, Mapping):
            raise TypeError(
                f"the query must be a mapping of names to values, not {type(query).__name__}; "
                "a request body goes in body=..."
            )
        path += "?" + "&".join(
            quote(str(key), safe="") + "=" + ("" if value is None else quote(str(value), safe=""))
            for key, value in query.items()
        )
    return path


def _quote_segment(segment: str) -> str:
    # Unquoted, ".." is removed from the path on the way (RFC 3986 dot segments) and the request
    # reaches another resource. requests turns "%2E" back into "." but no longer removes it.
    if segment in (".", ".."):
        return "%2E" * len(segment)
    return quote(segment, safe="")


def _upstream_interface() -> tuple[Any, Any]:
    """Upstream's transport base classes where upstream's files are installed, else our protocols."""
    try:
        interface = importlib.import_module("linkahead.connection.interface")
    except ImportError:
        return Transport, Response
    return interface.CaosDBServerConnection, interface.CaosDBHTTPResponse


CaosDBServerConnection, CaosDBHTTPResponse = _upstream_interface()
"""Upstream's names for the transport interface, which its ``mockup`` module imports from here."""


class _DefaultCaosDBServerConnection(RequestsTransport):
    """The default transport under upstream's name: what ``implementation=None`` makes.

    Upstream's callers name it (``implementation=_DefaultCaosDBServerConnection``,
    ``isinstance(connection._delegate_connection, _DefaultCaosDBServerConnection)``); it is this
    project's requests-based :class:`~linkahead.connection.transport.RequestsTransport`, with
    upstream's ``_base_path``. Where upstream's files are installed it counts as a subclass of
    upstream's abstract ``CaosDBServerConnection``.
    """


_WrappedHTTPResponse = RequestsResponse
"""Upstream's name for the default transport's response class."""

if CaosDBServerConnection is not Transport:  # upstream's abstract base classes: ours count as theirs
    CaosDBServerConnection.register(_DefaultCaosDBServerConnection)
    CaosDBHTTPResponse.register(RequestsResponse)


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
        # Made first, as upstream does: whether it is ours decides what url must be.
        transport = _make_transport(kwargs.get("implementation"))
        custom = not isinstance(transport, RequestsTransport)
        settings = configuration.collect(kwargs)
        installed = plugins.installed_methods()  # one scan of the metadata serves both uses
        method = plugins.load_method(settings.method, installed)
        # Options of installed but unselected methods are tolerated: "keyring_service" with
        # method plain, "acme_sso_url" for a method named "acme-sso".
        prefixes = {name.replace("-", "_") + "_" for name in (*installed, *plugins.STANDARD_METHODS)}
        core_options = CORE_OPTIONS
        if custom:
            # A custom transport decides what url means, and whether it needs one at all (upstream's
            # mock-up takes "unittests", or nothing).
            core_options = tuple(
                option._replace(parse=text, required=False) if option.name == "url" else option
                for option in CORE_OPTIONS
            )
        config = configuration.validate(settings, [*core_options, *method.options()], method.name, prefixes)
        if config.get("socket_proxy") is not None:
            _warn_socket_proxy(config)
        if config.get("debug"):
            _enable_debug_logging()
        if logger.isEnabledFor(logging.DEBUG):  # debug = true, -v, or the application's own choice
            _include_plugin_logger(method.plugin)
        transport.configure(**dict(config))
        self.close()
        self._config = config
        self._method = method
        self._transport = transport
        self._auth = AuthSession(method, config, self._send)
        if logger.isEnabledFor(logging.DEBUG):  # the label reads distribution metadata
            logger.debug("Configured connection to %s with password method %s.", config.get("url"), method.label)
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

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (by ``multiprocessing``, Dask), a connection carries its options, never a secret.

        See :mod:`linkahead.connection.pickling`.
        """
        from .pickling import reduce_connection

        return reduce_connection(self)

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

    def insert(self, entity_uri_segment: Iterable[str] | None = None,
               query_dict: Mapping[str, str | None] | None = None, body: Body = None,
               **kwargs: Any) -> Response:
        """``POST`` ``body`` to ``entity_uri_segment`` (upstream's argument order: the query before the body)."""
        return self._http_request("POST", make_uri_path(entity_uri_segment, query_dict), body=body, **kwargs)

    def update(self, entity_uri_segment: Iterable[str] | None = None,
               query_dict: Mapping[str, str | None] | None = None, body: Body = None,
               **kwargs: Any) -> Response:
        """``PUT`` ``body`` to ``entity_uri_segment``."""
        return self._http_request("PUT", make_uri_path(entity_uri_segment, query_dict), body=body, **kwargs)

    def delete(self, entity_uri_segments: Iterable[str] | None = None,
               query_dict: Mapping[str, str | None] | None = None, **kwargs: Any) -> Response:
        """``DELETE`` the resource at ``entity_uri_segments``."""
        return self._http_request("DELETE", make_uri_path(entity_uri_segments, query_dict), **kwargs)

    def post_form_data(self, entity_uri_segment: str | Iterable[str], params: Mapping[str, Any],
                       **kwargs: Any) -> Response:
        """``POST`` ``params`` as ``application/x-www-form-urlencoded`` to ``entity_uri_segment``.

        A text path is quoted with its ``/`` kept (``"User/PAM/jo"``), as upstream does; a list
        of segments is quoted segment by segment. A ``None`` value is sent empty.
        """
        return self._form_data_request("POST", entity_uri_segment, params)

    def put_form_data(self, entity_uri_segment: str | Iterable[str], params: Mapping[str, Any],
                      **kwargs: Any) -> Response:
        """``PUT`` ``params`` as ``application/x-www-form-urlencoded``; see :meth:`post_form_data`."""
        return self._form_data_request("PUT", entity_uri_segment, params)

    def download_file(self, path: str) -> Response:
        """``GET`` a file from the server's file system: ``FileSystem/<path>``, each part quoted.

        :raises HTTPResourceNotFoundError: there is no such file.
        """
        try:
            return self.retrieve(["FileSystem", *path.split("/")])
        except HTTPResourceNotFoundError as error:
            raise HTTPResourceNotFoundError(f"The file {path!r} does not exist on the server.",
                                            body=error.body, reason=error.reason) from None

    def activate_user(self, link: str) -> Response:
        """Follow an account activation ``link`` (from the server's e-mail) as an anonymous request.

        The link's path below the configured ``url`` is requested without a session cookie; the
        connection's own session is left as it is.
        """
        parts = urlsplit(link)
        base = urlsplit(str(self.config.get("url") or ""))
        base_path = base.path if base.path.endswith("/") else base.path + "/"
        path = parts.path[len(base_path):] if parts.path.startswith(base_path) else parts.path.lstrip("/")
        if parts.query:
            path += "?" + parts.query
        # Sent without the session, which stays as it is (with a session store, a logout here
        # would end the session of every process of this user).
        return self._check(self._send("GET", path, self._default_headers, None))

    def logout(self) -> None:
        """Log out at the server and forget the session token (the next request logs in again)."""
        if self._auth is not None:
            self._auth.logout()

    def refresh_credentials(self) -> None:
        """Ask the password method for fresh credentials now (hook ``refresh``, reason ``"requested"``)."""
        self.auth.refresh()

    def _form_data_request(self, method: str, path: str | Iterable[str], params: Mapping[str, Any]) -> Response:
        """Send ``params`` form-encoded to ``path`` (upstream's name; the data layer calls it)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        body = urlencode({str(key): "" if value is None else value for key, value in params.items()})
        quoted = quote(path) if isinstance(path, str) else make_uri_path(path)
        return self._http_request(method, quoted, headers=headers, body=body)

    # -- what upstream's data layer and tools read of the connection -----------------------------

    @property
    def is_configured(self) -> bool:
        """True once :meth:`configure` succeeded."""
        return self._config is not None

    @property
    def _delegate_connection(self) -> Transport | None:
        """The transport (upstream's name for it)."""
        return self._transport

    @property
    def _authenticator(self) -> _LegacyAuthenticator | None:
        """``login()``/``logout()`` as upstream's authenticator offers them."""
        return _LegacyAuthenticator(self) if self._auth is not None else None

    def _login(self) -> None:
        """Log in now (upstream's name): a fresh session for a password, new credentials otherwise.

        A password is checked by the server, never taken from the session store (threads calling
        this at once share one login). As upstream's authenticators do, a method that cannot log
        in raises: ``unauthenticated`` (it has nothing to log in with) and ``auth_token`` (a token
        cannot be renewed by the client). Other token or header methods are asked for fresh
        credentials (hook ``refresh``, reason ``"requested"``) once they have some.

        :raises LoginFailedError: the server refused the login, or the method cannot log in.
        """
        auth = self.auth
        state = auth.state
        if isinstance(state.credentials, PasswordCredentials) or (
                state.credentials is None and self.method.name not in ("auth_token", "unauthenticated")):
            auth.login(state)
            return
        state = auth.current()  # the first credentials of a token or anonymous method
        if isinstance(state.credentials, AnonymousCredentials):
            raise LoginFailedError(
                f"Cannot log in: the password method {self.method.label} keeps the connection "
                "unauthenticated and has no credentials to log in with. To log in, configure a method "
                "that does (password_method = plain, input, pass, keyring, ...) with a username, or give "
                "an auth_token."
            )
        if isinstance(state.credentials, (TokenCredentials, HeaderCredentials)):
            auth.refresh(required=True)

    def _logout(self) -> None:
        """Log out at the server and forget the session token; see :meth:`logout`."""
        self.logout()

    def get_username(self) -> str | None:
        """The configured user name, else the user of the current session token (upstream's helper)."""
        username = self.config.get("username")
        if username:
            return str(username)
        token = self.auth.state.token
        if token:
            try:
                return parse_token(token).username
            except ValueError:
                return None
        return None

    # -- the one place that sends an authenticated request --------------------------------------

    def _http_request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                      body: Body = None, **kwargs: Any) -> Response:
        """Send a request with the session; after a 401, recover once and send it once more.

        ``body`` may be text (sent as UTF-8), bytes, a readable file, or an iterable of chunks
        (upstream's multipart encoder); other keyword arguments are accepted and ignored, as
        upstream does.
        """
        auth = self._auth
        if auth is None:
            raise ConfigurationError("The connection is not configured; call linkahead.configure_connection().")
        body = _sendable(body)
        state = auth.current()
        for attempt in (1, 2):
            request_headers = {**self._default_headers, **headers} if headers else dict(self._default_headers)
            request_headers.update(state.headers)
            sent_at = time.time()
            response = self._send(method, path, request_headers, body)
            auth.adopt(response, state, sent_at)
            if response.status != 401:
                return self._check(response, _request_secrets(request_headers, state.credentials))
            response.read()  # free the connection for the retry
            if attempt == 2:
                break
            if isinstance(body, _ChunkReader) and not body.rewind():
                break  # a streamed body cannot be sent twice
            state = auth.rejected(state)
        raise LoginFailedError(
            repeated_401_message(f"{method} {quoted(path)[1:-1]}", self.method.label, state.credentials,
                                 state.token)
        )

    _retry_http_request = _http_request  # upstream's name for one request; the data layer may call it

    def _send(self, method: str, path: str, headers: Mapping[str, str], body: Any) -> Response:
        transport = self._transport
        if transport is None:
            raise ConfigurationError("The connection is not configured; call linkahead.configure_connection().")
        if "User-Agent" not in headers:
            headers = {**self._default_headers, **headers}
        return transport.request(method=method, path=path, headers=headers, body=body)

    def _check(self, response: Response, secrets: tuple[str, ...] = ()) -> Response:
        status = response.status
        if status < 300:
            return response
        # Upstream's mock-up responses have no reason. Shown only when it repeats nothing of the
        # request's secrets (a server echoing the Cookie header); like the body, never the secret.
        reason = safe_reason(getattr(response, "reason", "") or "", secrets)
        if status < 400:
            response.read()
            raise ServerResponseError(
                f"The server answered {status} {reason}: a redirect, which the connection does not follow. "
                "Set url to the LinkAhead server's own address (https, and its root path if it has one).",
                status=status, reason=reason,
            )
        raise error_for_status(status, reason, response.read())


def _warn_socket_proxy(config: ConnectionConfig) -> None:
    import warnings

    warnings.warn(
        f"socket_proxy ({config.origin('socket_proxy')}) is deprecated and ignored, as by the linkahead "
        "client; the connection goes without it. For a SOCKS proxy set https_proxy = socks5://host:port "
        "(http_proxy for an http:// url) and remove socket_proxy.",
        DeprecationWarning,
        stacklevel=_caller_stacklevel(),
    )


def _request_secrets(headers: Mapping[str, str], credentials: Any) -> tuple[str, ...]:
    """What a reason phrase must not repeat: the session token, credential headers, the password."""
    secrets = [value for name, value in headers.items() if name.lower() in ("cookie", "authorization")]
    secrets += [value.partition("=")[2] for value in secrets if "=" in value]
    if isinstance(credentials, PasswordCredentials):
        secrets.append(credentials.password)
    elif credentials is not None and hasattr(credentials, "headers"):
        secrets += [str(value) for value in credentials.headers.values()]
    return tuple(secrets)


def _make_transport(implementation: Any) -> Transport:
    """The transport ``implementation()`` makes (``None``: the default, requests-based one)."""
    if implementation is None:
        return _DefaultCaosDBServerConnection()
    wanted = "a callable returning a transport object with configure(**config) and " \
             "request(method, path, headers, body), such as a CaosDBServerConnection subclass"
    if not callable(implementation):
        raise ConfigurationError(f"implementation must be {wanted}; got a {type(implementation).__name__}.")
    transport = implementation()
    missing = [name for name in ("configure", "request") if not callable(getattr(transport, name, None))]
    if missing:
        raise ConfigurationError(
            f"implementation must be {wanted}; {getattr(implementation, '__name__', implementation)!r} "
            f"made a {type(transport).__name__}, which has no {' and no '.join(missing)} method."
        )
    return transport  # type: ignore[no-any-return]


Body = Any
"""A request body: ``None``, text, bytes, a readable file, or an iterable of byte or text chunks."""


def _sendable(body: Body) -> Body:
    """``body`` as the transport sends it: text as UTF-8 bytes, an iterable as a readable stream.

    requests would encode text as Latin-1 (and fail on "ö"), and send a generator with chunked
    encoding beside the Content-Length the multipart encoder sets.
    """
    if body is None or isinstance(body, (bytes, bytearray)) or hasattr(body, "read"):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "__iter__"):
        return _ChunkReader(body)
    raise TypeError(f"a request body must be text, bytes, a file or an iterable of chunks, not {type(body).__name__}")


class _ChunkReader:
    """A file-like view of an iterable of chunks (``read(size)``), for streamed uploads."""

    def __init__(self, chunks: Iterable[bytes | str]) -> None:
        self._source = chunks
        self._chunks = iter(chunks)
        self._left = b""
        self._started = False

    def read(self, size: int = -1) -> bytes:
        self._started = True
        parts = [self._left]
        have = len(self._left)
        while size < 0 or have < size:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
            parts.append(data)
            have += len(data)
        joined = b"".join(parts)
        if size < 0:
            self._left = b""
            return joined
        self._left = joined[size:]
        return joined[:size]

    def rewind(self) -> bool:
        """Start again from the first chunk, for a repeat after a 401; False when that is impossible."""
        if not self._started:
            return True
        reset = getattr(self._source, "reset", None)  # upstream's MultipartYielder can start over
        if not callable(reset):
            return False
        reset()
        self._chunks = iter(self._source)
        self._left = b""
        self._started = False
        return True


class _LegacyAuthenticator:
    """What upstream code uses of ``connection._authenticator``: ``login()``, ``logout()``, ``auth_token``."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    def login(self) -> None:
        self._connection._login()

    def logout(self) -> None:
        self._connection._logout()

    @property
    def auth_token(self) -> str | None:
        """The session token the next request sends, as upstream's authenticators hold it (decoded).

        ``None`` while there is none: before the first login, and always for ``unauthenticated``.
        With ``auth_token`` it is the configured token until the server answers with a session.
        Setting it makes the given token (raw or percent-encoded) the session from the next request
        on; ``None`` makes the next request authenticate first.
        """
        connection = self._connection
        token = connection.auth.state.token
        if token is None and connection.auth.state.credentials is None and connection.method.name == "auth_token":
            configured = connection.config.get("auth_token")
            token = cookie_value(str(configured).strip()) if configured else None
        return unquote(token) if token else None

    @auth_token.setter
    def auth_token(self, token: str | None) -> None:
        if self._connection.method.name == "unauthenticated":
            return  # never sends a token, as upstream's Unauthenticated authenticator
        if token is not None and not isinstance(token, str):
            raise TypeError(f"auth_token must be a str or None, not {type(token).__name__}")
        self._connection.auth.use_token(token)

    def __repr__(self) -> str:
        return f"<authenticator of password method {self._connection.method.name!r}>"


def _enable_debug_logging() -> None:
    package_logger = logging.getLogger("linkahead")
    package_logger.setLevel(logging.DEBUG)
    if not package_logger.handlers and not logging.getLogger().handlers:
        package_logger.addHandler(logging.StreamHandler())


class _ToPackageHandlers(logging.Handler):
    """Hands a plugin's records to the handlers of the ``linkahead`` logger (the CLI's redacting one).

    Only those handlers: the record still propagates up the plugin's own logger tree to the root,
    so calling ``linkahead``'s ``handle`` would print it twice where the root has a handler.
    """

    def emit(self, record: logging.LogRecord) -> None:
        package_logger = logging.getLogger("linkahead")
        if not package_logger.isEnabledFor(record.levelno):  # debug switched off again
            return
        for handler in package_logger.handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


def _include_plugin_logger(plugin: object) -> None:
    """Show the selected plugin's own log (a logger named after its package) wherever ours goes."""
    module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    package = module.partition(".")[0]
    if package in ("linkahead", "__main__", "builtins"):  # ours already, or the application's own
        return
    plugin_logger = logging.getLogger(package)
    if plugin_logger.getEffectiveLevel() > logging.DEBUG:
        plugin_logger.setLevel(logging.DEBUG)
    if not any(isinstance(handler, _ToPackageHandlers) for handler in plugin_logger.handlers):
        plugin_logger.addHandler(_ToPackageHandlers())


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


def _after_fork_in_child() -> None:
    """A forked child never waits for a lock that a parent's thread held at the fork."""
    global _configure_lock
    _configure_lock = threading.Lock()
    _Connection._Connection__instance_lock = threading.Lock()  # type: ignore[attr-defined]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
