"""Password method ``pass``: the password is the first line of a password-store entry.

.. code-block:: ini

    [Connection]
    url = https://linkahead.example.org/
    username = admin
    password_method = pass
    password_identifier = linkahead/admin

``password_identifier`` names the file ``<store>/<identifier>.gpg``; the store is
``$PASSWORD_STORE_DIR`` (or the option ``pass_store_dir``), default ``~/.password-store``. The file
is decrypted with GnuPG through python-gnupg (honouring ``GNUPGHOME``, the gpg-agent and
``PASSWORD_STORE_GPG_OPTS``); no shell and no ``pass`` command run. When ``username`` is not
configured it is taken from a ``login:``, ``user:`` or ``username:`` line of the entry.

After the server rejects the password, the entry is read again: a rotated password is used, an
unchanged one is reported as a login failure instead of being tried again.
"""

from __future__ import annotations

import hmac
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linkahead import Credentials, Option, PasswordCredentials, hookimpl
from linkahead.exceptions import ConfigurationError, LoginFailedError
from linkahead.options import number, path, text

from .store import check_identifier, entry_file, locate_store, shell_command

if TYPE_CHECKING:
    from linkahead.testing import LinkAheadTestServer

__all__ = ["declare_options", "get_credentials", "refresh", "demo_config", "read_credentials", "parse_entry"]

DEFAULT_TIMEOUT = 60.0
_USERNAME_LINE = re.compile(r"^\s*(?:login|user|username)\s*:\s*(?P<name>\S.*?)\s*$", re.IGNORECASE)


@hookimpl
def declare_options() -> Sequence[Option]:
    return [
        Option("password_identifier",
               "The password-store entry holding the password, relative to the store, e.g. linkahead/admin.",
               check_identifier, required=True),
        Option("pass_store_dir", "The password-store folder; default $PASSWORD_STORE_DIR, else ~/.password-store.",
               path),
        Option("pass_gpg_binary", "The gpg program to decrypt with; default gpg2 or gpg from PATH.", text),
        Option("pass_timeout", "Seconds gpg may take to decrypt (including a passphrase prompt) before it is "
               "stopped.", number, default=DEFAULT_TIMEOUT),
    ]


def parse_entry(plaintext: bytes, identifier: str) -> tuple[str, str | None]:
    """The password (first line) and the user name from a ``login:``/``user:``/``username:`` line.

    :raises LoginFailedError: the entry is empty, not UTF-8, or its first line is empty.
    """
    try:
        content = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise LoginFailedError(
            f"The password store entry {identifier!r} is not UTF-8 text; store the password as text "
            f"({shell_command('pass', 'edit', identifier)})."
        ) from None
    if not content.strip():
        raise LoginFailedError(
            f"The password store entry {identifier!r} is empty after decryption. Store the password in it "
            f"({shell_command('pass', 'insert', '-f', identifier)})."
        )
    first, _, rest = content.partition("\n")
    password = first.removesuffix("\r")
    if not password:
        raise LoginFailedError(
            f"The first line of the password store entry {identifier!r} is empty, but pass keeps the password "
            f"on the first line. Fix the entry ({shell_command('pass', 'edit', identifier)})."
        )
    if "\0" in password:
        raise LoginFailedError(f"The password in the store entry {identifier!r} contains a NUL byte.")
    username = None
    for line in rest.splitlines():
        match = _USERNAME_LINE.match(line)
        if match:
            username = match.group("name")
            break
    return password, username


def read_credentials(config: Mapping[str, Any]) -> PasswordCredentials:
    """Read and decrypt the configured entry and build the credentials."""
    identifier = config.get("password_identifier")
    if not identifier:
        raise ConfigurationError(
            "password_method 'pass' needs password_identifier, the password-store entry to read "
            "(e.g. linkahead/admin)."
        )
    # Imported here, not at the top: with a stored session nothing is decrypted, and python-gnupg,
    # subprocess and dataclasses would only slow every short script's start.
    from .decrypt import decrypt, gpg_settings

    store = locate_store(config)
    file = entry_file(store, identifier)
    timeout = config.get("pass_timeout") or DEFAULT_TIMEOUT
    settings = gpg_settings(config.get("pass_gpg_binary"), float(timeout))
    password, entry_username = parse_entry(decrypt(file, identifier, settings), identifier)
    username = config.get("username") or entry_username
    if not username:
        raise ConfigurationError(
            f"No user name for password_method 'pass': set username in the configuration, or add a line "
            f"'login: <name>' to the password store entry {identifier!r}."
        )
    return PasswordCredentials(username, password)


@hookimpl
def get_credentials(config: Mapping[str, Any]) -> PasswordCredentials:
    return read_credentials(config)


@hookimpl
def refresh(config: Mapping[str, Any], credentials: Credentials, reason: str) -> PasswordCredentials | None:
    fresh = read_credentials(config)
    if reason == "rejected" and isinstance(credentials, PasswordCredentials) and _same(fresh, credentials):
        # The store still holds the password the server just refused: trying it again cannot help.
        return None
    return fresh


def _same(first: PasswordCredentials, second: PasswordCredentials) -> bool:
    return first.username == second.username and hmac.compare_digest(
        first.password.encode("utf-8"), second.password.encode("utf-8")
    )


@hookimpl
def demo_config(server: LinkAheadTestServer, workdir: Path) -> Mapping[str, Any] | None:
    gpg = shutil.which("gpg2") or shutil.which("gpg")
    if gpg is None:
        return None
    from .demo import prepare_demo_store

    return prepare_demo_store(gpg, server.users["admin"], workdir)
