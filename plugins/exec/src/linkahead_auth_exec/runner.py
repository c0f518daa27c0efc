"""Running the credential command: no shell, a time-out, bounded output, and a clean kill.

The command runs in its own session (``start_new_session=True``), so on a time-out, or when it
writes more than :data:`~linkahead_auth_exec.contract.MAX_OUTPUT` bytes to stdout, the whole process
group -- the command and anything it started -- is killed with ``SIGKILL``. stdout and stderr are
read as they arrive, never more than the cap of stdout plus the kept end of stderr
(:data:`STDERR_KEPT`) in memory, whatever the command writes.

Without a terminal (or with ``exec_interactive = never``) stdin is ``/dev/null`` and stderr is
captured; in interactive mode stdin and stderr are the caller's terminal, and the terminal's
settings are restored afterwards even when the command is killed half-way through a password
prompt.
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from linkahead.exceptions import ConfigurationError

from .contract import MAX_OUTPUT
from .errors import CredentialCommandError

__all__ = ["run_command", "STDERR_LINES", "STDERR_KEPT"]

logger = logging.getLogger("linkahead.auth.exec")

STDERR_LINES = 5
"""How many of the last stderr lines an error shows."""
STDERR_KEPT = 64 * 1024
"""Bytes of the end of stderr kept for the error message; earlier output is dropped as it arrives."""
_LINE_LENGTH = 200
_CHUNK = 64 * 1024
# Seconds to wait for the killed command to be reaped.
_REAP_TIMEOUT = 5.0
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


class _TimedOut(Exception):
    """The command did not finish (exit and close stdout) before the deadline."""


class _TooMuchOutput(Exception):
    """The command wrote more than MAX_OUTPUT bytes to stdout."""


class _Tail:
    """The last ``limit`` bytes written to a stream, and whether anything before them was dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.cut = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]
            self.cut = True


def run_command(argv: Sequence[str], env: Mapping[str, str], timeout: float, interactive: bool = False) -> bytes:
    """Run ``argv`` with ``env``; return its stdout (at most ``MAX_OUTPUT`` bytes).

    :param interactive: pass the caller's stdin (a terminal) and stderr through to the command
        instead of giving it ``/dev/null`` and capturing stderr.
    :raises ConfigurationError: the command cannot be started (not found, not executable).
    :raises CredentialCommandError: it exited with a non-zero status, was killed by a signal, did
        not finish within ``timeout`` seconds, or wrote more than ``MAX_OUTPUT`` bytes to stdout
        (it is killed in the last two cases).
    """
    name = argv[0]
    if sys.platform == "win32":
        # Reading both pipes as they fill, and killing a process group, need POSIX.
        raise ConfigurationError(
            "password_method 'exec' needs a POSIX system (Linux, macOS, WSL) to run its command with "
            "bounded output and a clean kill; on Windows use another password method."
        )
    started = time.monotonic()
    with _terminal_restored(interactive), _InterruptHeld() as held:
        process = _start(argv, env, interactive)
        try:
            held.release()  # a Ctrl-C that came while the command was being started is raised here
            stdout, stderr = _collect(process, started + timeout)
        except _TimedOut:
            _kill(process)
            raise CredentialCommandError(
                f"The credential command {name!r} did not finish within exec_timeout = {timeout:g} s and "
                f"was killed (with every process it started). {_waiting_hint(interactive)}",
                command=name,
            ) from None
        except _TooMuchOutput:
            _kill(process)
            raise CredentialCommandError(
                f"The credential command {name!r} wrote more than {MAX_OUTPUT} bytes (1 MiB) to stdout and "
                "was killed (with every process it started). stdout must carry only the one small JSON "
                "document of the exec contract; the limit is fixed. Print diagnostics on stderr.",
                command=name,
            ) from None
        except BaseException:
            _kill(process)  # KeyboardInterrupt and friends must not leave the command running
            raise
    logger.debug("The credential command %r exited with status %d after %.3f s.",
                 name, process.returncode, time.monotonic() - started)
    if process.returncode != 0:
        excerpt = "Its messages, if any, are on the terminal above." if interactive else _stderr_excerpt(stderr)
        raise CredentialCommandError(
            f"The credential command {name!r} {_how_it_ended(process.returncode)}. "
            f"{excerpt} Run it by hand to see what it needs.",
            command=name,
            returncode=process.returncode,
        )
    return stdout


