"""The authentication state of one connection: credentials, the session cookie, single-flight logins.

Every request reads an immutable :class:`SessionState` without taking a lock. Only when the state
is not usable -- nothing authenticated yet, the session or the credentials about to expire, or the
server answered 401 -- does a thread take the lock, and then only the first thread does the work:
the others find a newer *generation* when they get the lock and use its result (or its error).
That is how 16 threads meeting one expired session cause one login.

With a session store (:mod:`linkahead.session_store`, option ``session_cache``) the same dance
spans processes: before logging in, a thread looks for a newer session in the store; if there is
none it takes the store's file lock, looks once more (another process may have logged in while it
waited) and only then logs in and stores the new session. Renewed tokens are written back (at
most once per refresh margin), so the stored session lives as long as some process uses it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote, quote_plus, urlencode

from ..credentials import AnonymousCredentials, Credentials, HeaderCredentials, PasswordCredentials, TokenCredentials
from ..exceptions import (
    LinkAheadConnectionError,
    LinkAheadException,
    LinkAheadTimeoutError,
    LoginFailedError,
    error_for_status,
)
from ..options import CORE_OPTIONS
from ..plugins import Method
from ..redaction import reveals
from ..session_store import (
    InsecureSessionStoreWarning,
    LoginLock,
    SessionStore,
    SessionStoreRefused,
    StoredSession,
    bind,
    binding_matches,
    key_name,
    normalized_url,
    resolve,
    source_digest,
)
from ..tokens import cookie_value, parse_token, session_times, session_token_from_set_cookie
from .transport import Response

__all__ = ["SessionState", "AuthSession", "repeated_401_message"]

logger = logging.getLogger("linkahead.connection")

INFINITY = float("inf")
# Refresh this long before an expiry: a tenth of the lifetime, at most 30 s.
MAX_MARGIN = 30.0
# A login that broke off with a connection error (a reset, a dropped keep-alive connection) is sent
# once more before the threads waiting for it hear the error; a time-out is not repeated.
LOGIN_ATTEMPTS = 2

SendFunction = Callable[[str, str, Mapping[str, str], Any], Response]
T = TypeVar("T")

# Methods whose credentials never lead to a password login: nothing of theirs is ever stored, so
# they do not even look (or queue for the store's lock).
_NEVER_SHARED = frozenset({"auth_token", "unauthenticated"})

# Core options that say where the credentials come from; the other core options (url and username
# are part of the key anyway) do not. Every option a plugin declares does, except its time-outs.
_SOURCE_CORE = frozenset({"password", "password_identifier", "auth_token"})
_CORE_NAMES = frozenset(option.name for option in CORE_OPTIONS)

# A wait for the store's lock longer than this says at INFO who holds it.
LOCK_WAIT_NOTICE = 2.0


def credential_source(config: Any) -> tuple[str, bytes | None]:
    """The credential source of ``config``: its public part (canonical JSON) and its secret part.

    The public part holds the options that choose *where* credentials come from (a ``pass``
    identifier, an ``exec`` command, a keyring service, any option a plugin declares except its
    time-outs); it becomes part of the store's key. The secret part holds the values of secret
    options (a ``password`` given to the process, ``exec_env``); a stored entry keeps only a keyed
    digest of it, so a process with another password never matches.
    """
    declared = getattr(config, "options", None)
    names = list(declared) if isinstance(declared, Mapping) else ["password"]
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for name in sorted(set(names)):
        if (name in _CORE_NAMES and name not in _SOURCE_CORE) or name.endswith("_timeout"):
            continue
        value = config.get(name)
        if value is None:
            continue
        option = declared.get(name) if isinstance(declared, Mapping) else None
        if name in _SOURCE_CORE - {"password_identifier"} or (option is not None and option.secret):
            secret[name] = value
        else:
            public[name] = value

    def canonical(values: Mapping[str, Any]) -> str:
        return json.dumps(values, sort_keys=True, default=str, ensure_ascii=True)

    return (canonical(public) if public else ""), (canonical(secret).encode() if secret else None)


_checked_runtime: set[str] = set()  # runtime folders whose file system this process has looked up


def _warn_if_on_disk(directory: str) -> None:
    """Warn (once per folder and process) when the default store's runtime folder is not in memory.

    The file system is looked up once per folder and process: reading ``/proc/self/mountinfo`` is
    cheap on a laptop and is not on a cluster node with thousands of mounts, and a script may
    configure its connection many times.
    """
    from ..session_store import MEMORY_FILE_SYSTEMS, file_system_type

    parent = os.path.dirname(directory)
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not runtime or os.path.realpath(parent) != os.path.realpath(runtime):
        # The per-user folder in the temporary directory (no private $XDG_RUNTIME_DIR): disk or
        # memory is whatever the system's temporary directory is, as for tmux's and ssh-agent's
        # sockets, and documented so; a warning in every script would make the default unusable.
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("The session store %s is in the temporary directory (file system %s).", directory,
                         file_system_type(parent))
        return
    if parent in _checked_runtime:
        return
    _checked_runtime.add(parent)
    kind = file_system_type(parent)
    if kind is None or kind in MEMORY_FILE_SYSTEMS:
        return
    from .transport import _caller_stacklevel

    warnings.warn(
        f"The runtime folder {parent} ($XDG_RUNTIME_DIR) is not in memory (file system "
        f"{kind}): the session store's tokens written there reach a disk and may end "
        "up in backups. Use a tmpfs folder (systemd's /run/user/<uid>), set session_cache to a folder in "
        "memory, or session_cache = none.",
        InsecureSessionStoreWarning,
        stacklevel=_caller_stacklevel(),
    )


class _RejectedUnderLock(Exception):
    """Internal: a login was refused while the store's lock was held; the plugin is asked for
    better credentials only after the lock is released (it may prompt a person)."""

    def __init__(self, credentials: PasswordCredentials) -> None:
        super().__init__("login refused")
        self.credentials = credentials


# Every AuthSession of the process: a forked child gives each a fresh lock (a parent's thread may
# have held it, logging in, at the moment of the fork; in the child nobody would ever release it).
# The child keeps the session token: it is the same OS user's session, as the session store shares it.
_sessions: weakref.WeakSet[AuthSession] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for session in list(_sessions):
        session._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _margin(lifetime: float) -> float:
    return min(MAX_MARGIN, max(lifetime, 0.0) / 10.0)


class SessionState(NamedTuple):
    """A snapshot of the authentication state; replaced, never changed."""

    generation: int
    credentials: Credentials | None = None
    token: str | None = None
    headers: Mapping[str, str] = {}  # never mutated: every new state gets a new dict
    refresh_at: float = INFINITY
    credentials_refresh_at: float = INFINITY
    session_timeout: float | None = None
    error: LinkAheadException | None = None
    issued_ms: int | None = None  # the held token's issued-at (server clock), to keep the newest
    expires_at: float = INFINITY  # when the held session token ends (this machine's clock)
    adopted: bool = False  # the token was set by the caller (auth_token = ...): never shared

    @property
    def ready(self) -> bool:
        """Usable: credentials, or a session adopted from the store before any credentials were needed."""
        return (self.credentials is not None or self.token is not None) and self.error is None

    def __repr__(self) -> str:
        kind = type(self.credentials).__name__ if self.credentials else None
        return f"SessionState(generation={self.generation}, credentials={kind}, token={'***' if self.token else None})"


class AuthSession:
    """Owns credentials and ``SessionToken`` for one connection; see the module docstring."""

    def __init__(self, method: Method, config: Any, send: SendFunction) -> None:
        self._method = method
        self._config = config
        self._send = send
        self._lock = threading.Lock()
        _sessions.add(self)
        self._state = SessionState(generation=0)
        self._store: SessionStore | None = None
        self._store_reason = "the password method never logs in with a password"
        self._store_key = ""
        self._published = -INFINITY  # the expiry of the session this process last stored
        self._found_dead: str | None = None  # the last stored token the server refused: not asked again
        self._source = ""
        self._secret: bytes | None = None
        self._bindings: dict[str, str] = {}  # salt -> digest of our secret (PBKDF2 is not free)
        self._salt = ""
        self._session_id = ""  # the login whose entry this process renews (see StoredSession.session_id)
        self._store_locked = False  # this thread holds the store's lock (under self._lock)
        if method.name not in _NEVER_SHARED:
            self._store, self._store_reason = resolve(str(config.get("session_cache") or "none"))
            if self._store is None:
                logger.debug("No session store (%s): the session stays in this process.", self._store_reason)
            else:
                if not self._store.explicit:
                    _warn_if_on_disk(self._store.directory)
                public, self._secret = credential_source(config)
                self._source = source_digest(public)
                self._store_key = key_name(str(config["url"]), config.get("username"), method.name,
                                           self._source)

    @property
    def state(self) -> SessionState:
        return self._state

    # -- the per-request path ---------------------------------------------------------------

    def current(self) -> SessionState:
        """The state to send a request with; authenticates first when needed (single flight)."""
        state = self._state
        if state.error is None and (state.credentials is not None or state.token is not None) and (
            state.refresh_at == INFINITY or time.time() < state.refresh_at
        ):
            return state
        return self._recover(state, rejected=False)

    def adopt(self, response: Response, state: SessionState, sent_at: float | None = None) -> None:
        """Keep the newest ``SessionToken`` a response carries (the server renews it on the fly).

        :param sent_at: when the request was sent (``time.time()``); bounds the token's issued-at.
        """
        header = response.getheader("Set-Cookie")
        if header is None or isinstance(state.credentials, AnonymousCredentials):
            return
        token = session_token_from_set_cookie(header)
        if token is None or token == state.token:
            return
        received_at = time.time()
        with self._lock:
            now = self._state
            if now.generation != state.generation:
                return  # a late answer to a request sent before a new login
            times = session_times(token) if token else None
            if times is not None and now.issued_ms is not None and times[0] < now.issued_ms:
                return  # a late answer carrying an older renewal than the one held
            self._state = renewed = self._with_token(now, token or None, sent_at, received_at, times)
            publish = renewed.expires_at - self._published >= _margin(renewed.session_timeout or 0.0)
        if publish and self._store is not None and self._shares(renewed):
            self._publish(renewed, renewal=True)

    def rejected(self, state: SessionState) -> SessionState:
        """The server answered 401 to a request sent with ``state``: recover once, single flight."""
        return self._recover(state, rejected=True)

    # -- explicit actions -----------------------------------------------------------------------

    def refresh(self, required: bool = False) -> SessionState:
        """Ask the plugin for fresh credentials now (reason ``"requested"``).

        :param required: a plugin that has none (it answers ``None``) is a :class:`LoginFailedError`
            saying so, instead of keeping the current credentials.
        """
        with self._lock:
            state = self._state
            if state.credentials is None:
                # Nothing to refresh yet: the first credentials are fresh by definition.
                fresh = self._method.get_credentials(self._config)
                if fresh is None:
                    raise self._no_credentials()
            else:
                renewed = self._method.refresh(self._config, state.credentials, "requested")
                if renewed is None and required:
                    raise LoginFailedError(self._cannot_refresh_message(state.credentials, "requested"))
                fresh = renewed or state.credentials
            self._state = self._shared_login(fresh, state.generation + 1)
            return self._state

    def login(self, seen: SessionState | None = None) -> SessionState:
        """Log in now with the method's credentials, and store the session when a store is in use.

        This is ``linkahead-auth login`` and ``_login()``: it always logs in -- the server checks
        the credentials; a stored session is never taken instead, and the entry is replaced
        whatever it holds -- so that the session that later processes find is fresh and belongs
        to these credentials.

        :param seen: the state the caller saw; when another thread logged in since (a newer
            generation from a login), its result is shared instead of a second login.
        """
        with self._lock:
            state = self._state
            if seen is not None and state.generation != seen.generation and state.error is None \
                    and isinstance(state.credentials, PasswordCredentials) and state.token is not None:
                return state
            credentials = state.credentials
            if credentials is None:
                credentials = self._method.get_credentials(self._config)
                if credentials is None:
                    raise self._no_credentials()
            try:
                self._state = self._shared_login(credentials, state.generation + 1)
            except LinkAheadException as error:
                self._state = SessionState(generation=state.generation + 1, credentials=state.credentials,
                                           error=error)
                raise
            return self._state

    def logout(self) -> bool:
        """Log out at the server (``GET logout``), forget the token and remove it from the store.

        Credentials are kept. The stored session is removed for every process; processes that
        already hold its token in memory keep it until it ends (the server does not revoke it).
        Returns whether there was a session to end.
        """
        with self._lock:
            state = self._state
            token = state.token
            if self._store is not None and self._shares(state):
                entry = self._store_call(lambda store: store.read(self._store_key))
                if token is None and entry is not None and self._serves(entry):
                    token = entry.token

                def remove(store: SessionStore) -> bool:
                    # Under the store's lock (bounded): a renewal in flight finishes before the
                    # entry goes, and renewals after it find no entry of their login to replace.
                    with store.lock(self._store_key) as lock:
                        lock.acquire(self._lock_wait())
                        return store.remove(self._store_key)

                if self._store_call(remove):
                    logger.debug("Removed the session from the session store %s.", self._store.directory)
                self._published = -INFINITY
                self._session_id = ""
            # refresh_at in the past: the next request authenticates again before it is sent.
            self._state = SessionState(generation=state.generation + 1, credentials=state.credentials,
                                       refresh_at=0.0)
            if token:
                try:
                    response = self._send("GET", "logout", {"Cookie": f"SessionToken={token}"}, None)
                    response.read()
                except LinkAheadException as error:
                    logger.debug("Logout request failed (%s); the token is forgotten anyway.", type(error).__name__)
            logger.debug("Logged out; the session token is forgotten.")
            return token is not None

    def use_token(self, token: str | None) -> None:
        """Make ``token`` the session from now on (upstream's ``_authenticator.auth_token = token``).

        ``token`` is a token as upstream's authenticators hold it (decoded: raw JSON, or any text),
        or already percent-encoded; it is sent percent-encoded, as upstream sends it.
        The credentials stay: after a 401 the method recovers as it would from any refused session.
        ``None`` forgets the session, so the next request authenticates first. A token set this way
        stays in this process: neither it nor its renewals go to the session store.
        """
        with self._lock:
            now = self._state
            base = SessionState(generation=now.generation + 1, credentials=now.credentials,
                                credentials_refresh_at=now.credentials_refresh_at, adopted=True)
            if not token:
                self._state = base._replace(refresh_at=0.0)
            else:
                self._state = self._with_token(base, _written_token(token))

    def shared_session(self) -> dict[str, Any]:
        """What the session store holds for this connection, for ``linkahead-auth status`` (never the token).

        Keys: ``store`` (the folder, or ``None``), ``reason`` (why there is no store, or where it
        comes from), ``exists``, ``user``, ``realm``, ``expires_at`` (seconds since the epoch),
        ``valid`` (not yet expired), ``refused`` (the message when the store is not private),
        ``ours`` (the stored session is this connection's login or one it adopted). An entry another credential
        source stored (another password, another command) is not reported: it is not this
        configuration's session.
        """
        report: dict[str, Any] = {"store": None, "reason": self._store_reason, "exists": False, "user": None,
                                  "realm": None, "expires_at": None, "valid": False, "refused": None}
        store = self._store
        if store is None:
            return report
        report["store"] = store.directory
        try:
            entry = store.read(self._store_key)
        except SessionStoreRefused as refusal:
            report["refused"] = str(refusal)
            return report
        except OSError as error:
            report["refused"] = f"the session store {store.directory} cannot be read ({error.strerror})"
            return report
        if entry is not None and self._serves(entry):
            report.update(exists=True, user=entry.user, realm=entry.realm, expires_at=entry.expires_at,
                          valid=time.time() < entry.expires_at,
                          ours=bool(entry.session_id) and entry.session_id == self._session_id)
        return report

    # -- the recovery dance --------------------------------------------------------------------

    def _recover(self, seen: SessionState, rejected: bool) -> SessionState:
        with self._lock:
            now = self._state
            if now.generation != seen.generation:
                # Another thread logged in (or failed to) while we waited: share its outcome.
                if now.error is not None:
                    raise _clone(now.error)
                if now.credentials is not None or now.token is not None:
                    return now
            generation = now.generation + 1
            # After a refused login the next call starts from the same verdict, so that the plugin
            # hears "rejected" again (not "expired") and the error says the same thing twice.
            rejected = rejected or isinstance(now.error, LoginFailedError)
            try:
                # What comes next is a session of the method's own, also after a token the caller set.
                if self._store is not None and self._shares(now._replace(adopted=False)):
                    state = self._next_shared_state(now, rejected, generation)
                else:
                    state = self._next_state(now, rejected, generation)
            except LinkAheadException as error:
                self._state = SessionState(generation=generation, credentials=now.credentials, error=error)
                raise
            self._state = state
            return state

    # -- the session store: the same dance across processes ---------------------------------------

    def _shares(self, state: SessionState) -> bool:
        """Whether ``state``'s session is one the store may hold: from a password login, or from the store.

        A token the caller set (:meth:`use_token`) is not.
        """
        if state.adopted:
            return False
        return state.credentials is None or isinstance(state.credentials, PasswordCredentials)

    def _next_shared_state(self, now: SessionState, rejected: bool, generation: int) -> SessionState:
        """:meth:`_next_state`, but first adopt a newer stored session, and log in under the store's lock."""
        found = self._from_store(now, rejected, generation)
        if found is not None:
            return found
        # The first credentials are asked for before the store's lock is taken: the lock is never
        # held while a person types a password or a device-code prompt waits (the others would
        # wait for a person); under it there is only the login request, bounded by timeout.
        supplied = self._first_credentials() if now.credentials is None else None
        try:
            with contextlib.ExitStack() as stack:
                lock = self._store_call(lambda store: stack.enter_context(store.lock(self._store_key)))
                if lock is not None:
                    found = self._wait_for_login(lock, now, rejected, generation)
                    if found is not None:
                        return found
                stack.enter_context(self._holding_store_lock())
                state = self._next_state(now, rejected, generation, supplied)
                if lock is not None and self._shares(state):
                    self._publish(state)
                return state
        except _RejectedUnderLock as refusal:
            rejected_credentials = refusal.credentials
        # The login was refused: the plugin may ask a person for a better password, so it is asked
        # with the lock released, and the second login takes the lock again.
        return self._shared_login(self._better_credentials(rejected_credentials), generation, may_refresh=False)

    def _wait_for_login(self, lock: LoginLock, now: SessionState, rejected: bool,
                        generation: int) -> SessionState | None:
        """Take the store's lock; a session another process stores meanwhile ends the wait.

        The wait is bounded (a login may take ``plugin_timeout`` plus two request time-outs); after
        it this process logs in by itself. A holder that died releases the lock with its last file
        descriptor, so it never blocks the others.
        """
        started = time.monotonic()
        deadline = started + self._lock_wait()
        notice = started + LOCK_WAIT_NOTICE
        pause = 0.002
        while not lock.try_acquire():
            found = self._from_store(now, rejected, generation)
            if found is not None:
                return found
            moment = time.monotonic()
            if moment >= notice:
                notice = INFINITY
                logger.info("Waiting for the session store's lock of %s, held by %s while it logs in "
                            "(at most %.0f s more; session store %s).", self._config.get("url"),
                            lock.holder(), max(deadline - moment, 0.0),
                            self._store.directory if self._store else "")
            if moment >= deadline:
                logger.info("%s has been logging in for %.0f s; logging in without waiting for it.",
                            lock.holder().capitalize(), self._lock_wait())
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        # Holding the lock: a process that held it before may have stored its session just now.
        return self._from_store(now, rejected, generation)

    def _lock_wait(self) -> float:
        """How long to wait for the store's lock: the request deadline (connect plus read time-out;
        with ``timeout = null``, 600 s).

        The holder only sends its login under the lock (credentials are obtained before it), so a
        live holder is done within that; a hung one costs the waiters no more than a request.
        """
        from .transport import total_deadline

        request = total_deadline(self._config.get("timeout"))
        return 600.0 if request is None else request

    def _from_store(self, now: SessionState, rejected: bool, generation: int) -> SessionState | None:
        """A state holding the stored session when it is newer than ours and not about to end."""
        entry = self._store_call(lambda store: store.read(self._store_key))
        if entry is None or entry.token == self._found_dead or not entry.newer_than(now.issued_ms, now.token):
            return None
        if not self._serves(entry):
            return None
        times = session_times(entry.token)
        if times is None:
            return None
        issued_local = entry.expires_at - times[1] / 1000.0
        state = self._with_token(SessionState(generation=generation, credentials=now.credentials),
                                 entry.token, issued_local, issued_local)
        if time.time() >= state.refresh_at:
            return None
        if rejected and not self._still_valid(entry.token):
            self._found_dead = entry.token  # polled again while waiting for the lock: ask only once
            return None
        self._published = max(self._published, entry.expires_at)
        self._session_id = entry.session_id
        logger.debug("Using the session from the session store (user %r, realm %r).", entry.user, entry.realm)
        return state

    def _serves(self, entry: StoredSession) -> bool:
        """Whether ``entry`` may serve this connection: only if this process could have obtained it.

        The entry must record this url, user name, method and credential source, name the
        configured user in its token, and -- when a secret (a password) was given to this process
        -- have been obtained with the same secret (a keyed digest; a wrong password never matches).
        """
        username = str(self._config.get("username") or "")
        problem = None
        if entry.url != normalized_url(str(self._config["url"])) or entry.username != username \
                or entry.method != self._method.name or entry.source != self._source:
            problem = "it records another url, user name, method or credential source"
        elif username and entry.user != username:
            problem = "its token names another user"
        elif not binding_matches(entry, self._secret, self._bindings):
            problem = "it was obtained with other credentials (another password)"
        if problem is not None:
            logger.debug("Not using the stored session: %s.", problem)
            return False
        return True

    def _still_valid(self, token: str) -> bool:
        """Ask the server whether a stored token still works (``GET Info``).

        Only after a 401: the stored session is newer than the one the server refused, but it may
        still date from before the server restarted. One request, instead of a login or a second
        401 for the request being repeated.
        """
        response = self._send("GET", "Info", {"Cookie": f"SessionToken={token}"}, None)
        response.read()
        return response.status == 200

    def _shared_login(self, credentials: Credentials, generation: int, may_refresh: bool = True) -> SessionState:
        """:meth:`_establish` under the store's lock, and store the session it makes.

        A refused login asks the plugin for better credentials with the lock released (the plugin
        may prompt), then logs in once more under the lock.
        """
        if self._store is None or not isinstance(credentials, PasswordCredentials):
            return self._establish(credentials, generation, may_refresh)
        try:
            with contextlib.ExitStack() as stack:
                lock = self._store_call(lambda store: stack.enter_context(store.lock(self._store_key)))
                if lock is not None and not lock.acquire(self._lock_wait()):
                    logger.info("%s holds the session store's lock; logging in without it.",
                                lock.holder().capitalize())
                stack.enter_context(self._holding_store_lock())
                state = self._establish(credentials, generation, may_refresh)
                self._publish(state)
                return state
        except _RejectedUnderLock as refusal:
            rejected_credentials = refusal.credentials
        return self._shared_login(self._better_credentials(rejected_credentials), generation, may_refresh=False)

    @contextlib.contextmanager
    def _holding_store_lock(self) -> Iterator[None]:
        """While the store's lock is held, a refused login does not ask the plugin (see :class:`_RejectedUnderLock`)."""
        self._store_locked = True
        try:
            yield
        finally:
            self._store_locked = False

    def _better_credentials(self, credentials: PasswordCredentials) -> Credentials:
        """The plugin's answer to a refused login (reason ``"rejected"``), asked without the store's lock."""
        fresh = self._method.refresh(self._config, credentials, "rejected")
        if fresh is None:
            raise self._rejected_login(credentials)
        return fresh

    def _rejected_login(self, credentials: PasswordCredentials) -> LoginFailedError:
        return LoginFailedError(
            f"The server rejected the login of user {_user(credentials.username)} "
            f"(password_method {self._method.name!r}). Check the user name and the password."
        )

    def _publish(self, state: SessionState, renewal: bool = False) -> None:
        """Store ``state``'s session.

        After a login the caller holds the store's lock (or waited for it in vain). A renewal takes
        the lock only if it is free -- a process holding it is logging in, and its session will
        supersede this one -- and only replaces an existing entry.
        """
        store = self._store
        token = state.token
        if store is None or token is None or state.expires_at == INFINITY or not self._shares(state):
            return
        if not renewal:
            self._session_id = os.urandom(12).hex()  # a new login: renewals of older ones stop here
        entry = StoredSession.make(normalized_url(str(self._config["url"])),
                                   str(self._config.get("username") or ""), self._method.name, token,
                                   state.expires_at, source=self._source, session_id=self._session_id,
                                   **self._binding())

        def write(store: SessionStore) -> bool:
            if not renewal:
                # A fresh login replaces whatever is there (also an entry claiming a future issued-at).
                return store.write(self._store_key, entry, force=True)
            with store.lock(self._store_key) as lock:
                if not lock.try_acquire():
                    return False  # someone is logging in: their session supersedes this renewal
                # Only over an existing entry: after a logout, a renewal must not bring it back.
                return store.write(self._store_key, entry, replace_only=True)

        # Also when nothing was written: the next attempt waits for the next margin's worth of renewal.
        self._published = max(self._published, state.expires_at)
        self._store_call(write)

    def _binding(self) -> dict[str, str]:
        """The salt and keyed digest of this process's secret for a new entry (empty: no secret)."""
        if self._secret is None:
            return {}
        if not self._salt:
            self._salt = os.urandom(16).hex()
            self._bindings[self._salt] = bind(self._secret, self._salt)
        return {"salt": self._salt, "binding": self._bindings[self._salt]}

    def _store_call(self, operation: Callable[[SessionStore], T]) -> T | None:
        """Run a store operation; a store that cannot be used is given up for this connection."""
        store = self._store
        if store is None:
            return None
        try:
            return operation(store)
        except SessionStoreRefused as refusal:
            self._give_up_store(str(refusal), warn=True)
        except OSError as error:
            self._give_up_store(f"the session store {store.directory} cannot be used "
                                f"({error.strerror or type(error).__name__})", warn=False)
        return None

    def _give_up_store(self, reason: str, warn: bool) -> None:
        if self._store is None:
            return
        self._store = None
        self._store_reason = reason = reason.rstrip(".")
        logger.debug("Not using the session store: %s. The session stays in this process.", reason)
        if warn:
            from .transport import _caller_stacklevel

            warnings.warn(reason, InsecureSessionStoreWarning, stacklevel=_caller_stacklevel())

    def _first_credentials(self) -> Credentials:
        credentials = self._method.get_credentials(self._config)
        if credentials is None:
            raise self._no_credentials()
        logger.debug("Password method %s supplied %s.", self._method.label, credentials)
        return credentials

    def _next_state(self, now: SessionState, rejected: bool, generation: int,
                    supplied: Credentials | None = None) -> SessionState:
        credentials = now.credentials
        if credentials is None:
            credentials = supplied if supplied is not None else self._first_credentials()
            state = self._establish(credentials, generation)
            if time.time() >= state.credentials_refresh_at:
                # Born expired (an old token): ask once for better ones instead of a doomed request.
                return self._establish(self._refreshed(credentials, "expired"), generation)
            return state

        if rejected:
            if isinstance(credentials, PasswordCredentials):
                # The session ended (expired, server restart): the password itself is still good.
                logger.debug("The server rejected the session; logging in again.")
                return self._establish(credentials, generation)
            return self._establish(self._refreshed(credentials, "rejected"), generation)

        # Not rejected: we are here because something is about to expire.
        exchanged = isinstance(credentials, TokenCredentials) and now.token != credentials.token
        if time.time() >= now.credentials_refresh_at and not exchanged:
            return self._establish(self._refreshed(credentials, "expired"), generation)
        if isinstance(credentials, PasswordCredentials):
            logger.debug("The session is about to expire; logging in again.")
            return self._establish(credentials, generation)
        if isinstance(credentials, HeaderCredentials):
            # The headers stay valid; only the server session behind them is ending.
            return self._with_token(now._replace(generation=generation), None)
        return self._establish(self._refreshed(credentials, "expired"), generation)

    def _refreshed(self, credentials: Credentials, reason: str) -> Credentials:
        logger.debug("Asking password method %s to refresh credentials (reason: %s).", self._method.label, reason)
        fresh = self._method.refresh(self._config, credentials, reason)
        if fresh is None:
            raise LoginFailedError(self._cannot_refresh_message(credentials, reason))
        return fresh

    def _establish(self, credentials: Credentials, generation: int, may_refresh: bool = True) -> SessionState:
        """Turn credentials into a usable state: log in, or prepare the token or headers.

        A login answered 401 asks the plugin once for better credentials (reason ``"rejected"``).
        """
        state = SessionState(generation=generation, credentials=credentials)
        if isinstance(credentials, PasswordCredentials):
            sent_at = time.time()
            token = self._login(credentials)
            self._tell_login_result(credentials, accepted=token is not None)
            if token is not None:
                return self._with_token(state, token or None, sent_at)
            if may_refresh and self._store_locked:
                raise _RejectedUnderLock(credentials)  # the caller asks the plugin without the lock
            fresh = self._method.refresh(self._config, credentials, "rejected") if may_refresh else None
            if fresh is None:
                raise self._rejected_login(credentials)
            return self._establish(fresh, generation, may_refresh=False)
        if isinstance(credentials, TokenCredentials):
            return self._with_token(state, credentials.token)
        return self._with_token(state, None)

    def _with_token(self, state: SessionState, token: str | None, sent_at: float | None = None,
                    received_at: float | None = None, times: tuple[int, int] | None = None) -> SessionState:
        """``state`` holding ``token`` as its session cookie, with the deadlines that follow.

        ``sent_at``/``received_at`` bracket the request that brought ``token``: the server issued
        it in between, whatever its clock says (see :func:`_issued_at`).
        """
        credentials = state.credentials
        headers = dict(credentials.headers) if isinstance(credentials, HeaderCredentials) else {}
        # The credentials' deadline is fixed when they arrive: recomputed on every renewal, its
        # margin (a tenth of the time left) would shrink towards nothing under steady traffic.
        if state.token is None and state.credentials_refresh_at == INFINITY:
            state = state._replace(credentials_refresh_at=_deadline(_expiry_of(credentials)))
        # A token credential stops mattering once the server has swapped it for a session token.
        exchanged = isinstance(credentials, TokenCredentials) and token != credentials.token
        credentials_deadline = INFINITY if exchanged else state.credentials_refresh_at
        if token is None:
            return state._replace(token=None, headers=headers, refresh_at=credentials_deadline, issued_ms=None,
                                  expires_at=INFINITY)
        headers["Cookie"] = f"SessionToken={token}"
        received_at = time.time() if received_at is None else received_at
        if times is None:
            times = session_times(token)
        if times is None:
            # A one-time token (its lifetime says nothing about the session it opens) or an
            # opaque value: no deadline, the server's 401 will tell.
            return state._replace(token=token, headers=headers, session_timeout=None, issued_ms=None,
                                  expires_at=INFINITY, refresh_at=credentials_deadline)
        issued_ms, timeout_ms = times
        timeout = timeout_ms / 1000.0
        # The session ends at the token's own issued-at plus its time-out, not at the answer's
        # arrival plus the time-out: a slow answer carries a token issued long before it arrived.
        expires_at = _issued_at(issued_ms, sent_at, received_at) + timeout
        return state._replace(token=token, headers=headers, session_timeout=timeout, issued_ms=issued_ms,
                              expires_at=expires_at,
                              refresh_at=min(expires_at - _margin(timeout), credentials_deadline))

    def _login(self, credentials: PasswordCredentials) -> str | None:
        """``POST login``; the session token (``""``: accepted without one), ``None``: rejected.

        An error never quotes the server's answer: a proxy or a misconfigured server may echo the
        request, and the request holds the password.

        A connection error other than a time-out (a reset, a keep-alive connection the server had
        closed) is transient more often than not: the login is sent once more, so that one broken
        connection does not fail every thread waiting for this login. A second failure is raised,
        and shared by the waiting threads, so that an outage costs two attempts, not a storm.
        """
        body = _login_form(credentials)
        if body is None:
            raise LoginFailedError(
                f"The password method {self._method.label} supplied a user name or password that cannot "
                "be sent: it is not valid Unicode text (a lone surrogate, often from a mis-decoded file "
                "or terminal). The value is not shown; check where the method gets it from."
            )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        response, _data = self._post_login(headers, body)
        if response.status == 401:
            logger.debug("The server rejected the login of %s.", _user(credentials.username))
            return None
        reason = _safe_reason(getattr(response, "reason", "") or "", credentials)  # mock-ups have none
        if response.status >= 500:  # the server's trouble, not the credentials'
            # The body is dropped too: it may echo the request, and errors keep their body.
            raise error_for_status(response.status, reason, b"",
                                   f"The login of user {_user(credentials.username)}")
        if response.status != 200:
            raise LoginFailedError(
                f"The login of user {_user(credentials.username)} failed: the server answered "
                f"{response.status} {reason}. Is url the LinkAhead server's base URL (not a proxy, a "
                "redirect or a web page)? The answer is not shown: it may repeat the password."
            )
        set_cookie = response.getheader("Set-Cookie")
        if not set_cookie:
            # Accepted without a session cookie: upstream carries on without one, and test
            # doubles of downstream tools (upstream's MockUpServerConnection) rely on that. A web
            # page answering in place of the server is still named as such.
            content_type = (response.getheader("Content-Type") or "").lower()
            if "html" in content_type:
                raise LoginFailedError(
                    "The login was answered by a web page (Content-Type text/html), not by a LinkAhead "
                    "server. Is url the server's base URL (not a proxy's or a portal's page)?"
                )
            logger.debug("The server accepted the login of %s without a SessionToken cookie.",
                         _user(credentials.username))
            return ""
        token = session_token_from_set_cookie(set_cookie)
        if not token:
            raise LoginFailedError(
                "The server accepted the login but sent no usable SessionToken cookie. "
                "Is url pointing to a LinkAhead server (not a proxy or a web page)?"
            )
        logger.debug("Logged in as %s.", _user(credentials.username))
        return token

    def _post_login(self, headers: Mapping[str, str], body: str) -> tuple[Response, bytes]:
        for attempt in range(1, LOGIN_ATTEMPTS + 1):
            try:
                response = self._send("POST", "login", headers, body)
                return response, response.read()
            except LinkAheadTimeoutError:
                raise
            except LinkAheadConnectionError as error:
                if attempt == LOGIN_ATTEMPTS:
                    raise
                logger.debug("The login broke off (%s); sending it once more.", type(error).__name__)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _tell_login_result(self, credentials: PasswordCredentials, accepted: bool) -> None:
        """The ``login_result`` hook, for plugins that implement it."""
        if not self._method.implements("login_result"):
            return
        from ..plugins import _time_limit

        self._method.call(
            lambda hook: hook.login_result(config=self._config, credentials=credentials, accepted=accepted),
            "login_result", _time_limit(self._config),
        )

    def _no_credentials(self) -> LoginFailedError:
        return LoginFailedError(
            f"The password method {self._method.label} supplied no credentials. "
            "Check its configuration options."
        )

    def _cannot_refresh_message(self, credentials: Credentials, reason: str) -> str:
        if reason == "requested":  # _login(): a login was asked for
            if isinstance(credentials, TokenCredentials):
                return (
                    f"Cannot log in again: the password method {self._method.label} only has the token it "
                    "was given, and a client cannot renew a token. Get a new token (from the server's web "
                    "interface or your administrator) and configure the connection with it: "
                    "configure_connection(auth_token=...)."
                )
            return (
                f"Cannot log in again: the password method {self._method.label} cannot obtain new "
                "credentials on request. Provide new ones in its configuration and configure the "
                "connection again."
            )
        what = "were rejected by the server" if reason == "rejected" else "have expired"
        if isinstance(credentials, TokenCredentials):
            what = "was rejected by the server" if reason == "rejected" else "has expired"
            subject = "The authentication token"
        elif isinstance(credentials, AnonymousCredentials):
            subject = "Anonymous access"
            what = "was refused by the server (it may not allow anonymous users)"
        else:
            subject = "The credentials"
        return (
            f"{subject} {what}, and the password method {self._method.label} cannot obtain new ones. "
            "Provide new credentials (for auth_token: a new token) and configure the connection again."
        )


def _deadline(expires_at: float | None) -> float:
    if expires_at is None:
        return INFINITY
    return expires_at - _margin(expires_at - time.time())


def _expiry_of(credentials: Credentials | None) -> float | None:
    if credentials is None:
        return None
    if credentials.expires_at is not None:
        return credentials.expires_at
    if isinstance(credentials, TokenCredentials):
        try:
            return parse_token(credentials.token).expires_at
        except ValueError:
            return None
    return None


def _issued_at(issued_ms: int, sent_at: float | None, received_at: float) -> float:
    """When a token was issued, on this machine's clock.

    The token says when, on the server's clock. The two clocks may differ (the skew), but the
    server certainly issued the token while the request was on its way: after ``sent_at`` and
    before ``received_at``. So the token's own time is trusted within that window and clamped to
    it outside: a server clock ahead of ours costs at most what the old rule (arrival time) cost,
    one behind ours makes us refresh at most one round trip early -- never a login storm.
    """
    issued = issued_ms / 1000.0
    if issued > received_at:
        return received_at
    if sent_at is not None and issued < sent_at:
        return sent_at
    return issued if sent_at is not None else received_at


def _user(name: str) -> str:
    """A user name for a message: ``repr``, cut after 80 characters (a 10 MB name is not repeated)."""
    shown = repr(name)
    return shown if len(shown) <= 82 else f"{shown[:80]}... ({len(name)} characters)"


def _login_form(credentials: PasswordCredentials) -> str | None:
    """The login form, or ``None`` when a value cannot be encoded (computed outside any ``except``
    block, so that no error raised afterwards carries the encoder's error, which holds the value)."""
    try:
        return urlencode({"username": credentials.username, "password": credentials.password})
    except UnicodeError:
        return None


def _safe_reason(reason: str, credentials: PasswordCredentials) -> str:
    """The reason phrase of an answer to the login, unless it may repeat the password."""
    shown = " ".join(str(reason or "").split())[:60]
    if reveals(shown, credentials.password) or reveals(shown, quote_plus(credentials.password)):
        return "(reason phrase not shown: it repeats part of the request)"
    return shown


def _written_token(token: str) -> str:
    """The cookie value for a token given as upstream's ``auth_token`` holds it: percent-encoded.

    A value that is percent-encoded already (it has ``%`` and only cookie characters, as the
    server's cookie spells it) is kept, as :func:`~linkahead.tokens.cookie_value` keeps it.
    """
    if "%" in token and cookie_value(token) == token:
        return token
    return quote(token, safe="")


def _clone(error: LinkAheadException) -> LinkAheadException:
    """A fresh copy of a shared error, so threads do not share one traceback."""
    clone = error.__class__.__new__(error.__class__)
    clone.args = error.args
    clone.__dict__.update(error.__dict__)
    return clone


def repeated_401_message(request: str, method_label: str, credentials: Credentials | None,
                         token: str | None = "") -> str:
    """The message for a 401 that came back even after the one recovery (a new login or new credentials).

    Worded for what happened with this kind of credentials: a 401 says "not authenticated", not
    "not allowed" (that is 403), so it does not blame the account's permissions. ``token`` is the
    session token the second request carried (``None``: the login set no cookie).
    """
    lead = f"The server answered 401 (not authenticated) to {request} twice"
    if isinstance(credentials, PasswordCredentials) and token is None:
        return (
            f"{lead}: the password method {method_label} logged in and the server accepted the login "
            "but set no SessionToken cookie, so the request went without a session. A LinkAhead server "
            "always sets one: is url the server's base URL, not a proxy or another service?"
        )
    if isinstance(credentials, PasswordCredentials):
        return (
            f"{lead}: the password method {method_label} logged in again in between and the server "
            "accepted that login, yet not the session it had just issued. The server ends sessions as "
            "fast as it makes them (restarted or overloaded, or several servers behind a load balancer "
            "that do not share sessions). Try again; if it persists, ask the server's administrator."
        )
    if isinstance(credentials, TokenCredentials):
        return (
            f"{lead}: the password method {method_label} supplied a new token in between and the server "
            "did not accept that one either (expired, already used up, or issued for another server). "
            "Get a new token and configure the connection again."
        )
    if isinstance(credentials, HeaderCredentials):
        return (
            f"{lead}: the password method {method_label} supplied new request headers in between and "
            "the server (or the single sign-on front end before it) did not accept those either. Check "
            "the method's configuration and that your sign-on is still valid."
        )
    return (
        f"{lead}: the server does not serve this request without authentication (password method "
        f"{method_label}). Use a password method that logs in, or ask the administrator to allow "
        "anonymous access."
    )
