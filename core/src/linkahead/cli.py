"""The ``linkahead-auth`` command line tool.

Subcommands: ``methods``, ``status``, ``config``, ``login``, ``logout``, ``token``, ``demo``, ``serve``,
``doctor``. Exit codes:
0 success, 1 failure (the one error line says what and how to fix it), 2 usage error,
130 interrupted. ``-v`` logs at DEBUG level through a formatter that hides secrets and shows
tracebacks; without it no traceback is printed.

The ``--json`` shapes of ``methods``, ``status`` and ``config`` carry ``"format": 1`` and are
documented in ``docs/cli.rst``; keys are only ever added within a format version.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from linkahead_connection import __version__

from . import configuration, plugins
from .connection.connection import _Connection
from .demo import run_demo, who_am_i
from .exceptions import ConfigurationError, LinkAheadException
from .options import CORE_OPTIONS, Option
from .redaction import URL_PASSWORD, hide_userinfo, redact, redact_url_passwords
from .testing import serve

__all__ = ["main", "build_parser", "JSON_FORMAT", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED"]

PROG = "linkahead-auth"
JSON_FORMAT = 1
"""The version of the ``--json`` shapes; bumped only when a key changes meaning or disappears."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

logger = logging.getLogger("linkahead.cli")

# Cookie and header values are secrets wherever they turn up in a formatted log line.
_SECRET_PATTERNS = (
    re.compile(r"(SessionToken=)[^;\s'\"]+"),
    re.compile(r"((?:Authorization|Proxy-Authorization)['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n]+", re.IGNORECASE),
    re.compile(r"(password=)[^&\s'\"]+", re.IGNORECASE),
    URL_PASSWORD,  # a password inside a URL
)


class RedactingFormatter(logging.Formatter):
    """Formats records (tracebacks included) and replaces known secret values by ``***``.

    The core never logs a secret; this is the second line of defence for the CLI, which also
    prints tracebacks that may quote a careless plugin's exception text.
    """

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self.secrets: set[str] = set()

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def redact(self, text: str) -> str:
        text = redact(text, self.secrets)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(r"\1***", text)
        return redact_url_passwords(text)


