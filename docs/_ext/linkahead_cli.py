"""Sphinx directive ``.. linkahead-cli-help:: [subcommand]``: the ``--help`` text of ``linkahead-auth``.

The text comes from the same :func:`linkahead.cli.build_parser` the console script uses, so the
CLI reference cannot drift from the code. The width is fixed so the output does not depend on the
terminal the docs are built in.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from docutils import nodes
from linkahead.cli import build_parser
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

WIDTH = "88"


def help_text(subcommand: str | None = None) -> str:
    """``linkahead-auth [subcommand] --help`` as the console script prints it at 88 columns."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse reads the width from COLUMNS
    try:
        parser = build_parser()
        if subcommand is None:
            return parser.format_help()
        for action in parser._actions:  # argparse offers no public way to reach subparsers
            if isinstance(action, argparse._SubParsersAction) and subcommand in action.choices:
                return str(action.choices[subcommand].format_help())
        raise KeyError(subcommand)
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


class LinkAheadCliHelp(SphinxDirective):
    """Render the help of ``linkahead-auth`` or one of its subcommands as a literal block."""

    optional_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        subcommand = self.arguments[0] if self.arguments else None
        try:
            text = help_text(subcommand)
        except KeyError:
            logger.warning("linkahead-cli-help: no subcommand %r", subcommand, location=self.get_location())
            return []
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("linkahead-cli-help", LinkAheadCliHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
