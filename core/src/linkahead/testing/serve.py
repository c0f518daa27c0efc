"""The embedded test server as a command: ``linkahead-auth serve`` or ``python -m linkahead.testing``.

It prints the URL, the users and their passwords, a ready ``pylinkahead.ini`` and a one-time
token, then serves until Ctrl-C or SIGTERM (exit status 0). ``--tls`` serves HTTPS with a
certificate from a throw-away certificate authority made by ``trustme`` (not a dependency of
``linkahead-connection``: ``pip install trustme``); the authority's certificate is written to a
temporary file whose path is printed, for the ``cacert`` option.

``--control`` is for programs (the benchmarks): the only output is one line ``URL <url>``, then
standard input takes commands, one per line, each answered by one line: ``invalidate`` (end every
session, as a server restart would), ``counters`` (``COUNTERS <json>``), ``token NAME`` (``TOKEN
<one-time token>``). The server stops when standard input closes, printing ``COUNTERS <json>``.

This is a test server: it prints the passwords it was given, on purpose. Do not reuse real ones.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import secrets
import shutil
import signal
import ssl
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from ..exceptions import LinkAheadException
from .server import DEFAULT_MAX_BODY, DEFAULT_USERS, LinkAheadTestServer

__all__ = ["DEFAULT_PORT", "DEFAULT_TLS_PORT", "add_arguments", "build_parser", "main", "run", "user_argument"]

DEFAULT_PORT = 10080
"""The port without ``--tls``: the HTTP port of a LinkAhead server's default setup."""
DEFAULT_TLS_PORT = 10443
"""The port with ``--tls``: the HTTPS port of a LinkAhead server's default setup."""

DESCRIPTION = (
    "Run the embedded LinkAhead test server until Ctrl-C or SIGTERM. It speaks LinkAhead's login "
    "protocol (POST /login, SessionToken cookies, one-time tokens, /logout, /Info, anonymous access) "
    "and echoes every other request; it has no entities. It prints its URL, its users with their "
    "passwords, a pylinkahead.ini for it and a one-time token."
)


