"""Finding and loading password-method plugins (entry-point group ``linkahead.auth``).

Discovery reads entry-point metadata only; the selected plugin is the only one imported. A plugin
may also be given directly as an object (a module or instance with hook implementations).

The hooks that may wait for the outside world (``get_credentials``, ``refresh``, ``forget``) are
bounded by the ``plugin_timeout`` option: they run in a worker thread, and when one does not return
in time the caller gets a :class:`~linkahead.exceptions.PluginError` naming the plugin. A thread
cannot be stopped from outside, so the hung one is left behind as a daemon thread (it ends with the
process, or whenever the plugin returns; its late answer is dropped). While standard input is a
terminal the hooks run directly instead: a prompt may take as long as its person needs, and Ctrl-C
interrupts it (and restores the terminal) as usual. While a plugin's hung call is still running,
no further bounded call of that plugin starts (the next call waits for it up to ``plugin_timeout``
and then fails), so a hung plugin costs one thread, not one per call.

A plugin's identity is its distribution: when two installed distributions register the same
method name, :func:`load_method` refuses to choose and names both; ``password_method =
<distribution>:<method>`` selects one. An error from a plugin -- its import, a hook, a
``sys.exit()`` -- becomes a :class:`~linkahead.exceptions.PluginError` that names the plugin, its
distribution and where it failed, but neither copies the plugin's exception text nor chains the
plugin's exception: a careless plugin may have put a secret into it.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FunctionType, ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from . import hookspecs
from .credentials import CREDENTIAL_TYPES, Credentials
from .exceptions import ConfigurationError, LinkAheadException, PasswordMethodNotFoundError, PluginError
from .options import Option

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "ENTRY_POINT_GROUP",
    "STANDARD_METHODS",
    "Method",
    "installed_methods",
    "InstalledMethods",
    "distribution_for",
    "is_distribution_name",
    "load_method",
]

ENTRY_POINT_GROUP = "linkahead.auth"
STANDARD_METHODS = ("plain", "input", "pass", "keyring", "auth_token", "unauthenticated", "exec")

T = TypeVar("T")


class InstalledMethods(dict[str, metadata.EntryPoint]):
    """Method name to the entry point of the first distribution (on ``sys.path``) registering it.

    :attr:`providers` holds every distribution's entry point per name, so that a name registered
    by two distributions is noticed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.providers: dict[str, list[metadata.EntryPoint]] = {}

    def add(self, entry_point: metadata.EntryPoint) -> None:
        providers = self.providers.setdefault(entry_point.name, [])
        # The same distribution twice on sys.path (an editable and a copy) is one provider.
        if all(_normalized(_dist_name(known)) != _normalized(_dist_name(entry_point)) for known in providers):
            providers.append(entry_point)
        self.setdefault(entry_point.name, entry_point)

    def ambiguous(self, name: str) -> list[metadata.EntryPoint]:
        """The entry points of ``name`` when more than one distribution registers it, else ``[]``."""
        providers = self.providers.get(name, [])
        return providers if len(providers) > 1 else []


def installed_methods() -> InstalledMethods:
    """The password methods installed in this environment, by name (metadata only, nothing imported).

    The answer is cached per environment in ``${XDG_CACHE_HOME:-~/.cache}/linkahead/``, keyed by
    the modification times of the ``sys.path`` folders scanned (installing or removing a
    distribution changes its folder's), as stevedore does; see :func:`_cached_methods`.
    """
    paths = _distribution_paths()
    fingerprint = _fingerprint(paths)
    cached = _cached_methods(fingerprint)
    if cached is not None:
        return cached
    found = _scan(paths)
    _store_methods(fingerprint, found)
    return found


def _scan(paths: list[str]) -> InstalledMethods:
    found = InstalledMethods()
    # Same result as metadata.entry_points(group=...), a third of the cost: that parses the
    # entry points of every installed distribution, here only files that mention our group are
    # parsed. The first distribution on sys.path wins a name, as there; the others are kept in
    # ``providers``.
    for dist in metadata.distributions(path=paths):
        text = dist.read_text("entry_points.txt")
        if not text or ENTRY_POINT_GROUP not in text:
            continue
        for entry_point in dist.entry_points.select(group=ENTRY_POINT_GROUP):
            found.add(entry_point)
    return found


