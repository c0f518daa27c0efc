"""Sphinx directives that render the configuration reference from the code's own declarations.

``.. linkahead-options::``
    The core options (:data:`linkahead.options.CORE_OPTIONS`) as a table.
``.. linkahead-options:: pass``
    The options the ``pass`` method declares through its ``declare_options`` hook. A method that
    is not installed, or whose plugin is broken, is a build warning (an error under ``-W``).
``.. linkahead-method-options::``
    A section per installed password method with its declared options.

Because the tables come from the same :class:`~linkahead.options.Option` objects that validate a
``pylinkahead.ini``, the reference cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docutils import nodes
from linkahead import plugins
from linkahead.exceptions import LinkAheadException
from linkahead.options import CORE_OPTIONS, Option
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

HEADERS = ("option", "default", "meaning")


def format_default(value: Any) -> str:
    """A default as one would write it in ``pylinkahead.ini``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return "(" + ", ".join(format_default(item) for item in value) + ")"
    return str(value)


def _cell(*children: nodes.Node) -> nodes.entry:
    entry = nodes.entry()
    entry += nodes.paragraph("", "", *children)
    return entry


def options_table(options: Sequence[Option]) -> nodes.table:
    """A three-column table: name (with *required*/*secret* flags), default, help text."""
    table = nodes.table(classes=["linkahead-options"])
    group = nodes.tgroup(cols=len(HEADERS))
    table += group
    for width in (22, 12, 66):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    header = nodes.row()
    for title in HEADERS:
        header += _cell(nodes.Text(title))
    head += header
    body = nodes.tbody()
    group += body
    for option in options:
        row = nodes.row()
        flags = [word for word, on in (("required", option.required), ("secret", option.secret)) if on]
        name_cell: list[nodes.Node] = [nodes.literal(option.name, option.name)]
        if flags:
            name_cell.append(nodes.Text(" (" + ", ".join(flags) + ")"))
        row += _cell(*name_cell)
        default = format_default(option.default)
        row += _cell(nodes.literal(default, default)) if default else _cell()
        row += _cell(nodes.Text(option.help))
        body += row
    return table


def method_options(name: str) -> tuple[plugins.Method, tuple[Option, ...]]:
    """Load the method ``name`` and ask it for its options (imports the plugin)."""
    method = plugins.load_method(name)
    return method, method.options()


class LinkAheadOptions(SphinxDirective):
    """``.. linkahead-options:: [method]``: the core's or one method's options as a table."""

    optional_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        if not self.arguments:
            return [options_table(CORE_OPTIONS)]
        name = self.arguments[0]
        try:
            _, options = method_options(name)
        except LinkAheadException as error:
            logger.warning("linkahead-options: %s", error.msg, location=self.get_location())
            return []
        if not options:
            return [nodes.paragraph("", f"The {name} method declares no options of its own.")]
        return [options_table(options)]


class LinkAheadMethodOptions(SphinxDirective):
    """``.. linkahead-method-options::``: a rubric and a table per installed standard password method."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        result: list[nodes.Node] = []
        for name, entry_point in sorted(plugins.installed_methods().items()):
            dist = entry_point.dist
            if name not in plugins.STANDARD_METHODS:
                continue  # e.g. the acme-sso example, documented in writing-a-plugin
            origin = f" ({dist.name} {dist.version})" if dist is not None else ""
            result.append(nodes.rubric("", "", nodes.literal(name, name), nodes.Text(origin)))
            try:
                _, options = method_options(name)
            except LinkAheadException as error:
                logger.warning("linkahead-method-options: %s", error.msg, location=self.get_location())
                continue
            if options:
                result.append(options_table(options))
            else:
                result.append(nodes.paragraph("", "No options of its own."))
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("linkahead-options", LinkAheadOptions)
    app.add_directive("linkahead-method-options", LinkAheadMethodOptions)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
