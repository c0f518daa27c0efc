"""Finding and loading password-method plugins (entry-point group ``linkahead.auth``).

Discovery reads entry-point metadata only; the selected plugin is the only one imported. A plugin
may also be given directly as an object (a module or instance with hook implementations).

The hooks that may wait for the outside world (``get_credentials``, ``refresh``, ``forget``) are
bounded by the ``plugin_timeout`` option: they run in a worker thread, and when one does not return
in time the caller gets a :class:`~linkahead.exceptions.PluginError` naming the plugin. A thread
cannot be stopped from outside, so the hung one is left behind as a daemon thread (it ends with the
process, or whenever the plugin returns; its late answer is dropped). While standard input is a
terminal the hooks run directly instead: a prompt may take as long as its person needs, and Ctrl-C
interrupts it (and restores the terminal) as usual.
"""

from __future__ import annotations

import contextvars
import importlib.metadata as metadata
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pluggy

from . import hookspecs
from .credentials import CREDENTIAL_TYPES, Credentials
from .exceptions import LinkAheadException, PasswordMethodNotFoundError, PluginError
from .options import Option

__all__ = [
    "ENTRY_POINT_GROUP",
    "STANDARD_METHODS",
    "Method",
    "installed_methods",
    "distribution_for",
    "load_method",
]

ENTRY_POINT_GROUP = "linkahead.auth"
STANDARD_METHODS = ("plain", "input", "pass", "keyring", "auth_token", "unauthenticated", "exec")

T = TypeVar("T")


def installed_methods() -> dict[str, metadata.EntryPoint]:
    """The password methods installed in this environment, by name (metadata only, nothing imported)."""
    found: dict[str, metadata.EntryPoint] = {}
    # Same result as metadata.entry_points(group=...), a third of the cost: that parses the
    # entry points of every installed distribution, here only files that mention our group are
    # parsed. The first distribution on sys.path wins a name, as there.
    for dist in metadata.distributions(path=_distribution_paths()):
        text = dist.read_text("entry_points.txt")
        if not text or ENTRY_POINT_GROUP not in text:
            continue
        for entry_point in dist.entry_points.select(group=ENTRY_POINT_GROUP):
            found.setdefault(entry_point.name, entry_point)
    return found


def _distribution_paths() -> list[str]:
    """``sys.path`` without the standard library's own folders, which hold no plugins.

    Listing the standard library folder costs more than the rest of the discovery together.
    """
    stdlib = os.path.dirname(os.__file__)
    skip = {stdlib, os.path.join(stdlib, "lib-dynload")}
    return [entry for entry in sys.path if entry not in skip and not (
        entry.endswith(".zip") and not os.path.exists(entry)
    )]


def distribution_for(method: str) -> str:
    """The conventional distribution name for a method: ``linkahead-auth-<name>``."""
    return "linkahead-auth-" + method.replace("_", "-")


class Method:
    """A loaded password method: its name, origin and a plugin manager holding only it."""

    def __init__(self, name: str, plugin: object, manager: pluggy.PluginManager,
                 entry_point: metadata.EntryPoint | None = None) -> None:
        self.name = name
        self.plugin = plugin
        self.manager = manager
        self._entry_point = entry_point

    @property
    def distribution(self) -> str | None:
        """The distribution that provides the plugin (``None`` for a plugin object)."""
        return _dist_name(self._entry_point)

    @property
    def version(self) -> str | None:
        """The distribution's version; read on demand (it parses the distribution's metadata)."""
        dist = self._entry_point.dist if self._entry_point is not None else None
        return dist.version if dist is not None else None

    @property
    def label(self) -> str:
        """``'pass' (linkahead-auth-pass 0.1.0)`` -- how errors name the plugin."""
        if self.distribution:
            version = f" {self.version}" if self.version else ""
            return f"{self.name!r} (distribution {self.distribution}{version})"
        return f"{self.name!r}"

    def options(self) -> tuple[Option, ...]:
        """The options the plugin declares (see :func:`~linkahead.hookspecs.declare_options`)."""
        declared = self.call(lambda hook: hook.declare_options(), "declare_options")
        result: list[Option] = []
        for group in declared or []:
            if not isinstance(group, Sequence) or not all(isinstance(o, Option) for o in group):
                raise self.error(
                    "declare_options", f"returned {type(group).__name__}, expected a list of linkahead.Option"
                )
            result.extend(group)
        return tuple(result)

    def get_credentials(self, config: Any) -> Credentials | None:
        """Call the plugin's ``get_credentials`` hook (within ``plugin_timeout``) and check the answer."""
        result = self.call(lambda hook: hook.get_credentials(config=config), "get_credentials",
                           _time_limit(config))
        return self._checked(result, "get_credentials")

    def refresh(self, config: Any, credentials: Credentials, reason: str) -> Credentials | None:
        """Call the plugin's ``refresh`` hook (within ``plugin_timeout``) and check the answer."""
        result = self.call(
            lambda hook: hook.refresh(config=config, credentials=credentials, reason=reason), "refresh",
            _time_limit(config),
        )
        return self._checked(result, "refresh")

    def forget(self, config: Any) -> None:
        """Call the plugin's ``forget`` hook (within ``plugin_timeout``)."""
        self.call(lambda hook: hook.forget(config=config), "forget", _time_limit(config))

    def call(self, invoke: Callable[[Any], T], hook_name: str, time_limit: float | None = None) -> T:
        """Call a hook through ``invoke(manager.hook)``; errors other than ours become :class:`PluginError`.

        :param time_limit: seconds to wait for the hook (in a worker thread); ``None``: no limit.
        """
        try:
            if time_limit is None:
                return invoke(self.manager.hook)
            return _run_bounded(lambda: invoke(self.manager.hook), time_limit, f"linkahead-{self.name}-{hook_name}")
        except _TimedOut:
            raise PluginError(
                f"The password method {self.label} did not answer {hook_name} within plugin_timeout = "
                f"{time_limit:g} s. Check what it waits for (a password store, a keyring, a command, the "
                "network); raise plugin_timeout if it is legitimately slow.",
                plugin=self.name,
                distribution=self.distribution,
            ) from None
        except LinkAheadException:
            raise
        except Exception as error:
            # The original exception is chained for debugging; its text is not copied into ours
            # because a careless plugin may have put a secret into it.
            raise self.error(hook_name, f"raised {type(error).__name__}") from error

    def error(self, hook_name: str, what: str) -> PluginError:
        return PluginError(
            f"The password method {self.label} failed in {hook_name}: {what}. "
            "This is a bug in the plugin; report it to its authors.",
            plugin=self.name,
            distribution=self.distribution,
        )

    def _checked(self, result: object, hook_name: str) -> Credentials | None:
        if result is None or isinstance(result, CREDENTIAL_TYPES):
            return result  # type: ignore[return-value]
        raise self.error(
            hook_name,
            f"returned a {type(result).__name__}, expected PasswordCredentials, TokenCredentials, "
            "HeaderCredentials, AnonymousCredentials or None",
        )