class CliError(Exception):
    """A failure the CLI reports as one line, with exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# -- the parser ---------------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # The same options are accepted before and after the subcommand; on the subcommand they
    # default to SUPPRESS so that they do not overwrite a value given before it.
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection options (override pylinkahead.ini)")
    group.add_argument("--url", default=default(None), help="the server's base URL")
    group.add_argument("--username", default=default(None), help="the user name")
    group.add_argument("--method", dest="password_method", metavar="METHOD", default=default(None),
                       help="the password method (password_method), e.g. plain, input, pass, keyring")
    group.add_argument("--config", metavar="FILE", default=default(None),
                       help="read this configuration file (sets PYLINKAHEADINI for this process)")
    group.add_argument("-v", "--verbose", action="store_true", default=default(False),
                       help="log at DEBUG level to stderr (secrets hidden) and show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``linkahead-auth`` (also used to generate the CLI reference)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check and manage the connection to a LinkAhead server and its password methods.",
        epilog="Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted. "
               "Never put a password on the command line; use a password method.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} (linkahead-connection {__version__})")
    _add_common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, description: str, json_option: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description)
        _add_common(sub, suppress=True)
        if json_option:
            sub.add_argument("--json", action="store_true", help="print one JSON object (format documented)")
        return sub

    command("methods", "list the installed password methods",
            "List the installed password methods with their distribution, version and summary. Each "
            "plugin is imported to check it; one that fails is listed as broken with its error "
            "(exit code 1).", json_option=True)
    command("status", "show the configuration in use and check that authentication works",
            "Show which configuration file was read, the server, the password method and the shared "
            "session in the session store (for whom and until when; never the token), then "
            "authenticate and show the user, realm and roles the server reports. Exit code 0 when "
            "authenticated, 1 otherwise.", json_option=True)
    command("config", "show the effective [Connection] configuration and where each value came from",
            "Show every option of the effective configuration with its origin (default, file, "
            "environment, argument). Secret values are shown as ***.", json_option=True)
    command("login", "log in now and leave a session your other processes use",
            "Get credentials through the password method now (input: asks; keyring: asks when none "
            "is stored and stores the password once the server accepted it), log in, verify with the "
            "server and put the session into the session store, where later processes find it and "
            "use it without asking or decrypting anything until it expires.")
    command("logout", "end the shared session and let the password method forget what it keeps",
            "Log out at the server with the stored session (or this process's), remove it from the "
            "session store so that no later process uses it, and call the password method's forget "
            "hook, which drops what the method keeps (see the method's page; keyring, for example, "
            "deletes its stored password only with keyring_delete_on_logout = true).")
    command("token", "print the session token for curl, job scripts and workers on other hosts",
            "Print the current session token in the form that goes after 'Cookie: SessionToken=', "
            "logging in through the password method only when the session store holds no session "
            "(and checking it with the server, which renews it). This is a secret: it is printed "
            "only here, on standard output, and never logged. --json adds the expiry and the ready "
            "header. Use it with curl, or hand it to processes on other hosts as auth_token.",
            json_option=True)
    command("demo", "start the embedded server and log in with every installed method",
            "Start an embedded LinkAhead test server on loopback and log in once with every "
            "installed password method that can run without outside help. Your own "
            "configuration files are not read.")
    serve.add_arguments(commands.add_parser("serve", help="run the embedded test server until Ctrl-C",
                                            description=serve.DESCRIPTION))
    command("doctor", "show which implementation serves each module shared with the linkahead client, and why",
            "This distribution and the upstream linkahead client both install six modules of the "
            "package linkahead. Show, for each, whose copy is installed and which distributions "
            "claim it (uninstalling one of them deletes it). Exit code 1 when the copies are not "
            "this distribution's, with the command that repairs it.", json_option=True)
    return parser


# -- helpers ------------------------------------------------------------------------------------


def _connection_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, key) for key in ("url", "username", "password_method")
            if getattr(args, key, None) is not None}


def _searched_files() -> list[dict[str, Any]]:
    named = os.environ.get(configuration.ENV_INI)
    entries: list[dict[str, Any]] = []
    if named:
        path = Path(named).expanduser()
        entries.append({"path": str(path.absolute()), "exists": _exists(path), "source": configuration.ENV_INI})
    for candidate in configuration.config_file_candidates():
        entries.append({"path": str(candidate.absolute()), "exists": _exists(candidate), "source": "search"})
    return entries


def _exists(path: Path) -> bool | None:
    """Whether ``path`` is a file; ``None`` when a folder on the way cannot be searched (EACCES):
    :func:`~linkahead.configuration.find_config_file` then reports it as a ConfigurationError."""
    try:
        return path.is_file()
    except OSError:
        return None


def _config_file() -> dict[str, Any]:
    """The file that is read (``path`` absolute, or ``None``), why, and the places searched."""
    searched = _searched_files()
    found = configuration.find_config_file()  # raises for a missing $PYLINKAHEADINI
    if found is None:
        return {"path": None, "source": None, "searched": searched}
    source = configuration.ENV_INI if os.environ.get(configuration.ENV_INI) else "search"
    return {"path": str(found.absolute()), "source": source, "searched": searched}


def _check_url(kwargs: dict[str, Any], settings: configuration.RawSettings) -> None:
    if "url" in kwargs or settings.values.get("url"):
        return
    where = f"the [Connection] section of {settings.file}" if settings.file else "no configuration file was found"
    raise ConfigurationError(
        f"No server URL is configured ({where}). Pass --url https://host:port/ or add "
        "'url = ...' to [Connection] in pylinkahead.ini (see linkahead-auth config)."
    )


def _learn_secrets(formatter: RedactingFormatter, settings: configuration.RawSettings) -> None:
    """Teach the formatter the raw secrets before they are checked: a failing check may quote them."""
    for key, value in settings.values.items():
        if not isinstance(value, str) or not value:
            continue
        if key in ("password", "auth_token"):
            formatter.secrets.add(value)
        elif key.endswith("_proxy") and "@" in value:
            userinfo = value[value.find("://") + 3 if "://" in value else 0:value.rfind("@")]
            password = userinfo.partition(":")[2]
            formatter.secrets.update(part for part in (userinfo, password) if len(part) >= 4)


def _configure(args: argparse.Namespace, formatter: RedactingFormatter) -> _Connection:
    kwargs = _connection_kwargs(args)
    settings = configuration.collect(kwargs)
    _learn_secrets(formatter, settings)
    _check_url(kwargs, settings)
    connection = _Connection.get_instance().configure(**kwargs)
    config = connection.config
    formatter.secrets.update(str(config[key]) for key in config
                             if config.is_secret(key) and config[key] not in (None, ""))
    return connection


def _shown(value: Any) -> Any:
    """A raw, unchecked value for display: URL passwords hidden, cut to a sensible length."""
    if not isinstance(value, str):
        return value
    value = hide_userinfo(value)
    return value if len(value) <= 300 else value[:300] + "..."


def _method_info(method: plugins.Method) -> dict[str, Any]:
    return {"name": method.name, "distribution": method.distribution, "version": method.version}


def _method_text(info: dict[str, Any]) -> str:
    if info.get("distribution"):
        return f"{info['name']} ({info['distribution']} {info.get('version') or ''})".replace(" )", ")")
    return str(info["name"])


def _when(timestamp: float) -> str:
    """A moment as local time with its offset: ``2026-11-27 10:30:00 +0100``."""
    import datetime

    return datetime.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def _shared_text(shared: dict[str, Any]) -> str:
    """One line about the session store's entry (never the token)."""
    if shared["refused"]:
        return f"not used: {shared['refused']}"
    if shared["store"] is None:
        return f"off ({shared['reason']}); each process logs in by itself"
    if not shared["exists"]:
        return f"none yet (session store {shared['store']})"
    who = f"{shared['user'] or '?'} (realm {shared['realm'] or '?'})"
    state = "until" if shared["valid"] else "expired at"
    return f"{who} {state} {_when(shared['expires_at'])}, renewed while in use (session store {shared['store']})"


