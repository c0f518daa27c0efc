"""Build hook for ``linkahead-connection``'s wheel.

- **Type information without a shared file.** ``py.typed`` in the folder ``linkahead`` would be a
  file of both distributions (upstream ships one). The wheel carries a partial stub package
  ``linkahead-stubs`` instead (PEP 561: its ``py.typed`` says ``partial``) whose ``.pyi`` files are
  this distribution's sources, so that a type checker finds ``linkahead.hookspecs``,
  ``linkahead.credentials``, ``linkahead.exceptions``, ... with and without upstream installed.
  Its ``__init__.pyi`` is this distribution's ``__init__`` plus static imports of upstream's data
  API (``_UPSTREAM_DATA_API``, which the real ``__init__`` binds at run time where upstream is
  installed): ``db.Record`` keeps upstream's type there.
- **Editable installs** get only the import hook's ``.pth``/``.start`` pair, not frozen copies of
  the sources: the hook serves the shared modules from the checkout
  (see ``linkahead_connection.hook.shared_root``).
"""

import ast
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

START_FILES = ("linkahead_connection.pth", "linkahead_connection.start")
GENERATED = ("__init__.py", "version.py")  # at the top of the package: written by this hook
VERSION_STUB = "version: str\n__version__: str\n"


def init_stub(source: str) -> str:
    """``__init__.py``'s text plus one static import per name of its ``_UPSTREAM_DATA_API`` table."""
    table: dict[str, tuple[str, ...] | None] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "_UPSTREAM_DATA_API" for target in node.targets):
            table = ast.literal_eval(node.value)
    lines = [source, "", "# Upstream's data API, bound at run time where upstream linkahead is installed."]
    for module, names in table.items():
        absolute = "linkahead" + module
        if names is None:
            parent, _, last = absolute.rpartition(".")
            lines.append(f"from {parent} import {last} as {last}")
        else:
            lines.append(f"from {absolute} import " + ", ".join(f"{name} as {name}" for name in names))
    return "\n".join(lines) + "\n"


class LinkAheadConnectionBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            build_data["force_include_editable"] = {name: name for name in START_FILES}
            return
        package = Path(self.root, "src", "linkahead")
        # Copies: force-include maps each source file to one place, and five of these sources
        # already go to linkahead_connection/shared/ (pyproject.toml).
        self._generated = Path(tempfile.mkdtemp(prefix="linkahead-stubs-"))
        files = {
            Path("__init__.pyi"): init_stub((package / "__init__.py").read_text(encoding="utf-8")),
            Path("version.pyi"): VERSION_STUB,
            Path("py.typed"): "partial\n",
        }
        for source in sorted(package.rglob("*.py")):
            relative = source.relative_to(package)
            if str(relative) not in GENERATED and "__pycache__" not in relative.parts:
                files[relative.with_suffix(".pyi")] = source.read_text(encoding="utf-8")
        stubs = build_data.setdefault("force_include", {})
        for relative, text in files.items():
            target = self._generated / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            stubs[str(target)] = str(Path("linkahead-stubs", relative))

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        generated = getattr(self, "_generated", None)
        if generated is not None:
            shutil.rmtree(generated, ignore_errors=True)
