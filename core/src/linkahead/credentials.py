"""Credentials: the small immutable values a password-method plugin hands to the core.

A plugin answers :func:`~linkahead.hookspecs.get_credentials` with one of these; the core then
does the talking to the server:

- :class:`PasswordCredentials` -- the core logs in with ``POST /login``.
- :class:`TokenCredentials` -- a LinkAhead session or one-time token, sent as the
  ``SessionToken`` cookie.
- :class:`HeaderCredentials` -- extra request headers (for example ``Authorization: Bearer ...``)
  for single sign-on front ends, sent on every request.
- :class:`AnonymousCredentials` -- no authentication at all.

Each may carry ``expires_at`` (seconds since the epoch): the core asks the plugin to
:func:`~linkahead.hookspecs.refresh` shortly before that time.

``repr()`` and ``str()`` never show a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "PasswordCredentials",
    "TokenCredentials",
    "HeaderCredentials",
    "AnonymousCredentials",
    "Credentials",
    "CREDENTIAL_TYPES",
]


def _expiry_text(expires_at: float | None) -> str:
    return "" if expires_at is None else f", expires_at={expires_at!r}"


@dataclass(frozen=True)
class PasswordCredentials:
    """A user name and a password; the core logs in with them (``POST /login``)."""

    username: str
    password: str = field(repr=False)
    expires_at: float | None = None

    def __post_init__(self) -> None:
        _check_text("username", self.username)
        _check_text("password", self.password, secret=True)

    def __repr__(self) -> str:
        return f"PasswordCredentials(username={self.username!r}, password=***{_expiry_text(self.expires_at)})"

    __str__ = __repr__


@dataclass(frozen=True)
class TokenCredentials:
    """A LinkAhead authentication token (session ``"S"`` or one-time ``"O"``).

    ``token`` is the value of the ``SessionToken`` cookie, URL-encoded as the server sends it.
    The server answers the first request with a session token which the core keeps using.
    """

    token: str = field(repr=False)
    expires_at: float | None = None

    def __post_init__(self) -> None:
        _check_text("token", self.token, secret=True)

    def __repr__(self) -> str:
        return f"TokenCredentials(token=***{_expiry_text(self.expires_at)})"

    __str__ = __repr__


@dataclass(frozen=True)
class HeaderCredentials:
    """Request headers sent with every request, for single sign-on front ends.

    Their values are treated as secrets: they never appear in logs or reprs.
    """

    headers: Mapping[str, str] = field(repr=False)
    expires_at: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Mapping) or not self.headers:
            raise TypeError("HeaderCredentials.headers must be a non-empty mapping of str to str")
        for name, value in self.headers.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("HeaderCredentials.headers must map str to str")
            if any(c in name + value for c in "\r\n\0"):
                raise ValueError(f"header {name!r} contains a line break or NUL byte")
        # Freeze a private copy so that later changes to the caller's dict cannot leak in.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.headers))
        return f"HeaderCredentials(headers=[{names}]: ***{_expiry_text(self.expires_at)})"

    __str__ = __repr__


@dataclass(frozen=True)
class AnonymousCredentials:
    """No credentials: requests go out without a token and no token is kept."""

    expires_at: float | None = None


Credentials = PasswordCredentials | TokenCredentials | HeaderCredentials | AnonymousCredentials
"""Any of the credential value objects."""

CREDENTIAL_TYPES: tuple[type, ...] = (
    PasswordCredentials,
    TokenCredentials,
    HeaderCredentials,
    AnonymousCredentials,
)


def _check_text(name: str, value: object, secret: bool = False) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    if any(c in value for c in "\r\n\0"):
        shown = "" if secret else f" {value!r}"
        raise ValueError(f"{name}{shown} contains a line break or NUL byte")