def _shared_json(shared: dict[str, Any]) -> dict[str, Any]:
    expires = shared["expires_at"]
    return {**shared, "expires": None if expires is None else _when(expires)}


def _error_info(error: BaseException, formatter: RedactingFormatter | None = None) -> dict[str, str]:
    message = _one_line(error)
    return {"type": type(error).__name__,
            "message": formatter.redact(message) if formatter is not None else redact_url_passwords(message)}


# Advice the core words for Python callers, and what it means at the shell.
_CLI_ADVICE = (
    ("and configure the connection again.", "and run the command again (pylinkahead.ini or the options)."),
    ("Get a new token and configure the connection again.",
     "Get a new token, put it into auth_token in pylinkahead.ini, and run the command again."),
    ("call linkahead.configure_connection().", "give --url or write a pylinkahead.ini (see linkahead-auth config)."),
)


def _one_line(error: BaseException) -> str:
    text = " ".join((error.msg if isinstance(error, LinkAheadException) else str(error)).split())
    for python, shell in _CLI_ADVICE:
        text = text.replace(python, shell)
    return text


def _print_json(out: TextIO, data: dict[str, Any]) -> None:
    out.write(json.dumps({"format": JSON_FORMAT, **data}, indent=2, default=_json_default) + "\n")


def _json_default(value: object) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _table(out: TextIO, rows: Iterable[Sequence[str]], indent: str = "  ") -> None:
    rows = [list(row) for row in rows]
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        out.write((indent + "  ".join(cells)).rstrip() + "\n")


# -- methods ------------------------------------------------------------------------------------


def describe_methods(check: bool = True) -> list[dict[str, Any]]:
    """Every installed method from entry-point metadata; with ``check``, each is also imported.

    Reading the metadata imports nothing; the check loads each plugin and records a failure as
    ``status: broken`` with the error text instead of raising. A method name registered by
    several distributions is listed once per distribution, each with ``"select":
    "<distribution>:<method>"``, the ``password_method`` value that chooses it.
    """
    described = []
    installed = plugins.installed_methods()
    providers = [(name, entry_point) for name in sorted(installed)
                 for entry_point in (installed.ambiguous(name) or [installed[name]])]
    for name, entry_point in providers:
        dist = entry_point.dist
        summary = None
        if dist is not None:
            summary = (dist.metadata.get_all("Summary") or [None])[0]
        item: dict[str, Any] = {
            "name": name,
            "distribution": dist.name if dist is not None else None,
            "version": dist.version if dist is not None else None,
            "summary": summary,
            "entry_point": entry_point.value,
            "status": "unchecked",
            "error": None,
            "options": None,
            "select": None,
        }
        if installed.ambiguous(name):
            item["select"] = f"{item['distribution']}:{name}"
        if check:
            try:
                method = plugins.load_method(item["select"] or name, installed)
                item["options"] = [option.name for option in method.options()]
                item["status"] = "ok"
            except LinkAheadException as error:
                item["status"] = "broken"
                item["error"] = _one_line(error)
        described.append(item)
    return described


