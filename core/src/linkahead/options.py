"""Option declarations: one value object per configuration key, with its converter.

The core declares its own options in :data:`CORE_OPTIONS`; a plugin declares its own through the
:func:`~linkahead.hookspecs.declare_options` hook. The same declarations drive validation, the
``linkahead-auth config`` output and the configuration reference in the docs.

A converter (``parse``) takes either the text from an ini file or a Python value from a keyword
argument and returns the typed value, or raises :class:`ValueError` with a sentence saying what
is accepted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit

from .redaction import hide_userinfo, quoted

__all__ = [
    "Option",
    "CORE_OPTIONS",
    "text",
    "boolean",
    "timeout",
    "url",
    "proxy_url",
    "path",
    "number",
    "optional_number",
    "argv",
    "session_cache",
    "ignored_proxy",
]

Parse = Callable[[Any], Any]


class Option(NamedTuple):
    """One configuration key.

    :param name: the key in ``[Connection]`` and the keyword argument name.
    :param help: one sentence for the docs and the CLI.
    :param parse: converts ini text or a Python value; raises :class:`ValueError` when invalid.
    :param default: the value when nobody sets the option.
    :param required: the connection cannot work without it (checked before any network call).
    :param secret: the value is shown as ``***`` everywhere.
    """

    name: str
    help: str
    parse: Parse = lambda value: value
    default: Any = None
    required: bool = False
    secret: bool = False


_NULL_WORDS = frozenset({"none", "null", ""})


def text(value: Any) -> str:
    """Any non-empty text on one line (no line break or NUL byte)."""
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    if not value.strip():
        raise ValueError("must not be empty")
    if "\n" in value or "\r" in value or "\0" in value:
        # The value is not repeated: it may be a password. An indented line after a key in an
        # ini file continues its value, which is how a line break usually gets in.
        raise ValueError("must be one line, without a line break or NUL byte (is the next line of "
                         "the ini file indented?)")
    if any("\ud800" <= c <= "\udfff" for c in value):
        # A lone surrogate cannot be encoded for the wire; found now, not in the first request's
        # UnicodeEncodeError (whose text would hold the whole value).
        raise ValueError("is not valid Unicode text: it contains a lone surrogate (a broken character, "
                         "often from a mis-decoded file or terminal); type the value again")
    return value


def boolean(value: Any) -> bool:
    """``true``/``false`` (also ``yes``/``no``, ``on``/``off``, ``1``/``0``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "yes", "on", "1"):
            return True
        if word in ("false", "no", "off", "0"):
            return False
    raise ValueError(f"expected true or false, got {quoted(value)}")


def number(value: Any) -> float:
    """A positive number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a positive number, got {value!r}")
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"expected a positive number, got {_short(value)}") from None
    if not result > 0 or result == float("inf"):
        raise ValueError(f"expected a positive number, got {_short(value)}")
    return result


def _cut(value_text: str, limit: int = 80) -> str:
    return value_text if len(value_text) <= limit else value_text[:limit] + "..."


def _short(value: Any) -> str:
    return quoted(value, limit=60)


def optional_number(value: Any) -> float | None:
    """A positive number of seconds, or ``None``/``null`` for no limit."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NULL_WORDS):
        return None
    return number(value)


def timeout(value: Any) -> float | tuple[float, float] | None:
    """Seconds as a number, a ``(connect, read)`` pair, or ``None``/``null`` for no time-out."""
    hint = "expected a number of seconds, a (connect, read) pair such as (3, 30), or null"
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.lower() in _NULL_WORDS:
            return None
        import ast  # only for ini text: keep it off the import path

        try:
            value = ast.literal_eval(stripped)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            # TypeError: a literal such as {[]: 1} that cannot be built.
            raise ValueError(f"{hint}; got {_short(stripped)}") from None
        if value is None:
            return None
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{hint}; got {_short(value)}")
        try:
            return (number(value[0]), number(value[1]))
        except ValueError:
            raise ValueError(f"{hint}; got {_short(value)}") from None
    try:
        return number(value)
    except ValueError:
        raise ValueError(f"{hint}; got {_short(value)}") from None


