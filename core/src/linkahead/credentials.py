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
from types import MappingProxyType
from typing import Any

from .tokens import cookie_value

# Plain classes with __slots__ rather than dataclasses: importing dataclasses and generating
# the classes would add milliseconds to every program's start (see bench/run.py).


class _Value:
    """Immutable value object: equal when the type and every field are equal."""

    __slots__: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; create a new one")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.expires_at))

    expires_at: float | None


def _expiry_text(expires_at: float | None) -> str:
    return "" if expires_at is None else f", expires_at={expires_at!r}"


class PasswordCredentials(_Value):
    """A user name and a password; the core logs in with them (``POST /login``)."""

    __slots__ = ("username", "password", "expires_at")
    username: str
    password: str

    def __init__(self, username: str, password: str, expires_at: float | None = None) -> None:
        _check_text("username", username)
        _check_text("password", password, secret=True)
        object.__setattr__(self, "username", username)
        object.__setattr__(self, "password", password)
        object.__setattr__(self, "expires_at", _check_expiry(expires_at))

    def __repr__(self) -> str:
        return f"PasswordCredentials(username={self.username!r}, password=***{_expiry_text(self.expires_at)})"

    __str__ = __repr__


class TokenCredentials(_Value):
    """A LinkAhead authentication token (session ``"S"`` or one-time ``"O"``).

    ``token`` may be given as an administrator hands it out (raw JSON,
    ``["O","OneTimeAuthenticationToken",...]``) or URL-encoded as the server sends it in a
    cookie; it is kept, and sent, URL-encoded. The server answers the first request with a session
    token which the core keeps using.
    """

    __slots__ = ("token", "expires_at")
    token: str

    def __init__(self, token: str, expires_at: float | None = None) -> None:
        _check_text("token", token, secret=True)
        object.__setattr__(self, "token", cookie_value(token.strip()))
        object.__setattr__(self, "expires_at", _check_expiry(expires_at))

    def __repr__(self) -> str:
        return f"TokenCredentials(token=***{_expiry_text(self.expires_at)})"

    __str__ = __repr__


class HeaderCredentials(_Value):
    """Request headers sent with every request, for single sign-on front ends.

    Their values are treated as secrets: they never appear in logs or reprs.
    """

    __slots__ = ("headers", "expires_at")
    headers: Mapping[str, str]

    def __init__(self, headers: Mapping[str, str], expires_at: float | None = None) -> None:
        if not isinstance(headers, Mapping) or not headers:
            raise TypeError("HeaderCredentials.headers must be a non-empty mapping of str to str")
        for name, value in headers.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("HeaderCredentials.headers must map str to str")
            if any(c in name + value for c in "\r\n\0"):
                raise ValueError(f"header {name!r} contains a line break or NUL byte")
        # A private frozen copy, so that later changes to the caller's dict cannot leak in.
        object.__setattr__(self, "headers", MappingProxyType(dict(headers)))
        object.__setattr__(self, "expires_at", _check_expiry(expires_at))

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.headers))
        return f"HeaderCredentials(headers=[{names}]: ***{_expiry_text(self.expires_at)})"

    __str__ = __repr__


class AnonymousCredentials(_Value):
    """No credentials: requests go out without a token and no token is kept."""

    __slots__ = ("expires_at",)

    def __init__(self, expires_at: float | None = None) -> None:
        object.__setattr__(self, "expires_at", _check_expiry(expires_at))

    def __repr__(self) -> str:
        return f"AnonymousCredentials({_expiry_text(self.expires_at)[2:]})"

    __str__ = __repr__


Credentials = PasswordCredentials | TokenCredentials | HeaderCredentials | AnonymousCredentials
"""Any of the credential value objects."""

CREDENTIAL_TYPES: tuple[type, ...] = (
    PasswordCredentials,
    TokenCredentials,
    HeaderCredentials,
    AnonymousCredentials,
)


def _check_expiry(expires_at: object) -> float | None:
    if expires_at is None:
        return None
    if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)):
        raise TypeError(
            f"expires_at must be seconds since the epoch (a number) or None, not {type(expires_at).__name__}"
        )
    return float(expires_at)


def _check_text(name: str, value: object, secret: bool = False) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    if any(c in value for c in "\r\n\0"):
        shown = "" if secret else f" {value!r}"
        raise ValueError(f"{name}{shown} contains a line break or NUL byte")
