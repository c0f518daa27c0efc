"""A program on a real pseudo-terminal, for tests of prompts -- without forking the test process.

``pexpect.spawn`` creates its terminal with ``forkpty()``: it forks the whole test process and runs
Python code in the child before ``exec``. In a process with threads (an embedded server, a
connection's watchdog) that child can deadlock on a lock another thread held at the fork, and
CPython 3.12+ says so with ``DeprecationWarning: This process is multi-threaded, use of forkpty()
may lead to deadlocks in the child``.

:class:`Terminal` does the same job the safe way: the test process only opens a pty pair
(``os.openpty``, no fork) and starts the program with :mod:`subprocess` (``fork``/``exec`` in C,
safe with threads) in a new session. A tiny stdlib-only trampoline in that fresh child makes the
pty its controlling terminal and ``exec``\\ s the program, so Ctrl-C, job control, echo switching and
``/dev/tty`` behave as at a real terminal. The test talks to it with pexpect's usual API
(``expect``, ``sendline``, ``before``, ``match``; :class:`Terminal` is a
:class:`pexpect.fdpexpect.fdspawn`)::

    from linkahead.testing.terminal import Terminal

    with Terminal(sys.executable, ["-c", program], env=env, timeout=30) as child:
        child.expect("Password: ")
        child.sendline(password)
        child.expect(pexpect.EOF)
    assert child.exitstatus == 0

It needs ``pexpect`` (``pip install pexpect``) and a POSIX system.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from pexpect.fdpexpect import fdspawn

__all__ = ["Terminal"]

if TYPE_CHECKING:
    _Base = fdspawn[str]
else:  # not subscriptable at run time
    _Base = fdspawn

# Runs in the new session's first process: the pty (its stdin) becomes the controlling terminal,
# then the program replaces the trampoline. -I -S: no user site, no .pth files, nothing imported.
_TRAMPOLINE = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)
# Seconds to wait for the program after SIGHUP/SIGKILL when the test closes the terminal.
_REAP_TIMEOUT = 10.0


class Terminal(_Base):
    """``command`` with ``args`` on a new pseudo-terminal, driven like :class:`pexpect.spawn`.

    :param env: the program's environment (default: this process's).
    :param cwd: its working directory.
    :param timeout: the default bound, in seconds, of :meth:`expect`.
    :param dimensions: the terminal's rows and columns.
    """

    def __init__(self, command: str, args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
                 cwd: str | os.PathLike[str] | None = None, timeout: float = 30, encoding: str = "utf-8",
                 dimensions: tuple[int, int] = (24, 80)) -> None:
        controller, terminal = os.openpty()
        try:
            fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", dimensions[0], dimensions[1], 0, 0))
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, command, *args],
                stdin=terminal, stdout=terminal, stderr=terminal, env=None if env is None else dict(env),
                cwd=cwd, start_new_session=True, close_fds=True,
            )
        except BaseException:
            os.close(controller)
            raise
        finally:
            os.close(terminal)  # the program's copy is its only one: its exit is our EOF
        super().__init__(controller, timeout=timeout, encoding=encoding)
        self.pid = self.process.pid
        self.command = command  # type: ignore[assignment]
        self.name = f"<terminal: {command}>"

    def sendintr(self) -> None:
        """Type the interrupt character (Ctrl-C): SIGINT for the terminal's foreground process group."""
        self.send(self._control_character(termios.VINTR, b"\x03"))

    def sendeof(self) -> None:
        """Type the end-of-file character (Ctrl-D) at the start of a line."""
        self.send(self._control_character(termios.VEOF, b"\x04"))

    def _control_character(self, index: int, default: bytes) -> str:
        try:
            value = termios.tcgetattr(self.child_fd)[6][index]
        except (termios.error, OSError):
            value = default
        character = value if isinstance(value, bytes) else bytes([value])
        return character.decode("ascii")

    def isalive(self) -> bool:
        """Whether the program is still running."""
        return self.process.poll() is None

    def wait(self) -> int:
        """Wait for the program to end; its exit status (negative: the signal that ended it)."""
        returncode = self.process.wait()
        self._record(returncode)
        return returncode

    def close(self, force: bool = True) -> None:
        """Hang up the terminal and end the program (SIGHUP, with ``force`` SIGKILL after it), then
        close our side. The status is in :attr:`exitstatus` and :attr:`signalstatus` afterwards."""
        if self.process.poll() is None and self.flag_eof:
            try:  # it closed the terminal: it is ending, or has already ended
                self.process.wait(timeout=_REAP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            self._signal(signal.SIGHUP)
            try:
                self.process.wait(timeout=_REAP_TIMEOUT if not force else 1.0)
            except subprocess.TimeoutExpired:
                if force:
                    self._signal(signal.SIGKILL)
                self.process.wait(timeout=_REAP_TIMEOUT)
        if self.process.returncode is not None:
            self._record(self.process.returncode)
        super().close()

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)  # the program and whatever it started in its session
        except (ProcessLookupError, PermissionError):
            pass

    def _record(self, returncode: int) -> None:
        self.status = returncode
        self.exitstatus, self.signalstatus = (returncode, None) if returncode >= 0 else (None, -returncode)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close(force=True)
