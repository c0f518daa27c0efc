#!/usr/bin/env python3
"""Run a command while every CPU is kept busy by other processes, several times in a row.

    python3 .ci/under_load.py [--times 3] [--busy N] -- ./run test

starts ``N`` busy processes (default: one per CPU, at normal priority, so the command competes for
every CPU), runs the command ``--times`` times one after the other (stopping at the first failure),
then ends the busy processes it started, by their process ids. It prints each run's exit status
and time, and exits with the first failing run's status (0 when all passed). This is how the
suite is checked for flakes under load (CONTRIBUTING.md, "Flakes"). Stdlib only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

# A busy process: spins until its parent (this script) is gone, so none outlives an interrupted run.
_SPIN = "import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n    sum(range(10000))\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--times", type=int, default=3, help="runs in a row (default 3)")
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2,
                        help="busy processes (default: one per CPU)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("give the command after --, e.g. -- ./run test")
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN, str(os.getpid())], stdin=subprocess.DEVNULL)
                for _ in range(options.busy)]
    print(f"under_load: {options.busy} busy processes ({os.cpu_count()} CPUs); running {command} "
          f"{options.times} times", file=sys.stderr, flush=True)
    status = 0
    try:
        for run in range(1, options.times + 1):
            started = time.monotonic()
            status = subprocess.run(command, check=False).returncode
            print(f"under_load: run {run} of {options.times}: exit {status} after "
                  f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            if status != 0:
                break
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    return status


if __name__ == "__main__":
    sys.exit(main())
