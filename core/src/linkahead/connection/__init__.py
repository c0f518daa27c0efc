"""The connection to a LinkAhead server: configuration, transport, session handling."""

# linkahead-connection:shared-module -- upstream linkahead ships a file of this name; see installation.py

from .connection import configure_connection, get_connection

__all__ = ["configure_connection", "get_connection"]
