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

What: per key (server URL, user name, password method, and the credential source's public
options such as a ``pass`` identifier or an ``exec`` command) one file ``<key>.session`` holding
the token and its expiry (plus the key's parts, the realm and user the token names, the login's
random id, and for a password given to the process a salted keyed digest of it -- never a
password), and ``<key>.lock``, the lock file. An entry serves only a process that could have
obtained it itself (see ``AuthSession._serves``). The directory must be the user's own with mode
0700, the files 0600; both are checked on every read (with ``fstat`` on the opened file, so
nothing can be swapped in between), and a wrong owner or mode is refused, as ssh refuses a
readable key: :class:`InsecureSessionStoreWarning` says which and how to fix it, nothing is read,
and the connection works as without a store.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

from .tokens import is_cookie_value, parse_token

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

FORMAT = 2
"""Entries of format 1 (without a credential binding) are ignored: their sessions are served to nobody."""
_MAX_ENTRY = 65536  # a token is at most 16 KiB; anything larger is not ours

BINDING_ITERATIONS = 50_000
"""PBKDF2-HMAC-SHA256 rounds of the credential binding (about 10 ms): slows a guess at the password
from a copied entry, costs a process using the store one computation per stored login."""

# Neither opening nor reading an entry may wait: a FIFO or a device in its place would block
# ``open`` (a FIFO without a writer) or ``read`` for ever.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


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
    source: str = ""
    """The digest of the credential source's public options (``pass`` identifier, ``exec`` command, ...)."""
    salt: str = ""
    binding: str = ""
    """A keyed digest of the secret the session was obtained with (``""``: none was given to the process)."""
    session_id: str = ""
    """Random per login: renewals carry it on, so a renewal never brings back an entry that
    ``logout`` removed or replaces another login's entry."""
    expires_in: float | None = None
    """Seconds the session had left when the entry was written; with the file's modification time
    (the kernel's clock) it gives the expiry independent of the writer's clock."""

    def __repr__(self) -> str:
        return (f"StoredSession(url={self.url!r}, username={self.username!r}, method={self.method!r}, "
                f"user={self.user!r}, realm={self.realm!r}, expires_at={self.expires_at!r}, token=***)")

    def __str__(self) -> str:
        return self.__repr__()

    @classmethod
    def make(cls, url: str, username: str, method: str, token: str, expires_at: float, source: str = "",
             salt: str = "", binding: str = "", session_id: str = "") -> StoredSession:
        """An entry for ``token``; the user, realm and issued-at are read from the token when it has them."""
        expires_in = expires_at - time.time()
        try:
            info = parse_token(token)
        except ValueError:
            return cls(url, username, method, token, expires_at, None, None, None, source, salt, binding,
                       session_id, expires_in)
        return cls(url, username, method, token, expires_at, info.issued_at_ms, info.username, info.realm,
                   source, salt, binding, session_id, expires_in)

    def newer_than(self, issued_ms: int | None, token: str | None) -> bool:
        """Whether this entry's token is newer than ``token`` (issued at ``issued_ms``)."""
        if token is None:
            return True
        if self.token == token:
            return False
        if self.issued_ms is None or issued_ms is None:
            return True  # opaque tokens: a different one is all we can know
        return self.issued_ms > issued_ms


def normalized_url(url: str) -> str:
    """``url`` as entries record it (one trailing slash)."""
    return url.rstrip("/") + "/"


def key_name(url: str, username: str | None, method: str, source: str = "") -> str:
    """The file name stem for a key: a hash, so that names reveal nothing and need no quoting.

    ``source`` is the digest of the credential source's public options (:func:`source_digest`):
    two ``exec`` commands (or ``pass`` identifiers) without a ``username`` get two entries.
    """
    parts = (normalized_url(url), username or "", method) + ((source,) if source else ())
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:40]


def source_digest(public: str) -> str:
    """The digest of the public part of a credential source (canonical JSON text)."""
    return hashlib.sha256(public.encode("utf-8", "surrogatepass")).hexdigest()[:40] if public else ""


def bind(secret: bytes, salt: str) -> str:
    """The keyed digest binding an entry to ``secret``: PBKDF2-HMAC-SHA256 keyed with the secret."""
    return hashlib.pbkdf2_hmac("sha256", secret, bytes.fromhex(salt), BINDING_ITERATIONS).hex()


