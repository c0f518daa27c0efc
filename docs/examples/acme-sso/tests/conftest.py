"""Fixtures for the acme-sso tests.

The LinkAhead server is the embedded one from linkahead-connection's pytest plugin (fixtures
``linkahead_server`` and ``linkahead_isolated``, available as soon as linkahead-connection is
installed). ACME's SSO service is played by :class:`fake_sso.FakeAcmeSso`: real HTTP on loopback,
minting real tokens with the embedded server's ``make_token``, so the plugin runs as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_sso import CLIENT_ID, SECRET, FakeAcmeSso
from linkahead.testing import LinkAheadTestServer


@pytest.fixture(autouse=True)
def _isolated(linkahead_isolated: Path) -> None:
    """No test may see the developer's own pylinkahead.ini, proxies or connection."""


@pytest.fixture
def sso(linkahead_server: LinkAheadTestServer) -> Iterator[FakeAcmeSso]:
    """ACME's SSO service, issuing tokens of ``linkahead_server``."""
    with FakeAcmeSso(linkahead_server) as fake:
        yield fake


@pytest.fixture
def secret_file(linkahead_isolated: Path) -> Path:
    """The client secret, readable only by its owner, as the README asks."""
    path = linkahead_isolated / "acme-secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def acme_ini(linkahead_server: LinkAheadTestServer, sso: FakeAcmeSso, secret_file: Path) -> Path:
    """A ``pylinkahead.ini`` in the working directory that selects acme-sso."""
    path = Path("pylinkahead.ini")
    path.write_text(
        "[Connection]\n"
        f"url = {linkahead_server.url}\n"
        "password_method = acme-sso\n"
        f"acme_sso_url = {sso.url}\n"
        f"acme_sso_client_id = {CLIENT_ID}\n"
        f"acme_sso_secret_file = {secret_file}\n",
        encoding="utf-8",
    )
    return path
