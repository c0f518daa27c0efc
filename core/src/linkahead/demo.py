"""``linkahead-auth demo``: the embedded server and one login with every installed method."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import plugins
from .connection.connection import _Connection
from .exceptions import LinkAheadException
from .testing import LinkAheadTestServer, reset_connection

__all__ = ["method_origin", "run_demo", "who_am_i"]


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


def _plugin_demo_config(method: plugins.Method, server: LinkAheadTestServer, workdir: Path) -> dict[str, Any] | None:
    answer = method.call(lambda hook: hook.demo_config(server=server, workdir=workdir), "demo_config")
    return None if answer is None else dict(answer)


class _Skip(Exception):
    """The method cannot be shown here; the text says why."""


def _demo_one(name: str, server: LinkAheadTestServer, workdir: Path) -> str:
    """Log in with method ``name``; the result line. Raises :class:`_Skip` or a LinkAhead error."""
    method = plugins.load_method(name)
    try:
        config = _plugin_demo_config(method, server, workdir)
    except LinkAheadException as error:
        raise _Skip(" ".join(error.msg.split())) from None
    if config is None:
        if not method.manager.hook.demo_config.get_hookimpls():
            raise _Skip("its plugin has no demo_config hook, so the demo cannot set it up")
        raise _Skip("its plugin says it cannot log in to the demo server by itself (demo_config returned None)")
    # The user's own pylinkahead.ini and proxy variables must not leak into the demo: point
    # PYLINKAHEADINI at an empty file (unless the plugin chose one) and switch proxies off.
    if "PYLINKAHEADINI" not in os.environ:
        empty = workdir / "empty-pylinkahead.ini"
        empty.write_text("[Connection]\n", encoding="utf-8")
        os.environ["PYLINKAHEADINI"] = str(empty)
    config.setdefault("https_proxy", None)
    config.setdefault("http_proxy", None)
    # Each demo server lives for one run: its sessions are worth nothing to other processes.
    config.setdefault("session_cache", "none")
    connection = _Connection.get_instance().configure(url=server.url, password_method=name, **config)
    started = time.perf_counter()
    who = who_am_i(connection)
    elapsed = (time.perf_counter() - started) * 1000
    roles = ", ".join(who["roles"]) or "none"
    return (f"authenticated as {who['username']} (realm {who['realm']}, roles {roles}) "
            f"in {elapsed:.0f} ms")


def method_origin(name: str, entry_point: metadata.EntryPoint) -> str | None:
    """``None`` for this project's own methods, else what the method is: an example, or whose.

    An example is a distribution installed from a ``docs/examples/`` folder (``./run setup``
    installs the plugin guide's ``acme-sso`` that way): its ``direct_url.json`` records the folder.
    """
    dist = entry_point.dist
    if dist is None:
        return None
    if name in plugins.STANDARD_METHODS and dist.name == plugins.distribution_for(name):
        return None
    try:
        source = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    except ValueError:
        source = ""
    marker = "/docs/examples/"
    if marker in source:
        folder = "docs/examples/" + source.split(marker, 1)[1].strip("/")
        return f"example plugin from {folder}, not for real use"
    return f"third-party, from {dist.name} {dist.version}"


def run_demo(out: TextIO, only: Sequence[str] | None = None) -> int:
    """Run the demo, writing a table to ``out``. Returns 0 when every runnable method logged in.

    :param only: demonstrate only these methods (default: every installed one).
    """
    entry_points = plugins.installed_methods()
    origins = {name: method_origin(name, entry_point) for name, entry_point in entry_points.items()}
    installed = sorted(entry_points)
    names = list(only) if only else installed
    failures = 0
    saved_environment = dict(os.environ)
    with LinkAheadTestServer(anonymous=True) as server, tempfile.TemporaryDirectory() as tmp:
        out.write(f"Embedded LinkAhead server at {server.url}\n")
        ours = [name for name in installed if origins[name] is None]
        out.write(f"Installed password methods: {', '.join(ours) or 'none'}\n")
        for name in installed:
            if origins[name] is not None:
                out.write(f"Also installed: {name} ({origins[name]})\n")
        out.write("\n")
        for name in names:
            workdir = Path(tmp) / name
            workdir.mkdir()
            reset_connection()
            try:
                line = _demo_one(name, server, workdir)
                out.write(f"  {name:<16} OK       {line}\n")
            except _Skip as skip:
                out.write(f"  {name:<16} skipped  ({skip})\n")
            except LinkAheadException as error:
                failures += 1
                out.write(f"  {name:<16} FAILED   {' '.join(error.msg.split())}\n")
            finally:
                reset_connection()
                os.environ.clear()
                os.environ.update(saved_environment)
            out.flush()
        counters = server.counters
        out.write(f"\nServer: {counters.requests} requests, {counters.logins} password logins, "
                  f"{counters.one_time_logins} one-time token logins, {counters.anonymous} anonymous, "
                  f"{counters.rejected} rejected.\n")
    return 1 if failures else 0
