"""The version of the ``linkahead-connection`` distribution.

Upstream's ``version.py`` gives the ``linkahead`` client's version under the same names; where both
are installed, ``importlib.metadata.version("linkahead")`` still tells the client's.
"""

# linkahead-connection:shared-module -- upstream linkahead ships a file of this name; see installation.py

__version__ = "0.1.0"
version = __version__
"""Upstream's second name for it."""
