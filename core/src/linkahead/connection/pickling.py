"""A connection that is pickled travels as its options, never as a secret, a socket or a lock.

``multiprocessing`` (spawn, forkserver), ``concurrent.futures.ProcessPoolExecutor`` and Dask pickle
what a task refers to; a task that uses ``linkahead.get_connection()`` or a connection object it
closed over therefore sends the connection to another process. What crosses:

- the options that are not secret (``url``, ``username``, ``password_method``, ``timeout``,
  ``session_cache``, ``cacert``, ...), as the sending process had them in effect;
- **not** the secret options (``password``, ``auth_token``, a plugin's secret options), not a
  proxy URL holding a password, not the session token, no socket, no lock. A worker on the same
  host finds the session in the session store; a worker elsewhere is handed a token through
  ``linkahead-auth token`` (see ``docs/session-cache.rst``).

On the other side, when the pickled connection was the process-wide one, it becomes the
receiving process's process-wide connection: configured with the options that arrived if it was
not configured yet (the receiving process's own ``pylinkahead.ini`` adds what did not travel, a
password for instance -- but only an ini file for the same server and user), used as it is when
it is configured the same way already, and otherwise a connection of its own. Any other
connection becomes a connection of its own, one per process for the same options. Either way a
connection that cannot be made raises a :class:`~linkahead.exceptions.ConfigurationError` that
says what did not travel and how to provide it.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from .. import configuration
from ..exceptions import ConfigurationError, LinkAheadException

if TYPE_CHECKING:
    from .connection import _Connection

__all__ = ["reduce_connection", "connection_from_pickle", "carried_options"]

_PROTOCOL = 1
_received: dict[tuple[tuple[str, str], ...], _Connection] = {}
_received_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _received_lock
    _received_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def carried_options(connection: _Connection) -> dict[str, Any]:
    """The options a pickled ``connection`` carries: set ones, not secret, not from the environment.

    :raises ConfigurationError: the connection cannot travel (a plugin object or a custom transport).
    """
    from .transport import RequestsTransport

    if not connection.is_configured:
        return {}
    method = connection.method
    if method.distribution is None:
        raise ConfigurationError(
            f"This connection cannot be pickled: its password_method is the plugin object {method.name!r}, "
            "which exists only in this process. Install the plugin as a distribution (entry point "
            "'linkahead.auth'), or configure the connection in the worker (a pool's initializer, a "
            "Dask worker plugin) instead of sending it."
        )
    if not isinstance(connection._transport, RequestsTransport):
        raise ConfigurationError(
            "This connection cannot be pickled: it was configured with implementation=..., a transport "
            "of this process. Configure the connection in the worker instead of sending it."
        )
    config = connection.config
    carried: dict[str, Any] = {}
    for key in config:
        origin = config.origin(key)
        value = config[key]
        if config.is_secret(key) or origin == configuration.DEFAULT or origin.startswith("environment"):
            continue
        if key.endswith("_proxy") and isinstance(value, str) and "@" in value:
            continue  # a proxy's password is a secret too; the worker's own setting applies
        carried[key] = value
    carried["password_method"] = config["password_method"]
    return carried


def reduce_connection(connection: _Connection) -> tuple[Any, ...]:
    """``__reduce__`` of a connection: rebuilt by :func:`connection_from_pickle` from its options."""
    from .connection import _Connection

    shared = connection is _Connection.get_instance()
    return connection_from_pickle, (_PROTOCOL, carried_options(connection), shared)


def connection_from_pickle(protocol: int, options: dict[str, Any], shared: bool) -> _Connection:
    """The connection a pickled one becomes in this process; see the module docstring."""
    from .connection import _Connection

    if protocol != _PROTOCOL or not isinstance(options, dict):
        raise ConfigurationError("A pickled connection from another version of linkahead-connection "
                                 "arrived; install the same version in every process of the job.")
    if not options:
        return _Connection.get_instance()
    key = tuple(sorted((name, repr(value)) for name, value in options.items()))
    with _received_lock:
        known = _received.get(key)
        if known is not None and known.is_configured:
            return known
        singleton = _Connection.get_instance()
        if shared and singleton.is_configured and _matches(singleton, options):
            connection = singleton
        else:
            _check_file_secrets(options)
            target = singleton if shared and not singleton.is_configured else _Connection()
            try:
                connection = target.configure(**options)
            except ConfigurationError as error:
                raise _explained(error, options) from None
        _received[key] = connection
        return connection


def _matches(connection: _Connection, options: dict[str, Any]) -> bool:
    config = connection.config
    return all(config.get(name) == value for name, value in options.items())


def _check_file_secrets(options: dict[str, Any]) -> None:
    """Refuse to take a secret from this process's ini file when it is for another server or user."""
    values, _origins, file = configuration._connection_settings()
    if file is None or not values:
        return
    filled = sorted(name for name in values if name not in options)
    if not filled:
        return

    def same(name: str) -> bool:
        ours, theirs = values.get(name), options.get(name)
        if name == "url":
            return str(ours or "").rstrip("/") == str(theirs or "").rstrip("/")
        return ours is None or theirs is None or str(ours) == str(theirs)

    if not (same("url") and same("username")):
        raise ConfigurationError(
            f"A pickled connection to {options.get('url')} arrived, and this process's configuration file "
            f"{file} is for {values.get('url') or 'no url'} (user {values.get('username')!r}); what did not "
            f"travel with the connection ({', '.join(filled)}) is not taken from it, so nothing meant for "
            "another server is sent. Configure the connection in the worker, or give the worker a "
            "configuration file (PYLINKAHEADINI) for this server."
        )


def _explained(error: LinkAheadException, options: dict[str, Any]) -> ConfigurationError:
    return ConfigurationError(
        f"A pickled connection to {options.get('url')} could not be set up in this process: {error.msg} "
        "Secret options (password, auth_token, ...) never travel with a pickled connection; the worker "
        "needs its own: a pylinkahead.ini for this server (PYLINKAHEADINI) or a password method that "
        "finds them (input, pass, keyring, exec) -- with the session store it then logs in at most once "
        "for all workers of the host -- or, on other hosts, auth_token from 'linkahead-auth token'."
    )
