"""The connection to a LinkAhead server: configuration, transport, session handling."""

# Upstream linkahead ships a module of this name: the wheel carries this file under
# linkahead_connection/shared/ and the import hook serves it (see linkahead_connection/hook.py).

from .connection import configure_connection, get_connection

__all__ = ["configure_connection", "get_connection"]
