"""The per-user session store: one login shared by every process of an OS user.

A process that logged in writes its session token (and when it expires) to a small file; other
processes of the same user that connect to the same server, as the same user, with the same
password method, read it and use the session instead of logging in again. A file lock makes the
login itself single-flight across processes: one logs in, the others wait for it (bounded) and
adopt its token. See ``docs/session-cache.rst`` for the user's view and ``docs/security.rst`` for
the security review.

Where: the option ``session_cache``. ``auto`` (the default) means ``$XDG_RUNTIME_DIR/linkahead-sessions``
when the runtime directory exists -- a per-user tmpfs, mode 0700, emptied when the user's last
OS session ends -- and otherwise, as tmux and ssh-agent do, a per-user folder in the temporary
directory, ``${TMPDIR:-/tmp}/linkahead-sessions-<uid>``: created 0700, never reached through a
symbolic link, and refused when someone else made it. ``none`` switches the store off; any other
value is a directory to use.

What: per key (server URL, user name, password method) one file ``<key>.session`` holding the
token and its expiry (plus the key's parts, the realm and user the token names -- never a
password), and ``<key>.lock``, the lock file. The directory must be the user's own with mode
0700, the files 0600; both are checked on every read (with ``fstat`` on the opened file, so
nothing can be swapped in between), and a wrong owner or mode is refused, as ssh refuses a
readable key: :class:`InsecureSessionStoreWarning` says which and how to fix it, nothing is read,
and the connection works as without a store.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

from .tokens import parse_token

__all__ = [
    "InsecureSessionStoreWarning",
    "SessionStoreRefused",
    "StoredSession",
    "SessionStore",
    "resolve",
]

logger = logging.getLogger("linkahead.session_store")

AUTO = "auto"

SUBDIRECTORY = "linkahead-sessions"
"""The store's folder below ``$XDG_RUNTIME_DIR``; in the temporary directory ``linkahead-sessions-<uid>``."""

FORMAT = 1
_MAX_ENTRY = 65536  # a token is at most 16 KiB; anything larger is not ours


class InsecureSessionStoreWarning(UserWarning):
    """The session store's folder or a file in it has the wrong owner or mode; it is not used."""


class SessionStoreRefused(Exception):
    """Internal: the store must not be used (the message says why and how to fix it)."""


class StoredSession(NamedTuple):
    """One stored session. ``repr`` never shows the token."""

    url: str
    username: str
    method: str
    token: str
    expires_at: float
    """Seconds since the epoch (this machine's clock) at which the session ends."""
    issued_ms: int | None
    """The token's own issued-at (the server's clock), to keep the newest token."""
    user: str | None
    realm: str | None

    def __repr__(self) -> str:
        return (f"StoredSession(url={self.url!r}, username={self.username!r}, method={self.method!r}, "
                f"user={self.user!r}, realm={self.realm!r}, expires_at={self.expires_at!r}, token=***)")

    def __str__(self) -> str:
        return self.__repr__()

    @classmethod
    def make(cls, url: str, username: str, method: str, token: str, expires_at: float) -> StoredSession:
        """An entry for ``token``; the user, realm and issued-at are read from the token when it has them."""
        try:
            info = parse_token(token)
        except ValueError:
            return cls(url, username, method, token, expires_at, None, None, None)
        return cls(url, username, method, token, expires_at, info.issued_at_ms, info.username, info.realm)

    def newer_than(self, issued_ms: int | None, token: str | None) -> bool:
        """Whether this entry's token is newer than ``token`` (issued at ``issued_ms``)."""
        if token is None:
            return True
        if self.token == token:
            return False
        if self.issued_ms is None or issued_ms is None:
            return True  # opaque tokens: a different one is all we can know
        return self.issued_ms > issued_ms


