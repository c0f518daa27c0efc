"""Reading, storing and deleting the password in the system keyring, with LinkAhead errors.

Every call to the :mod:`keyring` library goes through :func:`_call`, which

- runs it in a helper thread and gives up after ``timeout`` seconds, because a Secret Service
  reached over D-Bus can hang (a frozen daemon, an unlock prompt nobody answers);
- turns every backend failure (no backend, a locked collection, D-Bus errors, a backend that
  cannot be loaded) into a :class:`~linkahead.exceptions.LoginFailedError` or
  :class:`~linkahead.exceptions.ConfigurationError` naming the backend and the fix, instead of a
  raw keyring traceback. The password never appears in these messages.
"""

from __future__ import annotations

import logging
import os
import shlex
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from linkahead.exceptions import ConfigurationError, LinkAheadException, LoginFailedError

__all__ = [
    "SERVICE_PREFIX",
    "DEFAULT_TIMEOUT",
    "service_name",
    "service_for",
    "backend_name",
    "get_password",
    "store_password",
    "delete_password",
    "set_command",
    "keyring_command",
]

logger = logging.getLogger("linkahead.auth.keyring")

SERVICE_PREFIX = "linkahead \N{EM DASH} "
"""The legacy client's service-name prefix: ``linkahead``, a space, an em dash (U+2014), a space."""

DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for the keyring backend (``keyring_timeout``)."""

ConfigOrUrl = Mapping[str, Any] | str
T = TypeVar("T")


def service_name(url: str) -> str:
    """The keyring service name for ``url``: ``"linkahead — " + url``, the url exactly as configured.

    This is the name the legacy ``linkahead`` client uses, so passwords it stored keep working.
    """
    return SERVICE_PREFIX + url


def service_for(config_or_url: ConfigOrUrl) -> str:
    """The service name for a connection configuration (honouring ``keyring_service``) or a url."""
    if isinstance(config_or_url, str):
        return service_name(config_or_url)
    override = config_or_url.get("keyring_service")
    return str(override) if override else service_name(str(config_or_url["url"]))


def _timeout_of(config_or_url: ConfigOrUrl, timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    if isinstance(config_or_url, Mapping):
        configured = config_or_url.get("keyring_timeout")
        if configured:
            return float(configured)
    return DEFAULT_TIMEOUT


def set_command(config_or_url: ConfigOrUrl, username: str) -> str:
    """The command that stores the password for this connection (shown in error messages)."""
    parts = ["python", "-m", "linkahead_auth_keyring", "set"]
    if isinstance(config_or_url, str):
        parts += ["--url", config_or_url]
    else:
        parts += ["--url", str(config_or_url["url"])]
        if config_or_url.get("keyring_service"):
            parts += ["--service", str(config_or_url["keyring_service"])]
    parts += ["--username", username]
    return shlex.join(parts)


def keyring_command(service: str, username: str) -> str:
    """The ``keyring`` tool's command that stores the password (shown in error messages)."""
    return f'keyring set "{service}" {shlex.quote(username)}'


# -- the backend -----------------------------------------------------------------------------------


def backend_name() -> str:
    """The selected keyring backend as ``module.Class`` (a chainer lists what it chains).

    :raises ConfigurationError: the configured backend cannot be loaded.
    """
    return _describe(_load_backend())


def _describe(backend: object) -> str:
    cls = type(backend)
    name = f"{cls.__module__}.{cls.__qualname__}"
    chained = getattr(backend, "backends", None)
    if cls.__module__ == "keyring.backends.chainer" and isinstance(chained, list):
        inner = ", ".join(f"{type(b).__module__}.{type(b).__qualname__}" for b in chained) or "nothing"
        name += f" (chaining {inner})"
    return name


def _configured_backend() -> tuple[str | None, str]:
    """The backend the user chose, if any, and where: ``(name, "PYTHON_KEYRING_BACKEND=...")``."""
    chosen = os.environ.get("PYTHON_KEYRING_BACKEND")
    if chosen:
        return chosen, f"PYTHON_KEYRING_BACKEND={chosen!r}"
    try:
        import configparser

        from keyring.util import platform_

        config_file = os.path.join(platform_.config_root(), "keyringrc.cfg")
        parser = configparser.RawConfigParser()
        parser.read(config_file, encoding="utf-8")
        name = parser.get("backend", "default-keyring", fallback=None)
    except Exception:  # noqa: BLE001 -- only a hint for an error message
        return None, "the keyring configuration"
    if name:
        return name.strip(), f"default-keyring = {name.strip()} in {config_file}"
    return None, "keyring's automatic choice"


def _load_backend() -> Any:
    try:
        # keyring is imported when a password is needed, not with this module: its import (entry
        # points, jaraco, platform) would slow every start, also those served by a stored session.
        import keyring

        return keyring.get_keyring()
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(
            f"The keyring backend cannot be loaded ({_configured_backend()[1]}): {_error_text(error)}. "
            "Choose an installed backend with PYTHON_KEYRING_BACKEND or 'default-keyring' in keyringrc.cfg, "
            "e.g. keyring.backends.SecretService.Keyring or keyrings.alt.file.PlaintextKeyring "
            "(pip install keyrings.alt); 'python -m keyring --list-backends' lists the installed ones."
        ) from None
    except Exception as error:  # noqa: BLE001 -- a backend's viability check runs arbitrary code
        # Loaded, but its check failed (e.g. SecretService without a session bus).
        name, source = _configured_backend()
        raise _failure(error, f"{name or '(automatic)'} ({source})", "starting", None) from None