class _InterruptHeld:
    """Holds back a Ctrl-C (SIGINT) that arrives while the command is being started.

    Raised inside ``Popen``, a ``KeyboardInterrupt`` would leave the command running without
    anyone to kill it: in interactive mode it goes on reading the terminal, so the person's Ctrl-C
    seems lost (the command is still waiting for an answer, and keeps the terminal open after the
    program has ended). Held back until :meth:`release`, the interrupt is raised where
    :func:`run_command` kills the command. Only the main thread receives SIGINT as
    ``KeyboardInterrupt``; elsewhere this does nothing.
    """

    def __init__(self) -> None:
        self._previous: Any = None
        self._held = False
        self._installed = False

    def __enter__(self) -> _InterruptHeld:
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._hold)
                self._installed = True
            except (ValueError, OSError):  # no signals here (an embedded interpreter)
                pass
        return self

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        self._held = True

    def release(self) -> None:
        """Put the previous handler back, then deliver a held Ctrl-C to it (as if it came now)."""
        if not self._installed:
            return
        self._installed = False
        signal.signal(signal.SIGINT, self._previous)
        if self._held:
            self._held = False
            signal.raise_signal(signal.SIGINT)  # the previous handler decides: KeyboardInterrupt, ignore, ...

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:  # the command did not start: nothing to clean up, deliver it now
            self.release()


def _start(argv: Sequence[str], env: Mapping[str, str], interactive: bool) -> subprocess.Popen[bytes]:
    name = argv[0]
    try:
        return subprocess.Popen(
            list(argv),
            stdin=_terminal_fd() if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None if interactive else subprocess.PIPE,  # None: inherited, the caller's stderr
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


def _collect(process: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, _Tail]:
    """Read stdout (capped) and stderr (its end only) until both close, then wait for the exit."""
    stdout = bytearray()
    stderr = _Tail(STDERR_KEPT)
    with selectors.DefaultSelector() as selector:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _TimedOut
            for key, _ in selector.select(remaining):
                is_stdout = key.fileobj is process.stdout
                # One byte over the cap is enough to know it is too much.
                size = min(_CHUNK, MAX_OUTPUT + 1 - len(stdout)) if is_stdout else _CHUNK
                chunk = os.read(key.fd, size)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif is_stdout:
                    stdout += chunk
                    if len(stdout) > MAX_OUTPUT:
                        raise _TooMuchOutput
                else:
                    stderr.add(chunk)
    try:
        process.wait(timeout=max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        raise _TimedOut from None
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    return bytes(stdout), stderr


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()  # the group is gone already; make sure of the leader itself
    # Close our ends instead of reading them empty: a descendant that escaped the process group
    # (setsid) and still writes gets SIGPIPE rather than filling our memory.
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    try:
        process.wait(timeout=_REAP_TIMEOUT)
    except subprocess.TimeoutExpired:
        logger.debug("The killed credential command %r has not been reaped yet.", process.args)


def _terminal_fd() -> int:
    """The caller's stdin, which the plugin has checked to be a terminal."""
    try:
        return sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return 0


@contextmanager
def _terminal_restored(interactive: bool) -> Iterator[None]:
    """Put the terminal's settings back after the command: killed during a password prompt, it
    would leave echo switched off."""
    saved = None
    if interactive:
        import termios

        try:
            descriptor = sys.stdin.fileno()
            saved = (descriptor, termios.tcgetattr(descriptor))
        except (AttributeError, ValueError, OSError, termios.error):
            saved = None
    try:
        yield
    finally:
        if saved is not None:
            import termios

            try:
                termios.tcsetattr(saved[0], termios.TCSANOW, saved[1])
            except (OSError, termios.error):
                pass  # the terminal went away; nothing to restore


def _waiting_hint(interactive: bool) -> str:
    if interactive:
        return ("It had the terminal; if you were still in the middle of its login (a device code, a "
                "browser), raise exec_timeout.")
    return ("It must not wait for input: its stdin is /dev/null. If it needs a person (a device code, a "
            "browser login), set exec_interactive = if-available and run from a terminal; if it is just "
            "slow, raise exec_timeout.")


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


def _stderr_excerpt(stderr: _Tail) -> str:
    """The last few lines of stderr, cleaned of control characters (stdout is never shown)."""
    data = bytes(stderr.data)
    if stderr.cut:
        data = data.partition(b"\n")[2]  # the first kept line is probably the end of a longer one
    text = _CONTROL.sub("", data.decode("utf-8", "replace"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "It wrote nothing to stderr." if not stderr.cut else "It wrote only very long lines to stderr."
    shown = [line if len(line) <= _LINE_LENGTH else line[: _LINE_LENGTH - 3] + "..." for line in lines[-STDERR_LINES:]]
    skipped = len(lines) - len(shown)
    if stderr.cut:
        intro = f"The last {len(shown)} lines of the much longer output it wrote to stderr"
    elif skipped:
        intro = f"The last {len(shown)} of {len(lines)} lines it wrote to stderr"
    else:
        intro = "It wrote to stderr"
    return intro + ": " + " | ".join(shown) + "."
