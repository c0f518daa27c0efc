"""Password method ``acme-sso``: short-lived LinkAhead tokens from ACME's single sign-on service.

ACME's SSO service trades a registered client's id and secret (the OAuth 2 client-credentials grant)
for a LinkAhead session token that lives a few minutes::

    POST <acme_sso_url>/token            Authorization: Basic <client id:secret>
    grant_type=client_credentials&audience=<the LinkAhead url>

    200 {"token": "<LinkAhead token>", "expires_in": 300}

The secret is read from ``acme_sso_secret_file`` each time, so a rotated secret needs no restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from linkahead import Credentials, Option, TokenCredentials, hookimpl
from linkahead.exceptions import (
    ConfigurationError,
    LinkAheadConnectionError,
    LinkAheadException,
    LinkAheadTimeoutError,
    LoginFailedError,
)
from linkahead.options import number, path, text, url

if TYPE_CHECKING:
    from linkahead.testing import LinkAheadTestServer

__all__ = ["declare_options", "demo_config", "get_credentials", "refresh"]

logger = logging.getLogger("acme_linkahead_sso")

PLUGIN = "password method 'acme-sso' (acme-linkahead-sso)"
FALLBACK_TIMEOUT = 30.0


def sso_url(value: Any) -> str:
    """An ``https://`` URL; ``http://`` only on loopback, where the secret cannot be overheard."""
    checked = url(value)
    parts = urlsplit(checked)
    if parts.scheme.lower() != "https" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ValueError(f"use https://{checked.split('://', 1)[1]}: the client secret must not travel in clear text")
    return checked.rstrip("/")


@hookimpl
def declare_options() -> Sequence[Option]:
    """The three options; named after the method, so they are tolerated when it is not selected."""
    return [
        Option("acme_sso_url", "ACME's SSO service, e.g. https://sso.acme.example/linkahead.", sso_url, required=True),
        Option("acme_sso_client_id", "The client id ACME IT registered for you.", text, required=True),
        Option("acme_sso_secret_file", "A file whose first line is the client secret (chmod 600).", path,
               required=True),
    ]


@hookimpl
def get_credentials(config: Mapping[str, Any]) -> Credentials:
    """The first token, fetched when the connection first needs one."""
    return fetch_token(config, "first login")


@hookimpl
def refresh(config: Mapping[str, Any], credentials: Credentials, reason: str) -> Credentials:
    """A new token: rejected, expired or requested, the client credentials buy one in every case."""
    return fetch_token(config, reason)


@hookimpl
def demo_config(server: LinkAheadTestServer, workdir: Path) -> None:
    """``linkahead-auth demo`` lists the method as skipped, with this reason."""
    raise LinkAheadException("needs ACME's SSO service; its tests run against a stand-in")


def fetch_token(config: Mapping[str, Any], reason: str) -> TokenCredentials:
    """Ask the SSO service for a new LinkAhead token."""
    base, client_id, secret_file = config["acme_sso_url"], config["acme_sso_client_id"], config["acme_sso_secret_file"]
    secret = read_secret(secret_file)
    logger.debug("Asking %s for a LinkAhead token for client %r (%s).", base, client_id, reason)
    try:
        # The connection's timeout, but never none: an SSO service that hangs must not hang the login.
        response = requests.post(f"{base}/token", auth=(client_id, secret), headers={"Accept": "application/json"},
                                 data={"grant_type": "client_credentials", "audience": config["url"]},
                                 timeout=config.get("timeout") or FALLBACK_TIMEOUT)
    except requests.Timeout as error:
        raise LinkAheadTimeoutError(f"The {PLUGIN}: {base} did not answer within the timeout.") from error
    except requests.RequestException as error:
        raise LinkAheadConnectionError(
            f"The {PLUGIN} cannot reach {base} ({type(error).__name__}). Check acme_sso_url and the network."
        ) from error
    if response.status_code in (400, 401, 403):
        raise LoginFailedError(
            f"ACME's SSO service {base} refused client {client_id!r} ({response.status_code} {response.reason}) "
            f"for the {PLUGIN}. Check acme_sso_client_id and the secret in {secret_file}."
        )
    if response.status_code != 200:
        raise LoginFailedError(f"The {PLUGIN}: {base} answered {response.status_code} {response.reason}.")
    try:  # Not chained: the parser's error holds the response, and with it the token.
        answer = response.json()
        token = TokenCredentials(answer["token"], expires_at=time.time() + number(answer["expires_in"]))
    except (ValueError, TypeError, KeyError):
        raise LoginFailedError(f"The {PLUGIN}: {base} sent no JSON with a token and a positive expires_in.") from None
    return token


def read_secret(file: str) -> str:
    """The first line of ``file``; never part of a message."""
    try:
        secret = Path(file).read_text(encoding="utf-8").partition("\n")[0].strip()
    except (OSError, UnicodeError) as error:
        why = getattr(error, "strerror", None) or type(error).__name__
        raise ConfigurationError(f"acme_sso_secret_file {file!r} cannot be read ({why}). "
                                 "Put ACME's client secret on its first line.") from None
    if not secret:
        raise ConfigurationError(f"acme_sso_secret_file {file!r} is empty. Put ACME's client secret on its first line.")
    return secret