def _error_text(error: BaseException, secret: str | None = None) -> str:
    text = " ".join(str(error).split()).rstrip(".")
    if secret:
        text = text.replace(secret, "***")
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


_SECRET_SERVICE_FIX = (
    "Make sure a D-Bus session bus is running (DBUS_SESSION_BUS_ADDRESS is set) and a Secret Service "
    "provider is running and unlocked (GNOME Keyring: gnome-keyring-daemon --start --components=secrets; "
    "KWallet; KeePassXC with Secret Service integration)"
)
_FILE_FIX = (
    "or use a keyring file: pip install keyrings.alt and set "
    "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring (unencrypted, for machines without a desktop) "
    "or keyrings.alt.file.EncryptedKeyring"
)


def _failure(error: BaseException, backend: str, doing: str, secret: str | None) -> LoginFailedError:
    import keyring.errors

    if isinstance(error, keyring.errors.NoKeyringError) or backend.startswith("keyring.backends.fail."):
        fix = (f"No usable keyring backend is installed or configured. Start a Secret Service in your "
               f"desktop session (GNOME Keyring, KWallet, KeePassXC), {_FILE_FIX}.")
    elif isinstance(error, keyring.errors.KeyringLocked):
        fix = ("The keyring is locked. Unlock it (log in to your desktop session, or unlock the 'login' "
               "collection in your keyring manager such as seahorse) and try again.")
    else:
        fix = f"{_SECRET_SERVICE_FIX}; {_FILE_FIX}."
    return LoginFailedError(
        f"The keyring backend {backend} failed while {doing}: {_error_text(error, secret)}. {fix}"
    )


def _call(action: Callable[[Any], T], doing: str, timeout: float, secret: str | None = None) -> T:
    """Run ``action(backend)`` in a helper thread; LinkAhead errors for every failure."""
    from concurrent.futures import Future, wait

    # In this thread: an import in the helper thread could be abandoned half-done at the time-out.
    import keyring  # noqa: F401

    outcome: Future[T] = Future()

    def run() -> None:
        try:
            backend = _load_backend()
            outcome.set_result(action(backend))
        except BaseException as error:  # noqa: BLE001 -- handed to the caller's thread below
            outcome.set_exception(error)

    # A daemon thread, not an executor: a hung D-Bus call must not keep the interpreter from exiting.
    threading.Thread(target=run, name="linkahead-keyring", daemon=True).start()
    if not wait([outcome], timeout=timeout).done:
        raise LoginFailedError(
            f"The keyring did not answer within {timeout:g} s while {doing} (option keyring_timeout). "
            "A prompt to unlock the keyring may be waiting on your desktop, or the Secret Service hangs. "
            f"{_SECRET_SERVICE_FIX}; {_FILE_FIX}."
        )
    try:
        return outcome.result()
    except LinkAheadException:
        raise
    except Exception as error:  # noqa: BLE001 -- backends raise anything (D-Bus, OS, RuntimeError); all reported
        backend = _describe(_load_backend())
        logger.debug("Keyring backend %s failed: %s", backend, _error_text(error, secret))
        raise _failure(error, backend, doing, secret) from None


# -- the public operations -------------------------------------------------------------------------


def get_password(config_or_url: ConfigOrUrl, username: str, *, timeout: float | None = None) -> str | None:
    """The stored password for ``username``, or ``None`` when nothing is stored.

    :param config_or_url: a connection configuration (``url``, optional ``keyring_service`` and
        ``keyring_timeout``) or a url.
    :raises LoginFailedError: the keyring backend failed (the message names it and the fix).
    :raises ConfigurationError: the keyring backend cannot be loaded.
    """
    service = service_for(config_or_url)
    doing = f"reading the password of user {username!r} (service {service!r})"
    password = _call(lambda backend: backend.get_password(service, username), doing,
                     _timeout_of(config_or_url, timeout))
    if password is not None and not isinstance(password, str):
        raise LoginFailedError(f"The keyring returned a {type(password).__name__} instead of text while {doing}.")
    return password or None


def store_password(config_or_url: ConfigOrUrl, username: str, password: str, *,
                   timeout: float | None = None) -> None:
    """Store ``password`` for ``username`` under the connection's service name (replacing any).

    :raises LoginFailedError: the keyring backend failed.
    :raises ConfigurationError: the keyring backend cannot be loaded.
    """
    if not password:
        raise LoginFailedError("Refusing to store an empty password in the keyring.")
    service = service_for(config_or_url)
    doing = f"storing the password of user {username!r} (service {service!r})"
    _call(lambda backend: backend.set_password(service, username, password), doing,
          _timeout_of(config_or_url, timeout), secret=password)
    logger.debug("Stored the password of %r in the keyring (service %r).", username, service)


def delete_password(config_or_url: ConfigOrUrl, username: str, *, timeout: float | None = None) -> bool:
    """Delete the stored password of ``username``; ``False`` when nothing was stored.

    :raises LoginFailedError: the keyring backend failed.
    :raises ConfigurationError: the keyring backend cannot be loaded.
    """
    service = service_for(config_or_url)
    doing = f"deleting the password of user {username!r} (service {service!r})"

    def delete(backend: Any) -> bool:
        # Asking first: backends report "nothing stored" as PasswordDeleteError, like real failures.
        if backend.get_password(service, username) is None:
            return False
        backend.delete_password(service, username)
        return True

    deleted = _call(delete, doing, _timeout_of(config_or_url, timeout))
    logger.debug("Deleted the password of %r from the keyring (service %r): %s.", username, service, deleted)
    return deleted
