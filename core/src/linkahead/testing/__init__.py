"""Testing support: an embedded LinkAhead-protocol server and pytest fixtures.

:class:`LinkAheadTestServer` is stdlib-only and runs in-process; the pytest plugin (registered
through the ``pytest11`` entry point) provides the ``linkahead_server`` fixture to any project
that has ``linkahead-connection`` installed, so plugin authors can test against real HTTP.
``linkahead-auth serve`` (or ``python -m linkahead.testing``, see :mod:`linkahead.testing.serve`)
runs the server as a command.
"""

from .server import DEFAULT_USERS, Counters, Fault, LinkAheadTestServer, RequestInfo

__all__ = ["LinkAheadTestServer", "Counters", "Fault", "RequestInfo", "DEFAULT_USERS", "reset_connection"]


def reset_connection() -> None:
    """Close the process-wide connection and forget its configuration (the ini file is read again)."""
    from ..configuration import _reset_config
    from ..connection.connection import _Connection

    _reset_config()

    connection = _Connection.get_instance()
    connection.close()
    connection._config = None
    connection._method = None
