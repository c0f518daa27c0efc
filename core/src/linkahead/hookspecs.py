"""The hooks a password-method plugin implements.

A plugin is a module (or any object) whose functions carry the :data:`linkahead.hookimpl`
marker, published under the ``linkahead.auth`` entry-point group; the entry-point name is the
``password_method`` value that selects it. Only the selected plugin is imported and registered,
so every hook below is answered by exactly one plugin.

The core owns the server: it logs in, keeps and renews the session cookie, repeats a request
once after a 401, and serialises logins across threads. A plugin only says where credentials
come from. Plugins never talk HTTP to the LinkAhead server.

Implement only the hooks you need; each is optional except :func:`get_credentials`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

if TYPE_CHECKING:
    from .configuration import ConnectionConfig
    from .credentials import Credentials
    from .options import Option
    from .testing import LinkAheadTestServer

PROJECT_NAME = "linkahead"

_F = TypeVar("_F", bound=Callable[..., object])


class HookspecMarker:
    """``pluggy.HookspecMarker(project_name)`` without importing pluggy.

    It sets the same attribute (``<project>_spec``, a dict of pluggy's spec options) that pluggy's
    own marker sets and pluggy reads, so the plugin manager -- made when a hook is first called,
    importing pluggy only then -- sees no difference. Importing pluggy costs a fresh
    interpreter about 6 ms (most of it ``inspect``), 7 % of ``import requests``.
    """

    def __init__(self, project_name: str) -> None:
        self.project_name = project_name

    @overload
    def __call__(self, function: _F, *, firstresult: bool = ..., historic: bool = ...) -> _F: ...

    @overload
    def __call__(self, function: None = ..., *, firstresult: bool = ..., historic: bool = ...
                 ) -> Callable[[_F], _F]: ...

    def __call__(self, function: _F | None = None, firstresult: bool = False, historic: bool = False,
                 warn_on_impl: Warning | None = None, warn_on_impl_args: Mapping[str, Warning] | None = None
                 ) -> _F | Callable[[_F], _F]:
        def mark(func: _F) -> _F:
            if historic and firstresult:
                raise ValueError("cannot have a historic firstresult hook")
            setattr(func, self.project_name + "_spec", {
                "firstresult": firstresult, "historic": historic, "warn_on_impl": warn_on_impl,
                "warn_on_impl_args": warn_on_impl_args,
            })
            return func

        return mark(function) if function is not None else mark


class HookimplMarker:
    """``pluggy.HookimplMarker(project_name)`` without importing pluggy: :data:`hookimpl` is one.

    Use it as pluggy's: ``@hookimpl`` or ``@hookimpl(tryfirst=True)``. It sets the attribute
    ``<project>_impl`` with pluggy's implementation options, exactly as pluggy's marker does, so a
    plugin decorated with ``pluggy.HookimplMarker("linkahead")`` works the same.
    """

    def __init__(self, project_name: str) -> None:
        self.project_name = project_name

    @overload
    def __call__(self, function: _F, *, hookwrapper: bool = ..., optionalhook: bool = ..., tryfirst: bool = ...,
                 trylast: bool = ..., specname: str | None = ..., wrapper: bool = ...) -> _F: ...

    @overload
    def __call__(self, function: None = ..., *, hookwrapper: bool = ..., optionalhook: bool = ...,
                 tryfirst: bool = ..., trylast: bool = ..., specname: str | None = ..., wrapper: bool = ...
                 ) -> Callable[[_F], _F]: ...

    def __call__(self, function: _F | None = None, hookwrapper: bool = False, optionalhook: bool = False,
                 tryfirst: bool = False, trylast: bool = False, specname: str | None = None,
                 wrapper: bool = False) -> _F | Callable[[_F], _F]:
        def mark(func: _F) -> _F:
            setattr(func, self.project_name + "_impl", {
                "wrapper": wrapper, "hookwrapper": hookwrapper, "optionalhook": optionalhook,
                "tryfirst": tryfirst, "trylast": trylast, "specname": specname,
            })
            return func

        return mark(function) if function is not None else mark

    def __repr__(self) -> str:
        return f"HookimplMarker({self.project_name!r})"


hookspec = HookspecMarker(PROJECT_NAME)
hookimpl = HookimplMarker(PROJECT_NAME)

RefreshReason = Literal["rejected", "expired", "requested"]
"""Why :func:`refresh` is called: see there."""


@hookspec(firstresult=True)
def get_credentials(config: ConnectionConfig) -> Credentials | None:
    """Return the credentials to authenticate with.

    **When**: the first time the connection needs to authenticate, that is before the first
    request after :func:`~linkahead.configure_connection` (lazily, not at configuration time).
    It is called once per connection; the core keeps the result and uses it for every later
    login, until :func:`refresh` replaces it.

    **Arguments**: ``config`` is the effective, read-only connection configuration: defaults,
    the ``[Connection]`` section of ``pylinkahead.ini`` and the keyword arguments merged, including
    the options this plugin declared with :func:`declare_options`. Read it like a mapping
    (``config["url"]``, ``config.get("username")``).

    **Returns**: one of :class:`~linkahead.PasswordCredentials`, :class:`~linkahead.TokenCredentials`,
    :class:`~linkahead.HeaderCredentials`, :class:`~linkahead.AnonymousCredentials`. ``None`` means
    "this plugin has no credentials"; the core raises :class:`~linkahead.exceptions.LoginFailedError`.
    Any other value is a plugin error reported with the plugin's name.

    **Errors**: raise a :class:`~linkahead.exceptions.LinkAheadException` subclass with a clear
    message (for example :class:`~linkahead.exceptions.ConfigurationError` for a missing option);
    other exceptions are wrapped in :class:`~linkahead.exceptions.PluginError`. Never put the
    secret into the message.

    **Threads**: never called concurrently for one connection; the core holds its login lock.

    ``firstresult``: the first non-``None`` answer wins (there is one plugin per connection).
    """


@hookspec(firstresult=True)
def refresh(
    config: ConnectionConfig, credentials: Credentials, reason: RefreshReason
) -> Credentials | None:
    """Return fresh credentials because the current ones no longer work.

    **When**, by ``reason``:

    - ``"rejected"``: the server refused ``credentials``: the login answered 401, or a token or
      header credential met a 401. (A 401 to an ordinary request with a session obtained from a
      password login is *not* a rejection: the core simply logs in again with the same password.)
    - ``"expired"``: ``credentials.expires_at`` (or the expiry of the token they carry) is about
      to pass; the core asks before it passes so no request fails.
    - ``"requested"``: a caller asked, e.g. ``get_connection().refresh_credentials()``.

    **Arguments**: ``config`` as in :func:`get_credentials`; ``credentials`` are the ones that stopped
    working; ``reason`` as above.

    **Returns**: new credentials, which replace the old ones and are used at once (the request that
    met the 401 is repeated once with them). ``None`` means "cannot refresh" -- the core then raises
    :class:`~linkahead.exceptions.LoginFailedError` naming the method. Returning the same
    credentials again after ``"rejected"`` is allowed but pointless; the core tries them once more
    and then reports the login failure.

    **Threads**: called at most once per failure, however many threads met it (single flight).

    ``firstresult``: the first non-``None`` answer wins.
    """


@hookspec
def declare_options() -> Sequence[Option]:  # type: ignore[empty-body]
    """Declare this plugin's own configuration options.

    **When**: when the connection is configured, before any credentials are asked for.

    **Returns**: a sequence of :class:`~linkahead.options.Option`. The core then accepts these
    keys in ``pylinkahead.ini`` and as keyword arguments, converts and checks their values, reports
    a missing ``required`` option before any network call, hides ``secret`` ones as ``***``, and
    lists them in ``linkahead-auth config`` and the docs. Names should start with the method name
    (``keyring_service``) unless they are one of the legacy keys (``password``,
    ``password_identifier``, ``auth_token``), which the core already knows; a plugin may list a
    core option again to mark it ``required`` for this method.
    """


@hookspec
def login_result(config: ConnectionConfig, credentials: Credentials, accepted: bool) -> None:
    """Hear whether the server accepted credentials at a login.

    **When**: right after the core sent ``POST /login`` with :class:`~linkahead.PasswordCredentials`
    this plugin supplied, and the server gave its verdict: ``accepted`` is ``True`` when it
    answered with a session, ``False`` when it refused the credentials (401). It is *not* called
    when the server said nothing about the credentials (the connection broke, a time-out, a 5xx),
    for token, header or anonymous credentials (there is no login), or for a session taken from
    the :doc:`session store </session-cache>` (no login happens).

    **Use**: keep a secret only once it is known to be right -- the ``keyring`` method stores a
    password typed at its prompt only after ``accepted`` is ``True`` and forgets it otherwise.
    A rejection is followed by :func:`refresh` (reason ``"rejected"``) when the core tries again.

    **Arguments**: ``config`` as in :func:`get_credentials`; ``credentials`` exactly the object the
    login used (compare it with what you handed out); ``accepted`` as above.

    **Returns**: nothing. Every registered implementation is called.

    **Errors**: a :class:`~linkahead.exceptions.LinkAheadException` raised here fails the request
    that caused the login, even after an accepted login; other exceptions become a
    :class:`~linkahead.exceptions.PluginError`. Prefer a warning for a failure that should not
    stop the program (a keyring that cannot store).

    **Threads**: called with the connection's login lock held, once per login, never concurrently
    for one connection; bounded by ``plugin_timeout`` like :func:`get_credentials`.
    """


@hookspec
def forget(config: ConnectionConfig) -> None:
    """Forget what this plugin keeps for the connection, because the user logs out.

    **When**: on ``linkahead-auth logout``, after the connection has logged out at the server.
    Cached tokens should be dropped; stored passwords (a keyring
    entry) may be removed when the plugin documents that it does so.

    **Returns**: nothing. Every registered implementation is called.
    """


@hookspec(firstresult=True)
def demo_config(server: LinkAheadTestServer, workdir: Path) -> Mapping[str, Any] | None:
    """Prepare a demonstration of this method against the embedded test server.

    **When**: only by ``linkahead-auth demo`` (and ``./run demo``), which starts a
    :class:`~linkahead.testing.LinkAheadTestServer` and logs in once with every installed method.

    **Arguments**: ``server`` is the running embedded server (its ``users`` map names to passwords;
    ``make_token()`` issues tokens); ``workdir`` is an empty temporary folder the plugin may fill
    (a throw-away password store, a keyring file, a script).

    **Returns**: keyword arguments for :func:`~linkahead.configure_connection` (``url`` and
    ``password_method`` are filled in by the demo). When the method cannot be shown without outside
    help, raise a :class:`~linkahead.exceptions.LinkAheadException` whose message says why (``input``:
    it asks a person for the password); the demo lists the method as skipped with that reason.
    ``None`` skips it too, with a reason that can only say the plugin cannot log in by itself.
    Set environment variables through ``os.environ`` only for the demo's own process.
    """