def _shadowed() -> list[dict[str, Any]]:
    # Two distributions publishing the same method name: the connection refuses to choose until
    # password_method names one as <distribution>:<method>.
    installed = plugins.installed_methods()
    shadowed = []
    for name in sorted(installed.providers):
        first, *others = installed.ambiguous(name) or [installed[name]]
        for entry_point in others:
            shadowed.append({
                "name": name,
                "distribution": entry_point.dist.name if entry_point.dist else None,
                "used": None,
                "also": first.dist.name if first.dist else None,
            })
    return shadowed


def describe_upstream_style(installed: Iterable[str]) -> list[dict[str, Any]]:
    """The upstream-style modules in ``linkahead.connection.authentication`` (none imported).

    ``"bridged"`` tells whether ``password_method = <name>`` reaches the module: not when an entry
    point has the name (``"shadowed_by"``: entry points win) nor for upstream's own modules, which
    this project's plugins replace.
    """
    from . import legacy_auth

    names = set(installed)
    described = []
    for name, file in sorted(legacy_auth.module_names().items()):
        if name in legacy_auth.UPSTREAM_OWN:
            reason = f"upstream's own; replaced by the plugin linkahead-auth-{name.replace('_', '-')}"
        elif name in names:
            reason = "an installed plugin has this name, and plugins win"
        else:
            reason = None
        described.append({"name": name, "module": f"{legacy_auth.PACKAGE}.{name}", "file": file,
                          "bridged": reason is None, "not_bridged_because": reason})
    return described


def cmd_methods(args: argparse.Namespace, out: TextIO, formatter: RedactingFormatter) -> int:
    described = describe_methods(check=True)
    shadowed = _shadowed()
    upstream_style = describe_upstream_style(item["name"] for item in described)
    broken = [item for item in described if item["status"] == "broken"]
    if args.json:
        _print_json(out, {"methods": described, "shadowed": shadowed, "upstream_style": upstream_style})
        return EXIT_FAILURE if broken else EXIT_OK
    if not described:
        out.write("No password methods are installed. Install the standard ones: "
                  "pip install 'linkahead-connection[standard]'\n")
        return EXIT_FAILURE
    out.write("Installed password methods:\n")
    _table(out, [(item["name"], item["distribution"] or "?", item["version"] or "?", item["summary"] or "")
                 for item in described if item["status"] == "ok"])
    if broken:
        out.write("\nBroken password methods (they cannot be used):\n")
        for item in broken:
            out.write(f"  {item['name']} ({item['distribution'] or '?'} {item['version'] or '?'}): {item['error']}\n")
    for item in shadowed:
        out.write(f"\nNote: {item['also']} and {item['distribution']} both provide {item['name']!r}; the "
                  f"connection refuses to choose. Set password_method = <distribution>:{item['name']} to "
                  "select one, or uninstall the one you do not trust.\n")
    bridged = [item for item in upstream_style if item["bridged"]]
    if bridged:
        out.write("\nUpstream-style password methods (modules in linkahead.connection.authentication, used "
                  "through a bridge; deprecated, see the plugin guide):\n")
        _table(out, [(item["name"], item["module"], item["file"], "") for item in bridged])
    return EXIT_FAILURE if broken else EXIT_OK


