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
from urllib.parse import quote_plus, urlencode

from ..credentials import AnonymousCredentials, Credentials, HeaderCredentials, PasswordCredentials, TokenCredentials
from ..exceptions import LinkAheadException, LoginFailedError, error_for_status
from ..plugins import Method
from ..redaction import reveals
from ..tokens import parse_token, session_token_from_set_cookie
from .transport import Response

__all__ = ["SessionState", "AuthSession", "repeated_401_message"]

logger = logging.getLogger("linkahead.connection")

INFINITY = float("inf")
# Refresh this long before an expiry: a tenth of the lifetime, at most 30 s.
MAX_MARGIN = 30.0

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

    def adopt(self, response: Response, state: SessionState) -> None:
        """Keep the newest ``SessionToken`` a response carries (the server renews it on the fly)."""
        header = response.getheader("Set-Cookie")
        if header is None or isinstance(state.credentials, AnonymousCredentials):
            return
        token = session_token_from_set_cookie(header)
        if token is None or token == state.token:
            return
        with self._lock:
            now = self._state
            if now.generation != state.generation:
                return  # a late answer to a request sent before a new login
            self._state = self._with_token(now, token or None)

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
            token = self._login(credentials)
            if token is not None:
                return self._with_token(state, token or None)
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

    def _with_token(self, state: SessionState, token: str | None) -> SessionState:
        """``state`` holding ``token`` as its session cookie, with the deadlines that follow."""
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
            return state._replace(token=None, headers=headers, refresh_at=credentials_deadline)
        headers["Cookie"] = f"SessionToken={token}"
        # Parsing a token costs more than the rest of a request's bookkeeping, so the session's
        # lifetime is read once per session; a renewal only moves the deadline.
        timeout = state.session_timeout
        if timeout is None or state.token is None or (
            isinstance(credentials, TokenCredentials) and state.token == credentials.token
        ):
            timeout = _token_lifetime(token)
        session_deadline = INFINITY if timeout in (None, INFINITY) else time.time() + timeout - _margin(timeout)
        return state._replace(token=token, headers=headers, session_timeout=timeout,
                       refresh_at=min(session_deadline, credentials_deadline))

    def _login(self, credentials: PasswordCredentials) -> str | None:
        """``POST login``; the session token (``""``: accepted without one), ``None``: rejected.

        An error never quotes the server's answer: a proxy or a misconfigured server may echo the
        request, and the request holds the password.
        """
        body = _login_form(credentials)
        if body is None:
            raise LoginFailedError(
                f"The password method {self._method.label} supplied a user name or password that cannot "
                "be sent: it is not valid Unicode text (a lone surrogate, often from a mis-decoded file "
                "or terminal). The value is not shown; check where the method gets it from."
            )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        response = self._send("POST", "login", headers, body)
        response.read()
        if response.status == 401:
            logger.debug("The server rejected the login of %r.", credentials.username)
            return None
        reason = _safe_reason(getattr(response, "reason", "") or "", credentials)  # mock-ups have none
        if response.status >= 500:  # the server's trouble, not the credentials'
            # The body is dropped too: it may echo the request, and errors keep their body.
            raise error_for_status(response.status, reason, b"",
                                   f"The login of user {credentials.username!r}")
        if response.status != 200:
            raise LoginFailedError(
                f"The login of user {credentials.username!r} failed: the server answered "
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
            logger.debug("The server accepted the login of %r without a SessionToken cookie.", credentials.username)
            return ""
        token = session_token_from_set_cookie(set_cookie)
        if not token:
            raise LoginFailedError(
                "The server accepted the login but sent no usable SessionToken cookie. "
                "Is url pointing to a LinkAhead server (not a proxy or a web page)?"
            )
        logger.debug("Logged in as %r.", credentials.username)
        return token

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


def _token_lifetime(token: str) -> float | None:
    """The session lifetime a token announces; ``inf`` when it cannot be read, ``None`` for one-time tokens."""
    try:
        info = parse_token(token)
    except ValueError:
        return INFINITY
    if info.one_time:
        return None  # a one-time token's lifetime says nothing about the session it opens
    return info.timeout_ms / 1000.0


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


def _clone(error: LinkAheadException) -> LinkAheadException:
    """A fresh copy of a shared error, so threads do not share one traceback."""
    clone = error.__class__.__new__(error.__class__)
    clone.args = error.args
    clone.__dict__.update(error.__dict__)
    return clone


def repeated_401_message(request: str, method_label: str, credentials: Credentials | None) -> str:
    """The message for a 401 that came back even after the one recovery (a new login or new credentials).

    Worded for what happened with this kind of credentials: a 401 says "not authenticated", not
    "not allowed" (that is 403), so it does not blame the account's permissions.
    """
    lead = f"The server answered 401 (not authenticated) to {request} twice"
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
