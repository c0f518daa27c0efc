"""Sphinx configuration for the linkahead-connection documentation."""

from __future__ import annotations

import linkahead

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
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = False
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
exclude_patterns = ["_build", "examples/*/README.md", "examples/**/README.md"]
html_theme = "alabaster"
html_static_path: list[str] = []
templates_path: list[str] = []