# -- status -------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, out: TextIO, formatter: RedactingFormatter) -> int:
    report: dict[str, Any] = {
        "ok": False, "config_file": None, "config_source": None, "searched": [], "url": None,
        "username": None, "method": None, "session": None, "user": None, "error": None,
    }
    try:
        file_info = _config_file()
        report.update(config_file=file_info["path"], config_source=file_info["source"],
                      searched=file_info["searched"])
        settings = configuration.collect(_connection_kwargs(args))
        report.update(url=_shown(settings.values.get("url")), username=_shown(settings.values.get("username")),
                      method={"name": _shown(str(settings.method)), "distribution": None, "version": None})
        connection = _configure(args, formatter)
        config = connection.config
        report.update(url=config["url"], username=config.get("username"), method=_method_info(connection.method))
        report["session"] = _shared_json(connection.auth.shared_session())  # before a login may store one
        if _one_time_token(connection) and not args.json:
            out.write("Note: auth_token is a one-time token; this check logs in with it and so uses it up. "
                      "Get a new one for the next program (linkahead-auth login shares the session instead).\n")
            out.flush()
        report["user"] = who_am_i(connection)
        report["ok"] = True
    except LinkAheadException as error:
        logger.debug("status failed", exc_info=True)
        report["error"] = _error_info(error, formatter)
    if args.json:
        _print_json(out, report)
        return EXIT_OK if report["ok"] else EXIT_FAILURE
    _status_text(out, report)
    return EXIT_OK if report["ok"] else EXIT_FAILURE


def _one_time_token(connection: _Connection) -> bool:
    """Whether the connection logs in with a one-time token (which its first login uses up)."""
    from .tokens import parse_token

    token = connection.config.get("auth_token") if connection.method.name == "auth_token" else None
    if not isinstance(token, str) or not token:
        return False
    try:
        return parse_token(token).kind == "O"
    except ValueError:
        return False


def _status_text(out: TextIO, report: dict[str, Any]) -> None:
    if report["config_file"]:
        via = f" (from ${configuration.ENV_INI})" if report["config_source"] == configuration.ENV_INI else ""
        out.write(f"Configuration file: {report['config_file']}{via}\n")
    else:
        out.write("Configuration file: none found; searched:\n")
        for entry in report["searched"]:
            out.write(f"  {entry['path']}\n")
    out.write(f"Server:             {report['url'] or '(not configured)'}\n")
    if report["method"]:
        out.write(f"Password method:    {_method_text(report['method'])}\n")
    if report["username"]:
        out.write(f"User name:          {report['username']}\n")
    if report["session"]:
        out.write(f"Shared session:     {_shared_text(report['session'])}\n")
    user = report["user"]
    if report["ok"] and user is not None:
        roles = ", ".join(user["roles"]) or "none"
        out.write(f"OK: authenticated as {user['username']} (realm {user['realm']}, roles: {roles})\n")
    else:
        error = report["error"] or {"message": "unknown error"}
        out.write(f"FAILED: {error['message']}\n")


# -- config -------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if value is None or isinstance(value, (str, int, float, bool, list)):
        return value
    return str(value)


