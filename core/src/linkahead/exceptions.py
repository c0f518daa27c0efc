"""Errors raised by the LinkAhead connection, and the data layer's errors of the ``linkahead`` client.

Every error raised on purpose derives from :class:`LinkAheadException`. Messages name what was
wrong and how to fix it; they never contain a password, a token or a cookie value.

This module is one of the six the upstream ``linkahead`` client also ships: it holds every class
upstream 0.21 defines, with upstream's hierarchy and attributes, so that upstream's data layer
(``linkahead.common.models`` and the tools built on it) runs on this connection. The transaction
errors (:class:`TransactionError`, :class:`EntityError` and its subclasses) and the query errors
are raised by that data layer, never by the connection itself.
"""

# Upstream linkahead ships a module of this name: the wheel carries this file under
# linkahead_connection/shared/ and the import hook serves it (see linkahead_connection/hook.py).

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CaosDBException",
    "LinkAheadException",
    "ConfigurationError",
    "PasswordMethodNotFoundError",
    "PluginError",
    "ServerConfigurationException",
    "LoginFailedError",
    "CaosDBConnectionError",
    "LinkAheadConnectionError",
    "LinkAheadTimeoutError",
    "ServerResponseError",
    "HTTPClientError",
    "HTTPForbiddenError",
    "HTTPResourceNotFoundError",
    "HTTPURITooLongError",
    "HTTPServerError",
    "MismatchingEntitiesError",
    "BadQueryError",
    "PagingConsistencyError",
    "QueryNotUniqueError",
    "EmptyUniqueQueryError",
    "TransactionError",
    "EntityError",
    "UniqueNamesError",
    "UnqualifiedParentsError",
    "UnqualifiedPropertiesError",
    "EntityHasNoAclError",
    "EntityDoesNotExistError",
    "EntityHasNoDatatypeError",
    "ConsistencyError",
    "AuthorizationError",
    "AmbiguousEntityError",
    "error_for_status",
]


