"""The ``linkahead-auth`` command line tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .demo import run_demo

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``linkahead-auth``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="linkahead-auth", description="LinkAhead connection tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="start the embedded server and log in with every standard method")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo(sys.stdout)
    return 2  # pragma: no cover -- argparse rejects unknown commands
