"""``linkahead-auth doctor``: which implementation serves each module shared with upstream ``linkahead``, and why.

Standard library only, and nothing here imports the package ``linkahead``: the report must work
in exactly the states where importing it would not (the hook switched off, a distribution half
uninstalled).
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import sys
from dataclasses import dataclass
from importlib.machinery import PathFinder
from typing import Any

from . import __version__, hook

__all__ = ["Module", "modules", "problems", "report", "as_json"]

DISTRIBUTION = "linkahead-connection"
UPSTREAM = "linkahead"


@dataclass(frozen=True)
class Module:
    """One module of the package ``linkahead`` that both distributions provide."""

    name: str
    file: str | None
    """The file an ``import`` in a new process of this environment gets, or ``None`` (no such module)."""
    implementation: str
    """The distribution (and version) that installed :attr:`file`, e.g. ``"linkahead 0.21.0"``."""
    why: str
    """One sentence: the reason this implementation serves it."""


def _package_path(name: str) -> list[str] | None:
    """The search path ``import name`` uses: ``None`` for a top-level module, else the parent's folders."""
    parent, _, _ = name.rpartition(".")
    if not parent:
        return None
    locations: list[str] = []
    for entry in sys.path:
        candidate = os.path.join(entry or os.curdir, *parent.split("."))
        if os.path.isdir(candidate) and candidate not in locations:
            locations.append(candidate)
    return locations


def _owners() -> dict[str, list[str]]:
    """Resolved file path -> ``"<distribution> <version>"`` of every distribution whose RECORD lists it."""
    owners: dict[str, list[str]] = {}
    seen: set[str] = set()
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"] or "?"
        label = f"{name} {distribution.version}"
        if label in seen:
            continue
        seen.add(label)
        for file in distribution.files or ():
            text = str(file).replace("\\", "/")
            if text.startswith("linkahead/") or text.startswith("linkahead_connection/"):
                path = os.path.realpath(str(distribution.locate_file(file)))
                owners.setdefault(path, []).append(label)
    return owners


def _upstream_version() -> str | None:
    try:
        return metadata.version(UPSTREAM)
    except metadata.PackageNotFoundError:
        return None


def modules() -> list[Module]:
    """Each name of :data:`hook.SHARED` and :data:`hook.FALLBACK`: the file that serves it, and why."""
    active = hook.installed() or (not hook.disabled() and hook.install_error is None and _pth_present())
    owners = _owners()
    result = []
    for name in (*hook.SHARED, *hook.FALLBACK):
        path = _package_path(name)
        plain = PathFinder.find_spec(name, path)
        plain_file = plain.origin if plain is not None and plain.has_location else None
        if hook.disabled():
            why = (f"the import hook is switched off ({hook.DISABLE_VARIABLE}="
                   f"{os.environ.get(hook.DISABLE_VARIABLE)}), so the usual import system decides")
            file = plain_file
        elif not active:
            why = ("the import hook is not active in this interpreter (started with -S, a frozen application, "
                   f"or {DISTRIBUTION}'s linkahead_connection.pth is missing), so the usual import system decides")
            file = plain_file
        else:
            spec = hook.LinkAheadConnectionFinder.find_spec(name, path)
            file = spec.origin if spec is not None else plain_file
            if spec is None and name in hook.FALLBACK and plain_file is not None:
                why = "another distribution installs this module and its callers compare it: the import hook leaves it"
            elif spec is None:
                why = "this distribution's copy is missing (a half-finished install or uninstall?)"
            elif name in hook.FALLBACK:
                why = "no other distribution installs this module, so the import hook serves this distribution's"
            else:
                why = ("the import hook serves this distribution's copy, a superset of upstream's, "
                       "whether or not upstream linkahead is installed")
        result.append(Module(name, file, _whose(file, owners), why))
    return result


def _whose(file: str | None, owners: dict[str, list[str]]) -> str:
    """``"<distribution> <version>"`` that installed ``file``, or a description."""
    if file is None:
        return "nothing"
    labels = owners.get(os.path.realpath(file))
    if labels:
        return " and ".join(labels)
    root = hook.shared_root()
    if root is not None and os.path.realpath(file).startswith(os.path.realpath(root) + os.sep):
        return f"{DISTRIBUTION} {__version__} (from its source folder)"
    return "a file no installed distribution lists"


