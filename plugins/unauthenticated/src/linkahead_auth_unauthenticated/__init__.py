"""Password method ``unauthenticated``: anonymous access, no login and no token.

Works with servers that allow anonymous users; requests are answered as user ``anonymous``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linkahead import AnonymousCredentials, hookimpl

if TYPE_CHECKING:
    from linkahead.testing import LinkAheadTestServer

__all__ = ["get_credentials", "demo_config"]


@hookimpl
def get_credentials(config: Mapping[str, Any]) -> AnonymousCredentials:
    return AnonymousCredentials()


@hookimpl
def demo_config(server: LinkAheadTestServer, workdir: Path) -> Mapping[str, Any]:
    return {}  # the demo's server allows anonymous users
