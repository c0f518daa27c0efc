"""Finding, reading, merging and checking the connection configuration.

Priority, lowest to highest: option defaults, the ``[Connection]`` section of the first
``pylinkahead.ini`` found (see :func:`config_file_candidates`), the keyword arguments of
:func:`~linkahead.configure_connection`. For ``https_proxy``/``http_proxy`` the environment
variables ``HTTPS_PROXY``/``HTTP_PROXY`` fill in when neither the file nor the arguments set them.

The file is read once per process into :func:`get_config`, a :class:`~configparser.ConfigParser`
holding every section, as the ``linkahead`` client does: other tools keep their settings in their
own sections (``[Container]``, ``[caoscrawler]``, ...), and values changed there are seen by the
next :func:`~linkahead.configure_connection`. :func:`configure` reads one more file on top;
:func:`_reset_config` makes the next use read the file again.

A file whose ``[Connection]`` section holds a secret (``password``, ``auth_token``) and that other
users may read gets an :class:`InsecureConfigFileWarning`, as ssh warns about a readable key.
"""

# Upstream linkahead ships a module of this name: the wheel carries this file under
# linkahead_connection/shared/ and the import hook serves it (see linkahead_connection/hook.py).

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config_trust import check_config_file
from .exceptions import ConfigurationError
from .options import CORE_OPTIONS, Option
from .redaction import quoted, redact

if TYPE_CHECKING:  # imported where used: a process without a configuration file never needs it
    import configparser

__all__ = [
    "get_config",
    "configure",
    "config_to_yaml",
    "validate_yaml_schema",
    "InsecureConfigFileWarning",
    "ConnectionConfig",
    "RawSettings",
    "config_file_candidates",
    "find_config_file",
    "read_connection_section",
    "collect",
    "validate",
]

SECTION = "Connection"
ENV_INI = "PYLINKAHEADINI"
ENV_SESSION_CACHE = "LINKAHEAD_SESSION_CACHE"
DEFAULT = "default"
ARGUMENT = "argument"

# Keyword arguments that are not ini options: they configure the process, not the server.
KWARG_ONLY = frozenset({"implementation"})

_SECRET_KEYS = frozenset(option.name for option in CORE_OPTIONS if option.secret)


class InsecureConfigFileWarning(UserWarning):
    """The configuration file holds a ``password`` or ``auth_token`` and other users may read it.

    Issued by :func:`collect` (so by every :func:`~linkahead.configure_connection` reading such a
    file) when the file's mode gives the group or others any permission (``mode & 0o077``). The
    message names the file and the fix, ``chmod 600 <file>``; it never shows the secret.
    """


def config_file_candidates() -> list[Path]:
    """The places searched for ``pylinkahead.ini``, in order (the legacy client's order).

    ``$PYLINKAHEADINI`` is not included; :func:`find_config_file` handles it first.
    """
    home = Path.home()
    candidates = [Path("pylinkahead.ini"), Path(".pylinkahead.ini")]
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        candidates.append(Path(xdg) / "linkahead" / "pylinkahead.ini")
    candidates.append(home / ".config" / "linkahead" / "pylinkahead.ini")
    candidates.append(home / ".pylinkahead.ini")
    return candidates


def find_config_file() -> Path | None:
    """Return the configuration file to read, or ``None`` when there is none.

    :raises ConfigurationError: ``$PYLINKAHEADINI`` names a file that does not exist, or a
        folder on the search path cannot be searched (its permissions forbid it).
    """
    named = os.environ.get(ENV_INI)
    if named:
        path = Path(named).expanduser()
        if not _is_file(path):
            raise ConfigurationError(
                f"{ENV_INI} names the configuration file {str(path)!r}, which does not exist. "
                f"Create it, or unset {ENV_INI} to use the usual locations."
            )
        return path
    for candidate in config_file_candidates():
        if _is_file(candidate):
            return candidate
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError as error:  # EACCES on a folder of the path: we cannot tell whether the file is there
        raise ConfigurationError(
            f"Cannot look for the configuration file {str(path)!r}: {error.strerror or type(error).__name__}. "
            f"Give yourself access to its folder (chmod u+rx {str(path.parent)!r}) or set {ENV_INI} "
            "to the file to use."
        ) from None


