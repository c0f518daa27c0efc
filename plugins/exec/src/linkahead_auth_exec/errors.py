"""The errors of the ``exec`` password method.

Both derive from :class:`~linkahead.exceptions.LoginFailedError`: the connection could not obtain
credentials. Their messages name the command's ``argv[0]``, never its output on stdout (which may
hold the secret it was about to hand over).
"""

from __future__ import annotations

from linkahead.exceptions import LoginFailedError

__all__ = ["CredentialCommandError", "CredentialOutputError"]


class CredentialCommandError(LoginFailedError):
    """The credential command failed: it exited with a non-zero status, was killed by a signal,
    or did not finish within ``exec_timeout``.

    :ivar command: the command's ``argv[0]``.
    :ivar returncode: its exit status (negative: killed by that signal), ``None`` after a time-out.
    """

    def __init__(self, msg: str, command: str, returncode: int | None = None) -> None:
        super().__init__(msg)
        self.command = command
        self.returncode = returncode


class CredentialOutputError(CredentialCommandError):
    """The credential command exited with status 0 but its output breaks the JSON contract."""
