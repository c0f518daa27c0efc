"""LinkAhead connection: talk to a LinkAhead server with pluggable password methods.

The entry points most users need::

    import linkahead
    linkahead.configure_connection(url=..., username=..., password_method=...)
    linkahead.get_connection().retrieve(["Info"])

Plugin authors need :data:`hookimpl` and the credential classes.

This package shares the import name ``linkahead`` with the upstream ``linkahead`` client. When
upstream's data layer is installed beside it (``pip install linkahead`` first, then this
distribution), ``import linkahead`` also offers upstream's whole API -- ``Record``,
``Container``, ``execute_query``, ``administration``, ... -- running on this connection, as
upstream's own ``__init__`` offers it. See the docs page "Using it with the linkahead client".
"""

# Upstream linkahead ships a module of this name: the wheel carries this file under
# linkahead_connection/shared/ and the import hook serves it (see linkahead_connection/hook.py).

from importlib import import_module as _import_module
from importlib.util import find_spec as _find_spec

from . import configuration
from .configuration import _read_config_files, configure, get_config
from .connection.connection import configure_connection, get_connection
from .credentials import AnonymousCredentials, Credentials, HeaderCredentials, PasswordCredentials, TokenCredentials
from .exceptions import *  # noqa: F403 -- upstream's __init__ exposes every error class at the top
from .exceptions import __all__ as _exception_names
from .hookspecs import RefreshReason, hookimpl
from .options import Option
from .version import __version__

__all__ = [
    "configure_connection",
    "get_connection",
    "configure",
    "get_config",
    "_read_config_files",
    "configuration",
    "hookimpl",
    "RefreshReason",
    "Option",
    "Credentials",
    "PasswordCredentials",
    "TokenCredentials",
    "HeaderCredentials",
    "AnonymousCredentials",
    "__version__",
    *_exception_names,
]


# Upstream's data API, as upstream's own __init__ exposes it: module -> names.
_UPSTREAM_DATA_API = {
    ".apiutils": None,  # None: the module itself, under its last name
    ".common.administration": None,
    ".common.datatype": ("BOOLEAN", "DATETIME", "DOUBLE", "FILE", "INTEGER", "LIST", "REFERENCE", "TEXT"),
    ".common.models": (
        "ACL", "ALL", "FIX", "NONE", "OBLIGATORY", "RECOMMENDED", "SUGGESTED", "Container", "Entity", "File",
        "Info", "Message", "Parent", "Permissions", "Property", "Query", "QueryTemplate", "Record",
        "RecordType", "delete", "execute_query", "get_global_acl", "get_known_permissions", "raise_errors",
    ),
    ".common.state": ("State", "Transition"),
    ".queries": ("count", "find", "get_entity_by", "query", "select"),
    ".utils.get_entity": ("get_entity_by_id", "get_entity_by_name", "get_entity_by_path"),
}


def _has_upstream_data_layer() -> bool:
    try:
        return _find_spec("linkahead.common.models") is not None
    except ImportError:  # no linkahead.common package at all
        return False


def _import_upstream_data_api() -> None:
    """Bind upstream's data API here. A failure is not hidden: a silently missing db.Record is worse."""
    namespace = globals()
    for module_name, names in _UPSTREAM_DATA_API.items():
        module = _import_module(module_name, __name__)
        if names is None:
            namespace[module_name.rsplit(".", 1)[-1]] = module
        else:
            namespace.update({name: getattr(module, name) for name in names})


if _has_upstream_data_layer():
    _import_upstream_data_api()
