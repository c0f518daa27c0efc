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
    "error_for_status",
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


def error_for_status(status: int, reason: str, body: bytes, doing: str = "") -> ServerResponseError:
    """The error for an HTTP error status (PROTOCOL: 403, 404, 413/414/431, other 4xx, 5xx).

    :param doing: what was being done, for the message (``"The login of user 'admin'"``).
    """
    error: type[ServerResponseError]
    if status == 403:
        error, hint = HTTPForbiddenError, "The user lacks the permission for this request."
    elif status == 404:
        error, hint = HTTPResourceNotFoundError, "The resource does not exist."
    elif status in (413, 414, 431):
        error, hint = HTTPURITooLongError, "The request is too long; split it into smaller ones."
    elif status < 500:
        error, hint = HTTPClientError, "The server refused the request."
    else:
        error, hint = HTTPServerError, "The server failed; try again later or ask its administrator."
    lead = f"{doing} failed: the server answered" if doing else "The server answered"
    return error(f"{lead} {status} {reason}. {hint}", status=status, reason=reason, body=body)
