"""pytest fixtures for testing code that uses a LinkAhead connection (entry point ``pytest11``).

- ``linkahead_server``: a fresh :class:`~linkahead.testing.LinkAheadTestServer` per test, stopped after it.
- ``linkahead_isolated``: a test environment that cannot see your real configuration. ``HOME`` is
  an empty temporary folder (the value the fixture yields); the working directory is *another*
  empty temporary folder; ``PYLINKAHEADINI``, ``XDG_CONFIG_HOME``, the proxy and CA-bundle
  variables are unset; the process-wide connection is reset before and after. A test's
  ``pylinkahead.ini`` therefore goes into the working directory (``Path("pylinkahead.ini")``) or,
  as ``.pylinkahead.ini``, into the yielded home -- a ``pylinkahead.ini`` in the home folder is
  not searched for, as it would not be on a real machine.
  ``LINKAHEAD_SESSION_CACHE`` is set to ``none``, so that every process logs in by itself, as
  tests expect, unless a test names a store (``session_cache`` in its arguments or ini file wins
  over the variable), and no test sees another's (or your) sessions. ``XDG_RUNTIME_DIR`` is unset
  and ``TMPDIR`` is an empty private folder of the test's own: a test of the default store deletes
  ``LINKAHEAD_SESSION_CACHE`` and gets the per-user folder in that temporary directory.

It is a top-level module of its own: pytest rewrites the asserts of the package a plugin comes
from, with an import finder placed before all others. In the package ``linkahead`` that finder would
load ``linkahead`` past the import hook (upstream's modules, where upstream is installed); in
``linkahead_connection``, which the hook loads at interpreter start, pytest would warn that it
cannot rewrite it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from linkahead.testing import LinkAheadTestServer, reset_connection

_ISOLATED_VARIABLES = (
    "PYLINKAHEADINI", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
    "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR",
)


@pytest.fixture
def linkahead_server() -> Iterator[LinkAheadTestServer]:
    """A running embedded LinkAhead server (user ``admin``, see ``server.users``)."""
    with LinkAheadTestServer() as server:
        yield server


@pytest.fixture
def linkahead_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Isolate the test from the user's configuration; yields the temporary ``HOME``.

    The working directory is a different empty folder (``Path.cwd()``): write ``pylinkahead.ini``
    there, or ``.pylinkahead.ini`` into the yielded home.
    """
    home = tmp_path / "home"
    work = tmp_path / "work"
    temporary = tmp_path / "tmp"
    home.mkdir()
    work.mkdir()
    temporary.mkdir(mode=0o700)
    for name in _ISOLATED_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    # The session store's fallback folder lives in $TMPDIR: one per test, never the machine's /tmp.
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setenv("LINKAHEAD_SESSION_CACHE", "none")
    monkeypatch.chdir(work)
    reset_connection()
    yield home
    reset_connection()
