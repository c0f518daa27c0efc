"""Password method ``exec``: credentials printed by an external command.

Like kubectl's exec credential plugins and AWS ``credential_process``: the command (``exec_command``)
runs without a shell -- and without a terminal unless ``exec_interactive`` lets it have one -- and
prints one JSON document on stdout::

    {"version": 1, "username": "alice", "password": "..."}
    {"version": 1, "token": "<LinkAhead token>", "expires_at": "2026-11-25T20:00:00Z"}
    {"version": 1, "headers": {"Authorization": "Bearer ..."}}

The credentials are cached in the process until shortly before ``expires_at`` (without one: until
the process ends or the connection logs out with ``forget``), so configuring the connection again
does not run the command again. Whenever the connection asks for fresh credentials (the server
rejected them, they are about to expire, or a caller asked) the command runs again. See
``docs/methods/exec.rst`` for the full contract.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from linkahead import Credentials, Option, TokenCredentials, hookimpl
from linkahead.exceptions import LoginFailedError
from linkahead.tokens import parse_token

from .contract import CONTRACT_VERSION, ContractError, parse_output, parse_rfc3339
from .errors import CredentialCommandError, CredentialOutputError
from .options import OPTIONS, RESERVED_VARIABLES

if TYPE_CHECKING:
    from linkahead.testing import LinkAheadTestServer

__all__ = [
    "declare_options",
    "get_credentials",
    "refresh",
    "forget",
    "demo_config",
    "clear_cache",
    "CONTRACT_VERSION",
    "CredentialCommandError",
    "CredentialOutputError",
    "parse_output",
    "parse_rfc3339",
]

logger = logging.getLogger("linkahead.auth.exec")

# Re-use cached credentials only until this long before they expire: a tenth of their lifetime,
# at most 30 s -- the same margin the connection uses before it asks for a refresh.
_MAX_MARGIN = 30.0

_CacheKey = tuple[tuple[str, ...], str, str, tuple[tuple[str, str], ...]]


class _Entry(NamedTuple):
    credentials: Credentials
    reuse_until: float


_cache: dict[_CacheKey, _Entry] = {}
_cache_lock = threading.Lock()
_run_locks: dict[_CacheKey, threading.Lock] = {}


@hookimpl
def declare_options() -> Sequence[Option]:
    return OPTIONS


@hookimpl
def get_credentials(config: Mapping[str, Any]) -> Credentials:
    key = _key(config)
    with _run_lock(key):
        with _cache_lock:
            entry = _cache.get(key)
        if entry is not None and time.time() < entry.reuse_until:
            logger.debug("Using the cached credentials of the credential command %r.", key[0][0])
            return entry.credentials
        return _run_and_cache(config, key, "initial")


@hookimpl
def refresh(config: Mapping[str, Any], credentials: Credentials, reason: str) -> Credentials:
    # Every refresh runs the command: the cached answer is what just stopped working.
    key = _key(config)
    with _run_lock(key):
        return _run_and_cache(config, key, reason)


@hookimpl
def forget(config: Mapping[str, Any]) -> None:
    key = _key(config)
    with _cache_lock:
        _cache.pop(key, None)


@hookimpl
def demo_config(server: LinkAheadTestServer, workdir: Path) -> Mapping[str, Any]:
    script = workdir / "linkahead-credentials.py"
    document = {"version": CONTRACT_VERSION, "username": "admin", "password": server.users["admin"]}
    # Created with mode 0700 from the start: the file holds the password.
    descriptor = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"import json\nprint(json.dumps({document!r}))\n")
    return {"exec_command": [sys.executable, str(script)]}


def clear_cache() -> None:
    """Forget every cached credential of this process (the next connection runs its command)."""
    with _cache_lock:
        _cache.clear()


def _run_and_cache(config: Mapping[str, Any], key: _CacheKey, reason: str) -> Credentials:
    argv: list[str] = config["exec_command"]
    interactive = _interactive(config, argv[0])
    logger.debug("Running the credential command %r (reason: %s)%s.", argv[0], reason,
                 ", interactively on the terminal" if interactive else "")
    # Imported here, not at the top: with a stored session no command runs, and the runner's
    # imports (subprocess, selectors, signal) would only slow every short script's start.
    from .runner import run_command

    stdout = run_command(argv, _environment(config, reason, interactive), float(config["exec_timeout"]),
                         interactive=interactive)
    try:
        credentials = parse_output(stdout, config.get("username"))
    except ContractError as error:
        raise CredentialOutputError(
            f"The output of the credential command {argv[0]!r} breaks the exec contract: {error}. "
            f'It must print one JSON object such as {{"version": {CONTRACT_VERSION}, "token": "..."}} '
            "on stdout; see the documentation of password_method exec.",
            command=argv[0],
            returncode=0,
        ) from None
    now = time.time()
    reuse_until = _reuse_until(credentials, now)
    with _cache_lock:
        if reuse_until > now:
            _cache[key] = _Entry(credentials, reuse_until)
        else:
            _cache.pop(key, None)
    logger.debug("The credential command %r supplied %s.", argv[0], credentials)
    return credentials


def _interactive(config: Mapping[str, Any], name: str) -> bool:
    """Whether this run gets the terminal; ``always`` without one fails before anything starts."""
    mode = config.get("exec_interactive") or "never"
    if mode == "never":
        return False
    if _stdin_is_terminal():
        return True
    if mode == "always":
        raise LoginFailedError(
            f"exec_interactive = always: the credential command {name!r} needs a terminal to talk to "
            "you, but standard input is not a terminal, so it was not started. Run the program from a "
            "terminal, or set exec_interactive = if-available to let the command run without one."
        )
    return False


def _stdin_is_terminal() -> bool:
    # The same test as the core's: when it holds, the core calls this hook without plugin_timeout.
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, AttributeError):  # closed, or replaced by an object without isatty
        return False


def _environment(config: Mapping[str, Any], reason: str, interactive: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update(config.get("exec_env") or {})
    for name in RESERVED_VARIABLES:
        env.pop(name, None)  # an inherited value must not pose as ours
    env["LINKAHEAD_URL"] = str(config["url"])
    env["LINKAHEAD_AUTH_REASON"] = reason
    env["LINKAHEAD_AUTH_INTERACTIVE"] = "1" if interactive else "0"
    if config.get("username"):
        env["LINKAHEAD_USERNAME"] = str(config["username"])
    return env


def _reuse_until(credentials: Credentials, now: float) -> float:
    """Until when ``credentials`` may be handed out again without running the command."""
    expires_at = credentials.expires_at
    if isinstance(credentials, TokenCredentials):
        try:
            info = parse_token(credentials.token)
        except ValueError:
            info = None
        if info is not None and info.one_time:
            return now  # a one-time token is spent by its first use
        if expires_at is None and info is not None:
            expires_at = info.expires_at
    if expires_at is None:
        return float("inf")
    return expires_at - min(_MAX_MARGIN, max(expires_at - now, 0.0) / 10.0)


def _key(config: Mapping[str, Any]) -> _CacheKey:
    env: Mapping[str, str] = config.get("exec_env") or {}
    return (
        tuple(config["exec_command"]),
        str(config["url"]),
        str(config.get("username") or ""),
        tuple(sorted(env.items())),
    )


def _run_lock(key: _CacheKey) -> threading.Lock:
    # One run at a time per command and server, so parallel connections share one answer.
    with _cache_lock:
        lock = _run_locks.get(key)
        if lock is None:
            lock = _run_locks[key] = threading.Lock()
        return lock