# -- the configuration file as the linkahead client exposes it -----------------------------------
#
# Upstream's data layer and the tools built on it (caoscrawler, caosadvancedtools) read *all*
# sections of the file through get_config(), and some change values there before calling
# configure_connection(). So, as upstream does, the file is read once into one ConfigParser per
# process; configure_connection() takes its [Connection] section from that parser.

_config_lock = threading.RLock()
if hasattr(os, "register_at_fork"):  # a forked child never waits for a lock a parent's thread held
    os.register_at_fork(after_in_child=lambda: globals().update(_config_lock=threading.RLock()))
_pycaosdbconf: configparser.ConfigParser | None = None
# The files read into the parser, each with the keys its [Connection] section set (for origins).
_files_read: list[tuple[Path, frozenset[str]]] = []


def _new_parser() -> configparser.ConfigParser:
    # Upstream's parser: BasicInterpolation, so "a%%b" means "a%b" in every section.
    import configparser

    return configparser.ConfigParser(allow_no_value=False)


def _reset_config() -> None:
    """Forget what was read: the next :func:`get_config` reads the configuration file again."""
    global _pycaosdbconf
    with _config_lock:
        _pycaosdbconf = None
        _files_read.clear()


def get_config() -> configparser.ConfigParser:
    """The configuration as a :class:`configparser.ConfigParser` holding every section of the file.

    Read on first use from the file :func:`find_config_file` finds (the same object is returned
    until :func:`_reset_config`; while no file has been found and nothing set, each use looks
    again). Other tools keep their settings in their own sections
    (``[caoscrawler]``, ``[advancedtools]``, ...) and read them here; values changed here are
    seen by the next :func:`~linkahead.configure_connection`.

    :raises ConfigurationError: the file cannot be read or is not valid INI.
    """
    with _config_lock:
        if _pycaosdbconf is None or _nothing_read(_pycaosdbconf):
            _read_config_files()
        assert _pycaosdbconf is not None
        return _pycaosdbconf


def _nothing_read(parser: configparser.ConfigParser) -> bool:
    # No file was found last time and nobody set a value since: look again, so that a file
    # written after the first use (a notebook's first cell failed, a test wrote it) is found.
    return not _files_read and not parser.sections() and not parser.defaults()


def configure(inifile: str | os.PathLike[str]) -> list[str]:
    """Read ``inifile`` into the configuration (on top of what was read before).

    A file that does not exist is skipped, as :meth:`configparser.ConfigParser.read` does.

    :returns: the files read (``[]`` or ``[inifile]``).
    :raises ConfigurationError: the file cannot be read or is not valid INI; the message names
        the file and the line, never a value.
    """
    path = Path(inifile).expanduser()
    with _config_lock:
        if _pycaosdbconf is None:
            _read_config_files()  # what upstream reads at import comes first
        assert _pycaosdbconf is not None
        if not _is_file(path):
            return []
        single, text = _parse_file(path)  # checked alone, with our messages, before it is merged
        _pycaosdbconf.read_string(text, source=str(path))
        keys = frozenset(single.options(SECTION)) if single.has_section(SECTION) else frozenset()
        _files_read.append((path, keys))
        secrets = sorted(key for key in _SECRET_KEYS if key in keys and single.get(SECTION, key, raw=True).strip())
    if secrets:
        _warn_if_readable_by_others(path, secrets)
    return [str(inifile)]


def _read_config_files() -> list[str]:
    """Read the first configuration file found (see :func:`find_config_file`) into a fresh configuration.

    :returns: the files read (``[]`` when there is none).
    """
    global _pycaosdbconf
    with _config_lock:
        _reset_config()
        _pycaosdbconf = _new_parser()
        try:
            path = find_config_file()
            return configure(path) if path is not None else []
        except BaseException:
            _reset_config()  # a broken file is reported again on the next use, not taken as empty
            raise


def config_to_yaml(config: configparser.ConfigParser) -> dict[str, dict[str, Any]]:
    """Every section and option of ``config`` as nested dicts, with upstream's value types.

    ``debug`` becomes an int, ``timeout`` an int, a tuple or ``None``, ``ssl_insecure`` and the
    ``smtp_*`` switches booleans, ``smtp_port`` an int, ``smtp_timeout`` a float, the e-mail
    address lists lists; everything else stays text.

    :raises ValueError: a value does not convert.
    """
    converted: dict[str, dict[str, Any]] = {}
    for section in config.sections():
        converted[section] = {key: _yaml_value(config, section, key) for key in config[section]}
    return converted