# -- the entry-point cache ------------------------------------------------------------------------
#
# What it holds decides which module a method name imports, so it is trusted only as the user's
# own file: owned by this user and writable by nobody else (checked on the opened file), in a
# folder created 0700. Anything unexpected -- no home, a read-only home, a foreign or corrupt
# file, an entry point outside a plain dist-info folder -- means: scan, as without a cache.

_CACHE_FORMAT = 1


def _fingerprint(paths: list[str]) -> list[list[Any]]:
    result: list[list[Any]] = []
    for entry in paths:
        folder = os.path.abspath(entry) if entry else os.getcwd()
        try:
            result.append([folder, os.stat(folder).st_mtime_ns])
        except OSError:
            result.append([folder, None])
    return result


def _cache_file() -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    import hashlib

    key = hashlib.sha256(f"{sys.prefix}\n{sys.version}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return os.path.join(base, "linkahead", f"entry-points-{key}.json")


def _cached_methods(fingerprint: list[list[Any]]) -> InstalledMethods | None:
    path = _cache_file()
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or info.st_mode & 0o022 or info.st_size > 1 << 20:
            return None
        data = os.read(fd, info.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    import json

    try:
        cached = json.loads(data)
        if cached["format"] != _CACHE_FORMAT or cached["fingerprint"] != fingerprint:
            return None
        found = InstalledMethods()
        for name, providers in cached["methods"]:
            entry_points = []
            for value, dist_path in providers:
                entry_point = metadata.EntryPoint(name=str(name), value=str(value), group=ENTRY_POINT_GROUP)
                dist = metadata.PathDistribution(Path(str(dist_path)))
                entry_points.append(entry_point._for(dist))  # type: ignore[attr-defined]
            found[str(name)] = entry_points[0]
            found.providers[str(name)] = entry_points
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    return found


def _store_methods(fingerprint: list[list[Any]], found: InstalledMethods) -> None:
    path = _cache_file()
    if path is None:
        return
    methods = []
    for name, providers in found.providers.items():
        paths = [getattr(entry_point.dist, "_path", None) for entry_point in providers]
        if any(dist_path is None for dist_path in paths):
            return  # a distribution that is not a plain folder (a zip, an egg): not cached
        methods.append([name, [[entry_point.value, str(dist_path)]
                               for entry_point, dist_path in zip(providers, paths, strict=True)]])
    import json

    data = json.dumps({"format": _CACHE_FORMAT, "fingerprint": fingerprint, "methods": methods}).encode()
    folder = os.path.dirname(path)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _normalized(name: str | None) -> str:
    return re.sub(r"[-_.]+", "-", name or "").lower()


_DISTRIBUTION_NAME = r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$"  # compiled on use: error paths only


def is_distribution_name(name: str) -> bool:
    """True for a valid distribution name (PEP 508), which is safe to show in a ``pip install`` hint."""
    return len(name) <= 200 and re.match(_DISTRIBUTION_NAME, name, re.IGNORECASE) is not None


def _pip_target(name: str) -> str:
    """``name`` as a ``pip install`` argument: as it is when valid, shell-quoted otherwise."""
    if is_distribution_name(name):
        return name
    import shlex  # only for a name that needs quoting

    return shlex.quote(name)


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
    """A loaded password method: its name, origin and a plugin manager holding only it.

    The pluggy plugin manager is made when a hook is called the first time (usually the first
    login), not at configuration time: importing pluggy costs a fresh interpreter 6 ms. A plugin
    module whose hook implementations are plain functions is checked at configuration time the
    way pluggy checks it (known hook names, argument names within the specification's); anything
    else -- plugin objects, wrappers, ``specname`` -- is registered with pluggy at once. Either
    way a broken plugin is reported by :func:`load_method`, at configuration time.
    """

    def __init__(self, name: str, plugin: object, manager: pluggy.PluginManager | None,
                 entry_point: metadata.EntryPoint | None = None,
                 implementations: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.name = name
        self.plugin = plugin
        self._manager = manager
        self._entry_point = entry_point
        self.shadowed_by: str | None = None
        """The file of a module in the working folder that was imported in place of the
        distribution's module (see :func:`load_method`); the method is then not labelled with the
        distribution's name."""
        self._implementations = implementations

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy plugin manager holding only this plugin (made on first use)."""
        manager = self._manager
        if manager is None:
            manager = self._manager = _full_manager(self.name, self.plugin, self.distribution)
        return manager

    def implements(self, hook_name: str) -> bool:
        """Whether the plugin implements ``hook_name`` (without making the plugin manager)."""
        if self._manager is None and self._implementations is not None:
            return hook_name in self._implementations
        return bool(getattr(self.manager.hook, hook_name).get_hookimpls())

    @property
    def distribution(self) -> str | None:
        """The distribution that provides the plugin (``None`` for a plugin object, or a module
        from the working folder shadowing the distribution's)."""
        if self.shadowed_by is not None:
            return None
        return _dist_name(self._entry_point)

    @property
    def version(self) -> str | None:
        """The distribution's version; read on demand (it parses the distribution's metadata)."""
        dist = self._entry_point.dist if self._entry_point is not None else None
        return dist.version if dist is not None else None

    @property
    def label(self) -> str:
        """``'pass' (linkahead-auth-pass 0.1.0)`` -- how errors name the plugin."""
        if self.shadowed_by is not None:
            return (f"{self.name!r} (module {_short(self.shadowed_by, 120)} from the working folder, not the "
                    f"distribution {_dist_name(self._entry_point)})")
        if self.distribution:
            version = f" {self.version}" if self.version else ""
            return f"{self.name!r} (distribution {self.distribution}{version})"
        return f"{self.name!r}"

    def options(self) -> tuple[Option, ...]:
        """The options the plugin declares (see :func:`~linkahead.hookspecs.declare_options`)."""
        if self._manager is None and self._implementations is not None:
            # At configuration time: called directly, so that pluggy is imported only at the first
            # real hook call. The answer is pluggy's: a list of the one implementation's result.
            declare = self._implementations.get("declare_options")
            declared = self.call(lambda _: [] if declare is None else [r for r in [declare()] if r is not None],
                                 "declare_options", direct=True)
        else:
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

    def call(self, invoke: Callable[[Any], T], hook_name: str, time_limit: float | None = None,
             direct: bool = False) -> T:
        """Call a hook through ``invoke(manager.hook)``; errors other than ours become :class:`PluginError`.

        :param time_limit: seconds to wait for the hook (in a worker thread); ``None``: no limit.
        :param direct: ``invoke`` calls the implementation itself and gets ``None``, not the hooks.
        """
        try:
            hooks = None if direct else self.manager.hook
            if time_limit is None:
                return invoke(hooks)
            return _run_bounded(lambda: invoke(hooks), time_limit, f"linkahead-{self.name}-{hook_name}",
                                key=id(self.plugin))
        except _TimedOut as timed_out:
            failure: LinkAheadException = PluginError(
                f"The password method {self.label} {timed_out.what} {hook_name} within plugin_timeout = "
                f"{time_limit:g} s. Check what it waits for (a password store, a keyring, a command, the "
                "network); raise plugin_timeout if it is legitimately slow.",
                plugin=self.name,
                distribution=self.distribution,
            )
        except LinkAheadException as error:
            failure = error
            if failure.__context__ is None and failure.__cause__ is None:
                raise
        except (Exception, SystemExit) as error:  # noqa: BLE001 -- becomes a PluginError below
            # Neither the text nor the exception itself goes into ours: a careless plugin may have
            # put a secret into it. Where it happened is enough to find it.
            what = "called sys.exit()" if isinstance(error, SystemExit) else f"raised {type(error).__name__}"
            failure = self.error(hook_name, what + _where(error))
        # Raised outside the except blocks: nothing of the plugin's exception stays attached.
        failure.__cause__ = failure.__context__ = None
        raise failure

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

    def __init__(self, what: str = "did not answer") -> None:
        super().__init__(what)
        self.what = what


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


# Bounded hook calls still running, by plugin: at most one per plugin, so a hung plugin holds one
# thread however often it is called.
_running: dict[int, threading.Event] = {}
_running_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # The hung calls' threads are not in the child, and a parent's thread may have held the lock.
    global _running_lock
    _running.clear()
    _running_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _run_bounded(function: Callable[[], T], seconds: float, name: str, key: int | None = None) -> T:
    """``function()`` in a daemon thread; raises :class:`_TimedOut` when it takes longer than ``seconds``.

    :param key: calls with the same key run one at a time: while one is running (or hung), the
        next waits for it within the same ``seconds``.
    """
    end = time.monotonic() + seconds
    done = threading.Event()
    slot = id(done) if key is None else key
    while True:
        with _running_lock:
            earlier = _running.get(slot)
            if earlier is None:
                _running[slot] = done
                break
        if not earlier.wait(max(0.0, end - time.monotonic())):
            raise _TimedOut("is still busy with an earlier call that did not return; it did not start")
    outcome: list[tuple[bool, Any]] = []
    import contextvars  # only for a bounded call (a login without a terminal): not at import time

    context = contextvars.copy_context()  # the hook sees the caller's context variables

    def work() -> None:
        try:
            outcome.append((True, context.run(function)))
        except BaseException as error:  # noqa: BLE001 -- handed to the caller, who raises it
            outcome.append((False, error))
        finally:
            with _running_lock:
                if _running.get(slot) is done:
                    del _running[slot]
            done.set()

    try:
        threading.Thread(target=work, name=name, daemon=True).start()
    except BaseException:
        with _running_lock:
            _running.pop(slot, None)
        done.set()
        raise
    if not done.wait(max(0.0, end - time.monotonic())):
        raise _TimedOut
    succeeded, value = outcome[0]
    if succeeded:
        return value  # type: ignore[no-any-return]
    raise value


def _where(error: BaseException) -> str:
    """`` at file.py:12 in get_credentials`` -- the innermost frame of ``error``'s traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return f" at {os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}"


def _new_manager() -> pluggy.PluginManager:
    import pluggy  # here, not at import time: see Method

    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


_SPEC_ATTRIBUTE = hookspecs.PROJECT_NAME + "_spec"
_IMPL_ATTRIBUTE = hookspecs.PROJECT_NAME + "_impl"
_VARIADIC = 0x04 | 0x08  # CO_VARARGS | CO_VARKEYWORDS


def _spec_arguments() -> dict[str, frozenset[str]]:
    """Hook name to the argument names its specification passes."""
    specs = {}
    for name in dir(hookspecs):
        function = getattr(hookspecs, name)
        if isinstance(function, FunctionType) and isinstance(getattr(function, _SPEC_ATTRIBUTE, None), dict):
            code = function.__code__
            specs[name] = frozenset(code.co_varnames[:code.co_argcount])
    return specs


def _simple_implementations(plugin: object) -> dict[str, Callable[..., Any]] | None:
    """The hook implementations of a plugin module that pluggy would accept as they are, by name.

    ``None`` when the plugin is anything else than a module of plain marked functions whose
    required arguments the specification passes: pluggy then registers it at once and reports
    what it finds (an unknown hook, a misspelt argument) in its own words.
    """
    if not isinstance(plugin, ModuleType):
        return None
    specs = _spec_arguments()
    found: dict[str, Callable[..., Any]] = {}
    for name, value in list(vars(plugin).items()):
        options = getattr(value, _IMPL_ATTRIBUTE, None)
        if options is None:
            continue
        if not isinstance(options, dict) or not isinstance(value, FunctionType) or name not in specs:
            return None
        if options.get("wrapper") or options.get("hookwrapper") or options.get("specname"):
            return None
        code = value.__code__
        if code.co_kwonlyargcount or code.co_flags & _VARIADIC:
            return None
        positional = code.co_varnames[:code.co_argcount]
        required = positional[:len(positional) - len(value.__defaults__ or ())]
        if not set(required) <= specs[name]:
            return None
        found[name] = value
    return found


def load_method(method: object, installed: Mapping[str, metadata.EntryPoint] | None = None) -> Method:
    """Load the password method named by ``method``, or wrap a plugin object.

    ``method`` is a method name (``"plain"``), or ``"<distribution>:<method>"`` to choose among
    distributions that register the same name.

    :param installed: the result of :func:`installed_methods`, when the caller has it already.
    :raises PasswordMethodNotFoundError: no installed plugin has that name.
    :raises ConfigurationError: two distributions register the name and none was chosen.
    :raises PluginError: the plugin cannot be imported or registered.
    """
    if not isinstance(method, str):
        name = getattr(method, "__name__", None) or type(method).__name__
        return _register(name, method, None)
    name = method.strip()
    if installed is None:
        installed = installed_methods()
    if name not in installed and ":" not in name:
        # Entry points win; only then an upstream-style module of that name (imported when used).
        from . import legacy_auth

        bridged = legacy_auth.find(name)
        if bridged is not None:
            return _register(name, bridged, None)
    entry_point = _select(name, installed)
    name = entry_point.name
    failure: PluginError | None = None
    try:
        plugin = entry_point.load()
    except (Exception, SystemExit) as error:  # noqa: BLE001 -- becomes a PluginError below
        dist_name = _dist_name(entry_point)
        # The plugin's text is not copied (nor the exception chained): a plugin may put a
        # secret into it. The kind of error and where it happened are enough to fix it.
        what = "calls sys.exit() on import" if isinstance(error, SystemExit) else (
            f"cannot be imported: {type(error).__name__}{_missing_module(error)}")
        failure = PluginError(
            f"The password method {name!r} (distribution {dist_name or '?'}, entry point "
            f"{_short(entry_point.value)}) {what}{_where(error)}. Reinstall it (pip install "
            f"--force-reinstall {_pip_target(dist_name or distribution_for(name))}) or report the problem "
            "to its authors; 'python -c \"import <module>\"' shows the full error.",
            plugin=name,
            distribution=dist_name,
        )
    if failure is not None:
        raise failure  # outside the except block: no __context__
    loaded = _register(name, plugin, entry_point)
    loaded.shadowed_by = _shadowing_file(entry_point)
    return loaded


def _shadowing_file(entry_point: metadata.EntryPoint) -> str | None:
    """The file of the entry point's module when it came from the working folder (or the
    script's folder, ``sys.path[0]``) instead of where the distribution installed it."""
    top = entry_point.module.partition(".")[0]
    module_file = getattr(sys.modules.get(top), "__file__", None)
    if not module_file:
        return None
    loaded = os.path.realpath(str(module_file))
    folders = {os.path.realpath(os.getcwd())}
    if sys.path and sys.path[0]:
        folders.add(os.path.realpath(sys.path[0]))
    home = os.path.dirname(loaded)
    if os.path.basename(loaded).startswith("__init__."):
        home = os.path.dirname(home)
    if home not in folders:
        return None
    dist = entry_point.dist
    if dist is not None:
        try:
            if os.path.realpath(str(dist.locate_file(""))) == home:
                return None  # installed right there (pip --target, a folder on sys.path): genuine
        except (NotImplementedError, OSError, TypeError):
            pass
    import importlib.machinery  # only for a module found in such a folder

    elsewhere = [entry for entry in sys.path if entry and os.path.realpath(entry) not in folders]
    spec = importlib.machinery.PathFinder.find_spec(top, elsewhere)
    origin = spec.origin if spec is not None else None
    if origin and os.path.realpath(origin) == loaded:
        return None
    return loaded


def _select(name: str, installed: Mapping[str, metadata.EntryPoint]) -> metadata.EntryPoint:
    """The entry point for ``name`` or ``distribution:name``; refuses to guess between distributions."""
    providers = getattr(installed, "providers", None)
    if ":" in name:
        wanted, _, method_name = name.partition(":")
        known: dict[str, list[metadata.EntryPoint]] = providers if isinstance(providers, dict) else {}
        candidates = known.get(method_name) or ([installed[method_name]] if method_name in installed else [])
        for candidate in candidates:
            if _normalized(_dist_name(candidate)) == _normalized(wanted):
                return candidate
        if not candidates:
            raise _not_found(method_name, sorted(installed))
        offered = ", ".join(f"{_dist_name(c)}:{method_name}" for c in candidates)
        raise ConfigurationError(
            f"password_method = {_short(name)}: the distribution {_short(wanted)} does not provide the "
            f"password method {method_name!r}. Installed: {offered}."
        )
    entry_point = installed.get(name)
    if entry_point is None:
        raise _not_found(name, sorted(installed))
    if isinstance(installed, InstalledMethods) and installed.ambiguous(name):
        dists = [_dist_name(candidate) or "?" for candidate in installed.ambiguous(name)]
        choices = " or ".join(f"password_method = {dist}:{name}" for dist in dists)
        genuine = distribution_for(name)
        others = [dist for dist in dists if _normalized(dist) != _normalized(genuine)]
        if name in STANDARD_METHODS and len(others) < len(dists):
            # The standard method's own distribution is known: the hint names the other one(s).
            advice = (f"The standard method {name!r} comes from {genuine}; the other is not it. Uninstall "
                      f"it unless you installed it on purpose (pip uninstall "
                      f"{' '.join(_pip_target(dist) for dist in others)})")
        else:
            advice = "Uninstall the one you do not trust (pip uninstall <distribution>)"
        raise ConfigurationError(
            f"The password method {name!r} is provided by {len(dists)} installed distributions: "
            f"{', '.join(dists)}. The connection does not guess which one gets your credentials. "
            f"{advice}, or choose: {choices}."
        )
    return entry_point


def _missing_module(error: BaseException) -> str:
    """`` (no module 'gnupg')`` for a missing module whose name is a plain dotted name."""
    module = getattr(error, "name", None) if isinstance(error, ImportError) else None
    if isinstance(module, str) and re.fullmatch(r"[A-Za-z_][\w.]{0,100}", module):
        return f" (no module {module!r})"
    return ""


def _short(text: str, limit: int = 60) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _dist_name(entry_point: metadata.EntryPoint | None) -> str | None:
    dist = entry_point.dist if entry_point is not None else None
    return dist.name if dist is not None else None


def _register(name: str, plugin: object, entry_point: metadata.EntryPoint | None) -> Method:
    implementations = _simple_implementations(plugin)
    if implementations is None:
        manager = _full_manager(name, plugin, _dist_name(entry_point))
        return Method(name=name, plugin=plugin, manager=manager, entry_point=entry_point)
    if "get_credentials" not in implementations:
        raise _no_get_credentials(name, _dist_name(entry_point))
    return Method(name=name, plugin=plugin, manager=None, entry_point=entry_point, implementations=implementations)


def _no_get_credentials(name: str, dist_name: str | None) -> PluginError:
    origin = f" (distribution {dist_name})" if dist_name else ""
    return PluginError(
        f"The password method {name!r}{origin} does not implement the get_credentials hook; "
        "decorate a get_credentials(config) function with @linkahead.hookimpl.",
        plugin=name,
        distribution=dist_name,
    )


def _full_manager(name: str, plugin: object, dist_name: str | None) -> pluggy.PluginManager:
    """A pluggy plugin manager with ``plugin`` registered and checked; raises :class:`PluginError`."""
    manager = _new_manager()
    origin = f" (distribution {dist_name})" if dist_name else ""
    failure: PluginError | None = None
    try:
        manager.register(plugin, name=name)
    except Exception as error:  # noqa: BLE001 -- becomes a PluginError below
        # pluggy's text names the hook and the function signature, nothing the plugin computed.
        detail = " ".join(str(error).split())[:300]
        failure = PluginError(
            f"The password method {name!r}{origin} is not a valid plugin: {detail}",
            plugin=name,
            distribution=dist_name,
        )
    if failure is not None:
        raise failure  # outside the except block: no __context__
    if not manager.hook.get_credentials.get_hookimpls():
        raise _no_get_credentials(name, dist_name)
    return manager


def _not_found(name: str, installed: list[str]) -> PasswordMethodNotFoundError:
    import difflib  # only on this error path

    candidates = sorted(set(installed) | set(STANDARD_METHODS))
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    listing = ", ".join(installed) if installed else "none"
    hint = ""
    if close and close[0] in installed:
        hint = f" Did you mean {close[0]!r}?"
    elif close and close[0] == name:  # a standard method that is not installed
        hint = f" It is one of the standard methods: pip install {distribution_for(name)}."
    elif close:
        hint = f" Did you mean {close[0]!r}? It is not installed: pip install {distribution_for(close[0])}."
    guess = distribution_for(name)
    # Only a valid distribution name is offered for copying into a shell: the name is user input.
    if (not close or close[0] != name) and is_distribution_name(guess):
        hint += f" If {name!r} is published as a plugin, install it: pip install {guess}"
    return PasswordMethodNotFoundError(
        f"No password method {_short(name)} is installed (installed methods: {listing}).{hint}",
        method=name,
        installed=installed,
    )
