"""The authentication state of one connection: credentials, the session cookie, single-flight logins.

Every request reads an immutable :class:`SessionState` without taking a lock. Only when the state
is not usable -- nothing authenticated yet, the session or the credentials about to expire, or the
server answered 401 -- does a thread take the lock, and then only the first thread does the work:
the others find a newer *generation* when they get the lock and use its result (or its error).
That is how 16 threads meeting one expired session cause one login.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode

from ..credentials import AnonymousCredentials, Credentials, HeaderCredentials, PasswordCredentials, TokenCredentials
from ..exceptions import (
    LinkAheadConnectionError,
    LinkAheadException,
    LinkAheadTimeoutError,
    LoginFailedError,
    error_for_status,
)
from ..plugins import Method
from ..tokens import parse_token, session_times, session_token_from_set_cookie
from .transport import Response

__all__ = ["SessionState", "AuthSession"]

logger = logging.getLogger("linkahead.connection")

INFINITY = float("inf")
# Refresh this long before an expiry: a tenth of the lifetime, at most 30 s.
MAX_MARGIN = 30.0
# A login that broke off with a connection error (a reset, a dropped keep-alive connection) is sent
# once more before the threads waiting for it hear the error; a time-out is not repeated.
LOGIN_ATTEMPTS = 2

SendFunction = Callable[[str, str, Mapping[str, str], Any], Response]


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

    @property
    def ready(self) -> bool:
        return self.credentials is not None and self.error is None

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
        self._state = SessionState(generation=0)

    @property
    def state(self) -> SessionState:
        return self._state

    # -- the per-request path ---------------------------------------------------------------

    def current(self) -> SessionState:
        """The state to send a request with; authenticates first when needed (single flight)."""
        state = self._state
        if state.error is None and state.credentials is not None and (
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
            if token and now.token is not None and now.issued_ms is not None:
                times = session_times(token)
                if times is not None and times[0] < now.issued_ms:
                    return  # a late answer carrying an older renewal than the one held
            self._state = self._with_token(now, token or None, sent_at, received_at)

    def rejected(self, state: SessionState) -> SessionState:
        """The server answered 401 to a request sent with ``state``: recover once, single flight."""
        return self._recover(state, rejected=True)

    # -- explicit actions -----------------------------------------------------------------------

    def refresh(self) -> SessionState:
        """Ask the plugin for fresh credentials now (reason ``"requested"``)."""
        with self._lock:
            state = self._state
            if state.credentials is None:
                # Nothing to refresh yet: the first credentials are fresh by definition.
                fresh = self._method.get_credentials(self._config)
                if fresh is None:
                    raise self._no_credentials()
            else:
                fresh = self._method.refresh(self._config, state.credentials, "requested") or state.credentials
            self._state = self._establish(fresh, state.generation + 1)
            return self._state

    def logout(self) -> None:
        """Log out at the server (``GET logout``) and forget the token; credentials are kept."""
        with self._lock:
            state = self._state
            # refresh_at in the past: the next request authenticates again before it is sent.
            self._state = SessionState(generation=state.generation + 1, credentials=state.credentials,
                                       refresh_at=0.0)
            if state.token:
                try:
                    response = self._send("GET", "logout", {"Cookie": f"SessionToken={state.token}"}, None)
                    response.read()
                except LinkAheadException as error:
                    logger.debug("Logout request failed (%s); the token is forgotten anyway.", type(error).__name__)
            logger.debug("Logged out; the session token is forgotten.")

    # -- the recovery dance --------------------------------------------------------------------

    def _recover(self, seen: SessionState, rejected: bool) -> SessionState:
        with self._lock:
            now = self._state
            if now.generation != seen.generation:
                # Another thread logged in (or failed to) while we waited: share its outcome.
                if now.error is not None:
                    raise _clone(now.error)
                if now.credentials is not None:
                    return now
            generation = now.generation + 1
            # After a refused login the next call starts from the same verdict, so that the plugin
            # hears "rejected" again (not "expired") and the error says the same thing twice.
            rejected = rejected or isinstance(now.error, LoginFailedError)
            try:
                state = self._next_state(now, rejected, generation)
            except LinkAheadException as error:
                self._state = SessionState(generation=generation, credentials=now.credentials, error=error)
                raise
            self._state = state
            return state

    def _next_state(self, now: SessionState, rejected: bool, generation: int) -> SessionState:
        credentials = now.credentials
        if credentials is None:
            credentials = self._method.get_credentials(self._config)
            if credentials is None:
                raise self._no_credentials()
            logger.debug("Password method %s supplied %s.", self._method.label, credentials)
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
            if token is not None:
                return self._with_token(state, token, sent_at)
            fresh = self._method.refresh(self._config, credentials, "rejected") if may_refresh else None
            if fresh is None:
                raise LoginFailedError(
                    f"The server rejected the login of user {credentials.username!r} "
                    f"(password_method {self._method.name!r}). Check the user name and the password."
                )
            return self._establish(fresh, generation, may_refresh=False)
        if isinstance(credentials, TokenCredentials):
            return self._with_token(state, credentials.token)
        return self._with_token(state, None)

    def _with_token(self, state: SessionState, token: str | None, sent_at: float | None = None,
                    received_at: float | None = None) -> SessionState:
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
            return state._replace(token=None, headers=headers, refresh_at=credentials_deadline, issued_ms=None)
        headers["Cookie"] = f"SessionToken={token}"
        received_at = time.time() if received_at is None else received_at
        times = session_times(token)
        if times is None:
            # A one-time token (its lifetime says nothing about the session it opens) or an
            # opaque value: no deadline, the server's 401 will tell.
            return state._replace(token=token, headers=headers, session_timeout=None, issued_ms=None,
                                  refresh_at=credentials_deadline)
        issued_ms, timeout_ms = times
        timeout = timeout_ms / 1000.0
        # The session ends at the token's own issued-at plus its time-out, not at the answer's
        # arrival plus the time-out: a slow answer carries a token issued long before it arrived.
        session_deadline = _issued_at(issued_ms, sent_at, received_at) + timeout - _margin(timeout)
        return state._replace(token=token, headers=headers, session_timeout=timeout, issued_ms=issued_ms,
                              refresh_at=min(session_deadline, credentials_deadline))

    def _login(self, credentials: PasswordCredentials) -> str | None:
        """``POST login``; the session token, or ``None`` when the server rejected the credentials.

        A connection error other than a time-out (a reset, a keep-alive connection the server had
        closed) is transient more often than not: the login is sent once more, so that one broken
        connection does not fail every thread waiting for this login. A second failure is raised,
        and shared by the waiting threads, so that an outage costs two attempts, not a storm.
        """
        body = urlencode({"username": credentials.username, "password": credentials.password})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        response, data = self._post_login(headers, body)
        if response.status == 401:
            logger.debug("The server rejected the login of %r.", credentials.username)
            return None
        if response.status >= 500:  # the server's trouble, not the credentials'
            raise error_for_status(response.status, response.reason, data,
                                   f"The login of user {credentials.username!r}")
        if response.status != 200:
            raise LoginFailedError(
                f"The login of user {credentials.username!r} failed: the server answered "
                f"{response.status} {response.reason}. Is url the LinkAhead server's base URL? "
                f"{_short_body(data)}".rstrip()
            )
        token = session_token_from_set_cookie(response.getheader("Set-Cookie"))
        if not token:
            raise LoginFailedError(
                "The server accepted the login but sent no usable SessionToken cookie. "
                "Is url pointing to a LinkAhead server (not a proxy or a web page)?"
            )
        logger.debug("Logged in as %r.", credentials.username)
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

    def _no_credentials(self) -> LoginFailedError:
        return LoginFailedError(
            f"The password method {self._method.label} supplied no credentials. "
            "Check its configuration options."
        )

    def _cannot_refresh_message(self, credentials: Credentials, reason: str) -> str:
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


def _short_body(data: bytes) -> str:
    text = data[:200].decode("utf-8", "replace").strip()
    return f"Server said: {' '.join(text.split())}" if text else ""


def _clone(error: LinkAheadException) -> LinkAheadException:
    """A fresh copy of a shared error, so threads do not share one traceback."""
    clone = error.__class__.__new__(error.__class__)
    clone.args = error.args
    clone.__dict__.update(error.__dict__)
    return clone