class _TimedOut(Exception):
    """A bounded hook did not return in time."""


def _time_limit(config: Any) -> float | None:
    """``plugin_timeout`` from ``config``; ``None`` (no limit) while a person sits at a terminal."""
    limit = config.get("plugin_timeout") if isinstance(config, Mapping) else None
    if limit is None or _stdin_is_terminal():
        return None
    return float(limit)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, AttributeError):  # closed or replaced by an object without isatty
        return False


def _run_bounded(function: Callable[[], T], seconds: float, name: str) -> T:
    """``function()`` in a daemon thread; raises :class:`_TimedOut` when it takes longer than ``seconds``."""
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()
    context = contextvars.copy_context()  # the hook sees the caller's context variables

    def work() -> None:
        try:
            outcome.append((True, context.run(function)))
        except BaseException as error:  # noqa: BLE001 -- handed to the caller, who raises it
            outcome.append((False, error))
        finally:
            done.set()

    threading.Thread(target=work, name=name, daemon=True).start()
    if not done.wait(seconds):
        raise _TimedOut
    succeeded, value = outcome[0]
    if succeeded:
        return value  # type: ignore[no-any-return]
    raise value


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def load_method(method: object, installed: Mapping[str, metadata.EntryPoint] | None = None) -> Method:
    """Load the password method named by ``method``, or wrap a plugin object.

    :param installed: the result of :func:`installed_methods`, when the caller has it already.
    :raises PasswordMethodNotFoundError: no installed plugin has that name.
    :raises PluginError: the plugin cannot be imported or registered.
    """
    if not isinstance(method, str):
        name = getattr(method, "__name__", None) or type(method).__name__
        return _register(name, method, None)
    name = method.strip()
    if installed is None:
        installed = installed_methods()
    entry_point = installed.get(name)
    if entry_point is None:
        raise _not_found(name, sorted(installed))
    try:
        plugin = entry_point.load()
    except Exception as error:
        dist_name = _dist_name(entry_point)
        raise PluginError(
            f"The password method {name!r} (distribution {dist_name or '?'}, entry point "
            f"{entry_point.value!r}) cannot be imported: {type(error).__name__}: {error}. "
            f"Reinstall it (pip install --force-reinstall {dist_name or distribution_for(name)}) or "
            "report the problem to its authors.",
            plugin=name,
            distribution=dist_name,
        ) from error
    return _register(name, plugin, entry_point)


def _dist_name(entry_point: metadata.EntryPoint | None) -> str | None:
    dist = entry_point.dist if entry_point is not None else None
    return dist.name if dist is not None else None


def _register(name: str, plugin: object, entry_point: metadata.EntryPoint | None) -> Method:
    manager = _new_manager()
    try:
        manager.register(plugin, name=name)
    except Exception as error:
        dist_name = _dist_name(entry_point)
        origin = f" (distribution {dist_name})" if dist_name else ""
        raise PluginError(
            f"The password method {name!r}{origin} is not a valid plugin: {error}",
            plugin=name,
            distribution=dist_name,
        ) from error
    if not manager.hook.get_credentials.get_hookimpls():
        dist_name = _dist_name(entry_point)
        origin = f" (distribution {dist_name})" if dist_name else ""
        raise PluginError(
            f"The password method {name!r}{origin} does not implement the get_credentials hook; "
            "decorate a get_credentials(config) function with @linkahead.hookimpl.",
            plugin=name,
            distribution=dist_name,
        )
    return Method(name=name, plugin=plugin, manager=manager, entry_point=entry_point)


def _not_found(name: str, installed: list[str]) -> PasswordMethodNotFoundError:
    import difflib  # only on this error path

    candidates = sorted(set(installed) | set(STANDARD_METHODS))
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    listing = ", ".join(installed) if installed else "none"
    hint = ""
    if close and close[0] in installed:
        hint = f" Did you mean {close[0]!r}?"
    elif close:
        hint = f" Did you mean {close[0]!r}? It is not installed: pip install {distribution_for(close[0])}."
    if not close or close[0] != name:
        hint += f" If {name!r} is published as a plugin, install it: pip install {distribution_for(name)}"
    return PasswordMethodNotFoundError(
        f"No password method {name!r} is installed (installed methods: {listing}).{hint}",
        method=name,
        installed=installed,
    )
