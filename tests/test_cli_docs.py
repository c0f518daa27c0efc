"""The generated references in docs/ come from the code: the CLI help and the option tables."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from linkahead.options import CORE_OPTIONS

DOCS_EXT = Path(__file__).resolve().parent.parent / "docs" / "_ext"


def load_extension(name: str) -> ModuleType:
    pytest.importorskip("sphinx")
    spec = importlib.util.spec_from_file_location(f"docs_ext_{name}", DOCS_EXT / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "subcommand", [None, "methods", "status", "config", "login", "logout", "token", "demo", "doctor", "serve"]
)
def test_cli_reference_is_the_console_scripts_help(subcommand: str | None) -> None:
    docs_help = load_extension("linkahead_cli").help_text(subcommand)
    script = Path(sys.executable).parent / "linkahead-auth"
    args = [str(script), *([subcommand] if subcommand else []), "--help"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "88"}, cwd=os.getcwd())
    assert result.returncode == 0
    assert result.stdout == docs_help


def test_options_table_lists_every_core_option_with_its_flags() -> None:
    extension = load_extension("linkahead_options")
    table = extension.options_table(CORE_OPTIONS)
    rows = [row.astext() for row in table.findall(lambda node: node.tagname == "row")][1:]
    assert len(rows) == len(CORE_OPTIONS)
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == {option.name for option in CORE_OPTIONS}
    assert "(required)" in by_name["url"]
    assert "(secret)" in by_name["password"]
    assert "210" in by_name["timeout"] and "plain" in by_name["password_method"]
    assert extension.format_default(False) == "false"
    assert extension.format_default((3.0, 30.5)) == "(3, 30.5)"


def test_method_options_come_from_the_plugin() -> None:
    extension = load_extension("linkahead_options")
    method, options = extension.method_options("plain")
    assert method.name == "plain"
    assert [option.name for option in options] == ["username", "password"]
