"""Build hook: an editable install gets only the import hook's start files, not copies of the sources.

For a wheel, ``pyproject.toml`` force-includes this distribution's copies of the modules shared with
upstream ``linkahead`` under ``linkahead_connection/shared/``. An editable install would get frozen
copies of them there too; it needs only the ``.pth``/``.start`` pair, and the hook then serves the
shared modules from the checkout (see ``linkahead_connection.hook.shared_root``).
"""

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

START_FILES = ("linkahead_connection.pth", "linkahead_connection.start")


class EditableStartFilesHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            build_data["force_include_editable"] = {name: name for name in START_FILES}
