"""The ``linkahead-auth`` command's entry point.

It makes sure the import hook is in place before anything imports ``linkahead`` (a console
script runs with ``site``, so the ``.pth`` file normally did it already), then runs
:func:`linkahead.cli.main`. With the hook switched off only ``doctor`` runs: every other command
needs this distribution's ``linkahead``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from . import hook


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``linkahead-auth`` with ``argv`` (default: the command line); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    hook.install()
    if not hook.installed():
        if args[:1] == ["doctor"]:
            from .doctor import report

            print("\n".join(report()))
            return 0
        reason = (f"the import hook is switched off ({hook.DISABLE_VARIABLE}={os.environ.get(hook.DISABLE_VARIABLE)})"
                  if hook.disabled() else f"the import hook could not be installed ({hook.install_error})")
        print(f"linkahead-auth: error: {reason}, so `import linkahead` is not this distribution's and its "
              f"password-method plugins are not in charge. Unset {hook.DISABLE_VARIABLE} to use linkahead-auth; "
              "`linkahead-auth doctor` works either way.", file=sys.stderr)
        return 1
    from linkahead.cli import main as cli_main

    return cli_main(args)
