"""The connection to a LinkAhead server: configuration, transport, session handling."""

from .connection import configure_connection, get_connection

__all__ = ["configure_connection", "get_connection"]
