"""``python -m linkahead_auth_keyring set|delete|show-service``: manage the stored password.

The url, user name and ``keyring_service`` default to the ``[Connection]`` section of the
configuration file (found as the connection finds it), so users need not know the service name.
The password is never taken from the command line (other users could read it from the process
list): it is asked on the terminal, or read from standard input with ``--stdin``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from linkahead import configuration, options
from linkahead.exceptions import ConfigurationError, LinkAheadException

from .store import DEFAULT_TIMEOUT, backend_name, delete_password, get_password, service_for, store_password

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (for ``--help`` and the docs)."""
    parser = argparse.ArgumentParser(
        prog="python -m linkahead_auth_keyring",
        description="Store, delete or show the keyring entry that password_method 'keyring' reads. "
                    "url, username and keyring_service default to the [Connection] section of pylinkahead.ini.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the server url exactly as in the configuration (default: from the ini file)")
    common.add_argument("--username", help="the LinkAhead user name (default: from the ini file)")
    common.add_argument("--service", help="the keyring service name (default: keyring_service from the ini "
                                          "file, else 'linkahead — <url>')")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{set,delete,show-service}")
    store = commands.add_parser("set", parents=[common], help="ask for the password and store it")
    store.add_argument("--stdin", action="store_true",
                       help="read the password from the first line of standard input instead of the terminal")
    commands.add_parser("delete", parents=[common], help="delete the stored password")
    show = commands.add_parser("show-service", parents=[common], help="print the keyring service name")
    show.add_argument("-v", "--verbose", action="store_true",
                      help="also print the user name, the keyring backend and whether a password is stored")
    return parser


def _settings(arguments: argparse.Namespace) -> dict[str, Any]:
    """url, username, keyring_service, keyring_timeout: the arguments over the configuration file."""
    raw = configuration.collect({}).values
    settings: dict[str, Any] = {
        "url": arguments.url or raw.get("url"),
        "username": arguments.username or raw.get("username"),
        "keyring_service": arguments.service or raw.get("keyring_service"),
        "keyring_timeout": raw.get("keyring_timeout") or DEFAULT_TIMEOUT,
    }
    if not settings["url"]:
        raise ConfigurationError(
            "No url: pass --url, or set 'url = ...' in the [Connection] section of pylinkahead.ini."
        )
    try:
        settings["url"] = options.url(settings["url"])
        settings["keyring_timeout"] = options.number(settings["keyring_timeout"])
    except ValueError as error:
        raise ConfigurationError(f"Invalid setting: {error}.") from None
    return settings


def _username(settings: dict[str, Any]) -> str:
    username = settings["username"]
    if not username:
        raise ConfigurationError(
            "No user name: pass --username, or set 'username = ...' in the [Connection] section of pylinkahead.ini."
        )
    return str(username)


def _read_password(from_stdin: bool, stdin: TextIO, username: str, url: str) -> str:
    if from_stdin:
        password = stdin.readline().rstrip("\r\n")
    elif stdin.isatty():
        password = getpass.getpass(f"Password for {username} at {url}: ")
        if password and getpass.getpass("Repeat the password: ") != password:
            raise ConfigurationError("The two passwords differ; nothing was stored.")
    else:
        raise ConfigurationError(
            "Standard input is not a terminal, so the password cannot be asked for. "
            "Pass --stdin to read it from the first line of standard input."
        )
    if not password:
        raise ConfigurationError("No password was given; nothing was stored.")
    return password


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Run the command; 0 on success, 1 on an error (printed without a traceback), 2 for bad usage."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    arguments = build_parser().parse_args(argv)
    try:
        settings = _settings(arguments)
        service = service_for(settings)
        if arguments.command == "show-service":
            lines = [service]
            if arguments.verbose:
                username = settings["username"]
                stored = "unknown (no username)"
                if username:
                    stored = "yes" if get_password(settings, str(username)) is not None else "no"
                lines += [f"username: {username or '(not set)'}", f"backend:  {backend_name()}", f"stored:   {stored}"]
            out.write("\n".join(lines) + "\n")
            return 0
        username = _username(settings)
        if arguments.command == "set":
            try:
                password = _read_password(arguments.stdin, stdin, username, settings["url"])
            except (EOFError, KeyboardInterrupt):
                raise ConfigurationError("No password was entered; nothing was stored.") from None
            store_password(settings, username, password)
            out.write(f"Stored the password of {username!r} under service {service!r} "
                      f"in the keyring backend {backend_name()}.\n")
        else:
            if delete_password(settings, username):
                out.write(f"Deleted the password of {username!r} (service {service!r}) from the keyring.\n")
            else:
                out.write(f"No password of {username!r} was stored under service {service!r}; nothing to delete.\n")
        return 0
    except LinkAheadException as error:
        sys.stderr.write(f"error: {error}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
