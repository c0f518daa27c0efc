"""Password method ``input``: ask for the user name (if not configured) and the password.

The prompt goes to the terminal through :mod:`getpass`; nothing is echoed. Without a terminal
(a cron job, CI, a pipe) it fails at once with :class:`~linkahead.exceptions.LoginFailedError`
saying which method to use instead, rather than hanging or raising a bare ``EOFError``.

After a rejected login (wrong password) it asks once more.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Mapping
from typing import Any

from linkahead import Credentials, PasswordCredentials, hookimpl
from linkahead.exceptions import LinkAheadException, LoginFailedError

__all__ = ["get_credentials", "refresh", "ask"]


def _terminal_available() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return False


def _no_terminal(url: str) -> LoginFailedError:
    return LoginFailedError(
        f"password_method 'input' needs a terminal to ask for the password of {url}, but standard "
        "input is not a terminal. Use a non-interactive method instead: 'pass', 'keyring', "
        "'auth_token', or 'plain' with a password in a private pylinkahead.ini."
    )


def ask(config: Mapping[str, Any], again: bool = False) -> PasswordCredentials:
    """Ask on the terminal; raise :class:`LoginFailedError` when there is none."""
    url = str(config["url"])
    if not _terminal_available():
        raise _no_terminal(url)
    try:
        username = config.get("username")
        if not username:
            sys.stderr.write(f"User name for {url}: ")
            sys.stderr.flush()
            username = sys.stdin.readline().strip()
            if not username:
                raise LoginFailedError("No user name was entered.")
        intro = "Login failed. " if again else ""
        password = getpass.getpass(f"{intro}Password for {username} at {url}: ")
    except (EOFError, KeyboardInterrupt):
        raise LoginFailedError(f"No password was entered for {url}; the login was cancelled.") from None
    if not password:
        raise LoginFailedError(f"An empty password was entered for {url}.")
    return PasswordCredentials(username, password)


@hookimpl
def get_credentials(config: Mapping[str, Any]) -> PasswordCredentials:
    return ask(config)


@hookimpl
def refresh(config: Mapping[str, Any], credentials: Credentials, reason: str) -> PasswordCredentials | None:
    if reason == "rejected":
        return ask(config, again=True)
    return None


@hookimpl
def demo_config() -> None:
    """The demo logs in unattended; this method needs a person to type the password."""
    raise LinkAheadException("asks a person at a terminal for the password; the demo runs unattended")