def _text_value(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return "(" + ", ".join(_text_value(item) for item in value) + ")"
    return str(value)


def config_entries(config: configuration.ConnectionConfig) -> list[dict[str, Any]]:
    """Every option of ``config``: name, value (secrets ``***``), origin and flags.

    Keys kept for other installed methods (``keyring_service`` while ``plain`` is selected) are
    marked ``ignored`` and their values are not shown: this method does not say whether they are
    secret.
    """
    entries = []
    declared = config.options
    order = {name: index for index, name in enumerate(declared)}
    for key in sorted(config, key=lambda name: (order.get(name, len(order)), name)):
        value = config[key]
        entry: dict[str, Any] = {"name": key, "origin": config.origin(key), "secret": config.is_secret(key),
                                 "ignored": key not in declared}
        if entry["ignored"]:
            entry["value"] = None if value is None else "***"
        elif entry["secret"] and value is not None:
            entry["value"] = "***"
        else:
            entry["value"] = _json_value(value)
            if isinstance(entry["value"], str):
                # A proxy URL shows its user name, never its password.
                entry["value"] = hide_userinfo(entry["value"])
        entry["text"] = "***" if entry["value"] == "***" else hide_userinfo(_text_value(value))
        entries.append(entry)
    return entries


def _declared(options: Iterable[Option]) -> dict[str, Option]:
    # As configuration.validate merges them: a repeated option wins only when it makes one required.
    declared: dict[str, Option] = {}
    for option in options:
        if option.name not in declared or option.required:
            declared[option.name] = option
    return declared


def diagnose_config(kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The method and every option row of a configuration that does not validate, each with its problem.

    Unlike :func:`~linkahead.configure_connection`, which stops at the first problem, this checks
    every value, so ``linkahead-auth config`` can mark all bad rows at once. An entry is shaped as
    in :func:`config_entries`, plus ``error``: ``None`` or one line saying what is wrong.

    :raises LinkAheadException: the configuration file cannot be found or read (no table possible).
    """
    settings = configuration.collect(kwargs)
    installed = plugins.installed_methods()
    problems: dict[str, str] = {}
    method_name = str(settings.method)
    method_info: dict[str, Any] = {"name": method_name, "distribution": None, "version": None}
    options: list[Option] = list(CORE_OPTIONS)
    try:
        method = plugins.load_method(settings.method, installed)
        method_info = _method_info(method)
        method_name = method.name
        options += method.options()
    except LinkAheadException as error:
        problems["password_method"] = _one_line(error)
    declared = _declared(options)
    prefixes = tuple({name.replace("-", "_") + "_" for name in (*installed, *plugins.STANDARD_METHODS, method_name)})
    entries = []
    names = list(declared) + sorted(key for key in settings.values if key not in declared)
    for key in names:
        raw = settings.values.get(key)
        origin = settings.origins.get(key, configuration.DEFAULT)
        option = declared.get(key)
        entry: dict[str, Any] = {"name": key, "origin": origin, "secret": bool(option and option.secret),
                                 "ignored": option is None, "error": problems.get(key)}
        value: Any = raw
        if option is None:
            value = None if raw is None else "***"
            if not key.startswith(prefixes):
                close = difflib.get_close_matches(key, list(declared), n=1, cutoff=0.6)
                entry["ignored"] = False
                entry["error"] = "unknown option" + (f"; did you mean {close[0]!r}?" if close else "")
        elif key == "password_method":
            value = method_name
        elif raw is not None:
            try:
                value = option.parse(raw)
            except ValueError as error:
                entry["error"] = "invalid value" if option.secret else f"invalid: {_one_line(error)}"
        if option is not None and option.required and raw is None:
            entry["error"] = f"required for password_method {method_name!r}, not set"
        if (entry["secret"] and value is not None) or entry["ignored"]:
            entry["value"] = None if value is None else "***"
        else:
            entry["value"] = _json_value(value)
        entry["text"] = "***" if entry["value"] == "***" else hide_userinfo(_text_value(value))
        if isinstance(entry["value"], str):
            entry["value"] = hide_userinfo(entry["value"])
        if entry["error"]:
            entry["error"] = redact_url_passwords(entry["error"])
        entries.append(entry)
    return method_info, entries


def cmd_config(args: argparse.Namespace, out: TextIO, formatter: RedactingFormatter) -> int:
    report: dict[str, Any] = {"ok": False, "config_file": None, "method": None, "options": {}, "error": None}
    entries: list[dict[str, Any]] = []
    keys: tuple[str, ...] = ("value", "origin", "secret", "ignored")
    try:
        report["config_file"] = _config_file()["path"]
        connection = _configure(args, formatter)
        report["method"] = _method_info(connection.method)
        entries = config_entries(connection.config)
        report["ok"] = True
    except LinkAheadException as error:
        logger.debug("config failed", exc_info=True)
        report["error"] = _error_info(error, formatter)
        # Still show the table, every bad row marked: this is the command people run when stuck.
        try:
            report["method"], entries = diagnose_config(_connection_kwargs(args))
            keys = (*keys, "error")
        except LinkAheadException:
            logger.debug("the configuration cannot be read", exc_info=True)
    report["options"] = {entry["name"]: {key: entry[key] for key in keys} for entry in entries}
    if args.json:
        _print_json(out, report)
        return EXIT_OK if report["ok"] else EXIT_FAILURE
    if not entries:
        raise CliError(report["error"]["message"])
    out.write(f"Configuration file: {report['config_file'] or 'none'}\n")
    out.write(f"Password method:    {_method_text(report['method'])}\n\n")
    header: tuple[str, ...] = ("option", "value", "origin")
    rows = [header if report["ok"] else (*header, "problem")]
    for entry in entries:
        origin = entry["origin"] + (" (ignored: for another method)" if entry["ignored"] else "")
        row: tuple[str, ...] = (entry["name"], entry["text"], origin)
        rows.append(row if report["ok"] else (*row, f"<- {entry['error']}" if entry.get("error") else ""))
    _table(out, rows, indent="")
    if report["ok"]:
        return EXIT_OK
    out.flush()
    marked = sum(1 for entry in entries if entry.get("error"))
    more = f" ({marked} problems marked in the table above)" if marked > 1 else ""
    raise CliError(report["error"]["message"] + more)


# -- login / logout -----------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace, out: TextIO, formatter: RedactingFormatter) -> int:
    connection = _configure(args, formatter)
    connection.auth.login()
    who = who_am_i(connection)
    roles = ", ".join(who["roles"]) or "none"
    out.write(f"Logged in to {connection.config['url']} as {who['username']} (realm {who['realm']}, "
              f"roles: {roles}) with password method {_method_text(_method_info(connection.method))}.\n")
    shared = connection.auth.shared_session()
    if shared["exists"] and shared["valid"] and shared.get("ours"):
        out.write(f"Your other processes use this session without logging in until {_when(shared['expires_at'])} "
                  f"(renewed while in use; session store {shared['store']}). End it with: {PROG} logout\n")
    else:
        out.write(f"The session is not shared: {shared['refused'] or shared['reason']}. "
                  "Each process logs in by itself (see session_cache).\n")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace, out: TextIO, formatter: RedactingFormatter) -> int:
    connection = _configure(args, formatter)
    method = connection.method
    store = connection.auth.shared_session()["store"]
    had_session = connection.auth.logout()
    forgets = method.implements("forget")
    method.forget(connection.config)
    url = connection.config["url"]
    if had_session:
        shared = f"; the shared session is gone from the session store {store}" if store else ""
        out.write(f"Logged out at {url}{shared}.\n")
    elif store:
        out.write(f"No session to end: the session store {store} holds none for {url}.\n")
    if forgets:
        out.write(_forgot_text(method.name, connection.config, url))
    elif method.name in _KEEP_NOTHING:
        out.write(f"Password method {method.name!r} keeps nothing to forget "
                  "(its credentials come from the configuration, a prompt or the password store).\n")
    else:
        # Without the hook we cannot know what the method keeps; do not claim it keeps nothing.
        out.write(f"Password method {method.name!r} has no forget hook: whatever it may keep for {url} "
                  "was left as it is.\n")
    return EXIT_OK


def cmd_token(args: argparse.Namespace, out: TextIO, formatter: RedactingFormatter) -> int:
    """The session token, for tools outside Python (issue 20); prior art: ``gh auth token``."""
    connection = _configure(args, formatter)
    user = who_am_i(connection)  # authenticates (store first, login if needed) and renews the session
    state = connection.auth.state
    token = state.token
    if not token:
        raise CliError(
            f"The password method {connection.method.name!r} gives this connection no session token "
            "(it sends no credentials, or request headers of a sign-on front end), so there is nothing "
            "to hand to other tools."
        )
    formatter.secrets.add(token)  # whatever is logged from here on
    if args.json:
        expires_at = None if state.expires_at == float("inf") else state.expires_at
        _print_json(out, {
            "url": connection.config["url"], "user": user["username"], "realm": user["realm"],
            "token": token, "cookie": f"SessionToken={token}", "header": f"Cookie: SessionToken={token}",
            "expires_at": expires_at, "expires": None if expires_at is None else _when(expires_at),
            "renewed_while_in_use": True,
        })
    else:
        out.write(token + "\n")
    return EXIT_OK


def _forgot_text(name: str, config: Any, url: str) -> str:
    """What the forget hook of a standard method did, in plain words; a general line for others."""
    if name == "keyring":
        user = config.get("username")
        if config.get("keyring_delete_on_logout"):
            return f"Deleted the password of {user} at {url} from the keyring (keyring_delete_on_logout).\n"
        return (f"The password of {user} at {url} stays in the keyring: logging out is not forgetting "
                "(keyring_delete_on_logout = true deletes it at logout).\n")
    if name == "exec":
        return ("Password method 'exec' keeps its command's answer only inside one process: this command's "
                "copy is dropped, the next process runs the command again.\n")
    return f"Password method {name!r} was told to forget what it keeps for {url} (its forget hook ran).\n"


# Standard methods without a forget hook because they hold nothing between processes.
_KEEP_NOTHING = frozenset({"plain", "input", "pass", "auth_token", "unauthenticated"})


def cmd_demo(args: argparse.Namespace, out: TextIO, formatter: RedactingFormatter) -> int:
    only = [args.password_method] if args.password_method else None
    return run_demo(out, only=only)


def cmd_serve(args: argparse.Namespace, out: TextIO, formatter: RedactingFormatter) -> int:
    return serve.run(args, out, sys.stderr)
def cmd_doctor(args: argparse.Namespace, out: TextIO, formatter: RedactingFormatter) -> int:
    from linkahead_connection import doctor

    if args.json:
        data = doctor.as_json()
        _print_json(out, data)
        return EXIT_OK if data["ok"] else EXIT_FAILURE
    out.write("\n".join(doctor.report()) + "\n")
    return EXIT_OK if not doctor.problems() else EXIT_FAILURE


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, RedactingFormatter], int]] = {
    "methods": cmd_methods,
    "status": cmd_status,
    "config": cmd_config,
    "login": cmd_login,
    "logout": cmd_logout,
    "token": cmd_token,
    "demo": cmd_demo,
    "serve": cmd_serve,
    "doctor": cmd_doctor,
}


# -- main ---------------------------------------------------------------------------------------


def _setup_logging(verbose: bool) -> tuple[RedactingFormatter, logging.Handler]:
    formatter = RedactingFormatter("%(levelname)s %(name)s: %(message)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    package_logger = logging.getLogger("linkahead")
    package_logger.addHandler(handler)
    # The ini option debug = true raises the level later; our handler then prints, redacted.
    package_logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    return formatter, handler


def _private_copy(parser: argparse.ArgumentParser, source: Path) -> Path:
    """Read a pipe or device (``--config <(pass show linkahead-ini)``) once into a file only the
    user can read, removed when the command ends: the configuration is read more than once."""
    import atexit
    import shutil
    import tempfile

    try:
        data = source.read_bytes()
    except OSError as error:
        parser.error(f"--config {source}: cannot be read ({error.strerror})")
    folder = Path(tempfile.mkdtemp(prefix="linkahead-auth-config-"))  # mode 0700
    atexit.register(shutil.rmtree, folder, True)
    copy = folder / "pylinkahead.ini"
    descriptor = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return copy


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``linkahead-auth``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is not None:
        config_path = Path(args.config).expanduser()
        if not config_path.is_file():
            if not config_path.exists():
                parser.error(f"--config {args.config}: no such file")
            config_path = _private_copy(parser, config_path)  # a pipe: --config <(...)
        os.environ[configuration.ENV_INI] = str(config_path)
        configuration._reset_config()  # read the file named here, not one read before
    formatter, handler = _setup_logging(args.verbose)

    def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                     file: TextIO | None = None, line: str | None = None) -> None:
        # One line like the errors; Python's default format quotes a source line of this script.
        sys.stderr.write(f"{PROG}: warning: {formatter.redact(str(message))}\n")

    warnings.showwarning = show_warning
    try:
        code = COMMANDS[args.command](args, sys.stdout, formatter)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except (LinkAheadException, CliError) as error:
        logger.debug("%s failed", args.command, exc_info=True)
        code = error.code if isinstance(error, CliError) else EXIT_FAILURE
        sys.stderr.write(f"{PROG}: error: {formatter.redact(_one_line(error))}\n")
        return code
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_FAILURE
    except Exception as error:  # the last line of defence: one line, no traceback unless -v
        logger.debug("%s crashed", args.command, exc_info=True)
        sys.stderr.write(
            f"{PROG}: internal error: {type(error).__name__} in {args.command}. This is a bug; "
            "run again with -v for the traceback and report it.\n"
        )
        return EXIT_FAILURE
    finally:
        logging.getLogger("linkahead").removeHandler(handler)
        _Connection.get_instance().close()