def _pth_present() -> bool:
    """Whether a ``linkahead_connection.pth`` sits in a folder of ``sys.path`` (for a process not started by it)."""
    return any(os.path.isfile(os.path.join(entry, "linkahead_connection.pth")) for entry in sys.path if entry)


def problems() -> list[str]:
    """Install states that need a person: a file listed by two distributions, or a listed file that is gone.

    Both come from ``linkahead-connection`` 0.1.0, which installed its own copies of six upstream
    files: upgrading from it removes them from upstream's install too.
    """
    found = []
    upstream = _upstream_version()
    for path, labels in sorted(_owners().items()):
        if len(labels) > 1:
            again = f" {UPSTREAM}=={upstream}" if upstream else ""
            found.append(f"{path} is listed by {' and '.join(labels)}: uninstalling one deletes the other's file. "
                         f"Reinstall both: pip install --force-reinstall --no-deps {DISTRIBUTION}{again}")
        elif not os.path.exists(path) and not path.endswith(".pyc"):
            (label,) = labels
            distribution, _, version = label.rpartition(" ")
            found.append(f"{path} of {label} is missing; put it back with: "
                         f"pip install --force-reinstall --no-deps {distribution}=={version}")
    return found


def report() -> list[str]:
    """The lines ``linkahead-auth doctor`` prints."""
    upstream = _upstream_version()
    lines = [
        f"{DISTRIBUTION} {__version__}; upstream linkahead: {upstream or 'not installed'}",
        f"import hook: {_hook_state()}",
        "",
    ]
    for module in modules():
        lines.append(f"{module.name}: {module.implementation} ({module.file or 'no file'})")
        lines.append(f"    {module.why}")
    lines.append("")
    lines.append("Other modules of the package linkahead come from whichever distribution installed them "
                 f"({DISTRIBUTION}: hookspecs, plugins, credentials, ...; upstream: common, apiutils, ...).")
    lines += ["", *_method_precedence()]
    found = problems()
    if found:
        lines += ["", "Problems:", *(f"- {line}" for line in found)]
    return lines


UPSTREAM_OWN_METHODS = ("plain", "input", "pass", "keyring", "auth_token", "unauthenticated")


def _method_precedence() -> list[str]:
    """How ``password_method = <name>`` is looked up, and the upstream-style modules installed."""
    modules: list[str] = []
    for folder in _package_path("linkahead.connection.authentication.x") or []:
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        modules += [entry[:-3] for entry in entries if entry.endswith(".py") and entry[:-3] not in (
            "__init__", "interface", "external_credentials_provider", *UPSTREAM_OWN_METHODS)]
    lines = [
        "password_method = <name> is looked up in this order:",
        "  1. linkahead.auth entry points (installed plugins; `linkahead-auth methods` lists them);",
        "  2. an upstream-style module linkahead.connection.authentication.<name>, through a bridge (deprecated;",
        "     upstream's own plain, input, pass, keyring, auth_token, unauthenticated are never used: the",
        "     linkahead-auth-<name> plugins replace them).",
    ]
    lines.append("  Upstream-style modules installed: " + (", ".join(sorted(set(modules))) or "none") + ".")
    return lines


def _hook_state() -> str:
    if hook.disabled():
        return f"switched off by {hook.DISABLE_VARIABLE}={os.environ.get(hook.DISABLE_VARIABLE)}"
    if hook.installed():
        return "active in this process"
    if hook.install_error:
        return f"failed to install: {hook.install_error}"
    return "not active in this process (python -S or a frozen application?)"


def as_json() -> dict[str, Any]:
    """The report as data, for ``linkahead-auth doctor --json``."""
    found = problems()
    return {
        "ok": not found,
        "version": __version__,
        "upstream": _upstream_version(),
        "hook": {"active": hook.installed(), "disabled": hook.disabled(), "error": hook.install_error},
        "modules": [{"module": m.name, "file": m.file, "implementation": m.implementation, "why": m.why}
                    for m in modules()],
        "problems": found,
        "method_precedence": _method_precedence(),
    }