def url(value: Any) -> str:
    """An ``http://`` or ``https://`` URL with a host; a path is the server's root path."""
    value_text: str = text(value).strip()
    if "@" in value_text:
        # Checked first: with a password holding / # ? the parts below would be cut from it.
        raise ValueError(f"{quoted(value_text)} must not contain a user name or password (user:password@); "
                         "use the username option and a password method")
    parts = _split_url(value_text)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(
            f"{quoted(value_text)} has no http:// or https:// scheme; "
            f"write it like {_cut('https://' + value_text.split('://')[-1])}"
        )
    if not parts.hostname:
        raise ValueError(f"{quoted(value_text)} has no host name")
    if parts.query or parts.fragment:
        raise ValueError(f"{quoted(value_text)} must not have a query (?...) or fragment (#...)")
    return value_text


def proxy_url(value: Any) -> str | None:
    """A proxy URL (``http://``, ``socks4://``, ``socks4a://``, ``socks5://``, ``socks5h://``).

    ``None``/``null`` means "no proxy".
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in _NULL_WORDS):
        return None
    value_text: str = text(value).strip()
    shown = quoted(value_text)
    if "\\" in value_text:
        # urllib3 reads a backslash as the end of the host part (as browsers do), so the text
        # before it -- a piece of the password -- would show up as a "host" in its errors.
        raise ValueError(f"{shown} contains a backslash; percent-encode it as %5C (also in the password)")
    parts = _split_url(value_text)
    if parts.scheme.lower() not in ("http", "socks4", "socks4a", "socks5", "socks5h"):
        if parts.scheme.lower() == "https":
            raise ValueError(
                f"HTTPS proxies are not supported ({shown}); use http:// -- TLS still runs end to end"
            )
        raise ValueError(
            f"{shown} is not a proxy URL; expected http://host:port, socks4://host:port or socks5://host:port"
        )
    if not parts.hostname:
        raise ValueError(f"proxy URL {shown} has no host name")
    _check_proxy_userinfo(parts, shown)
    return value_text


def ignored_proxy(value: Any) -> str:
    """Text, kept with any password in it hidden (``user:***@host:1080``): the value is never used.

    The value of ``socket_proxy``, which the linkahead client's ini schema still lists as deprecated
    and its connection ignores.
    """
    return hide_userinfo(text(value).strip())


def _check_proxy_userinfo(parts: SplitResult, shown: str) -> None:
    """The proxy's user name and password must survive the trip into a ``Proxy-Authorization`` header.

    requests percent-decodes them and encodes the result as latin-1; anything else would fail
    in the first request with a ``UnicodeEncodeError`` holding the password.
    """
    for what, part in (("user name", parts.username), ("password", parts.password)):
        if not part:
            continue
        try:
            unquote(part, errors="strict").encode("latin-1")
            continue
        except UnicodeError:
            pass  # raised below, outside the except block: the encoder's error holds the value
        raise ValueError(
            f"the {what} in the proxy URL {shown} cannot be sent to the proxy: after percent-decoding "
            "it must be Latin-1 text (a %XX sequence that is not UTF-8, or a character beyond "
            "Latin-1). Percent-encode such characters as UTF-8, or change the proxy password"
        )


def _split_url(value_text: str) -> SplitResult:
    """``urlsplit`` that also checks the port and refuses blanks and control characters.

    urlsplit silently drops tabs and line breaks and keeps spaces, so such a URL would reach a
    server other than the one written down, or fail much later. The messages never quote
    urlsplit's own text: with a password holding ``/`` or ``#`` it names a piece of the password
    as the port or the host.
    """
    shown = quoted(value_text)
    delimiters = " The password in user:password@ must be percent-encoded (/ as %2F, # as %23, ? as %3F, " \
        "@ as %40, blank as %20)." if "@" in value_text else ""
    if any(c.isspace() or c < " " or c == "\x7f" for c in value_text):
        raise ValueError(f"{shown} contains a blank or a control character; percent-encode it or remove it."
                         f"{delimiters}".rstrip("."))
    # The errors are raised after the except blocks: urlsplit's error, which may hold a piece of
    # the password, must not stay attached as __context__.
    problem = ""
    try:
        parts = urlsplit(value_text)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        problem = "the port must be a number from 0 to 65535" if "://" in value_text and _parses(value_text) \
            else "check the brackets around an IPv6 address"
    if problem:
        raise ValueError(f"{shown} is not a valid URL: {problem}.{delimiters}".rstrip("."))
    return parts


def _parses(value_text: str) -> bool:
    try:
        urlsplit(value_text)
    except ValueError:
        return False
    return True


def path(value: Any) -> str:
    """A file system path; ``~`` is expanded."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return os.path.expanduser(text(value))


