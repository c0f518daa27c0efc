"""The version of the ``linkahead-connection`` distribution."""

# linkahead-connection:shared-module -- upstream linkahead ships a file of this name; see installation.py

__version__ = "0.1.0"
