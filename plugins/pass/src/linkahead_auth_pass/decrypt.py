"""Decrypting one store entry with GnuPG through python-gnupg, bounded in time, without a shell.

gpg runs as ``gpg --batch --no-tty ... --decrypt`` with the entry fed on standard input (the
file name never reaches gpg's command line). It uses the gpg-agent as ``pass`` does. When the
process is not interactive (no terminal on standard input, no graphical display) we add
``--pinentry-mode error`` so a passphrase-protected key that the agent has not unlocked fails at
once instead of waiting for a prompt nobody sees. A watchdog kills gpg after ``timeout`` seconds
in every case.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gnupg
from linkahead.exceptions import ConfigurationError, LoginFailedError

__all__ = ["GpgSettings", "find_gpg", "gpg_settings", "decrypt", "interactive"]

logger = logging.getLogger("linkahead_auth_pass")

# gpg error codes (the low 16 bits of the number in an "ERROR ... <code>" status line).
_BAD_PASSPHRASE = 11
_TIMEOUT = 62
_NO_PINENTRY = 85
_CANCELED = 99
_FULLY_CANCELED = 198


def find_gpg(configured: str | None) -> str:
    """The gpg program: ``configured`` (a name or path), else ``gpg2`` or ``gpg`` on ``PATH`` as ``pass`` does.

    :raises ConfigurationError: it cannot be found.
    """
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise ConfigurationError(
                f"The gpg program {configured!r} (option pass_gpg_binary) was not found or is not executable. "
                "Give the path of gpg, or remove the option to use gpg from PATH."
            )
        return found
    found = shutil.which("gpg2") or shutil.which("gpg")
    if found is None:
        raise ConfigurationError(
            "password_method 'pass' needs GnuPG to decrypt the password store, but no gpg program was "
            "found on PATH. Install it (Debian/Ubuntu: 'apt install gnupg'; Fedora: 'dnf install gnupg2'; "
            "macOS: 'brew install gnupg'), or set the option pass_gpg_binary to its path."
        )
    return found


def interactive() -> bool:
    """True when someone may answer a passphrase prompt: a terminal on stdin, or a graphical display."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            return True
    except ValueError:  # stdin closed
        pass
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@dataclass(frozen=True)
class GpgSettings:
    """How to run gpg: program, home, extra options, environment, time limit."""

    binary: str
    home: str | None
    options: list[str]
    timeout: float
    env: dict[str, str] = field(repr=False)

    @property
    def home_text(self) -> str:
        return repr(self.home) if self.home else "'~/.gnupg' (GNUPGHOME is not set)"


def gpg_settings(binary: str | None, timeout: float) -> GpgSettings:
    """Settings from the environment: ``GNUPGHOME``, ``PASSWORD_STORE_GPG_OPTS``, the terminal."""
    program = find_gpg(binary)
    home = os.environ.get("GNUPGHOME") or None
    if home is not None and not os.path.isdir(home):
        raise ConfigurationError(
            f"GNUPGHOME is set to {home!r}, which is not a folder. Point GNUPGHOME at your GnuPG home "
            "(the folder holding your secret keys), or unset it to use ~/.gnupg."
        )
    env = dict(os.environ)
    options: list[str] = []
    if interactive():
        # The agent's pinentry needs to know the terminal; pass sets GPG_TTY the same way.
        if "GPG_TTY" not in env:
            try:
                env["GPG_TTY"] = os.ttyname(sys.stdin.fileno())
            except (OSError, ValueError, AttributeError):
                pass
    else:
        options += ["--pinentry-mode", "error"]
    extra = os.environ.get("PASSWORD_STORE_GPG_OPTS", "")
    try:
        options += shlex.split(extra)
    except ValueError as error:
        raise ConfigurationError(
            f"PASSWORD_STORE_GPG_OPTS cannot be split into options ({error}); fix its quoting."
        ) from None
    return GpgSettings(program, home, options, timeout, env)


