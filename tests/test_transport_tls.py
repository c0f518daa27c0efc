"""TLS against the embedded server over real HTTPS, with certificate authorities made by trustme.

Nothing here is mocked: the server speaks TLS on loopback with a certificate signed by a fresh
private CA, and the client checks it exactly as it would check a production server.
"""

from __future__ import annotations

import datetime
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import linkahead
import pytest
import trustme
import urllib3.exceptions
from linkahead.connection.connection import _Connection
from linkahead.connection.transport import InsecureConnectionWarning
from linkahead.exceptions import ConfigurationError, LinkAheadConnectionError, LoginFailedError
from linkahead.testing import LinkAheadTestServer

PASSWORD = "admin-Pa55word"


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_pem(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[LinkAheadTestServer]:
    with LinkAheadTestServer(ssl_context=_server_context(ca, "127.0.0.1", "localhost")) as server:
        yield server


def _configure(url: str, **options: object) -> _Connection:
    return linkahead.configure_connection(url=url, username="admin", password=PASSWORD,
                                          password_method="plain", **options)


def test_cacert_makes_a_private_ca_trusted(tls_server: LinkAheadTestServer, ca_pem: Path) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    connection = _configure(tls_server.url, cacert=str(ca_pem))
    assert b'username="admin"' in connection.retrieve(["Info"]).read()
    assert connection.retrieve(["Entity", "1"]).status == 200
    assert tls_server.counters.logins == 1
    assert tls_server.counters.requests == 3


def test_untrusted_certificate_is_rejected_naming_the_check_and_cacert(tls_server: LinkAheadTestServer) -> None:
    connection = _configure(tls_server.url)
    with pytest.raises(LinkAheadConnectionError) as caught:
        connection.retrieve(["Info"])
    message = str(caught.value)
    assert not isinstance(caught.value, LoginFailedError)
    assert "TLS check failed" in message
    assert "certificate check" in message
    assert "not signed by a certificate authority you trust" in message
    assert "cacert" in message
    assert PASSWORD not in message
    # The login never reached the server's HTTP layer: the password was not sent.
    assert tls_server.counters.requests == 0


def test_ssl_insecure_accepts_and_warns_once_per_configuration(tls_server: LinkAheadTestServer) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        connection = _configure(tls_server.url, ssl_insecure=True)
        for _ in range(20):
            assert connection.retrieve(["Entity", "1"]).status == 200
        first = list(caught)
        connection = _configure(tls_server.url, ssl_insecure=True)
        assert connection.retrieve(["Info"]).status == 200
        second = [w for w in caught[len(first):] if not issubclass(w.category, ResourceWarning)]  # GC of sockets
    ours = [w for w in first if issubclass(w.category, InsecureConnectionWarning)]
    assert len(ours) == 1
    assert "NOT checked" in str(ours[0].message) and "cacert" in str(ours[0].message)
    # The warning points at the caller's line, not at library internals.
    assert ours[0].filename == __file__
    # urllib3's per-request warning is silenced for this host, so 21 requests did not repeat it.
    assert not [w for w in first if issubclass(w.category, urllib3.exceptions.InsecureRequestWarning)]
    # A new configuration is a new decision and warns again, once.
    assert [issubclass(w.category, InsecureConnectionWarning) for w in second] == [True]
    assert tls_server.counters.logins == 2


def test_ssl_insecure_on_plain_http_does_not_warn(linkahead_server: LinkAheadTestServer) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _configure(linkahead_server.url, ssl_insecure=True).retrieve(["Info"])
    assert not [w for w in caught if issubclass(w.category, InsecureConnectionWarning)]


def test_hostname_mismatch_is_rejected_even_with_cacert(ca: trustme.CA, ca_pem: Path) -> None:
    with LinkAheadTestServer(ssl_context=_server_context(ca, "linkahead.example.org")) as server:
        connection = _configure(server.url, cacert=str(ca_pem))
        with pytest.raises(LinkAheadConnectionError) as caught:
            connection.retrieve(["Info"])
    message = str(caught.value)
    assert "hostname check" in message
    assert "not issued for the host name in url" in message
    assert server.counters.requests == 0


def test_expired_certificate_is_rejected(ca: trustme.CA, ca_pem: Path) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf = ca.issue_cert("127.0.0.1", not_before=now - datetime.timedelta(days=30),
                         not_after=now - datetime.timedelta(days=1))
    leaf.configure_cert(context)
    with LinkAheadTestServer(ssl_context=context) as server:
        with pytest.raises(LinkAheadConnectionError) as caught:
            _configure(server.url, cacert=str(ca_pem)).retrieve(["Info"])
    assert "certificate has expired" in str(caught.value)
    assert server.counters.requests == 0


def test_certificate_for_localhost_matches_localhost_but_not_the_ip(ca: trustme.CA, ca_pem: Path) -> None:
    with LinkAheadTestServer(ssl_context=_server_context(ca, "localhost")) as server:
        by_name = f"https://localhost:{server.port}/"
        assert _configure(by_name, cacert=str(ca_pem)).retrieve(["Info"]).status == 200
        with pytest.raises(LinkAheadConnectionError, match="hostname check"):
            _configure(server.url, cacert=str(ca_pem)).retrieve(["Info"])


def test_cacert_wins_over_requests_ca_bundle_in_the_environment(
        tls_server: LinkAheadTestServer, ca_pem: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other))
    assert _configure(tls_server.url, cacert=str(ca_pem)).retrieve(["Info"]).status == 200