def user_argument(text: str) -> tuple[str, str]:
    """``NAME:PASSWORD`` (the password may contain ``:``) as a pair; an argparse ``type``."""
    name, colon, password = text.partition(":")
    if not colon or not name.strip() or not password:
        raise argparse.ArgumentTypeError(
            "expected NAME:PASSWORD with a non-empty name and password, e.g. --user alice:wonder-land"
        )
    if any(character.isspace() for character in name):
        raise argparse.ArgumentTypeError(f"the user name {name!r} contains white space")
    return name, password


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server's options to ``parser`` (shared by ``linkahead-auth serve`` and the module)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="the IPv4 address or host name to listen on (default 127.0.0.1; anything "
                             "else lets other machines log in with the printed passwords)")
    parser.add_argument("--port", type=_port, default=None,
                        help=f"the port (default {DEFAULT_PORT}, with --tls {DEFAULT_TLS_PORT}; 0: any free port)")
    parser.add_argument("--user", dest="users", metavar="NAME:PASSWORD", type=user_argument, action="append",
                        help="a user and its password; repeat for more users (default: admin with a new "
                             "random password, printed at start). A user named admin gets the role "
                             "administration.")
    parser.add_argument("--anonymous", action="store_true",
                        help="serve requests without a token as user anonymous instead of answering 401")
    parser.add_argument("--tls", action="store_true",
                        help="serve HTTPS with a certificate from a throw-away certificate authority, "
                             "whose certificate is written to a printed path (needs: pip install trustme)")
    parser.add_argument("--session-timeout", metavar="SECONDS", type=_positive_seconds, default=3600.0,
                        help="how long a session lives without requests (default 3600)")
    parser.add_argument("--idle-timeout", metavar="SECONDS", type=_positive_seconds, default=60.0,
                        help="close a connection that sends nothing for this long (default 60)")
    parser.add_argument("--max-body", metavar="BYTES", type=int, default=DEFAULT_MAX_BODY,
                        help=f"answer larger request bodies with 413 (default {DEFAULT_MAX_BODY})")
    parser.add_argument("--root-path", metavar="PATH", default="/",
                        help="serve below this path, e.g. /linkahead/ (default /)")
    parser.add_argument("--control", action="store_true",
                        help="for programs: print only 'URL <url>', take commands on standard input "
                             "(invalidate, counters, token NAME) and stop when it closes")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m linkahead.testing``."""
    parser = argparse.ArgumentParser(prog="python -m linkahead.testing", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    """True for "every interface" (0.0.0.0, ::, empty), which no certificate can name."""
    try:
        return not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _tls_context(host: str, folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for ``host`` and loopback, and the CA file to trust."""
    try:
        import trustme
    except ImportError:
        raise LinkAheadException(
            "--tls needs the trustme package, which makes the throw-away certificate authority: "
            "pip install trustme (or run without --tls)."
        ) from None
    names = ["127.0.0.1", "localhost", "::1"]
    if host not in names and not _is_wildcard(host):
        names.append(host)
    authority = trustme.CA(organization_name="LinkAhead test server")
    certificate = authority.issue_cert(*names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ca_file = folder / "linkahead-test-ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return context, ca_file


def _start(args: argparse.Namespace, ssl_context: ssl.SSLContext | None) -> LinkAheadTestServer:
    # No well-known default password: a server reachable by others (--host) must not let them in
    # with a password printed in every copy of this program.
    users = dict(args.users) if args.users else {name: secrets.token_urlsafe(12) for name in DEFAULT_USERS}
    port = args.port if args.port is not None else (DEFAULT_TLS_PORT if args.tls else DEFAULT_PORT)
    try:
        server = LinkAheadTestServer(users, anonymous=args.anonymous, session_timeout=args.session_timeout,
                                     root_path=args.root_path, ssl_context=ssl_context, host=args.host, port=port,
                                     max_body=getattr(args, "max_body", DEFAULT_MAX_BODY),
                                     idle_timeout=getattr(args, "idle_timeout", 60.0))
    except OSError as error:
        why = error.strerror or type(error).__name__
        raise LinkAheadException(
            f"Cannot listen on {args.host} port {port}: {why}. "
            "Choose another port with --port N (--port 0 picks a free one), or another IPv4 --host."
        ) from None
    return server.start()


def _banner(out: TextIO, server: LinkAheadTestServer, ca_file: Path | None) -> None:
    url = server.url
    first = next(iter(server.users))
    lines = [
        "LinkAhead test server (embedded; login protocol only, no entities)",
        "",
        f"URL:      {url}",
        "Users:    " + "\n          ".join(
            f"{name} (password {password}" + (", role administration)" if name == "admin" else ")")
            for name, password in server.users.items()),
        "Anonymous access: " + ("on (requests without a token are user anonymous)" if server.anonymous
                                else "off (--anonymous turns it on)"),
        f"Sessions end after {server.session_timeout:g} s without a request.",
    ]
    if ca_file is not None:
        lines.append(f"TLS certificate authority: {ca_file} (trust it with cacert; removed when the server stops)")
    lines += [
        "",
        "A pylinkahead.ini for it (it holds a password: save it, then chmod 600 pylinkahead.ini):",
        "",
        "    [Connection]",
        f"    url = {url}",
        f"    username = {first}",
        "    password_method = plain",
        f"    password = {server.users[first]}",
    ]
    if ca_file is not None:
        lines.append(f"    cacert = {ca_file}")
    token = server.make_token(first, one_time=True)
    lines += [
        "",
        f"A one-time token for {first} (one use, valid 7 days or until the server stops), for",
        "password_method = auth_token (replace password_method and password by this line):",
        "",
        f"    auth_token = {token}",
        "",
        "Each start prints a new one; tokens die with the server. With --control, the line",
        "'token NAME' on standard input prints another.",
        "",
        "Serving until Ctrl-C or SIGTERM.",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


def _control(server: LinkAheadTestServer, out: TextIO, stop: threading.Event, lock: threading.Lock) -> None:
    """Answer commands from standard input; stop the server when it closes."""

    def say(text: str) -> None:
        with lock:
            out.write(text + "\n")
            out.flush()

    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "invalidate":
            server.invalidate_sessions()
            say("INVALIDATED")
        elif command == "counters":
            say(f"COUNTERS {json.dumps(server.counters.__dict__)}")
        elif command == "token" and argument.strip() in server.users:
            say(f"TOKEN {server.make_token(argument.strip(), one_time=True)}")
        elif command == "token":
            say(f"UNKNOWN user {argument.strip()!r}: the users are {', '.join(server.users)}")
        elif command:
            say(f"UNKNOWN {command!r}: use 'invalidate', 'counters' or 'token NAME'")
    stop.set()


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Serve as ``args`` says (see :func:`add_arguments`) until SIGINT/SIGTERM; returns 0.

    Must run in the main thread (it handles the signals).

    :raises LinkAheadException: the port cannot be bound, or ``--tls`` without ``trustme``.
    """
    folder = Path(tempfile.mkdtemp(prefix="linkahead-test-server-"))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        ssl_context, ca_file = _tls_context(args.host, folder) if args.tls else (None, None)
        server = _start(args, ssl_context)
        try:
            if not _is_loopback(args.host):
                err.write(f"warning: listening on {args.host}: other machines can reach this server and "
                          "log in with the printed passwords.\n")
            lock = threading.Lock()
            if args.control:
                out.write(f"URL {server.url}\n")
                out.flush()
                threading.Thread(target=_control, args=(server, out, stop, lock), daemon=True).start()
            else:
                _banner(out, server, ca_file)
            # A bounded wait, so that the signal handler runs promptly on every platform.
            while not stop.wait(0.5):
                pass
            counters = server.counters
            with lock:
                if args.control:
                    out.write(f"COUNTERS {json.dumps(counters.__dict__)}\n")
                else:
                    out.write(f"\nStopped after {counters.requests} requests ({counters.logins} logins, "
                              f"{counters.one_time_logins} one-time token logins, {counters.rejected} rejected).\n")
                out.flush()
        finally:
            server.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m linkahead.testing``; returns the exit status (1: cannot serve, 2: usage)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args, sys.stdout, sys.stderr)
    except LinkAheadException as error:
        sys.stderr.write(f"python -m linkahead.testing: error: {error.msg}\n")
        return 1
