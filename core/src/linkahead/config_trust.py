"""Which configuration files are trusted: git's ``safe.directory`` rule for ``pylinkahead.ini``.

A configuration file can make the connection run programs (``exec_command``, ``pass_gpg_binary``,
a plugin's own options), so a file that someone else controls must not be read: a
``pylinkahead.ini`` another user put into a shared project folder would otherwise run their
command as you (the class of git's CVE-2022-24765). A file is trusted when

- it belongs to you or to root, and
- nobody but its owner may write it: not others (mode ``o+w``), and not the group -- unless the
  group is the owner's private group (named like the owner, no other members; Debian's
  ``umask 002`` makes such files ``664``).

Any other file is refused with a :class:`~linkahead.exceptions.ConfigurationError` naming the
file, its owner and the two ways out: take the file over (``chown``/``chmod``), or trust it
deliberately by listing it in the environment variable :data:`TRUST_VARIABLE`.

The same check applies to a file named by ``$PYLINKAHEADINI`` and to the files in the home folder.
Files larger than :data:`MAX_CONFIG_BYTES` are refused too (a configuration file is a few lines).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .exceptions import ConfigurationError

__all__ = ["TRUST_VARIABLE", "MAX_CONFIG_BYTES", "check_config_file", "trusted_paths"]

TRUST_VARIABLE = "LINKAHEAD_TRUSTED_CONFIG"
"""Configuration files to read although another user owns them or others may write them:
absolute paths separated by ``os.pathsep`` (``:``), or ``*`` for every file (git's
``safe.directory = *``)."""

MAX_CONFIG_BYTES = 1 << 20
"""A configuration file larger than this (1 MiB) is refused before it is read."""


def trusted_paths() -> tuple[bool, frozenset[str]]:
    """``(everything, paths)`` from :data:`TRUST_VARIABLE`."""
    value = os.environ.get(TRUST_VARIABLE, "")
    entries = [entry.strip() for entry in value.split(os.pathsep) if entry.strip()]
    every = "*" in entries
    paths = frozenset(os.path.realpath(os.path.expanduser(entry)) for entry in entries if entry != "*")
    return every, paths


def _user(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _private_group(info: os.stat_result) -> bool:
    """Whether the file's group is its owner's private group (named like the owner, no other member)."""
    try:
        import grp
        import pwd

        owner = pwd.getpwuid(info.st_uid)
        group = grp.getgrgid(info.st_gid)
    except (ImportError, KeyError):
        return False
    return owner.pw_gid == info.st_gid and group.gr_name == owner.pw_name and not set(group.gr_mem) - {owner.pw_name}


def check_config_file(path: Path, info: os.stat_result) -> None:
    """Refuse ``path`` (already opened; ``info`` from ``fstat``) unless it is trusted.

    :raises ConfigurationError: another user owns it, others may write it, or it is too large.
    """
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigurationError(
            f"The configuration file {str(path)!r} is {info.st_size} bytes large; a configuration file is a "
            f"few lines, and files over {MAX_CONFIG_BYTES} bytes are not read. Point PYLINKAHEADINI at the "
            "right file, or remove this one."
        )
    if os.name != "posix":
        return  # ownership and mode bits are POSIX; Windows protects a profile with ACLs
    mode = stat.S_IMODE(info.st_mode)
    me = os.geteuid()
    problem = None
    fix = ""
    if info.st_uid not in (me, 0):
        problem = f"belongs to {_user(info.st_uid)}, not to you ({_user(me)}) or root"
        fix = f"take it over (cp it to a file of your own, or as root: chown {me} {path})"
    elif mode & 0o002 or (mode & 0o020 and not _private_group(info)):
        who = "everyone" if mode & 0o002 else "its group"
        problem = f"belongs to {_user(info.st_uid)} but {who} may change it (mode {mode:04o})"
        fix = f"make it writable only by its owner (chmod go-w {path})"
    if problem is None:
        return
    every, paths = trusted_paths()
    if every or os.path.realpath(path) in paths:
        return
    raise ConfigurationError(
        f"The configuration file {str(path)!r} {problem}. It is not read: its options could run programs as "
        f"you (exec_command, pass_gpg_binary), as git refuses a repository someone else owns. If it is yours "
        f"to use, {fix}; or trust it deliberately: {TRUST_VARIABLE}={os.path.realpath(path)} (several files "
        f"separated by '{os.pathsep}', '*' for all)."
    )
