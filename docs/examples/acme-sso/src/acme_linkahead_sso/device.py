"""``acme-sso-device-login``: sign a person in with ACME's device-code flow (RFC 8628).

A credential command for linkahead-connection's ``exec`` password method, for people at a terminal
rather than registered robots::

    [Connection]
    url = https://linkahead.acme.example/
    password_method = exec
    exec_command = acme-sso-device-login --sso-url https://sso.acme.example/linkahead
    exec_interactive = if-available
    exec_timeout = 300

It asks ACME's SSO service for a device code, shows the person where to enter it (on stderr, which
``exec_interactive`` connects to the terminal), polls until the person has approved the login in a
browser, and prints the LinkAhead token as the exec contract's JSON document on stdout. Without a
terminal it fails at once: nobody would see the code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import requests

__all__ = ["main", "DEVICE_GRANT", "CLIENT_ID"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_ID = "linkahead-cli"
"""ACME's public client for people at a terminal; it has no secret."""
REQUEST_TIMEOUT = 30.0


class DeviceLoginError(Exception):
    """The login did not succeed; the message is for the person and names no secret."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the device-code flow; the token on stdout, everything for the person on stderr."""
    parser = argparse.ArgumentParser(
        prog="acme-sso-device-login",
        description="Sign in with ACME's device-code flow; prints the exec contract's JSON document.",
    )
    parser.add_argument("--sso-url", default=os.environ.get("ACME_SSO_URL"),
                        help="ACME's SSO service (default: $ACME_SSO_URL)")
    parser.add_argument("--client-id", default=CLIENT_ID, help=f"the public client id (default: {CLIENT_ID})")
    options = parser.parse_args(argv)
    if not options.sso_url:
        parser.error("give --sso-url or set ACME_SSO_URL")
    if os.environ.get("LINKAHEAD_AUTH_INTERACTIVE") != "1":
        print("acme-sso-device-login needs a person at a terminal to approve the login: set "
              "exec_interactive = if-available and run the program from a terminal.", file=sys.stderr)
        return 3
    try:
        token, expires_in = device_login(options.sso_url.rstrip("/"), options.client_id,
                                         os.environ.get("LINKAHEAD_URL", ""))
    except DeviceLoginError as error:
        print(f"acme-sso-device-login: {error}", file=sys.stderr)
        return 1
    expires_at = datetime.fromtimestamp(time.time() + expires_in, timezone.utc)
    json.dump({"version": 1, "token": token, "expires_at": expires_at.isoformat(timespec="seconds")}, sys.stdout)
    return 0


def device_login(sso: str, client_id: str, audience: str) -> tuple[str, float]:
    """Start a device-code login, show the code, and poll until it is approved: (token, lifetime)."""
    start = _post(f"{sso}/device/code", {"client_id": client_id, "audience": audience})
    if start.status_code != 200:
        raise DeviceLoginError(f"{sso} refused to start a login ({start.status_code} {start.reason}).")
    begun = _json(start)
    if not all(isinstance(begun.get(key), str) for key in ("device_code", "user_code", "verification_uri")):
        raise DeviceLoginError(f"{sso} sent no device_code, user_code and verification_uri.")
    print(f"To sign in to {audience or 'LinkAhead'}, open {begun['verification_uri']} and enter "
          f"{begun['user_code']}", file=sys.stderr, flush=True)
    interval = float(begun.get("interval", 5))
    deadline = time.monotonic() + float(begun.get("expires_in", 600))
    while time.monotonic() < deadline:
        time.sleep(interval)  # the service sets the pace (RFC 8628, section 3.5)
        answer = _post(f"{sso}/token", {"grant_type": DEVICE_GRANT, "device_code": begun["device_code"],
                                        "client_id": client_id})
        document = _json(answer)
        error = document.get("error")
        if answer.status_code == 200:
            try:
                token, lifetime = document["token"], float(document["expires_in"])
            except (KeyError, TypeError, ValueError):
                raise DeviceLoginError(f"{sso} sent no token with an expires_in.") from None
            print("Signed in.", file=sys.stderr)
            return str(token), lifetime
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if error == "access_denied":
            raise DeviceLoginError("the login was declined on the verification page.")
        if error == "expired_token":
            break
        raise DeviceLoginError(f"{sso} answered {answer.status_code} {error or answer.reason}.")
    raise DeviceLoginError("the code expired before the login was approved; run the program again.")


def _post(url: str, form: dict[str, str]) -> requests.Response:
    try:
        return requests.post(url, data=form, headers={"Accept": "application/json"}, timeout=REQUEST_TIMEOUT)
    except requests.RequestException as error:
        raise DeviceLoginError(f"cannot reach {url} ({type(error).__name__}).") from None


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise DeviceLoginError(f"{response.url} sent no JSON object ({response.status_code} {response.reason}).")
    return document


if __name__ == "__main__":
    sys.exit(main())