def test_environment_ca_bundle_alone_does_not_trust_a_server(
        tls_server: LinkAheadTestServer, ca_pem: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bundle holds exactly the server's CA, yet only cacert may add trust.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_pem))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(ca_pem))
    with pytest.raises(LinkAheadConnectionError, match="certificate check"):
        _configure(tls_server.url).retrieve(["Info"])
    assert tls_server.counters.requests == 0


def test_cacert_from_the_ini_file(tls_server: LinkAheadTestServer, ca_pem: Path) -> None:
    Path("pylinkahead.ini").write_text(
        f"[Connection]\nurl = {tls_server.url}\nusername = admin\npassword_method = plain\n"
        f"password = {PASSWORD}\ncacert = {ca_pem}\n", encoding="utf-8")
    assert linkahead.get_connection().retrieve(["Info"]).status == 200


@pytest.mark.parametrize("url_form", ["{base}linkahead/", "{base}linkahead"])
def test_root_path_url_over_https(ca: trustme.CA, ca_pem: Path, url_form: str) -> None:
    context = _server_context(ca, "127.0.0.1")
    with LinkAheadTestServer(ssl_context=context, root_path="/linkahead/") as server:
        assert server.url.endswith("/linkahead/")
        base = f"https://127.0.0.1:{server.port}/"
        connection = _configure(url_form.format(base=base), cacert=str(ca_pem))
        body = connection.retrieve(["Entity", "a/b"]).read()
        # The echo shows the raw path: the "/" inside the segment stays encoded, the root path is gone.
        assert b'path="Entity/a%2Fb"' in body and b'user="admin"' in body
        assert server.counters.logins == 1
        assert connection.retrieve(["Info"]).status == 200
        # Without the root path the login lands outside it and the server answers 404.
        with pytest.raises(LoginFailedError, match="404"):
            _configure(base, cacert=str(ca_pem)).retrieve(["Info"])


def test_https_url_to_a_plain_http_server_says_so(linkahead_server: LinkAheadTestServer) -> None:
    url = linkahead_server.url.replace("http://", "https://")
    with pytest.raises(LinkAheadConnectionError) as caught:
        _configure(url).retrieve(["Info"])
    assert "does not speak TLS" in str(caught.value)
    assert "http://" in str(caught.value)


def test_cacert_that_is_missing_or_not_pem_is_a_configuration_error(
        tmp_path: Path, linkahead_server: LinkAheadTestServer) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigurationError, match="is not a file"):
        _configure(linkahead_server.url.replace("http://", "https://"), cacert=str(missing))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a certificate\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="no usable PEM certificate"):
        _configure(linkahead_server.url.replace("http://", "https://"), cacert=str(garbage))
    assert linkahead_server.counters.requests == 0
