"""LinkAhead connection: talk to a LinkAhead server with pluggable password methods.

The entry points most users need::

    import linkahead
    linkahead.configure_connection(url=..., username=..., password_method=...)
    linkahead.get_connection().retrieve(["Info"])

Plugin authors need :data:`hookimpl` and the credential classes.
"""

from .connection.connection import configure_connection, get_connection
from .credentials import AnonymousCredentials, Credentials, HeaderCredentials, PasswordCredentials, TokenCredentials
from .hookspecs import RefreshReason, hookimpl
from .options import Option
from .version import __version__

__all__ = [
    "configure_connection",
    "get_connection",
    "hookimpl",
    "RefreshReason",
    "Option",
    "Credentials",
    "PasswordCredentials",
    "TokenCredentials",
    "HeaderCredentials",
    "AnonymousCredentials",
    "__version__",
]
