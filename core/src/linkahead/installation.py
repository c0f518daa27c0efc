"""Which distribution each module shared with the upstream ``linkahead`` client came from.

This distribution and the upstream ``linkahead`` client both install the import package
``linkahead``, and six of its files exist in both (:data:`SHARED_FILES`). Installed last, ours
replace upstream's and upstream's data layer runs on this connection; but installing or upgrading
upstream afterwards puts upstream's files back, and uninstalling either distribution deletes the
shared files the other one needs. pip warns about none of it.

This module tells those states apart without importing any of the six files (in a broken state
importing them is what fails). It uses only the standard library and reads:

- a marker line that each of our six files carries (:data:`MARKER`);
- the ``RECORD`` of every installed distribution that lists a shared file, whose hash says whose
  copy is on disk;
- ``direct_url.json`` and ``INSTALLER``, to write a repair command that works for the way this
  distribution was installed (pip or uv, from the index or from a folder or wheel).

The ``linkahead-auth`` command starts here (:func:`console_main`): in a broken state it prints one
message with the repair command instead of a traceback. ``linkahead-auth doctor`` prints
:func:`report`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "DISTRIBUTION",
    "SHARED_FILES",
    "MARKER",
    "SharedFile",
    "shared_files",
    "problem",
    "repair_command",
    "report",
    "require_own_modules",
    "console_main",
]

DISTRIBUTION = "linkahead-connection"
UPSTREAM = "linkahead"

SHARED_FILES = (
    "__init__.py",
    "configuration.py",
    "exceptions.py",
    "version.py",
    "connection/__init__.py",
    "connection/connection.py",
)
"""The files of the package ``linkahead`` that upstream ``linkahead`` 0.21 ships too."""

MARKER = "linkahead-connection:shared-module"
"""A comment line in each of our copies of :data:`SHARED_FILES` (no upstream file contains it)."""

_PACKAGE = Path(__file__).resolve().parent


class SharedFile(NamedTuple):
    """One shared file as installed: where it is, whether it is ours, who installed it."""

    name: str
    """Path below the package, e.g. ``connection/connection.py``."""
    present: bool
    ours: bool
    """The file on disk is this distribution's copy (it carries :data:`MARKER`)."""
    owner: str | None
    """``"<distribution> <version>"`` whose RECORD hash matches the file on disk; ``None`` when
    no RECORD matches (an editable install, or a file changed by hand)."""
    claimed_by: tuple[str, ...]
    """Every installed distribution whose RECORD lists the file (uninstalling one removes it)."""


def shared_files() -> list[SharedFile]:
    """The state of each of :data:`SHARED_FILES` in the installed package."""
    records = _records()
    result = []
    for name in SHARED_FILES:
        path = _PACKAGE / name
        try:
            content = path.read_bytes()
        except OSError:
            result.append(SharedFile(name, False, False, None, tuple(sorted(records.get(name, {})))))
            continue
        digest = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
        claims = records.get(name, {})
        owner = next((label for label, recorded in claims.items() if recorded == digest), None)
        result.append(SharedFile(name, True, MARKER.encode() in content, owner, tuple(sorted(claims))))
    return result


def _read(name: str) -> bytes:
    try:
        return (_PACKAGE / name).read_bytes()
    except OSError:
        return b""


