"""The password store on disk: where it is, which file an identifier names, what entries exist.

An identifier is a path relative to the store without the ``.gpg`` suffix (``linkahead/admin``
is ``<store>/linkahead/admin.gpg``), exactly as ``pass show`` takes it. It must not leave the
store: absolute paths, ``..`` and control characters are refused, and the file's real path
(symlinks resolved) must lie inside the store's real path.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from linkahead.exceptions import ConfigurationError

__all__ = ["Store", "check_identifier", "locate_store", "entry_file", "list_entries"]

SUFFIX = ".gpg"
# Listing a huge store for suggestions must stay cheap; past this many files we stop looking.
MAX_LISTED = 5000


def check_identifier(value: Any) -> str:
    """Accept a store-relative entry name such as ``linkahead/admin``; raise :class:`ValueError` otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    if not value.strip():
        raise ValueError("must not be empty")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters (line breaks, tabs, NUL bytes)")
    if value.startswith(("/", "~")):
        raise ValueError(
            "must be an entry name relative to the password store, like linkahead/admin, "
            "not a file system path"
        )
    parts = value.split("/")
    if any(part in ("..", ".") for part in parts):
        raise ValueError("must not contain '.' or '..' path components; name the entry like linkahead/admin")
    if any(part == "" for part in parts):
        raise ValueError("must not contain empty path components (a leading, trailing or doubled '/')")
    return value


class Store(NamedTuple):
    """A password-store folder and the setting that chose it (for error messages)."""

    path: Path
    origin: str


def locate_store(config: Mapping[str, Any]) -> Store:
    """The store folder: ``pass_store_dir``, else ``$PASSWORD_STORE_DIR``, else ``~/.password-store``."""
    configured = config.get("pass_store_dir")
    if configured:
        return Store(Path(configured).expanduser(), "option pass_store_dir")
    variable = os.environ.get("PASSWORD_STORE_DIR")
    if variable:
        return Store(Path(variable).expanduser(), "environment variable PASSWORD_STORE_DIR")
    return Store(Path.home() / ".password-store", "the default location (PASSWORD_STORE_DIR is not set)")


def entry_file(store: Store, identifier: str) -> Path:
    """The real path of the entry's ``.gpg`` file, checked to lie inside the store.

    :raises ConfigurationError: the store or the entry does not exist, or the entry leads outside.
    """
    try:
        check_identifier(identifier)
    except ValueError as error:
        raise ConfigurationError(f"Invalid password_identifier {identifier!r}: {error}.") from None
    if not store.path.is_dir():
        raise ConfigurationError(
            f"The password store {str(store.path)!r} (from {store.origin}) does not exist or is not a folder. "
            "Create it with 'pass init <your-gpg-key-id>', or point PASSWORD_STORE_DIR (or the option "
            "pass_store_dir) at your store."
        )
    real_store = store.path.resolve(strict=True)
    candidate = store.path / (identifier + SUFFIX)
    if not candidate.is_file():
        raise ConfigurationError(_missing_message(store, identifier))
    real = candidate.resolve(strict=True)
    if not real.is_relative_to(real_store):
        raise ConfigurationError(
            f"The password store entry {identifier!r} leads outside the store {str(store.path)!r} "
            "(through a symbolic link); it is refused. Store the password inside the store "
            f"({shell_command('pass', 'insert', identifier)})."
        )
    return real


def shell_command(*words: str) -> str:
    """A command to copy into a shell: ``'pass insert linkahead/me'``, or with its words shell-quoted.

    The identifier is user input; a hint must not turn it into shell code when pasted.
    """
    if all(shlex.quote(word) == word for word in words):
        return f"'{' '.join(words)}'"
    return "the command: " + " ".join(shlex.quote(word) for word in words)


def list_entries(root: Path) -> list[str]:
    """Entry names in the store, hidden folders (``.git``) skipped; at most :data:`MAX_LISTED`."""
    entries: list[str] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            if name.endswith(SUFFIX) and not name.startswith("."):
                relative = Path(folder, name).relative_to(root).as_posix()
                entries.append(relative[: -len(SUFFIX)])
                if len(entries) >= MAX_LISTED:
                    return entries
    return entries


def _missing_message(store: Store, identifier: str) -> str:
    entries = list_entries(store.path)
    where = f"the password store {str(store.path)!r} (from {store.origin})"
    if (store.path / identifier).is_dir():
        inside = [entry for entry in entries if entry.startswith(identifier + "/")]
        shown = ", ".join(repr(entry) for entry in inside[:10]) or "none"
        return (
            f"The password_identifier {identifier!r} names a folder in {where}, not an entry. "
            f"Name an entry inside it: {shown}."
        )
    import difflib  # only for this hint

    close = difflib.get_close_matches(identifier, entries, n=5, cutoff=0.5)
    if close:
        hint = " Close entries: " + ", ".join(repr(entry) for entry in close) + "."
    elif entries:
        count = "1 entry" if len(entries) == 1 else f"{len(entries)} entries"
        hint = f" The store has {count}; list them with 'pass ls'."
    else:
        hint = " The store has no entries yet."
    return (
        f"There is no entry {identifier!r} in {where} (no file {identifier + SUFFIX!r}).{hint} "
        f"Fix password_identifier, or add the entry with {shell_command('pass', 'insert', identifier)}."
    )
