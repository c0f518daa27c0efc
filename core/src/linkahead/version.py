"""The version of the ``linkahead-connection`` distribution."""

__version__ = "0.1.0"
