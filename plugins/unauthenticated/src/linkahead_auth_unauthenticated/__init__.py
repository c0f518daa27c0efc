"""Password method ``unauthenticated``: anonymous access, no login and no token.

Works with servers that allow anonymous users; requests are answered as user ``anonymous``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from linkahead import AnonymousCredentials, hookimpl

__all__ = ["get_credentials"]


@hookimpl
def get_credentials(config: Mapping[str, Any]) -> AnonymousCredentials:
    return AnonymousCredentials()