class CaosDBException(Exception):
    """The old name of :class:`LinkAheadException`'s base, kept so that ``except CaosDBException`` works.

    Creating one directly warns (:class:`DeprecationWarning`), as upstream does; catch
    :class:`LinkAheadException` instead.
    """

    def __init__(self, msg: Any = None) -> None:
        warnings.warn("The name CaosDBException is deprecated. Please use LinkAheadException.",
                      DeprecationWarning, stacklevel=2)
        Exception.__init__(self, msg)
        self.msg = msg

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (Dask sends a task's error back): rebuilt from its arguments and attributes
        # without calling __init__, whose signature differs per class. The cause, the context and
        # the traceback do not travel, as with every pickled exception.
        return _unpickle_error, (type(self), self.args, self.__dict__)


def _unpickle_error(cls: type[CaosDBException], args: tuple[Any, ...], state: dict[str, Any]) -> CaosDBException:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class LinkAheadException(CaosDBException):
    """Base class of every error raised by the LinkAhead connection and the data layer.

    :ivar msg: the message (the data layer sometimes replaces it before re-raising).
    """

    def __init__(self, msg: Any = None) -> None:
        Exception.__init__(self, msg)
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


class ServerConfigurationException(LinkAheadException):
    """The server is set up differently than the client expected (a disabled debug mode, a missing extension)."""


class LoginFailedError(LinkAheadException):
    """The server did not accept the credentials, or no valid credentials could be obtained."""


class CaosDBConnectionError(LinkAheadException):
    """The old name of :class:`LinkAheadConnectionError`'s base; creating one directly warns."""

    def __init__(self, msg: Any = None) -> None:
        warnings.warn("The name CaosDBConnectionError is deprecated. Please use LinkAheadConnectionError.",
                      DeprecationWarning, stacklevel=2)
        LinkAheadException.__init__(self, msg)


class LinkAheadConnectionError(CaosDBConnectionError):
    """The server could not be reached or the transport failed (refused, TLS, proxy, reset)."""

    def __init__(self, msg: Any = None) -> None:
        LinkAheadException.__init__(self, msg)


class LinkAheadTimeoutError(LinkAheadConnectionError):
    """The server did not connect or answer within the configured ``timeout``."""


class ServerResponseError(LinkAheadException):
    """The server answered with an error status.

    :ivar status: the HTTP status code.
    :ivar reason: the HTTP reason phrase.
    :ivar body: the response body (bytes), kept for inspection; never part of the message.
    """

    #: the status an error of this class stands for when none is given (upstream's constructors)
    default_status = 0

    def __init__(self, msg: Any = None, status: int | None = None, body: bytes | None = b"",
                 reason: str = "") -> None:
        super().__init__(msg)
        self.status = self.default_status if status is None else status
        self.reason = reason
        self.body = body


class HTTPClientError(ServerResponseError):
    """The server answered with a 4xx status not covered by a more specific error."""


class HTTPForbiddenError(HTTPClientError):
    """403: the authenticated user lacks the permission for this request."""

    default_status = 403


class HTTPResourceNotFoundError(HTTPClientError):
    """404: the requested resource does not exist."""

    default_status = 404


class HTTPURITooLongError(HTTPClientError):
    """413, 414 or 431: the request (URI, headers or body) is too long for the server."""

    default_status = 414


class HTTPServerError(ServerResponseError):
    """The server answered with a 5xx status.

    Upstream code creates it as ``HTTPServerError(body=...)``; the message is then the
    description of the ``<Error>`` in the server's XML answer, or the body itself.
    """

    default_status = 500

    def __init__(self, msg: Any = None, status: int | None = None, body: bytes | None = b"",
                 reason: str = "") -> None:
        if isinstance(msg, bytes) and not body:  # upstream's positional HTTPServerError(body)
            msg, body = None, msg
        if msg is None:
            msg = _server_error_text(body or b"")
        super().__init__(msg, status, body, reason)


def _server_error_text(body: bytes) -> str:
    """The description of the first ``/Response/Error`` of an XML answer, else the body as text."""
    import xml.etree.ElementTree as ElementTree  # only on this path

    text = body.decode("utf-8", "replace")
    try:
        # Only upstream-style HTTPServerError(body=...) gets here. Python's expat (>= 2.4.1 since
        # Python 3.10 builds) caps entity amplification, and no external entities are fetched.
        root = ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError:
        return text
    error = root.find("Error") if root.tag == "Response" else None
    if error is None:
        return text
    parts = [part for part in (error.get("description"), error.text) if part]
    return "\n\n".join(parts)

class MismatchingEntitiesError(LinkAheadException):
    """The data layer found entities that do not match while syncing a container."""


class BadQueryError(LinkAheadException):
    """A query could not be processed, or its results do not fit what was asked."""


class PagingConsistencyError(BadQueryError):
    """The data changed between two pages of the same paged query."""


class QueryNotUniqueError(BadQueryError):
    """A query meant to find one entity found several."""


class EmptyUniqueQueryError(BadQueryError):
    """A query meant to find one entity found none."""


class TransactionError(LinkAheadException):
    """A transaction (insert, update, retrieve, delete) failed; collects the :class:`EntityError` s.

    ``str()`` shows the errors as a tree.

    :ivar errors: the :class:`EntityError` s that directly caused the failure.
    :ivar entities: the entities of :attr:`errors`.
    :ivar all_errors: the direct and indirect :class:`EntityError` s (a set).
    :ivar all_entities: the entities of :attr:`all_errors` (a set).
    :ivar container: the container of the transaction, if given.
    :ivar code: the error code of the container's first error, else ``None``.
    """

    # The text upstream's data layer and its users' tests expect; kept as it is.
    DEFAULT_MESSAGE = "An error occured during the transaction."

    def __init__(self, error: Any = None, msg: Any = DEFAULT_MESSAGE, container: Any = None) -> None:
        LinkAheadException.__init__(self, msg)
        self.errors: list[EntityError] = []
        self.all_errors: set[EntityError] = set()
        self.entities: list[Any] = []
        self.all_entities: set[Any] = set()
        self.container = container
        container_errors = container.get_errors() if container is not None else None
        self.code: Any = container_errors[0].code if container_errors else None
        if error is not None:
            self.add_error(error)

    def has_error(self, error_t: type[BaseException], direct_children_only: bool = False) -> bool:
        """True when one of :attr:`errors` (or, by default, :attr:`all_errors`) is an ``error_t``."""
        candidates = self.errors if direct_children_only else self.all_errors
        return any(isinstance(error, error_t) for error in candidates)

    def add_error(self, error: EntityError | Iterable[EntityError]) -> TransactionError:
        """Add an :class:`EntityError` (or each of an iterable of them) as a direct cause; returns ``self``.

        :raises TypeError: ``error`` is neither an :class:`EntityError` nor an iterable of them.
        """
        if isinstance(error, EntityError):
            self.errors.append(error)
            self.entities.append(error.entity)
            self.all_errors.add(error)
            self.all_errors.update(error.all_errors)
            self.all_entities.add(error.entity)
            self.all_entities.update(error.all_entities)
            return self
        if hasattr(error, "__iter__"):
            for each in error:
                self.add_error(each)
            return self
        raise TypeError("Argument is to be an EntityError or a list of EntityErrors.")

    def _repr_head(self, indent: str) -> str:
        message = getattr(self, "msg", None)
        return indent + type(self).__name__ + (f": {message}" if message is not None else "")

    def _repr_reasons(self, indent: str) -> str:
        if not self.errors:
            return ""
        lines = [f"\n{indent}    +--| REASONS |--"]
        lines += [f"\n{indent}    |  -> " + error._tree(indent + "    |") for error in self.errors]
        lines.append(f"\n{indent}    +----------------")
        return "".join(lines)

    def _tree(self, indent: str) -> str:
        return self._repr_head(indent) + self._repr_reasons(indent)

    def __str__(self, indent: str = "") -> str:  # upstream's signature, indent included
        return self._tree(indent)

    def __repr__(self) -> str:
        return self.__str__()


class EntityError(TransactionError):
    """A transaction error caused by one entity; collected by a :class:`TransactionError`.

    It may itself collect the errors of other entities (an unqualified property, a parent).

    :ivar entity: the entity that caused the error.
    :ivar error: the server's message object (with ``description`` and ``code``) or a text.
    :ivar msg: the text of the error.
    """

    def __init__(self, error: Any = None, entity: Any = None) -> None:
        TransactionError.__init__(self)
        self.error = error
        self.code = getattr(error, "code", None)
        self.entity = entity
        if error is None:
            self.msg = None
        elif isinstance(error, str) or hasattr(error, "encode"):
            self.msg = error
        elif hasattr(error, "description"):
            self.msg = error.description
        else:
            self.msg = str(error)

    @property
    def description(self) -> Any:
        """The description of the server's error message, if there is one."""
        return self.error.description if self.error is not None else None

    def _repr_head(self, indent: str) -> str:
        entity = getattr(self, "entity", None)
        head = TransactionError._repr_head(self, indent)
        if entity is None:
            return head
        name = getattr(entity, "name", None)
        named = f", name: '{name}'" if name is not None else ""
        return f"{type(entity).__name__.upper()} (id: {getattr(entity, 'id', None)}{named}) CAUSED {head}"


class UniqueNamesError(EntityError):
    """A name that must be unique is not."""


class UnqualifiedParentsError(EntityError):
    """The entity's parents have errors (see :attr:`errors` and :attr:`entities`)."""


class UnqualifiedPropertiesError(EntityError):
    """The entity's properties have errors (see :attr:`errors` and :attr:`entities`)."""


class EntityHasNoAclError(EntityError):
    """The entity has no access control list (yet)."""


class EntityDoesNotExistError(EntityError):
    """The entity does not exist."""


class EntityHasNoDatatypeError(EntityError):
    """The entity needs a data type and has none."""


class ConsistencyError(EntityError):
    """The transaction would break the data's consistency."""


class AuthorizationError(EntityError):
    """The user may not do this (more privileges or an account are needed)."""


class AmbiguousEntityError(EntityError):
    """More than one entity fits, so the entity could not be retrieved."""


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
