"""Finding, reading, merging and checking the connection configuration.

Priority, lowest to highest: option defaults, the ``[Connection]`` section of the first
``pylinkahead.ini`` found (see :func:`config_file_candidates`), the keyword arguments of
:func:`~linkahead.configure_connection`. For ``https_proxy``/``http_proxy`` the environment
variables ``HTTPS_PROXY``/``HTTP_PROXY`` fill in when neither the file nor the arguments set them.

Other sections of the file (``[Container]``, ``[Misc]``, ...) belong to other tools and are ignored.

A file whose ``[Connection]`` section holds a secret (``password``, ``auth_token``) and that other
users may read gets an :class:`InsecureConfigFileWarning`, as ssh warns about a readable key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .exceptions import ConfigurationError
from .options import CORE_OPTIONS, Option
from .redaction import quoted, redact

__all__ = [
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

    :raises ConfigurationError: ``$PYLINKAHEADINI`` names a file that does not exist.
    """
    named = os.environ.get(ENV_INI)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"{ENV_INI} names the configuration file {str(path)!r}, which does not exist. "
                f"Create it, or unset {ENV_INI} to use the usual locations."
            )
        return path
    for candidate in config_file_candidates():
        if candidate.is_file():
            return candidate
    return None


def read_connection_section(path: Path) -> dict[str, str]:
    """Read the ``[Connection]`` section of ``path``; other sections are ignored.

    :raises ConfigurationError: the file cannot be read or is not valid INI; the message names the file.
    """
    import configparser  # only when there is a file to read

    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, source=str(path))
    except configparser.Error as error:
        raise ConfigurationError(
            f"The configuration file {str(path)!r} is not valid INI: {_one_line(error)}. "
            "Write it as a [Connection] section of 'key = value' lines."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"Cannot read the configuration file {str(path)!r}: {error}") from None
    if not parser.has_section(SECTION):
        return {}
    return {key: value for key, value in parser.items(SECTION, raw=True)}


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


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
    ini: dict[str, str] = {}
    if read_file:
        settings.file = find_config_file()
        if settings.file is not None:
            ini = read_connection_section(settings.file)
            secrets = sorted(key for key in _SECRET_KEYS if ini.get(key, "").strip())
            if secrets:
                _warn_if_readable_by_others(settings.file, secrets)
    file_origin = f"file {settings.file}"
    for key, value in ini.items():
        settings.values[key] = value
        settings.origins[key] = file_origin
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
    return 1 if origin.startswith("file ") else 0


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

    for option in declared.values():
        if option.name not in values:
            values[option.name] = option.default
            origins[option.name] = DEFAULT
        if option.required and values[option.name] is None:
            raise ConfigurationError(
                f"The option {option.name!r} is required for password_method {method_name!r} but is not set. "
                f"Pass {option.name}=... to configure_connection() or add '{option.name} = ...' to the "
                f"[Connection] section of {_file_hint(settings.file)}."
            )
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


def _file_hint(path: Path | None) -> str:
    return repr(str(path)) if path is not None else "pylinkahead.ini"


def _unknown_key_message(key: str, origin: str, declared: Mapping[str, Option]) -> str:
    import difflib  # only on this error path

    close = difflib.get_close_matches(key, list(declared), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"Unknown option {key!r} ({_where(origin)}).{hint} "
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