def argv(value: Any) -> list[str]:
    """A command: a list of arguments, or a string split like a POSIX shell would (no shell runs)."""
    if isinstance(value, str):
        import shlex  # only for commands given as text

        try:
            result = shlex.split(value)
        except ValueError as error:
            raise ValueError(f"cannot split the command {quoted(value)}: {error}") from None
    elif isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        result = list(value)
    else:
        raise ValueError("expected a command as a string or a list of strings")
    if not result:
        raise ValueError("the command is empty")
    return result


_STORE_OFF = frozenset({"none", "null", "off", "no", "false", "0", ""})


def session_cache(value: Any) -> str:
    """``auto``, ``none`` (also ``off``, ``false``, ``null``) or an absolute folder (``~`` expanded).

    The value of ``session_cache``: where the session store lives.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None or value is False:
        return "none"
    if not isinstance(value, str):
        raise ValueError(f"expected auto, none or a folder, got {type(value).__name__}")
    word = value.strip()
    if word.lower() in _STORE_OFF:
        return "none"
    if word.lower() == "auto":
        return "auto"
    if any(c in word for c in "\r\n\0"):
        raise ValueError("expected auto, none or a folder on one line")
    folder = os.path.expanduser(word)
    if not os.path.isabs(folder):
        # Processes started in other working directories must find the same store.
        raise ValueError(f"expected auto, none or an absolute folder (or one starting with ~), got {word!r}")
    return os.path.normpath(folder)


CORE_OPTIONS: tuple[Option, ...] = (
    Option("url", "The server's base URL, e.g. https://linkahead.example.org:10443/ (a root path is allowed).",
           url, required=True),
    Option("username", "The user name to log in with.", text),
    Option(
        "password_method",
        "Where credentials come from: the name of an installed password method (plain, input, pass, "
        "keyring, auth_token, unauthenticated, exec, ...); <distribution>:<method> chooses when two "
        "installed distributions provide the same name.",
        text,
        default="plain",
    ),
    Option("password", "The password, for password_method plain.", text, secret=True),
    Option("password_identifier", "The entry in the password store, for password_method pass.", text),
    Option("auth_token", "A LinkAhead authentication token; implies password_method auth_token.", text,
           secret=True),
    Option("timeout", "Seconds to wait for the server: a number, a (connect, read) pair, or null for none. "
           "A whole request, answer included, may take connect + read.", timeout, default=210.0),
    Option("max_decompressed_size",
           "Bytes a compressed (gzip, deflate) answer may expand to; null: no limit. Bounds a "
           "decompression bomb; uncompressed answers are not limited.", optional_number, default=float(1 << 30)),
    Option("max_compression_ratio",
           "How many times larger than on the wire a compressed answer may become (checked after its "
           "first MiB); null: no limit.", optional_number, default=100.0),
    Option("ssl_insecure", "Do not check the server's TLS certificate (dangerous; prints a warning).", boolean,
           default=False),
    Option("cacert", "A PEM file of certificate authorities to trust for the server's certificate.", path),
    Option("ssl_version", "Accepted for compatibility with the legacy client and ignored.", text),
    Option("socket_proxy", "Deprecated and ignored, as in the linkahead client (a DeprecationWarning says so); "
           "use https_proxy = socks5://host:port.", ignored_proxy),
    Option("https_proxy", "Proxy for https URLs (http://, socks4://, socks5://); null: none. Default: $HTTPS_PROXY.",
           proxy_url),
    Option("http_proxy", "Proxy for http URLs (http://, socks4://, socks5://); null: none. Default: $HTTP_PROXY.",
           proxy_url),
    Option("debug", "Log the connection's activity at DEBUG level (secrets are never logged).", boolean,
           default=False),
    Option("plugin_timeout",
           "Seconds the password method may take to supply credentials before the connection gives up "
           "(PluginError); null: no limit. Longer than the default timeout, so a plugin that bounds its "
           "own network calls by timeout reports its own error first. Not applied while standard input "
           "is a terminal, so a prompt can wait for its person.", optional_number, default=300.0),
    Option("session_cache",
           "Where sessions are shared with your other processes: auto ($XDG_RUNTIME_DIR/linkahead-sessions "
           "when that per-user folder exists, else ${TMPDIR:-/tmp}/linkahead-sessions-<uid>; the environment "
           "variable LINKAHEAD_SESSION_CACHE sets this default), none (each process logs in by itself), or "
           "an absolute folder of your own (created with mode 700).", session_cache, default="auto"),
)
"""The options every connection understands."""
