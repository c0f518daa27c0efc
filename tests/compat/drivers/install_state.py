"""Run inside an environment of the install matrix: what ``import linkahead`` gives there, as JSON.

Environment variables (set by ``test_install_matrix.py``):

- ``PROBE_URL``: an embedded server's URL; where ``linkahead-connection`` is installed, the probe
  logs in there through the plugin-only ``exec`` method (user ``alice``);
- ``PROBE_EXEC``: the credential command's script.

The last line of stdout is one JSON object; nothing here may raise past the ``try`` blocks.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import sys
import traceback
from typing import Any

UPSTREAM_NAMES = ("Record", "Container", "execute_query", "administration", "find", "RecordType")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def probe() -> dict[str, Any]:
    result: dict[str, Any] = {
        "upstream": _version("linkahead"),
        "ours": _version("linkahead-connection"),
        "hook_module": None,
    }
    try:
        import linkahead
    except Exception:
        result["import_error"] = traceback.format_exc()
        return result
    result["file"] = getattr(linkahead, "__file__", None)
    result["version"] = getattr(linkahead, "__version__", None)
    result["data_api"] = [name for name in UPSTREAM_NAMES if hasattr(linkahead, name)]
    result["plugin_api"] = hasattr(linkahead, "hookimpl") and hasattr(linkahead, "configure_connection")
    try:
        import linkahead_connection.hook as hook

        result["hook_module"] = hook.__file__
        result["served"] = dict(hook.served)
    except ImportError:
        pass
    if result["data_api"]:
        try:
            import linkahead.common.models as models  # type: ignore[import-not-found]  # upstream's

            result["models_import"] = True
            result["data_api_on_our_connection"] = (
                result["plugin_api"] and models.get_connection is linkahead.get_connection
            )
        except Exception:
            result["models_import"] = traceback.format_exc()
    if result["plugin_api"] and os.environ.get("PROBE_URL"):
        try:
            linkahead.configure_connection(
                url=os.environ["PROBE_URL"], password_method="exec",
                exec_command=[sys.executable, os.environ["PROBE_EXEC"]], session_cache="off",
            )
            connection = linkahead.get_connection()
            connection._login()
            answer = connection.retrieve(["Info"])
            result["login"] = {"status": answer.status, "user": connection.get_username()}
        except Exception:
            result["login"] = traceback.format_exc()
    return result


if __name__ == "__main__":
    print(json.dumps(probe()))