def key_name(url: str, username: str | None, method: str) -> str:
    """The file name stem for a key: a hash, so that names reveal nothing and need no quoting."""
    text = "\n".join((url.rstrip("/") + "/", username or "", method))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class SessionStore:
    """The store's folder; every method checks the owner and modes before it trusts anything.

    :raises SessionStoreRefused: from any method, when the folder or a file is not private.
    """

    def __init__(self, directory: str, explicit: bool, follow: bool = True) -> None:
        self.directory = directory
        self.explicit = explicit
        self.follow = follow
        """Whether the folder may be reached through a symbolic link (not in the shared temporary
        directory, where anyone may have put one in its place, as tmux checks with ``lstat``)."""

    def __repr__(self) -> str:
        return f"SessionStore({self.directory!r})"

    # -- the folder ---------------------------------------------------------------------------

    def _open_directory(self, create: bool) -> int | None:
        """A descriptor of the checked folder; ``None`` when it does not exist (and not ``create``)."""
        if create:
            try:
                if self.follow:
                    os.makedirs(self.directory, mode=0o700, exist_ok=True)
                else:
                    os.mkdir(self.directory, mode=0o700)  # the temporary directory itself must exist
            except FileExistsError:
                pass  # ours from before, or someone else's, a file or a symlink: the checks below tell
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if self.follow else os.O_NOFOLLOW)
        try:
            fd = _open(self.directory, flags)
        except FileNotFoundError:
            if create:
                raise
            return None
        except OSError as error:
            if not self.follow and error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise SessionStoreRefused(
                    f"The session store folder {self.directory} is not a folder of yours but "
                    f"{'a symbolic link' if os.path.islink(self.directory) else 'something else'} that "
                    "someone put in its place; its sessions are ignored. Remove it, or set session_cache "
                    "to a folder of your own (or to none).") from None
            raise
        try:
            self._check(os.fstat(fd), self.directory, folder=True)
        except BaseException:
            _close(fd)
            raise
        return fd

    def _check(self, info: os.stat_result, path: str, folder: bool) -> None:
        what = "folder" if folder else "file"
        if folder and not stat.S_ISDIR(info.st_mode):
            raise SessionStoreRefused(f"The session store {path} is not a folder.")
        if not folder and not stat.S_ISREG(info.st_mode):
            raise SessionStoreRefused(f"The session store file {path} is not a regular file; remove it.")
        uid = os.geteuid()
        if info.st_uid != uid:
            raise SessionStoreRefused(
                f"The session store {what} {path} belongs to user id {info.st_uid}, not to you ({uid}); "
                "its sessions are ignored. Remove it, or set session_cache to a folder of your own "
                "(or to none)."
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            wanted = "700" if folder else "600"
            raise SessionStoreRefused(
                f"Permissions {mode:04o} for the session store {what} {path} are too open: it must be "
                f"accessible only by you. Its sessions are ignored. Fix it with: chmod {wanted} {path}"
            )

    def _open_file(self, directory_fd: int, name: str, flags: int) -> int:
        fd = _open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=directory_fd)
        try:
            self._check(os.fstat(fd), os.path.join(self.directory, name), folder=False)
        except BaseException:
            _close(fd)
            raise
        return fd

    # -- entries ------------------------------------------------------------------------------

    def read(self, key: str) -> StoredSession | None:
        """The stored session for ``key``, or ``None`` (none stored, or unreadable as an entry)."""
        directory_fd = self._open_directory(create=False)
        if directory_fd is None:
            return None
        try:
            try:
                fd = self._open_file(directory_fd, key + ".session", os.O_RDONLY)
            except FileNotFoundError:
                return None
            except OSError as error:
                if error.errno == errno.ELOOP:
                    raise SessionStoreRefused(
                        f"The session store file {os.path.join(self.directory, key + '.session')} is a "
                        "symbolic link; it is ignored. Remove it.") from None
                raise
            try:
                data = os.read(fd, _MAX_ENTRY + 1)
            finally:
                _close(fd)
        finally:
            _close(directory_fd)
        return _decode(data)

    def write(self, key: str, entry: StoredSession, replace_only: bool = False) -> bool:
        """Replace the entry for ``key`` atomically (rename), never with an older token.

        :param replace_only: write only over an existing entry (a renewal must not bring back a
            session that ``logout`` removed).
        :returns: whether the entry was written.
        """
        directory_fd = self._open_directory(create=not replace_only)
        if directory_fd is None:
            return False
        try:
            current = self._read_at(directory_fd, key)
            if current is None and replace_only:
                return False
            if current is not None and current.token != entry.token and current.issued_ms is not None \
                    and entry.issued_ms is not None and current.issued_ms > entry.issued_ms:
                return False  # another process stored a newer token meanwhile: newest wins
            data = json.dumps({"format": FORMAT, **entry._asdict()}).encode()
            temporary = f"{key}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            fd = _open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                       dir_fd=directory_fd)
            try:
                os.fchmod(fd, 0o600)  # whatever the umask
                os.write(fd, data)
            finally:
                _close(fd)
            try:
                os.replace(temporary, key + ".session", src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=directory_fd)
                raise
            return True
        finally:
            _close(directory_fd)

    def _read_at(self, directory_fd: int, key: str) -> StoredSession | None:
        try:
            fd = self._open_file(directory_fd, key + ".session", os.O_RDONLY)
        except (FileNotFoundError, SessionStoreRefused):
            return None  # a refused file is replaced by the rename
        except OSError:
            return None
        try:
            return _decode(os.read(fd, _MAX_ENTRY + 1))
        finally:
            _close(fd)

    def remove(self, key: str) -> bool:
        """Delete the entry for ``key``; True when there was one."""
        directory_fd = self._open_directory(create=False)
        if directory_fd is None:
            return False
        try:
            os.unlink(key + ".session", dir_fd=directory_fd)
            return True
        except FileNotFoundError:
            return False
        finally:
            _close(directory_fd)

    # -- the login lock -----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[LoginLock]:
        """The lock file for ``key``, opened (not yet locked); closing it releases the lock."""
        directory_fd = self._open_directory(create=True)
        assert directory_fd is not None
        try:
            fd = self._open_file(directory_fd, key + ".lock", os.O_RDWR | os.O_CREAT)
        finally:
            _close(directory_fd)
        try:
            yield LoginLock(fd)
        finally:
            _close(fd)  # releases the flock; so does the kernel when a holder dies


