"""Password method ``auth_token``: authenticate with a LinkAhead token.

The token (session ``"S"`` or one-time ``"O"``) is sent as the ``SessionToken`` cookie; the server
answers with a session token that the connection keeps using. This method cannot log in again:
when the session ends, or the token has expired, the connection raises
:class:`~linkahead.exceptions.LoginFailedError` and you need a new token.

Giving ``auth_token=...`` to :func:`linkahead.configure_connection` selects this method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linkahead import Credentials, Option, TokenCredentials, hookimpl
from linkahead.exceptions import ConfigurationError
from linkahead.options import text
from linkahead.tokens import parse_token

if TYPE_CHECKING:
    from linkahead.testing import LinkAheadTestServer

__all__ = ["declare_options", "get_credentials", "refresh", "demo_config"]


@hookimpl
def declare_options() -> Sequence[Option]:
    return [Option("auth_token", "The LinkAhead authentication token.", text, required=True, secret=True)]


@hookimpl
def get_credentials(config: Mapping[str, Any]) -> TokenCredentials:
    token = config["auth_token"].strip()
    try:
        expires_at: float | None = parse_token(token).expires_at
    except ValueError as error:
        raise ConfigurationError(
            f"auth_token is not a LinkAhead token: {error}. Copy the whole token value, "
            "as the server or your administrator gave it."
        ) from None
    return TokenCredentials(token, expires_at=expires_at)


@hookimpl
def refresh(config: Mapping[str, Any], credentials: Credentials, reason: str) -> None:
    # A token cannot be renewed by the client; the core turns None into a clear LoginFailedError.
    return None


@hookimpl
def demo_config(server: LinkAheadTestServer, workdir: Path) -> Mapping[str, Any]:
    return {"auth_token": server.make_token("admin", one_time=True)}