def binding_matches(entry: StoredSession, secret: bytes | None, cache: dict[str, str] | None = None) -> bool:
    """Whether ``entry`` was obtained with ``secret`` (``None``: no secret was given to either)."""
    if secret is None:
        return not entry.binding
    if not entry.binding or not entry.salt:
        return False
    try:
        computed = cache.get(entry.salt) if cache is not None else None
        if computed is None:
            computed = bind(secret, entry.salt)
            if cache is not None:
                cache[entry.salt] = computed
    except ValueError:
        return False  # not a hex salt: not an entry of ours
    return hmac.compare_digest(computed, entry.binding)


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
            fd = _open(self.directory, flags | _NONBLOCK)
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
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
                    or stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a file")
            raise SessionStoreRefused(f"The session store file {path} is {kind}, not a regular file; it is "
                                      f"ignored. Remove it: rm {path}")
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
        path = os.path.join(self.directory, name)
        symlink = False
        try:
            fd = _open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | _NONBLOCK, 0o600, dir_fd=directory_fd)
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            symlink = True
        if symlink:  # raised outside the except block: no OSError context
            raise SessionStoreRefused(f"The session store file {path} is a symbolic link; it is ignored. "
                                      f"Remove it: rm {path}")
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
            try:
                return _read_entry(fd)
            finally:
                _close(fd)
        finally:
            _close(directory_fd)

    def write(self, key: str, entry: StoredSession, replace_only: bool = False, force: bool = False) -> bool:
        """Replace the entry for ``key`` atomically (rename), never with an older token.

        :param replace_only: a renewal: write only over an existing entry of the same login
            (``session_id``), so that a renewal never brings back a session that ``logout``
            removed, nor replaces a newer login's entry.
        :param force: a fresh login: replace whatever is there (an entry whose issued-at lies in
            the future, from a skewed server clock or a planted file, must not lock the key for good).
        :returns: whether the entry was written.
        """
        directory_fd = self._open_directory(create=not replace_only)
        if directory_fd is None:
            return False
        try:
            current = None if force else self._read_at(directory_fd, key)
            if replace_only and (current is None or not entry.session_id
                                 or current.session_id != entry.session_id):
                return False
            if current is not None and current.token != entry.token and current.issued_ms is not None \
                    and entry.issued_ms is not None and current.issued_ms > entry.issued_ms:
                return False  # another process stored a newer renewal meanwhile: newest wins
            data = json.dumps({"format": FORMAT, **entry._asdict()}).encode()
            temporary = f"{key}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            fd = _open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                       dir_fd=directory_fd)
            try:
                try:
                    os.fchmod(fd, 0o600)  # whatever the umask
                    view = memoryview(data)
                    while view:  # a short write (a nearly full disk) is continued, or fails below
                        view = view[os.write(fd, view):]
                finally:
                    _close(fd)
                os.replace(temporary, key + ".session", src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
            except BaseException:
                # A full disk (ENOSPC), a file size limit (EFBIG), an interrupt: no temporary file stays.
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
            return _read_entry(fd)
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
    """An exclusive ``flock`` on the key's lock file, tried without blocking.

    The holder writes its process id and program name into the lock file, so that a process
    waiting for long can say who holds it.
    """

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
        with contextlib.suppress(OSError):
            program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()} {program[:60]}".encode("utf-8", "replace"), 0)
        return True

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (``process 1234 (my_script.py)``)."""
        try:
            text = os.pread(self._fd, 128, 0).decode("utf-8", "replace")
        except OSError:
            return "another process"
        pid, _, program = text.partition(" ")
        if not pid.isdigit():
            return "another process"
        shown = "".join(c for c in program if c.isprintable())[:60]
        return f"process {pid} ({shown})" if shown else f"process {pid}"

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


def _read_entry(fd: int) -> StoredSession | None:
    data = os.read(fd, _MAX_ENTRY + 1)
    entry = _decode(data)
    if entry is None or entry.expires_in is None:
        return entry
    # The expiry the writer computed on its own clock is replaced by the time the kernel wrote the
    # file plus what was left then: a writer with a skewed clock cannot end the session for the others.
    written = os.fstat(fd).st_mtime
    return entry._replace(expires_at=written + entry.expires_in)


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
        expires_in = fields.get("expires_in")
        entry = StoredSession(
            url=str(fields["url"]), username=str(fields["username"]), method=str(fields["method"]),
            token=str(fields["token"]), expires_at=float(fields["expires_at"]),
            issued_ms=None if fields.get("issued_ms") is None else int(fields["issued_ms"]),
            user=None if fields.get("user") is None else str(fields["user"]),
            realm=None if fields.get("realm") is None else str(fields["realm"]),
            source=str(fields.get("source") or ""), salt=str(fields.get("salt") or ""),
            binding=str(fields.get("binding") or ""), session_id=str(fields.get("session_id") or ""),
            expires_in=None if expires_in is None else float(expires_in),
        )
    except (ValueError, TypeError, KeyError, RecursionError):
        return None  # a half-written or foreign file: as if nothing were stored
    if not entry.token or not is_cookie_value(entry.token):
        # Only what a server's Set-Cookie could have set (cookie octets, bounded length): a token
        # with other characters (non-Latin-1 text, a line break) is refused here, once, instead of
        # failing every request that would send it.
        return None
    return entry


MEMORY_FILE_SYSTEMS = frozenset({"tmpfs", "ramfs"})
"""File system types (as :func:`file_system_type` names them) that keep their files in memory."""


def file_system_type(path: str) -> str | None:
    """The type of the file system holding ``path`` (``tmpfs``, ``ext4``, ...); ``None`` where
    it cannot be told (no ``/proc/self/mountinfo``: not Linux)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            lines = mounts.read().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in lines:
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fs_type = line.split(" - ", 1)[1].split()[0]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fs_type
    return kind


def in_memory(path: str) -> bool | None:
    """Whether ``path`` lies on a file system in memory (tmpfs, ramfs); ``None``: cannot tell."""
    kind = file_system_type(path)
    return None if kind is None else kind in MEMORY_FILE_SYSTEMS


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