class _TimedGPG(gnupg.GPG):  # type: ignore[misc]  # python-gnupg has no type hints
    """python-gnupg with a watchdog: every gpg process it starts is killed after ``timeout`` seconds."""

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        self.timeout = timeout
        self.timed_out = False
        super().__init__(**kwargs)

    def _collect_output(self, process: subprocess.Popen[bytes], result: Any, writer: Any = None,
                        stdin: Any = None) -> Any:
        watchdog = threading.Timer(self.timeout, self._expire, (process,))
        watchdog.daemon = True
        watchdog.start()
        try:
            return super()._collect_output(process, result, writer, stdin)
        finally:
            watchdog.cancel()

    def _expire(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            self.timed_out = True
            process.kill()


def _new_gpg(settings: GpgSettings) -> _TimedGPG:
    try:
        return _TimedGPG(settings.timeout, gpgbinary=settings.binary, gnupghome=settings.home,
                         options=settings.options, env=settings.env)
    except (OSError, ValueError) as error:
        raise ConfigurationError(
            f"The gpg program {settings.binary!r} cannot be run ({error}). Check that GnuPG is installed "
            "correctly (Debian/Ubuntu package 'gnupg') and that GNUPGHOME is usable."
        ) from None


def decrypt(path: Path, identifier: str, settings: GpgSettings) -> bytes:
    """The plaintext of the entry file ``path``.

    :raises ConfigurationError: no secret key for the entry, or gpg cannot run.
    :raises LoginFailedError: the key is locked and cannot be unlocked now, gpg timed out or failed.
    """
    gpg = _new_gpg(settings)
    logger.debug("Decrypting password store entry %r with %s (GnuPG home %s).", identifier, settings.binary,
                 settings.home_text)
    try:
        # O_NOFOLLOW: the path was resolved and checked; a symlink swapped in since is refused.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise ConfigurationError(f"Cannot read the password store entry {identifier!r}: {error.strerror}.") from None
    with os.fdopen(descriptor, "rb") as handle:
        result = gpg.decrypt_file(handle)
    if gpg.timed_out:
        raise LoginFailedError(
            f"gpg did not finish decrypting the password store entry {identifier!r} within "
            f"{settings.timeout:g} s and was stopped. The gpg-agent is probably waiting for the passphrase "
            "of your key in a prompt nobody answers. Unlock the key first (run 'pass show "
            f"{identifier}' in a terminal), or raise the option pass_timeout."
        )
    if result.ok:
        data: bytes = result.data
        return data
    raise _failure(identifier, settings, str(result.stderr or ""), result.returncode)


def _failure(identifier: str, settings: GpgSettings, stderr: str,
             returncode: int | None) -> ConfigurationError | LoginFailedError:
    statuses = [line[len("[GNUPG:] "):].split() for line in stderr.splitlines() if line.startswith("[GNUPG:] ")]
    missing_keys = [words[1] for words in statuses if words[0] == "NO_SECKEY" and len(words) > 1]
    codes = [int(words[2]) & 0xFFFF for words in statuses
             if words[0] == "ERROR" and len(words) > 2 and words[2].isdigit()]
    entry = f"the password store entry {identifier!r}"
    if _NO_PINENTRY in codes:
        return LoginFailedError(
            f"Cannot decrypt {entry}: your secret key is protected by a passphrase that the gpg-agent has not "
            "cached, and this process has no terminal or display to ask for it (gpg was told not to prompt, "
            f"so it does not hang). Unlock the key first, e.g. run 'pass show {identifier}' in a terminal, "
            "or use a key without passphrase (or gpg-preset-passphrase) for unattended jobs."
        )
    if _BAD_PASSPHRASE in codes:
        return LoginFailedError(f"Cannot decrypt {entry}: the passphrase of the secret key was wrong.")
    if _CANCELED in codes or _FULLY_CANCELED in codes:
        return LoginFailedError(f"Cannot decrypt {entry}: the passphrase prompt was cancelled.")
    if _TIMEOUT in codes:
        return LoginFailedError(f"Cannot decrypt {entry}: the passphrase prompt timed out.")
    if missing_keys and not codes:
        keys = ", ".join(missing_keys)
        return ConfigurationError(
            f"Cannot decrypt {entry}: it is encrypted for the key(s) {keys}, but the GnuPG home "
            f"{settings.home_text} has no secret key for any of them. Set GNUPGHOME to the GnuPG home that "
            "holds your key, import the secret key ('gpg --import'), or re-encrypt the store for your key "
            "('pass init <your-key-id>')."
        )
    said = [line.strip() for line in stderr.splitlines() if line.startswith("gpg: ")]
    detail = f" gpg said: {' / '.join(said[-3:])}" if said else ""
    return LoginFailedError(
        f"gpg could not decrypt {entry} (exit status {returncode}).{detail} "
        f"Try 'pass show {identifier}' in a terminal to see the problem."
    )
