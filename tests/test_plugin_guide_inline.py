"""The whole plugin module shown inline in docs/writing-a-plugin.rst works as printed.

The guide's ``vault`` plugin reads from an imaginary vault client; the test supplies one (a dict
behind the same call) and runs the module's hooks against the embedded server.
"""

from __future__ import annotations

import textwrap
import types
from pathlib import Path
from typing import Any

import linkahead
import pytest
from linkahead.exceptions import ConfigurationError, LoginFailedError
from linkahead.testing import LinkAheadTestServer

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "writing-a-plugin.rst"
FIRST_LINE = '"""Password method \'vault\': the password from the organisation\'s vault."""'


def guide_module() -> str:
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    start = next(index for index, line in enumerate(lines) if line.strip() == FIRST_LINE)
    block = []
    for line in lines[start:]:
        if line and not line.startswith("   "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


class FakeVault:
    """The imaginary ``vault_client``: entries by path; records the time-outs it was given."""

    def __init__(self, entries: dict[str, str]) -> None:
        self.entries = entries
        self.timeouts: list[Any] = []

    def read(self, path: str, timeout: Any) -> str | None:
        self.timeouts.append(timeout)
        return self.entries.get(path)


def load_plugin(vault: FakeVault) -> types.ModuleType:
    module = types.ModuleType("linkahead_auth_vault")
    module.__dict__["vault_client"] = vault
    exec(compile(guide_module(), str(GUIDE), "exec"), module.__dict__)  # the guide is ours
    return module


def test_the_inline_plugin_logs_in_and_gives_up_after_a_rejection(linkahead_server: LinkAheadTestServer) -> None:
    vault = FakeVault({"linkahead/admin": linkahead_server.users["admin"]})
    plugin = load_plugin(vault)
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin,
                                                username="admin", vault_path="linkahead/admin", timeout=7)
    assert connection.retrieve(["Info"]).status == 200
    assert vault.timeouts == [7.0]

    # The server's password changes, the vault still holds the old one: refresh returns None.
    linkahead_server.add_user("admin", "changed", ["administration"])
    linkahead_server.invalidate_sessions()
    with pytest.raises(LoginFailedError, match="rejected the login of user 'admin'"):
        connection.retrieve(["Info"])


def test_the_inline_plugin_declares_its_options_and_names_a_missing_entry(
        linkahead_server: LinkAheadTestServer) -> None:
    plugin = load_plugin(FakeVault({}))
    with pytest.raises(ConfigurationError, match="'username' and 'vault_path' are required"):
        linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin,
                                                username="admin", vault_path="nowhere")
    with pytest.raises(LoginFailedError, match="The vault has no entry 'nowhere'"):
        connection.retrieve(["Info"])