_BOOLEAN_KEYS = frozenset({"ssl_insecure", "smtp_tls", "smtp_tls_verify", "smtp_tls_check_hostname", "smtp_starttls"})
_LIST_KEYS = frozenset({"smtp_auth_no_tls_servers", "bcc_append"})


def _yaml_value(config: configparser.ConfigParser, section: str, key: str) -> Any:
    value = _section_value(config, key, section)
    if key == "debug" or key == "smtp_port":
        return int(value)
    if key == "timeout":
        compact = "".join(value.split())
        if compact.lower() in ("none", "null"):
            return None
        if compact.startswith("(") and compact.endswith(")"):
            return tuple(None if part.lower() in ("none", "null") else int(part) for part in compact[1:-1].split(","))
        return int(compact)
    if key in _BOOLEAN_KEYS:
        if value.lower() not in config.BOOLEAN_STATES:
            raise ValueError(f"[{section}] {key} is not a boolean (yes/no, true/false, on/off, 1/0)")
        return config.BOOLEAN_STATES[value.lower()]
    if key == "smtp_timeout":
        return float(value)
    if key in _LIST_KEYS:
        return [item.strip() for item in value.split(",")]
    return value


def validate_yaml_schema(valobj: Mapping[str, Any]) -> None:
    """Check ``valobj`` (from :func:`config_to_yaml`) against upstream's schema, where it can.

    The schema file ships with the upstream ``linkahead`` distribution and the check needs
    ``jsonschema``; without either this does nothing. The connection does not need it: its own
    options are checked by :func:`validate` with messages that name the option and the fix.
    """
    # Upstream's file lies in upstream's folder of the package, not beside this module (which the
    # import hook serves from this distribution's own folder).
    package = sys.modules.get(__package__ or "linkahead")
    candidates = [Path(folder, "schema-pycaosdb-ini.yml")
                  for folder in [*getattr(package, "__path__", ()), str(Path(__file__).parent)]]
    schema_file = next((candidate for candidate in candidates if candidate.is_file()), candidates[-1])
    try:
        import jsonschema  # type: ignore[import-untyped]
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return
    if not schema_file.is_file():
        return
    with open(schema_file, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)["schema-pycaosdb-ini"]
    # Upstream's schema writes timeout pairs as arrays; tuples are arrays here too.
    base = jsonschema.validators.validator_for(schema)
    checker = base.TYPE_CHECKER.redefine("array", lambda _checker, value: isinstance(value, (list, tuple)))
    jsonschema.validate(instance=valobj, schema=schema, cls=jsonschema.validators.extend(base, type_checker=checker))


def _parse_file(path: Path) -> tuple[configparser.ConfigParser, str]:
    """The file parsed on its own, and its text (to merge into :func:`get_config` without reading it again)."""
    import configparser

    parser = _new_parser()
    where = f"The configuration file {str(path)!r}"
    try:
        # utf-8-sig: editors on Windows start the file with a byte order mark.
        with open(path, encoding="utf-8-sig") as handle:
            check_config_file(path, os.fstat(handle.fileno()))  # not someone else's (config_trust.py)
            text = handle.read()
        parser.read_string(text, source=str(path))
        return parser, text
    except (configparser.Error, UnicodeDecodeError, OSError) as error:
        problem = _file_problem(where, error)
    # Raised outside the except block: configparser's own errors quote the offending line, often
    # "password = ...", and must not travel along as __context__.
    raise ConfigurationError(problem)


