"""Password method ``keyring``: the password from the system keyring.

The password is ``keyring.get_password("linkahead — <url>", <username>)`` -- the service name the
legacy ``linkahead`` client uses (an em dash, the url exactly as configured), so passwords it
stored keep working. ``keyring_service`` overrides the service name.

- Nothing stored yet: with a terminal, it asks once and stores the answer once the server has
  accepted it (the ``login_result`` hook); a refused answer is forgotten. Without a terminal, it
  fails with a :class:`~linkahead.exceptions.LoginFailedError` that says how to store the password.
- The server rejects the stored password: with a terminal, it asks again and replaces the stored
  password once the server has accepted the new one. Without a terminal it fails and leaves the
  entry alone.
- Logging out (the ``forget`` hook) keeps the stored password unless ``keyring_delete_on_logout``
  is true.

Other programs (``linkahead-auth login``/``logout``) use :func:`store_password`,
:func:`delete_password` and :func:`service_name`.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linkahead import Credentials, Option, PasswordCredentials, hookimpl
from linkahead.exceptions import LinkAheadException, LoginFailedError
from linkahead.options import boolean, number, text

from .store import (
    DEFAULT_TIMEOUT,
    SERVICE_PREFIX,
    backend_name,
    delete_password,
    get_password,
    keyring_command,
    service_for,
    service_name,
    set_command,
    store_password,
)

if TYPE_CHECKING:
    from linkahead.testing import LinkAheadTestServer

__all__ = [
    "SERVICE_PREFIX",
    "service_name",
    "service_for",
    "get_password",
    "store_password",
    "delete_password",
    "backend_name",
    "declare_options",
    "get_credentials",
    "refresh",
    "forget",
    "login_result",
    "demo_config",
]

logger = logging.getLogger("linkahead.auth.keyring")

# Passwords typed at the prompt, waiting for the server's verdict (login_result) before they are
# stored: (service, user name) -> password. Only in memory, and only until that verdict.
_typed: dict[tuple[str, str], str] = {}
_typed_lock = threading.Lock()

OPTIONS: tuple[Option, ...] = (
    Option("username", "The user name to log in with; the keyring entry's user name.", text, required=True),
    Option("keyring_service", "The keyring service name; default: 'linkahead — ' followed by the url "
           "(as the legacy client).", text),
    Option("keyring_timeout", "Seconds to wait for the keyring backend (a Secret Service may hang).",
           number, default=DEFAULT_TIMEOUT),
    Option("keyring_delete_on_logout", "Delete the stored password on 'linkahead-auth logout'.", boolean,
           default=False),
)


def _terminal_available() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return False


def _how_to_store(config: Mapping[str, Any], username: str) -> str:
    return (f"{set_command(config, username)}  "
            f"(or with the keyring tool: {keyring_command(service_for(config), username)})")


def _ask(config: Mapping[str, Any], username: str, prompt: str) -> PasswordCredentials:
    """Ask on the terminal; the answer is stored when the server accepts it (:func:`login_result`)."""
    try:
        import getpass  # termios and friends, only when a person is asked

        password = getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt):
        raise LoginFailedError(
            f"No password was entered for {username!r} at {config['url']}; the login was cancelled."
        ) from None
    if not password:
        raise LoginFailedError(f"An empty password was entered for {username!r} at {config['url']}; "
                               "nothing was stored.")
    with _typed_lock:
        _typed[(service_for(config), username)] = password
    return PasswordCredentials(username, password)


@hookimpl
def declare_options() -> Sequence[Option]:
    """``username`` (required), ``keyring_service``, ``keyring_timeout``, ``keyring_delete_on_logout``."""
    return OPTIONS


@hookimpl
def get_credentials(config: Mapping[str, Any]) -> PasswordCredentials:
    """The stored password; asks once and stores it when nothing is stored and a terminal is attached."""
    username = str(config["username"])
    password = get_password(config, username)
    if password is not None:
        logger.debug("Found the password of %r in the keyring (service %r).", username, service_for(config))
        return PasswordCredentials(username, password)
    if not _terminal_available():
        raise LoginFailedError(
            f"No password is stored in the keyring for user {username!r} (service {service_for(config)!r}, "
            f"backend {backend_name()}), and standard input is not a terminal to ask for one. "
            + "Store it with: " + _how_to_store(config, username)
        )
    return _ask(config, username,
                f"Password for {username} at {config['url']} (will be stored in the keyring): ")


@hookimpl
def refresh(config: Mapping[str, Any], credentials: Credentials, reason: str) -> PasswordCredentials | None:
    """Re-read the keyring; after a rejection with a terminal, ask again and replace the entry."""
    username = str(config["username"])
    stored = get_password(config, username)
    previous = credentials.password if isinstance(credentials, PasswordCredentials) else None
    if reason != "rejected":
        return PasswordCredentials(username, stored) if stored is not None else None
    if stored is not None and stored != previous:
        # Someone stored a new password since we read it (e.g. the set command in another terminal).
        return PasswordCredentials(username, stored)
    if _terminal_available():
        return _ask(config, username,
                    f"The server rejected the stored password. Password for {username} at {config['url']} "
                    "(replaces the stored one): ")
    raise LoginFailedError(
        f"The server rejected the password stored in the keyring for user {username!r} "
        f"(service {service_for(config)!r}, backend {backend_name()}); the entry was left unchanged. "
        f"Store the right password with: {_how_to_store(config, username)}"
    )


@hookimpl
def login_result(config: Mapping[str, Any], credentials: Credentials, accepted: bool) -> None:
    """Store a password typed at the prompt once the server accepted it; forget a refused one.

    A password that came from the keyring is left as it is either way. When the keyring cannot
    store the accepted password, a warning says so and the program goes on (it is logged in).
    """
    if not isinstance(credentials, PasswordCredentials):
        return
    key = (service_for(config), credentials.username)
    with _typed_lock:
        typed = _typed.get(key)
        if typed != credentials.password:
            return  # not the typed one (it came from the keyring)
        del _typed[key]
    if not accepted:
        logger.debug("The server refused the password typed for %r; it is not stored.", credentials.username)
        return
    try:
        store_password(config, credentials.username, credentials.password)
    except LinkAheadException as error:
        warnings.warn(f"You are logged in, but the password could not be stored in the keyring: {error.msg}",
                      UserWarning, stacklevel=2)
        return
    logger.debug("The server accepted the password typed for %r; stored it in the keyring (service %r).",
                 credentials.username, key[0])


@hookimpl
def forget(config: Mapping[str, Any]) -> None:
    """Keep the stored password (logging out is not forgetting), unless ``keyring_delete_on_logout``."""
    username = str(config["username"])
    if not config.get("keyring_delete_on_logout"):
        logger.debug("Logout keeps the keyring entry of %r (set keyring_delete_on_logout = true to delete it).",
                     username)
        return
    delete_password(config, username)


@hookimpl
def demo_config(server: LinkAheadTestServer, workdir: Path) -> Mapping[str, Any] | None:
    """A keyrings.alt plain-text keyring file in ``workdir`` holding the admin password."""
    try:
        from keyrings.alt.file import PlaintextKeyring
    except ImportError:
        return None
    import keyring

    backend = PlaintextKeyring()
    backend.file_path = str(workdir / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    store_password(server.url, "admin", server.users["admin"])
    return {"username": "admin"}
