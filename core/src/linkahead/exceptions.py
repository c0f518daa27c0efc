"""Errors raised by the LinkAhead connection.

Every error the connection raises on purpose derives from :class:`LinkAheadException`.
Messages name what was wrong and how to fix it; they never contain a password, a token or a
cookie value.
"""

from __future__ import annotations

__all__ = [
    "LinkAheadException",
    "ConfigurationError",
    "PasswordMethodNotFoundError",
    "PluginError",
    "LoginFailedError",
    "LinkAheadConnectionError",
    "LinkAheadTimeoutError",
    "HTTPClientError",
    "HTTPForbiddenError",
    "HTTPResourceNotFoundError",
    "HTTPURITooLongError",
    "HTTPServerError",
    "ServerResponseError",
]


class LinkAheadException(Exception):
    """Base class of every error raised by the LinkAhead connection."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


class ConfigurationError(LinkAheadException):
    """The connection configuration (keyword arguments, ``pylinkahead.ini``, environment) is invalid.

    Raised before any network call. The message names the option and, where the value came from a
    file, the file.
    """


class PasswordMethodNotFoundError(ConfigurationError):
    """No installed plugin provides the requested ``password_method``."""

    def __init__(self, msg: str, method: str, installed: list[str]) -> None:
        super().__init__(msg)
        self.method = method
        self.installed = installed


class PluginError(LinkAheadException):
    """A password-method plugin failed: it could not be imported, raised, or answered wrongly.

    The message names the plugin and the distribution that provides it.
    """

    def __init__(self, msg: str, plugin: str, distribution: str | None = None) -> None:
        super().__init__(msg)
        self.plugin = plugin
        self.distribution = distribution


class LoginFailedError(LinkAheadException):
    """The server did not accept the credentials, or no valid credentials could be obtained."""


class LinkAheadConnectionError(LinkAheadException):
    """The server could not be reached or the transport failed (refused, TLS, proxy, reset)."""


class LinkAheadTimeoutError(LinkAheadConnectionError):
    """The server did not connect or answer within the configured ``timeout``."""


class ServerResponseError(LinkAheadException):
    """The server answered with an error status.

    :ivar status: the HTTP status code.
    :ivar reason: the HTTP reason phrase.
    :ivar body: the response body (bytes), kept for inspection; never part of the message.
    """

    def __init__(self, msg: str, status: int, reason: str = "", body: bytes = b"") -> None:
        super().__init__(msg)
        self.status = status
        self.reason = reason
        self.body = body


class HTTPClientError(ServerResponseError):
    """The server answered with a 4xx status not covered by a more specific error."""


class HTTPForbiddenError(HTTPClientError):
    """403: the authenticated user lacks the permission for this request."""


class HTTPResourceNotFoundError(HTTPClientError):
    """404: the requested resource does not exist."""


class HTTPURITooLongError(HTTPClientError):
    """413, 414 or 431: the request (URI, headers or body) is too long for the server."""


class HTTPServerError(ServerResponseError):
    """The server answered with a 5xx status."""
