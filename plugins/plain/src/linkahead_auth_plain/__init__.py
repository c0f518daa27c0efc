"""Password method ``plain``: the user name and password come from the configuration.

.. code-block:: ini

    [Connection]
    url = https://linkahead.example.org/
    username = admin
    password_method = plain
    password = ...

Keep such a file readable only by you (``chmod 600``); prefer ``pass`` or ``keyring``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linkahead import Option, PasswordCredentials, hookimpl
from linkahead.options import text

if TYPE_CHECKING:
    from linkahead.testing import LinkAheadTestServer

__all__ = ["declare_options", "get_credentials", "demo_config"]


@hookimpl
def declare_options() -> Sequence[Option]:
    return [
        Option("username", "The user name to log in with.", text, required=True),
        Option("password", "The password.", text, required=True, secret=True),
    ]


@hookimpl
def get_credentials(config: Mapping[str, Any]) -> PasswordCredentials:
    return PasswordCredentials(config["username"], config["password"])


@hookimpl
def demo_config(server: LinkAheadTestServer, workdir: Path) -> Mapping[str, Any]:
    return {"username": "admin", "password": server.users["admin"]}