def _file_problem(where: str, error: Exception) -> str:
    import configparser

    if isinstance(error, configparser.MissingSectionHeaderError):
        return (f"{where} is not valid INI: line {error.lineno} comes before any [section] header. "
                "Put the connection options below a [Connection] line.")
    if isinstance(error, configparser.ParsingError):
        lines = ", ".join(str(number) for number, _line in error.errors)
        return (f"{where} is not valid INI: line {lines} is neither 'key = value' nor a [section] header "
                "(a continuation line must be indented). Fix or remove it.")
    if isinstance(error, configparser.DuplicateOptionError):
        return f"{where} sets {error.option!r} twice in section [{error.section}] (line {error.lineno}). Keep one."
    if isinstance(error, configparser.DuplicateSectionError):
        return f"{where} has the section [{error.section}] twice (line {error.lineno}). Merge them into one."
    if isinstance(error, configparser.Error):
        return f"{where} is not valid INI ({type(error).__name__})."
    if isinstance(error, UnicodeDecodeError):
        return f"{where} is not UTF-8 text (byte {error.start}). Save it as UTF-8."
    assert isinstance(error, OSError)
    return f"Cannot read {where[4:]}: {error.strerror or type(error).__name__}."


def read_connection_section(path: Path) -> dict[str, str]:
    """Read the ``[Connection]`` section of ``path`` alone (values as :func:`get_config` gives them).

    :raises ConfigurationError: the file cannot be read or is not valid INI; the message names the file.
    """
    parser, _text = _parse_file(path)
    if not parser.has_section(SECTION):
        return {}
    return {key: _section_value(parser, key) for key in parser.options(SECTION)}


def _section_value(parser: configparser.ConfigParser, key: str, section: str = SECTION) -> str:
    """A value with upstream's interpolation (``%%`` -> ``%``); where that fails (``100%``) the value as written.

    The interpolation errors quote the value, which may be a password: they are never shown.
    """
    import configparser

    try:
        return parser.get(section, key)
    except (configparser.InterpolationError, ValueError):
        return parser.get(section, key, raw=True)


def _connection_settings() -> tuple[dict[str, str], dict[str, str], Path | None]:
    """The [Connection] values of :func:`get_config`, where each came from, and the last file read."""
    with _config_lock:
        if _pycaosdbconf is None and find_config_file() is None:
            return {}, {}, None  # no file and nothing set: no parser (and no configparser) needed
        parser = get_config()
        files = list(_files_read)
        if not parser.has_section(SECTION):
            return {}, {}, files[-1][0] if files else None
        values = {key: _section_value(parser, key) for key in parser.options(SECTION)}
    origins = {}
    for key in values:
        source = next((path for path, keys in reversed(files) if key in keys), None)
        origins[key] = f"file {source}" if source is not None else "get_config()"
    return values, origins, files[-1][0] if files else None


class RawSettings:
    """The unconverted values and where each came from, before the password method is known."""

    __slots__ = ("values", "origins", "file")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.origins: dict[str, str] = {}
        self.file: Path | None = None

    @property
    def method(self) -> Any:
        return self.values.get("password_method", "plain")


def collect(kwargs: Mapping[str, Any], read_file: bool = True) -> RawSettings:
    """Merge defaults, the configuration file and ``kwargs``, keeping each value's origin."""
    settings = RawSettings()
    for option in CORE_OPTIONS:
        if option.default is not None:
            settings.values[option.name] = option.default
            settings.origins[option.name] = DEFAULT
    store = os.environ.get(ENV_SESSION_CACHE)
    if store:  # the default's default: below the file and the arguments (CI, job scripts, test suites)
        settings.values["session_cache"] = store
        settings.origins["session_cache"] = f"environment {ENV_SESSION_CACHE}"
    if read_file:
        ini, ini_origins, settings.file = _connection_settings()
        settings.values.update(ini)
        settings.origins.update(ini_origins)
    for key, value in kwargs.items():
        if key in KWARG_ONLY:
            continue
        settings.values[key] = value
        settings.origins[key] = ARGUMENT

    # An auth_token given at a level where the method was not chosen implies the token method.
    token_origin = settings.origins.get("auth_token")
    method_origin = settings.origins.get("password_method", DEFAULT)
    if token_origin is not None and _rank(token_origin) > _rank(method_origin):
        settings.values["password_method"] = "auth_token"
        settings.origins["password_method"] = f"{token_origin} (implied by auth_token)"

    for key, variable in (("https_proxy", "HTTPS_PROXY"), ("http_proxy", "HTTP_PROXY")):
        if key not in settings.values:
            found = os.environ.get(variable) or os.environ.get(variable.lower())
            if found and _environment_proxy_applies(key, found, settings.values.get("url")):
                settings.values[key] = found
                settings.origins[key] = f"environment {variable}"
    return settings