class LoginLock:
    """An exclusive ``flock`` on the key's lock file, tried without blocking."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.held = False

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        if self.held:
            return True
        import fcntl  # POSIX only; resolve() offers no store elsewhere

        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        return True

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting at most ``timeout`` seconds (polling: flock has no time-out)."""
        deadline = time.monotonic() + timeout
        pause = 0.002
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        return True


# Every descriptor the store holds open, so that a forked child closes its copies at once: a
# child that kept the copy of a lock file's descriptor would hold the parent's flock (it belongs to
# the open file, which both share) for as long as the child lives, and make the parent's waiting
# peers wait for nothing. Opening and closing happen under a lock that a fork also takes, so no
# descriptor is forked between its open and its registration.
_open_fds: set[int] = set()
_fds_lock = threading.Lock()


def _open(path: str, flags: int, mode: int = 0o777, dir_fd: int | None = None) -> int:
    with _fds_lock:
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
        _open_fds.add(fd)
        return fd


def _close(fd: int) -> None:
    with _fds_lock:
        _open_fds.discard(fd)
        os.close(fd)


def _after_fork_in_child() -> None:
    global _fds_lock
    for fd in _open_fds:
        with contextlib.suppress(OSError):
            os.close(fd)  # the child's copy only: the parent's descriptor and lock stay as they are
    _open_fds.clear()
    _fds_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=lambda: _fds_lock.acquire(), after_in_parent=lambda: _fds_lock.release(),
                        after_in_child=_after_fork_in_child)


def _decode(data: bytes) -> StoredSession | None:
    if len(data) > _MAX_ENTRY:
        return None
    try:
        fields = json.loads(data)
        if not isinstance(fields, dict) or fields.get("format") != FORMAT:
            return None
        entry = StoredSession(
            url=str(fields["url"]), username=str(fields["username"]), method=str(fields["method"]),
            token=str(fields["token"]), expires_at=float(fields["expires_at"]),
            issued_ms=None if fields.get("issued_ms") is None else int(fields["issued_ms"]),
            user=None if fields.get("user") is None else str(fields["user"]),
            realm=None if fields.get("realm") is None else str(fields["realm"]),
        )
    except (ValueError, TypeError, KeyError, RecursionError):
        return None  # a half-written or foreign file: as if nothing were stored
    if not entry.token or any(c in entry.token for c in "\r\n\0;, "):
        return None
    return entry


def resolve(setting: str) -> tuple[SessionStore | None, str]:
    """The store for a ``session_cache`` value, or ``None`` with the reason (for one DEBUG line)."""
    if setting == "none":
        return None, "session_cache = none"
    if os.name != "posix" or not hasattr(os, "O_NOFOLLOW"):
        return None, "the session store needs a POSIX system (file modes, O_NOFOLLOW and flock)"
    if setting != AUTO:
        return SessionStore(setting, explicit=True), f"session_cache = {setting}"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        why = "$XDG_RUNTIME_DIR is not set"
    elif not os.path.isabs(runtime):
        why = "$XDG_RUNTIME_DIR is not an absolute path"
    else:
        try:
            info = os.stat(runtime)
        except OSError as error:
            why = f"$XDG_RUNTIME_DIR {runtime} cannot be used ({error.strerror})"
        else:
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not stat.S_IMODE(info.st_mode) & 0o077:
                return SessionStore(os.path.join(runtime, SUBDIRECTORY), explicit=False), "$XDG_RUNTIME_DIR"
            why = f"$XDG_RUNTIME_DIR {runtime} is not a private folder of this user"
    folder = temporary_folder()
    return SessionStore(folder, explicit=False, follow=False), f"{why}: the per-user folder in the temporary directory"


def temporary_folder() -> str:
    """``${TMPDIR:-/tmp}/linkahead-sessions-<uid>``: the store where there is no ``$XDG_RUNTIME_DIR``.

    The place ssh-agent and tmux choose. ``$TMPDIR`` counts when it is an absolute path (macOS
    gives each user a private one); the folder is created 0700 on first use and checked like any
    store folder, and additionally never followed through a symbolic link.
    """
    base = os.environ.get("TMPDIR") or ""
    if not os.path.isabs(base):
        base = "/tmp"  # noqa: S108 -- the per-user folder below it is created 0700 and checked on every use
    return os.path.join(base, f"{SUBDIRECTORY}-{os.geteuid()}")
