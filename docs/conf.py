"""Sphinx configuration for the linkahead-connection documentation."""

from __future__ import annotations

import sys
from pathlib import Path

import linkahead

# Local extensions: the configuration reference and the CLI reference are generated from the code.
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "linkahead-connection"
author = "The linkahead-connection authors"
copyright = "2026, the linkahead-connection authors"
release = linkahead.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "linkahead_options",
    "linkahead_cli",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = False
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
exclude_patterns = ["_build", "_ext", "examples/*/README.md", "examples/**/README.md"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["custom.css"]  # wider pages, visibly scrolling code blocks (docs/_static/custom.css)
html_theme_options = {"page_width": "min(1400px, 96vw)", "sidebar_width": "230px"}
templates_path: list[str] = []

# Doctests run against the embedded server; they must never read the builder's own configuration.
doctest_global_setup = """
import os as _os, tempfile as _tempfile
_doctest_home = _tempfile.mkdtemp(prefix="linkahead-doctest-")
_doctest_saved_env = dict(_os.environ)
_os.environ["PYLINKAHEADINI"] = _os.path.join(_doctest_home, "empty.ini")
open(_os.environ["PYLINKAHEADINI"], "w").write("[Connection]\\n")
for _name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
    _os.environ.pop(_name, None)
"""
doctest_global_cleanup = """
import shutil as _shutil
from linkahead.testing import reset_connection as _reset_connection
_reset_connection()
_os.environ.clear()
_os.environ.update(_doctest_saved_env)
_shutil.rmtree(_doctest_home, ignore_errors=True)
"""