def _environment_proxy_applies(key: str, value: str, url: Any) -> bool:
    """Whether a proxy variable from the environment takes part in this configuration.

    The environment is shared with every other program, so a value this connection cannot use
    (``HTTPS_PROXY=https://...``, which other tools accept) only matters when the connection
    would use it: for the url's scheme and not exempted by ``NO_PROXY``. Otherwise it is left out
    instead of failing the configuration; a usable value is always kept (``linkahead-auth
    config`` shows it).
    """
    from .options import proxy_url

    try:
        proxy_url(value)
        return True
    except ValueError:
        pass
    url_text = str(url or "")
    if url_text.partition("://")[0].lower() != key.partition("_")[0]:
        return False
    import requests.utils  # only here: the rest of the configuration does not need requests

    try:
        return not requests.utils.should_bypass_proxies(url_text, no_proxy=None)
    except ValueError:
        return True


def _warn_if_readable_by_others(path: Path, keys: list[str]) -> None:
    if os.name != "posix":
        return  # Windows has ACLs, not mode bits; the mode Python reports says nothing there
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        import warnings

        from .connection.transport import _caller_stacklevel  # only on this path: it imports requests

        warnings.warn(
            f"The configuration file {str(path)!r} holds {' and '.join(keys)} but other users may read it "
            f"(mode {mode & 0o777:o}). Make it private: chmod 600 {path}",
            InsecureConfigFileWarning,
            stacklevel=_caller_stacklevel(),
        )


def _rank(origin: str) -> int:
    if origin == ARGUMENT:
        return 2
    return 0 if origin == DEFAULT or origin.startswith("environment") else 1


def validate(settings: RawSettings, options: Iterable[Option], method_name: str,
             tolerated_prefixes: Iterable[str] = ()) -> ConnectionConfig:
    """Convert and check every value against ``options``.

    :param options: the core options plus the selected plugin's declared options (a plugin may
        repeat a core option to make it required).
    :param tolerated_prefixes: keys starting with one of these (``"keyring_"``: options of
        installed plugins that are not selected) are kept unchecked instead of being reported.
    :raises ConfigurationError: an unknown key, a value that does not convert, a required option
        missing. The message names the option, its origin, and the fix.
    """
    declared: dict[str, Option] = {}
    for declaration in options:
        earlier = declared.get(declaration.name)
        if earlier is not None and not declaration.required:
            continue
        if earlier is not None and earlier.secret and not declaration.secret:
            # A plugin may make a core option required, never visible: secret stays secret.
            declaration = declaration._replace(secret=True)
        declared[declaration.name] = declaration
    prefixes = tuple(tolerated_prefixes)

    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, raw in settings.values.items():
        origin = settings.origins.get(key, DEFAULT)
        if key == "password_method":
            values[key] = method_name
            origins[key] = origin
            continue
        option = declared.get(key)
        if option is None:
            if key.startswith(prefixes):
                values[key] = raw
                origins[key] = origin
                continue
            raise ConfigurationError(_unknown_key_message(key, origin, declared))
        if raw is None and origin == ARGUMENT:
            values[key] = None  # an explicit None: "not set" (for proxies: "no proxy")
        else:
            problem: ValueError | None = None
            try:
                values[key] = option.parse(raw)
            except ValueError as error:
                problem = error
            if problem is not None:
                # Raised here, not in the except block: the converter's error and what it wraps
                # may hold the value, and must not stay attached as __context__.
                shown = "" if option.secret else f" = {quoted(raw)}"
                # A converter that repeats the value it got must not show a secret one.
                detail = redact(str(problem), [raw]) if option.secret and isinstance(raw, str) else str(problem)
                raise ConfigurationError(_redacted(f"Invalid {key}{shown} ({_where(origin)}): {detail}."))
        origins[key] = origin

    missing = []
    for option in declared.values():
        if option.name not in values:
            values[option.name] = option.default
            origins[option.name] = DEFAULT
        if option.required and values[option.name] is None:
            missing.append(option.name)
    if missing:
        raise ConfigurationError(_missing_message(missing, method_name, settings.file))
    _apply_no_proxy(values, origins)
    return ConnectionConfig(values, origins, declared, settings.file)


