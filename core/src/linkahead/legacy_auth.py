"""The bridge for upstream-style password methods: ``linkahead.connection.authentication.<name>`` modules.

Before entry points, organisations extended the upstream ``linkahead`` client by dropping a module
into its package ``linkahead.connection.authentication`` and setting ``password_method`` to the
module's name. Such a module offers ``get_authentication_provider()``, which returns one of
upstream's authenticators. Two families carry credentials this connection can use:

- the credentials-provider family: a ``CredentialsAuthenticator`` around a ``CredentialsProvider``
  whose ``configure(**config)`` is followed by ``username`` and ``password`` (upstream's ``plain``,
  ``pass``, ``keyring``, ``input``);
- the token family: an authenticator with an ``auth_token`` attribute that its
  ``configure(**config)`` sets (upstream's ``auth_token``).

Upstream's own six modules are not bridged (:data:`UPSTREAM_OWN`): this project's plugins replace
them, and a missing one is reported with its ``pip install`` line.

:func:`find` turns such a module into a plugin object for the hook contract: login, renewal, 401
handling, single flight, the session store and redaction are this connection's, as for any plugin.
It is consulted only when no ``linkahead.auth`` entry point has the name (entry points always win),
imports nothing until the method is selected, and finds nothing (quietly) where upstream's package
``linkahead.connection.authentication`` is not installed. Using a bridged module warns once with a
:class:`DeprecationWarning` that points to the plugin guide.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import warnings
from collections.abc import Mapping
from typing import Any

from .credentials import Credentials, PasswordCredentials, TokenCredentials
from .exceptions import LoginFailedError, PluginError
from .hookspecs import hookimpl

__all__ = ["PACKAGE", "UPSTREAM_OWN", "UpstreamModule", "find", "module_names"]

PACKAGE = "linkahead.connection.authentication"
"""The package upstream-style methods live in (upstream's)."""

_NOT_METHODS = frozenset({"__init__", "interface", "external_credentials_provider"})
UPSTREAM_OWN = frozenset({"plain", "input", "pass", "keyring", "auth_token", "unauthenticated"})
"""Upstream's own modules. They are never bridged: each has a plugin of this project (``pip install
linkahead-auth-<name>``), and falling back to upstream's (``pass`` runs a shell) without a word is
what this project exists to end. Where the plugin is missing, the error names it."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_warned: set[str] = set()


def _package_folders() -> list[str]:
    """The folders of upstream's ``linkahead.connection.authentication``; ``[]`` without upstream."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):  # no linkahead.connection.authentication: no upstream
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return list(spec.submodule_search_locations)


def module_names() -> dict[str, str]:
    """Method name -> module file for every upstream-style module installed (none imported)."""
    found: dict[str, str] = {}
    for folder in _package_folders():
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        for entry in entries:
            stem, _, suffix = entry.rpartition(".")
            if suffix == "py" and _NAME.fullmatch(stem) and stem not in _NOT_METHODS:
                found.setdefault(stem, os.path.join(folder, entry))
    return found


def find(name: str) -> UpstreamModule | None:
    """The plugin object for the upstream-style module ``name``, or ``None`` when there is none.

    ``None`` also for upstream's own modules (:data:`UPSTREAM_OWN`).
    """
    if not _NAME.fullmatch(name) or name in _NOT_METHODS or name in UPSTREAM_OWN:
        return None
    if name not in module_names():
        return None
    return UpstreamModule(name)


class UpstreamModule:
    """A plugin object (``get_credentials``, ``refresh``) serving one upstream-style module."""

    def __init__(self, name: str) -> None:
        self.__name__ = name
        self.module_name = f"{PACKAGE}.{name}"

    def __repr__(self) -> str:
        return f"<upstream-style password method {self.module_name}>"

    @hookimpl
    def get_credentials(self, config: Mapping[str, Any]) -> Credentials:
        return self._credentials(config)

    @hookimpl
    def refresh(self, config: Mapping[str, Any], credentials: Credentials, reason: str) -> Credentials | None:
        fresh = self._credentials(config)
        if isinstance(fresh, TokenCredentials) and fresh == credentials:
            return None  # the same token again: it cannot be renewed from here
        return fresh

    def _credentials(self, config: Mapping[str, Any]) -> Credentials:
        self._warn_once()
        module = importlib.import_module(self.module_name)
        factory = getattr(module, "get_authentication_provider", None)
        if not callable(factory):
            raise self._unsupported("has no get_authentication_provider() function")
        authenticator = factory()
        settings = {key: value for key, value in config.items() if value is not None}
        provider = getattr(authenticator, "_credentials_provider", None)
        if provider is not None and hasattr(provider, "configure"):
            provider.configure(**settings)
            username, password = getattr(provider, "username", None), getattr(provider, "password", None)
            if not username:
                raise LoginFailedError(f"The upstream-style password method {self.module_name} gave no user name; "
                                       "set username in the [Connection] section or configure_connection().")
            if not password:
                raise LoginFailedError(f"The upstream-style password method {self.module_name} gave no password "
                                       f"for user {str(username)!r}; check what the module reads its password from.")
            return PasswordCredentials(str(username), str(password))
        if hasattr(authenticator, "auth_token") and hasattr(authenticator, "configure"):
            authenticator.configure(**settings)
            token = authenticator.auth_token
            if not token:
                raise LoginFailedError(f"The upstream-style password method {self.module_name} gave no auth_token; "
                                       "set auth_token in the [Connection] section or configure_connection().")
            return TokenCredentials(str(token))
        raise self._unsupported(
            f"returned a {type(authenticator).__name__} from get_authentication_provider(), which has neither a "
            "credentials provider (upstream's CredentialsAuthenticator: username and password) nor an auth_token "
            "(the token family)")

    def _unsupported(self, what: str) -> PluginError:
        return PluginError(
            f"The upstream-style password method {self.module_name} {what}; this connection can use only "
            "those two kinds. Publish the method as a plugin with a linkahead.auth entry point instead "
            "(docs/writing-a-plugin.rst, 'From an upstream-style module').",
            plugin=self.__name__, distribution=None)

    def _warn_once(self) -> None:
        if self.module_name in _warned:
            return
        _warned.add(self.module_name)
        warnings.warn(
            f"password_method = {self.__name__!r} is the upstream-style module {self.module_name}. It still works "
            "through this connection's bridge, but plugins are found through linkahead.auth entry points now: "
            "see docs/writing-a-plugin.rst, 'From an upstream-style module', to publish it as one.",
            DeprecationWarning, stacklevel=2)
