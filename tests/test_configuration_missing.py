"""Missing required options are reported together, and the message says where the file was looked for.

Also pins down what the ``linkahead_isolated`` fixture yields (the temporary ``HOME``) versus the
working directory, since a ``pylinkahead.ini`` written into the wrong one is silently not read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import get_args

import linkahead
import pytest
from linkahead import RefreshReason
from linkahead.exceptions import ConfigurationError
from linkahead.testing import LinkAheadTestServer


def test_every_missing_required_option_is_named_in_one_message() -> None:
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(password_method="plain")
    message = str(info.value)
    assert "The options 'url', 'username' and 'password' are required for password_method 'plain'" in message
    assert "Pass url=..., username=..., password=... to configure_connection()" in message


def test_one_missing_option_keeps_the_single_form(linkahead_server: LinkAheadTestServer) -> None:
    with pytest.raises(ConfigurationError, match="The option 'password' is required for password_method 'plain'"):
        linkahead.configure_connection(url=linkahead_server.url, username="admin")


def test_without_a_file_the_message_lists_the_places_searched(linkahead_isolated: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(username="admin", password="x")
    message = str(info.value)
    assert "No configuration file was found; looked for " in message
    assert str(Path.cwd() / "pylinkahead.ini") in message
    assert str(linkahead_isolated / ".pylinkahead.ini") in message


def test_with_a_file_the_message_names_it_and_not_the_search(linkahead_server: LinkAheadTestServer) -> None:
    ini = Path("pylinkahead.ini")
    ini.write_text(f"[Connection]\nurl = {linkahead_server.url}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        linkahead.get_connection()
    assert "to the [Connection] section of 'pylinkahead.ini'" in str(info.value)
    assert "No configuration file was found" not in str(info.value)


def test_linkahead_isolated_yields_home_and_works_in_another_empty_folder(
        linkahead_isolated: Path, linkahead_server: LinkAheadTestServer) -> None:
    work = Path.cwd()
    assert work != linkahead_isolated
    assert Path.home() == linkahead_isolated
    assert list(work.iterdir()) == [] and list(linkahead_isolated.iterdir()) == []
    assert "PYLINKAHEADINI" not in os.environ and "XDG_CONFIG_HOME" not in os.environ
    settings = f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword = admin-Pa55word\n"

    # pylinkahead.ini belongs into the working directory; in HOME the file is named .pylinkahead.ini.
    (linkahead_isolated / "pylinkahead.ini").write_text(settings, encoding="utf-8")
    with pytest.raises(ConfigurationError, match="No configuration file was found"):
        linkahead.get_connection()
    (linkahead_isolated / ".pylinkahead.ini").write_text(settings, encoding="utf-8")
    assert linkahead.get_connection().config.file == linkahead_isolated / ".pylinkahead.ini"


def test_refresh_reason_is_exported() -> None:
    assert set(get_args(RefreshReason)) == {"rejected", "expired", "requested"}