def _apply_no_proxy(values: dict[str, Any], origins: dict[str, str]) -> None:
    """Drop proxies taken from the environment when ``NO_PROXY`` exempts the server, as requests does.

    Configured proxies (file or argument) are used whatever ``NO_PROXY`` says, also as in requests.
    """
    url = values.get("url")
    if not url:
        return
    for key in ("https_proxy", "http_proxy"):
        if values.get(key) and origins.get(key, "").startswith("environment"):
            import requests.utils  # only here: the rest of configuration does not need requests

            try:
                bypass = requests.utils.should_bypass_proxies(url, no_proxy=None)
            except ValueError:
                bypass = False
            if bypass:
                values[key] = None
                origins[key] = "environment NO_PROXY"


def _redacted(text: str) -> str:
    from .redaction import redact_url_passwords  # only where a value is shown

    return redact_url_passwords(text)


def _where(origin: str) -> str:
    if origin == ARGUMENT:
        return "keyword argument"
    return f"from {origin}"


def _missing_message(names: list[str], method_name: str, file: Path | None) -> str:
    """Every missing required option in one message, and where the file was looked for if none was found."""
    if len(names) == 1:
        name = names[0]
        text = (f"The option {name!r} is required for password_method {method_name!r} but is not set. "
                f"Pass {name}=... to configure_connection() or add '{name} = ...' to the "
                f"[Connection] section of {_file_hint(file)}.")
    else:
        listed = ", ".join(repr(name) for name in names[:-1]) + f" and {names[-1]!r}"
        text = (f"The options {listed} are required for password_method {method_name!r} but are not set. "
                f"Pass {', '.join(name + '=...' for name in names)} to configure_connection() or add "
                f"{', '.join(repr(name + ' = ...') for name in names)} to the [Connection] section of "
                f"{_file_hint(file)}.")
    if file is None and not os.environ.get(ENV_INI):
        # Say where we looked: a file in the wrong folder is the usual cause.
        searched = ", ".join(str(candidate.absolute()) for candidate in config_file_candidates())
        text += f" No configuration file was found; looked for {searched}."
    return text


def _file_hint(path: Path | None) -> str:
    return repr(str(path)) if path is not None else "pylinkahead.ini"


def _unknown_key_message(key: str, origin: str, declared: Mapping[str, Option]) -> str:
    import difflib  # only on this error path

    from .redaction import quoted

    close = difflib.get_close_matches(key, list(declared), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"Unknown option {quoted(key)} ({_where(origin)}).{hint} "
        f"Known options: {', '.join(sorted(declared))}."
    )


class ConnectionConfig(Mapping[str, Any]):
    """The effective, read-only connection configuration handed to plugins.

    Read it like a mapping: ``config["url"]``, ``config.get("username")``. Every declared option is
    present (``None`` when unset). :meth:`origin` tells where a value came from. The ``repr``
    shows secret options as ``***``.
    """

    __slots__ = ("_file", "_options", "_origins", "_values")

    def __init__(self, values: Mapping[str, Any], origins: Mapping[str, str],
                 options: Mapping[str, Option], file: Path | None = None) -> None:
        self._values = dict(values)
        self._origins = dict(origins)
        self._options = dict(options)
        self._file = file

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def file(self) -> Path | None:
        """The configuration file that was read, if any."""
        return self._file

    @property
    def options(self) -> Mapping[str, Option]:
        """The declared options (core and plugin) by name."""
        return dict(self._options)

    def origin(self, key: str) -> str:
        """Where ``key``'s value came from: ``default``, ``argument``, ``file <path>``, ``environment <VAR>``."""
        return self._origins.get(key, DEFAULT)

    def is_secret(self, key: str) -> bool:
        """True for options whose value must never be shown."""
        option = self._options.get(key)
        return option is not None and option.secret

    def shown(self, key: str) -> str:
        """The value as it may be displayed: secrets as ``***``."""
        value = self._values.get(key)
        if value is not None and self.is_secret(key):
            return "***"
        return _redacted(repr(value))

    def __repr__(self) -> str:
        body = ", ".join(f"{key}={self.shown(key)}" for key in sorted(self._values))
        return f"ConnectionConfig({body})"

    __str__ = __repr__