def _records() -> dict[str, dict[str, str | None]]:
    """Shared file -> {"<distribution> <version>": its RECORD hash} for every distribution listing it."""
    wanted = {f"linkahead/{name}": name for name in SHARED_FILES}
    found: dict[str, dict[str, str | None]] = {}
    seen: set[str] = set()
    for distribution in metadata.distributions():
        label = f"{distribution.metadata['Name']} {distribution.version}"
        if label in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(label)
        for file in distribution.files or ():
            name = wanted.get(str(file).replace("\\", "/"))
            if name is None:
                continue
            # Only a distribution installed in this package's folder can own these files.
            if Path(str(distribution.locate_file(file))).resolve().parent != (_PACKAGE / name).parent:
                continue
            recorded = f"{file.hash.mode}={file.hash.value}" if file.hash else None
            found.setdefault(name, {})[label] = recorded
    return found


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def repair_command(distribution: str = DISTRIBUTION) -> str:
    """The command that puts ``distribution``'s files back, for the way it was installed.

    pip or uv (from its ``INSTALLER`` file); from the index with the installed version pinned, or
    from the folder or wheel it was installed from (``direct_url.json``), as it may not be on the
    index at all.
    """
    try:
        installed = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        installed = None
    source = distribution
    installer = "pip"
    if installed is not None:
        source = f"{distribution}=={installed.version}"
        installer = (installed.read_text("INSTALLER") or "pip").strip() or "pip"
        direct = installed.read_text("direct_url.json")
        if direct:
            try:
                url = json.loads(direct).get("url", "")
            except ValueError:
                url = ""
            if isinstance(url, str) and url.startswith("file://"):
                source = url[len("file://"):]
    if installer == "uv":
        return f"uv pip install --python {shlex.quote(sys.executable)} --reinstall --no-deps {shlex.quote(source)}"
    return f"{shlex.quote(sys.executable)} -m pip install --force-reinstall --no-deps {shlex.quote(source)}"


def problem() -> str | None:
    """``None`` when all six shared files are this distribution's; else the one message to show.

    The message says which files are missing or whose they are now, and the repair command.
    """
    if all(MARKER.encode() in _read(name) for name in SHARED_FILES):
        return None  # the common case, decided without reading every distribution's RECORD
    files = shared_files()
    missing = [file.name for file in files if not file.present]
    foreign = [file for file in files if file.present and not file.ours]
    if not missing and not foreign:
        return None
    ours = _version(DISTRIBUTION)
    who = f"{DISTRIBUTION} {ours}" if ours else DISTRIBUTION
    if foreign:
        owners = sorted({file.owner for file in foreign if file.owner}) or [
            f"{UPSTREAM} {_version(UPSTREAM)}" if _version(UPSTREAM) else "another distribution"
        ]
        what = (f"{len(foreign)} of the modules {who} shares with the linkahead client were replaced by "
                f"{' and '.join(owners)} ({', '.join('linkahead/' + file.name for file in foreign)}). "
                "`import linkahead` works as plain upstream linkahead, without the password-method plugins")
    else:
        what = (f"{len(missing)} of the modules {who} shares with the linkahead client are missing "
                f"({', '.join('linkahead/' + name for name in missing)}): uninstalling a distribution that "
                "also installed them removed them, and `import linkahead` is broken")
    return (
        f"{what}; linkahead-auth cannot run. Repair (reinstalls {DISTRIBUTION}'s copies): {repair_command()}"
    )


class ReplacedModulesError(ImportError):
    """The package ``linkahead`` does not hold this distribution's shared modules (see :func:`problem`)."""


def require_own_modules() -> None:
    """Raise :class:`ReplacedModulesError` with :func:`problem`'s message when the shared modules are not ours."""
    message = problem()
    if message is not None:
        raise ReplacedModulesError(message)


def report() -> list[str]:
    """One line per shared file: whose copy is installed and which distributions claim it."""
    lines = []
    for file in shared_files():
        if not file.present:
            state = "MISSING"
        elif file.ours:
            source = f"RECORD of {file.owner}" if file.owner else "not in a RECORD: an editable or source install"
            state = f"{DISTRIBUTION}'s copy ({source})"
        else:
            state = f"NOT {DISTRIBUTION}'s copy" + (f": {file.owner}'s" if file.owner else "")
        others = [claim for claim in file.claimed_by if claim != file.owner]
        also = f"; also listed by {', '.join(others)} (uninstalling it deletes this file)" if others else ""
        lines.append(f"linkahead/{file.name}: {state}{also}")
    return lines


def console_main(argv: Sequence[str] | None = None) -> int:
    """The ``linkahead-auth`` entry point: check the shared modules, then run :func:`linkahead.cli.main`.

    ``linkahead-auth doctor`` runs even when they are broken, to show :func:`report`.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    message = problem()
    if message is not None:
        if args[:1] == ["doctor"]:
            print("\n".join(report()))
        print(f"linkahead-auth: error: {message}", file=sys.stderr)
        return 1
    from .cli import main  # only now: it imports the shared modules

    return main(args)
