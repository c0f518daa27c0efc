"""``linkahead-auth demo``: the embedded server and one login with every installed method."""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, TextIO

from . import plugins
from .connection.connection import _Connection
from .exceptions import LinkAheadException
from .testing import LinkAheadTestServer, reset_connection

__all__ = ["run_demo", "who_am_i"]


def who_am_i(connection: _Connection) -> dict[str, Any]:
    """``GET Info`` and read the ``UserInfo`` element: user name, realm, roles."""
    data = connection.retrieve(["Info"]).read()
    try:
        info = ET.fromstring(data).find("UserInfo")  # noqa: S314 -- from our own embedded server
    except ET.ParseError:
        info = None
    if info is None:
        return {"username": None, "realm": None, "roles": []}
    return {
        "username": info.get("username"),
        "realm": info.get("realm"),
        "roles": [role.text or "" for role in info.iter("Role")],
    }


def _builtin_config(name: str, server: LinkAheadTestServer) -> dict[str, Any] | None:
    # The standard methods that need nothing from outside; others answer the demo_config hook.
    if name == "plain":
        return {"username": "admin", "password": server.users["admin"]}
    if name == "auth_token":
        return {"auth_token": server.make_token("admin", one_time=True)}
    if name == "unauthenticated":
        return {}
    return None


def _plugin_demo_config(method: plugins.Method, server: LinkAheadTestServer, workdir: Path) -> dict[str, Any] | None:
    answer = method.call(lambda hook: hook.demo_config(server=server, workdir=workdir), "demo_config")
    return None if answer is None else dict(answer)


def run_demo(out: TextIO) -> int:
    """Run the demo, writing a table to ``out``. Returns 0 when every runnable method logged in."""
    installed = sorted(plugins.installed_methods())
    failures = 0
    saved_environment = dict(os.environ)
    with LinkAheadTestServer(anonymous=True) as server, tempfile.TemporaryDirectory() as tmp:
        out.write(f"Embedded LinkAhead server at {server.url}\n")
        out.write(f"Installed password methods: {', '.join(installed) or 'none'}\n\n")
        for name in installed:
            workdir = Path(tmp) / name
            workdir.mkdir()
            reset_connection()
            try:
                method = plugins.load_method(name)
                config = _builtin_config(name, server)
                if config is None:
                    config = _plugin_demo_config(method, server, workdir)
                if config is None:
                    out.write(f"  {name:<16} skipped  (needs outside help, e.g. a terminal)\n")
                    continue
                connection = _Connection.get_instance().configure(url=server.url, password_method=name, **config)
                who = who_am_i(connection)
                roles = ", ".join(who["roles"]) or "none"
                out.write(f"  {name:<16} OK       authenticated as {who['username']} "
                          f"(realm {who['realm']}, roles {roles})\n")
            except LinkAheadException as error:
                failures += 1
                out.write(f"  {name:<16} FAILED   {error}\n")
            finally:
                reset_connection()
                os.environ.clear()
                os.environ.update(saved_environment)
        out.write(f"\nServer counters: {server.counters}\n")
    return 1 if failures else 0


