"""The acme-sso password method against the embedded LinkAhead server and a stand-in SSO service.

Run with ``pytest`` in the plugin's folder; the ``linkahead_server`` fixture comes from
linkahead-connection. The expiry test lets a 1.5 s token run out on purpose: there the waiting is
the scenario (time passing), not a wait for a server to become ready.
"""

from __future__ import annotations

import base64
import io
import logging
import socket
import threading
import time
from pathlib import Path
from urllib.parse import unquote

import linkahead
import pytest
from fake_sso import CLIENT_ID, SECRET, FakeAcmeSso
from linkahead.demo import run_demo
from linkahead.exceptions import (
    ConfigurationError,
    LinkAheadConnectionError,
    LinkAheadTimeoutError,
    LoginFailedError,
)
from linkahead.testing import LinkAheadTestServer

LIFETIME = 1.5
PLUGIN = "password method 'acme-sso' (acme-linkahead-sso)"


def test_logs_in_with_a_token_from_the_sso_service(
    linkahead_server: LinkAheadTestServer, sso: FakeAcmeSso, acme_ini: Path
) -> None:
    connection = linkahead.get_connection()  # configured from ./pylinkahead.ini
    assert b'username="admin"' in connection.retrieve(["Info"]).read()
    assert connection.method.name == "acme-sso"
    assert connection.method.distribution == "acme-linkahead-sso"
    assert sso.token_requests == 1
    assert sso.forms == [{"grant_type": ["client_credentials"], "audience": [linkahead_server.url]}]
    assert linkahead_server.counters.logins == 0  # the token is the credential: no password login
    assert linkahead_server.counters.rejected == 0


def test_a_short_lived_token_is_replaced_before_it_expires_once_for_sixteen_threads(
    linkahead_server: LinkAheadTestServer, sso: FakeAcmeSso, acme_ini: Path
) -> None:
    linkahead_server.session_timeout = LIFETIME  # the sessions the tokens open end as fast
    sso.lifetime = LIFETIME
    connection = linkahead.get_connection()
    connection.retrieve(["Info"]).read()
    linkahead_server.reset_counters()
    # Idle until the session is inside its refresh margin, but not yet dead at the server.
    time.sleep(max(0.0, connection.auth.state.refresh_at + 0.01 - time.time()))

    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(3):
                connection.retrieve(["Entity"]).read()
        except BaseException as error:  # noqa: BLE001 -- collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sso.token_requests == 2  # the first login and exactly one refresh
    assert linkahead_server.counters.rejected == 0  # refreshed before expiry: no 401 at all
    assert linkahead_server.counters.requests == 48


def test_a_rejected_token_is_replaced(linkahead_server: LinkAheadTestServer, sso: FakeAcmeSso, acme_ini: Path) -> None:
    connection = linkahead.get_connection()
    connection.retrieve(["Info"]).read()
    linkahead_server.invalidate_sessions()  # as if the server restarted
    response = connection.retrieve(["Entity", "1"])
    assert response.status == 200
    response.read()
    assert sso.token_requests == 2
    assert linkahead_server.counters.rejected == 1


def test_a_wrong_secret_is_a_login_error_naming_the_plugin(
    linkahead_server: LinkAheadTestServer, sso: FakeAcmeSso, acme_ini: Path, secret_file: Path
) -> None:
    secret_file.write_text("not-the-S3cret\n", encoding="utf-8")
    with pytest.raises(LoginFailedError) as info:
        linkahead.get_connection().retrieve(["Info"])
    message = str(info.value)
    assert f"refused client {CLIENT_ID!r} (401 Unauthorized) for the {PLUGIN}" in message
    assert f"Check acme_sso_client_id and the secret in {secret_file}." in message
    assert "not-the-S3cret" not in message
    assert sso.refused == 1
    assert linkahead_server.counters.requests == 0  # nothing reached the LinkAhead server

    # The secret file is read at every request: fixing it needs no new configuration.
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    response = linkahead.get_connection().retrieve(["Info"])
    assert response.status == 200
    response.read()  # the body returns the connection to the pool; an unread one leaks its socket


