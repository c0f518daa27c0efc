"""The import hook that serves the modules ``linkahead-connection`` shares with upstream ``linkahead``.

Both distributions provide the import package ``linkahead``. Five of its modules exist in both
(:data:`SHARED`); each distribution installs only files of its own, and this hook decides, at import
time, which implementation a module name gets:

- the five modules in :data:`SHARED` come from this distribution's copies (kept under
  ``linkahead_connection/shared/linkahead/`` in the wheel, so no file is in two distributions'
  ``RECORD``), which are supersets of upstream's: upstream's data layer then runs on this
  connection and its password-method plugins;
- ``linkahead.version`` is upstream's wherever upstream installed one (its callers compare it), and
  this distribution's otherwise (:data:`FALLBACK`);
- every other module of the package is found the usual way, in the ``linkahead`` folders of
  ``sys.path``, which hold upstream's files, this distribution's own modules, or both.

It is the pattern of setuptools' ``distutils-precedence.pth``: ``linkahead_connection.pth`` runs
:func:`install` at interpreter start on Python 3.10--3.14, and ``linkahead_connection.start`` names
it as an entry point for Python 3.15+ (PEP 829), which then skips the ``.pth`` import line.

Properties this module keeps, and that the tests check:

- it imports only ``os`` and ``sys`` (both loaded before ``site`` runs ``.pth`` files); the finder
  costs one set lookup per import of any other module;
- it never raises at interpreter start (a failure leaves the hook out, and the reason in
  :data:`install_error`);
- ``LINKAHEAD_CONNECTION_HOOK=0`` in the environment switches it off, for debugging.

Limits: nothing runs it under ``python -S`` or ``-I``-less embedded interpreters that skip ``site``,
nor in frozen applications (PyInstaller and the like do not process ``.pth`` files); call
:func:`install` before the first ``import linkahead`` there.
"""

import os
import sys

# Neither typing nor __future__ is imported at run time (this module loads at every interpreter
# start): annotations that name those types are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = [
    "DISABLE_VARIABLE",
    "SHARED",
    "FALLBACK",
    "LinkAheadConnectionFinder",
    "install",
    "uninstall",
    "installed",
    "disabled",
    "shared_root",
    "served",
    "install_error",
]

DISABLE_VARIABLE = "LINKAHEAD_CONNECTION_HOOK"
"""Set to ``0`` (or ``off``, ``no``, ``false``) to leave ``linkahead`` to the usual import system."""

SHARED = {
    "linkahead": "__init__.py",
    "linkahead.configuration": "configuration.py",
    "linkahead.exceptions": "exceptions.py",
    "linkahead.connection": os.path.join("connection", "__init__.py"),
    "linkahead.connection.connection": os.path.join("connection", "connection.py"),
}
"""Module name -> this distribution's file, below :func:`shared_root`. Always served from there."""

FALLBACK = {
    "linkahead.version": "version.py",
}
"""Module name -> this distribution's file: served only where no other distribution installed one."""

_PACKAGES = frozenset({"linkahead", "linkahead.connection"})
_OFF = frozenset({"0", "off", "no", "false"})

install_error: str | None = None
"""Why :func:`install` did not install the hook (an exception's text), or ``None``."""

served: dict[str, str] = {}
"""Module name -> the file this hook served it from, for every module it served in this process."""


def disabled() -> bool:
    """Whether :data:`DISABLE_VARIABLE` switches the hook off."""
    return os.environ.get(DISABLE_VARIABLE, "").strip().lower() in _OFF


def shared_root() -> str | None:
    """The folder holding this distribution's copies of the shared modules, or ``None``.

    In an installed wheel that is ``linkahead_connection/shared/linkahead``; in a source checkout
    (an editable install) the copies are the ``linkahead`` package beside this package.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.path.join(here, "shared", "linkahead"), os.path.join(os.path.dirname(here), "linkahead")):
        if os.path.isfile(os.path.join(root, SHARED["linkahead"])):
            return root
    return None


def _search_locations(fullname: str, path: "Sequence[str] | None") -> list[str]:
    """The folders a package named ``fullname`` spans: its folder in every entry of ``path``."""
    tail = fullname.rpartition(".")[2]
    entries = sys.path if path is None else path
    locations: list[str] = []
    for entry in entries:
        candidate = os.path.join(entry or os.curdir, tail)
        if candidate not in locations and os.path.isdir(candidate):
            locations.append(candidate)
    return locations


class LinkAheadConnectionFinder:
    """A meta-path finder for the names in :data:`SHARED` and :data:`FALLBACK`, and nothing else."""

    names = frozenset(SHARED) | frozenset(FALLBACK)

    @classmethod
    def find_spec(
        cls, fullname: str, path: "Sequence[str] | None" = None, target: "ModuleType | None" = None
    ) -> "ModuleSpec | None":
        if fullname not in cls.names:
            return None
        root = shared_root()
        if root is None:  # our copies are gone (a half-finished uninstall): leave the name alone
            return None
        from importlib.machinery import PathFinder
        from importlib.util import spec_from_file_location

        if fullname in FALLBACK:
            if PathFinder.find_spec(fullname, path) is not None:
                return None  # another distribution (upstream) installed this module: it wins
            origin = os.path.join(root, FALLBACK[fullname])
        else:
            origin = os.path.join(root, SHARED[fullname])
        locations = _search_locations(fullname, path) if fullname in _PACKAGES else None
        spec = spec_from_file_location(fullname, origin, submodule_search_locations=locations)
        if spec is not None:
            served[fullname] = origin
        return spec

    @classmethod
    def invalidate_caches(cls) -> None:
        """Nothing is cached here (``importlib.invalidate_caches`` calls this)."""


def installed() -> bool:
    """Whether the finder is on ``sys.meta_path`` in this process."""
    return any(finder is LinkAheadConnectionFinder for finder in sys.meta_path)


def install() -> None:
    """Put the finder first on ``sys.meta_path``, unless switched off. Never raises.

    The ``.pth`` line and the ``.start`` entry point call this at interpreter start; a frozen
    application or a ``python -S`` process may call it before the first ``import linkahead``.
    Calling it again does nothing.
    """
    global install_error
    try:
        if disabled() or installed():
            return
        sys.meta_path.insert(0, LinkAheadConnectionFinder)
        install_error = None
    except Exception as error:  # noqa: BLE001 -- an interpreter must start whatever happens here
        install_error = f"{type(error).__name__}: {error}"


def uninstall() -> None:
    """Take the finder off ``sys.meta_path`` (modules already imported stay as they are)."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if finder is not LinkAheadConnectionFinder]
