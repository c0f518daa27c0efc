"""A stand-in for ACME's SSO service: real HTTP on loopback, tokens minted by the embedded server."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from linkahead.testing import LinkAheadTestServer

CLIENT_ID = "lab-42-robot"
SECRET = "acme-client-S3cret-do-not-log"
DEVICE_CLIENT_ID = "linkahead-cli"
"""The public client of the device-code flow: it has no secret, a person approves each login."""
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class DeviceLogin:
    """One device-code login in progress (RFC 8628)."""

    device_code: str
    user_code: str
    expires: float
    approved_by: str | None = None
    denied: bool = False
    polls: int = 0


class FakeAcmeSso:
    """ACME's SSO service as the plugin sees it: ``POST <url>/token`` with HTTP Basic client
    credentials answers ``{"token": ..., "expires_in": ...}`` with a token of the embedded server.

    :ivar lifetime: seconds each issued token lives.
    :ivar issued: every token handed out, in order.
    :ivar refused: requests answered 401.
    :ivar forms: the form fields of every token request.
    :ivar delay: seconds to wait before answering (to test time-outs; cut short when it stops).
    :ivar reply: ``(status, body)`` to send instead of a token, to test broken answers.

    It also speaks the device-code flow (RFC 8628) for people at a terminal: ``POST <url>/device/code``
    starts a login and answers a ``user_code`` and a ``verification_uri``; the person opens that page
    and approves (here: ``POST <url>/device`` with ``user_code`` and ``action=approve``, what the
    page's form sends after signing in as ``admin``); meanwhile the command polls ``POST <url>/token``
    with the device-code grant and gets ``authorization_pending`` until then, the token after.

    :ivar device_logins: the device-code logins started, by user code.
    :ivar device_interval: the polling interval it asks for (seconds; short, to keep tests fast).
    """

    def __init__(self, linkahead: LinkAheadTestServer, lifetime: float = 300.0) -> None:
        self.linkahead = linkahead
        self.lifetime = lifetime
        self.issued: list[str] = []
        self.refused = 0
        self.forms: list[dict[str, list[str]]] = []
        self.delay = 0.0
        self.reply: tuple[int, bytes] | None = None
        self.device_logins: dict[str, DeviceLogin] = {}
        self.device_interval = 0.05
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _SsoHTTPServer(("127.0.0.1", 0), _SsoHandler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        """The value for ``acme_sso_url``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/linkahead"

    @property
    def token_requests(self) -> int:
        """Token requests answered with a token."""
        return len(self.issued)

    def __enter__(self) -> FakeAcmeSso:
        self._thread.start()  # the socket listens already: no readiness wait needed
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.server_close()

    def answer(self, path: str, authorization: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if self.delay and self.stopping.wait(self.delay):
            return 503, {"error": "shutting down"}
        if path.startswith("/linkahead/device") or form.get("grant_type") == [DEVICE_GRANT]:
            return self.device_answer(path, form)
        if path != "/linkahead/token" or form.get("grant_type") != ["client_credentials"]:
            return 400, {"error": "invalid_request"}
        with self.lock:
            self.forms.append(form)
            if not _basic_auth_matches(authorization, CLIENT_ID, SECRET):
                self.refused += 1
                return 401, {"error": "invalid_client"}
            token = self.linkahead.make_token("admin", timeout=self.lifetime)
            self.issued.append(token)
        return 200, {"token": token, "expires_in": self.lifetime, "token_type": "LinkAhead"}


    def device_answer(self, path: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """The three steps of the device-code flow: start, approve (the browser page), poll."""
        field = {name: values[0] for name, values in form.items()}
        with self.lock:
            if path == "/linkahead/device/code":
                if field.get("client_id") != DEVICE_CLIENT_ID:
                    return 401, {"error": "invalid_client"}
                login = DeviceLogin(secrets.token_urlsafe(24), _user_code(), time.monotonic() + 600)
                self.device_logins[login.user_code] = login
                return 200, {"device_code": login.device_code, "user_code": login.user_code,
                             "verification_uri": self.url + "/device", "expires_in": 600,
                             "interval": self.device_interval}
            if path == "/linkahead/device":
                approving = self.device_logins.get(field.get("user_code", ""))
                if approving is None:
                    return 404, {"error": "no such code"}
                approving.denied = field.get("action") != "approve"
                approving.approved_by = None if approving.denied else "admin"
                return 200, {"status": "denied" if approving.denied else "approved"}
            matching = [entry for entry in self.device_logins.values() if entry.device_code == field.get("device_code")]
            if path != "/linkahead/token" or not matching or field.get("client_id") != DEVICE_CLIENT_ID:
                return 400, {"error": "invalid_grant"}
            login = matching[0]
            login.polls += 1
            if login.denied:
                return 400, {"error": "access_denied"}
            if time.monotonic() > login.expires:
                return 400, {"error": "expired_token"}
            if login.approved_by is None:
                return 400, {"error": "authorization_pending"}
            del self.device_logins[login.user_code]  # a device code buys one token
            token = self.linkahead.make_token(login.approved_by, timeout=self.lifetime)
            self.issued.append(token)
        return 200, {"token": token, "expires_in": self.lifetime, "token_type": "LinkAhead"}


def _user_code() -> str:
    """Eight letters without look-alikes, ``ABCD-EFGH`` style."""
    letters = "BCDFGHJKLMNPQRSTVWXZ"
    code = "".join(secrets.choice(letters) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def _basic_auth_matches(header: str, client_id: str, secret: str) -> bool:
    expected = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return hmac.compare_digest(header.encode(), expected.encode())


class _SsoHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeAcmeSso


class _SsoHandler(BaseHTTPRequestHandler):
    server: _SsoHTTPServer

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        status, document = owner.answer(self.path, self.headers.get("Authorization") or "", form)
        body = json.dumps(document).encode()
        if owner.reply is not None:
            status, body = owner.reply
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output quiet
