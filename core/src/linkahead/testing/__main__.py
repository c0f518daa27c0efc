"""``python -m linkahead.testing``: the embedded server as a command (see :mod:`linkahead.testing.serve`)."""

from __future__ import annotations

import sys

from .serve import main

if __name__ == "__main__":
    sys.exit(main())
