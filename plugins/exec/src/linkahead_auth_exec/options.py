"""The options of the ``exec`` method and the converter for ``exec_env``."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from linkahead import Option
from linkahead.options import argv, number

__all__ = ["OPTIONS", "RESERVED_VARIABLES", "INTERACTIVE_MODES", "environment", "interactive_mode", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 30.0
"""Seconds the command may run by default."""

RESERVED_VARIABLES = ("LINKAHEAD_URL", "LINKAHEAD_AUTH_REASON", "LINKAHEAD_USERNAME", "LINKAHEAD_AUTH_INTERACTIVE")
"""Set by the plugin for every run; ``exec_env`` cannot set them."""

INTERACTIVE_MODES = ("never", "if-available", "always")
"""The values of ``exec_interactive``, as kubectl's ``interactiveMode`` (``Never``, ``IfAvailable``, ``Always``)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interactive_mode(value: Any) -> str:
    """``never``, ``if-available`` or ``always``; kubectl's spellings (``IfAvailable``) are accepted too."""
    if isinstance(value, str):
        word = value.strip().lower().replace("_", "-")
        word = {"ifavailable": "if-available"}.get(word, word)
        if word in INTERACTIVE_MODES:
            return word
    shown = repr(value[:41] if isinstance(value, str) else value)  # a huge value is not repeated whole
    if len(shown) > 40:
        shown = shown[:37] + "..."
    raise ValueError(f"expected never, if-available or always, got {shown}")


def environment(value: Any) -> dict[str, str]:
    """Environment variables: a mapping of names to strings, or text ``NAME=VALUE NAME2='with spaces'``.

    The text is split like a POSIX shell would split words (quotes work; no shell runs and
    nothing is expanded). Error messages name variables but never show their values.
    """
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as error:
            raise ValueError(f"cannot split it into NAME=VALUE words: {error}") from None
        pairs: list[tuple[Any, Any]] = []
        for word in words:
            name, equals, variable_value = word.partition("=")
            if not equals:
                shown = f" {name!r}" if _NAME.fullmatch(name) else ""
                raise ValueError(f"the word{shown} has no '='; write NAME=VALUE pairs separated by spaces")
            pairs.append((name, variable_value))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise ValueError("expected a mapping of names to strings, or text like NAME=VALUE NAME2=VALUE2")
    result: dict[str, str] = {}
    for name, variable_value in pairs:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"{str(name)[:40]!r} is not an environment variable name (letters, digits and _, "
                "not starting with a digit)"
            )
        if name in RESERVED_VARIABLES:
            raise ValueError(f"{name} is set by the exec method itself and cannot be given in exec_env")
        if not isinstance(variable_value, str):
            raise ValueError(f"the value of {name} must be a string, not {type(variable_value).__name__}")
        if "\0" in variable_value:
            raise ValueError(f"the value of {name} contains a NUL character")
        result[name] = variable_value
    return result


OPTIONS: tuple[Option, ...] = (
    Option(
        "exec_command",
        "The command that prints credentials as JSON: a list of arguments, or a string split like a "
        "shell would split it (no shell runs).",
        argv,
        required=True,
    ),
    Option(
        "exec_env",
        "Extra environment variables for the command: NAME=VALUE pairs separated by spaces (a mapping "
        "as a keyword argument). Shown as *** because it may hold a secret.",
        environment,
        secret=True,
    ),
    Option(
        "exec_timeout",
        "Seconds the command may run before it is killed.",
        number,
        default=DEFAULT_TIMEOUT,
    ),
    Option(
        "exec_interactive",
        "Whether the command may talk to you: never (stdin /dev/null, stderr captured), if-available "
        "(stdin and stderr are the terminal when there is one) or always (fail at once without a "
        "terminal). For device-code and browser logins.",
        interactive_mode,
        default="never",
    ),
)
