"""Running the credential command: no shell, no terminal, a time-out, and a clean kill.

The command runs in its own session (``start_new_session=True``), so on a time-out the whole
process group -- the command and anything it started -- is killed with ``SIGKILL``.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

from linkahead.exceptions import ConfigurationError

from .errors import CredentialCommandError

__all__ = ["run_command", "STDERR_LINES"]

logger = logging.getLogger("linkahead.auth.exec")

STDERR_LINES = 5
"""How many of the last stderr lines an error shows."""
_LINE_LENGTH = 200
# Seconds to wait for the pipes to close after the process group was killed.
_REAP_TIMEOUT = 5.0
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def run_command(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> bytes:
    """Run ``argv`` with ``env`` and stdin from ``/dev/null``; return its stdout.

    :raises ConfigurationError: the command cannot be started (not found, not executable).
    :raises CredentialCommandError: it exited with a non-zero status, was killed by a signal, or
        did not finish within ``timeout`` seconds (it is killed then).
    """
    name = argv[0]
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(env), close_fds=True, start_new_session=True,
        )
    except FileNotFoundError:
        raise ConfigurationError(
            f"The credential command {name!r} (exec_command) was not found. Give its full path, "
            "or install it and make sure its folder is on PATH."
        ) from None
    except PermissionError:
        raise ConfigurationError(
            f"The credential command {name!r} (exec_command) is not executable. Make it executable "
            f"(chmod u+x {name}) or run it through its interpreter, e.g. exec_command = python3 {name}."
        ) from None
    except OSError as error:
        raise ConfigurationError(
            f"The credential command {name!r} (exec_command) cannot be started: {error.strerror}. "
            "A script needs a #! line, or run it through its interpreter (exec_command = python3 script.py)."
        ) from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise CredentialCommandError(
            f"The credential command {name!r} did not finish within exec_timeout = {timeout:g} s and "
            "was killed (with every process it started). It must not wait for input: its stdin is "
            "/dev/null. If it needs longer (a browser login, say), raise exec_timeout.",
            command=name,
        ) from None
    except BaseException:
        _kill(process)  # KeyboardInterrupt and friends must not leave the command running
        raise
    logger.debug("The credential command %r exited with status %d after %.3f s.",
                 name, process.returncode, time.monotonic() - started)
    if process.returncode != 0:
        raise CredentialCommandError(
            f"The credential command {name!r} {_how_it_ended(process.returncode)}. "
            f"{_stderr_excerpt(stderr)} Run it by hand to see what it needs.",
            command=name,
            returncode=process.returncode,
        )
    return stdout


def _kill(process: subprocess.Popen[bytes]) -> None:
    if sys.platform == "win32":
        process.kill()
    else:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()  # the group is gone already; make sure of the leader itself
    try:
        process.communicate(timeout=_REAP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # A descendant escaped the process group (setsid) and still holds our pipes.
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


def _stderr_excerpt(stderr: bytes) -> str:
    """The last few lines of stderr, cleaned of control characters (stdout is never shown)."""
    text = _CONTROL.sub("", stderr.decode("utf-8", "replace"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "It wrote nothing to stderr."
    shown = [line if len(line) <= _LINE_LENGTH else line[: _LINE_LENGTH - 3] + "..." for line in lines[-STDERR_LINES:]]
    skipped = len(lines) - len(shown)
    intro = f"The last {len(shown)} of {len(lines)} lines it wrote to stderr" if skipped else "It wrote to stderr"
    return intro + ": " + " | ".join(shown) + "."