def test_neither_the_secret_nor_a_token_is_ever_logged(
    sso: FakeAcmeSso, acme_ini: Path, secret_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: linkahead, acme_linkahead_sso, urllib3
    connection = linkahead.get_connection()
    connection.retrieve(["Info"]).read()
    connection.refresh_credentials()
    connection.retrieve(["Info"]).read()
    secret_file.write_text("wrong-S3cret\n", encoding="utf-8")
    with pytest.raises(LoginFailedError) as info:
        connection.refresh_credentials()

    assert "Asking http://127.0.0.1:" in caplog.text  # the plugin did log, at DEBUG
    assert sso.token_requests == 2
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    shown = caplog.text + str(info.value) + repr(connection.config)
    for secret in (SECRET, "wrong-S3cret", basic, *sso.issued, *map(unquote, sso.issued)):
        assert secret not in shown


def test_a_missing_secret_file_is_a_configuration_error(
    sso: FakeAcmeSso, acme_ini: Path, secret_file: Path
) -> None:
    secret_file.unlink()
    with pytest.raises(ConfigurationError) as info:
        linkahead.get_connection().retrieve(["Info"])
    assert f"acme_sso_secret_file {str(secret_file)!r} cannot be read (No such file or directory)" in str(info.value)
    assert sso.token_requests == 0


def test_a_missing_option_is_reported_before_any_request(sso: FakeAcmeSso, acme_ini: Path) -> None:
    acme_ini.write_text(acme_ini.read_text().replace(f"acme_sso_client_id = {CLIENT_ID}\n", ""))
    with pytest.raises(ConfigurationError) as info:
        linkahead.get_connection()
    assert "The option 'acme_sso_client_id' is required for password_method 'acme-sso'" in str(info.value)
    assert sso.forms == []


def test_the_secret_never_travels_in_clear_text(acme_ini: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(acme_sso_url="http://sso.acme.example/linkahead")
    assert "use https://sso.acme.example/linkahead: the client secret must not travel in clear text" in str(info.value)


def test_an_unreachable_sso_service_is_a_connection_error(acme_ini: Path) -> None:
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = linkahead.configure_connection(acme_sso_url=f"http://127.0.0.1:{port}/linkahead")
    with pytest.raises(LinkAheadConnectionError) as info:
        connection.retrieve(["Info"])
    assert f"The {PLUGIN} cannot reach http://127.0.0.1:{port}/linkahead (ConnectionError)." in str(info.value)


def test_a_hanging_sso_service_times_out(sso: FakeAcmeSso, acme_ini: Path) -> None:
    sso.delay = 30
    connection = linkahead.configure_connection(timeout=0.3)
    started = time.monotonic()
    with pytest.raises(LinkAheadTimeoutError, match="did not answer within the timeout"):
        connection.retrieve(["Info"])
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"token": "x"}', "sent no JSON with a token and a positive expires_in"),
        (200, b"<html>maintenance</html>", "sent no JSON with a token and a positive expires_in"),
        (200, b'{"token": "x", "expires_in": -5}', "sent no JSON with a token and a positive expires_in"),
        (503, b"{}", "answered 503 Service Unavailable"),
    ],
)
def test_a_broken_answer_is_a_login_error(sso: FakeAcmeSso, acme_ini: Path, status: int, body: bytes,
                                          expected: str) -> None:
    sso.reply = (status, body)
    with pytest.raises(LoginFailedError, match=expected):
        linkahead.get_connection().retrieve(["Info"])


def test_the_demo_lists_the_method_as_skipped_with_the_reason() -> None:
    out = io.StringIO()
    assert run_demo(out, only=["acme-sso"]) == 0
    assert "  acme-sso         skipped  (needs ACME's SSO service; its tests run against a stand-in)" in out.getvalue()
