"""Proxies, with real proxy programs: tinyproxy (HTTP CONNECT and plain HTTP), microsocks (SOCKS5)
and pproxy (SOCKS4). Every test reads the proxy's own log to prove the traffic went through it
(or, for the bypass tests, that it did not).

A test skips, naming the program, only when that proxy program is not installed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import linkahead
import pytest
import trustme
from linkahead.connection.connection import _Connection
from linkahead.exceptions import ConfigurationError, LinkAheadConnectionError, LinkAheadTimeoutError
from linkahead.testing import LinkAheadTestServer

PASSWORD = "admin-Pa55word"
PROXY_PASSWORD = "Pr0xy-s3cret"
# Bounds of the waits below, which end as soon as the proxy has logged the line or accepted the
# connection: generous, because on a busy machine a proxy process can be scheduled late; the
# bounds only keep a broken proxy from hanging the suite.
READY_TIMEOUT = 30.0
LOG_TIMEOUT = 30.0


# -- proxy processes -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ProxyProcess:
    """A proxy program running on loopback, with the file it logs to."""

    scheme: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    credentials: tuple[str, str] | None = None
    _log_offset: int = field(default=0)

    @property
    def url(self) -> str:
        auth = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"{self.scheme}://{auth}127.0.0.1:{self.port}"

    def log(self) -> str:
        """What the proxy logged since start (or the last :meth:`mark`)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[self._log_offset:]

    def mark(self) -> None:
        """Forget what was logged so far (start-up chatter, earlier requests)."""
        self._log_offset = len(self.log_path.read_text(encoding="utf-8", errors="replace"))

    def wait_for_log(self, text: str, timeout: float = LOG_TIMEOUT) -> str:
        """The log once it contains ``text``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if text in log:
                return log
            if time.monotonic() > deadline:
                pytest.fail(f"the proxy never logged {text!r}; its log:\n{log}")
            time.sleep(0.02)

    def wait_ready(self, ready_text: str | None) -> None:
        """Wait until the proxy logs ``ready_text`` or, without one, accepts a connection."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.scheme} proxy exited with {self.process.returncode}: {self.log()}")
            if ready_text is not None:
                if ready_text in self.log():
                    return
            else:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.scheme} proxy not ready after {READY_TIMEOUT} s: {self.log()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _start(scheme: str, make_argv: Callable[[int, Path], list[str]], tmp_path: Path, ready_text: str | None,
           credentials: tuple[str, str] | None = None, env: dict[str, str] | None = None) -> ProxyProcess:
    """Start a proxy on a free port; retried when another process took the port in between."""
    last: Exception | None = None
    for attempt in range(3):
        port = _free_port()
        log_path = tmp_path / f"{scheme}-{port}-{attempt}.log"
        log_path.touch()
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(make_argv(port, log_path), stdin=subprocess.DEVNULL, stdout=log_file,
                                       stderr=subprocess.STDOUT, env=env)
        proxy = ProxyProcess(scheme, port, process, log_path, credentials)
        try:
            proxy.wait_ready(ready_text)
        except RuntimeError as error:
            proxy.stop()
            last = error
            continue
        proxy.mark()
        return proxy
    raise RuntimeError(f"could not start the {scheme} proxy: {last}")


def _require(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.skip(f"{program} is not installed (Debian package {program})")
    return found


def start_tinyproxy(tmp_path: Path, connect_port: int, credentials: tuple[str, str] | None = None) -> ProxyProcess:
    """tinyproxy as an HTTP proxy: plain HTTP forwarding and CONNECT to ``connect_port``."""
    program = _require("tinyproxy")

    def argv(port: int, log_path: Path) -> list[str]:
        config = tmp_path / f"tinyproxy-{port}.conf"
        lines = [
            f"Port {port}", "Listen 127.0.0.1", "Timeout 30", f'LogFile "{log_path}"', "LogLevel Info",
            f'PidFile "{tmp_path / f"tinyproxy-{port}.pid"}"', "MaxClients 20", "Allow 127.0.0.1",
            f"ConnectPort {connect_port}", "DisableViaHeader Yes",
        ]
        if credentials:
            lines.append(f"BasicAuth {credentials[0]} {credentials[1]}")
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [program, "-d", "-c", str(config)]

    # Its own start-up line, not a probe connection: tinyproxy would log the probe.
    return _start("http", argv, tmp_path, "Accepting connections", credentials)


def start_microsocks(tmp_path: Path, credentials: tuple[str, str] | None = None) -> ProxyProcess:
    """microsocks as a SOCKS5 proxy; it logs ``client[n] ...: connected to host:port`` per connection."""
    program = _require("microsocks")

    def argv(port: int, log_path: Path) -> list[str]:
        auth = ["-u", credentials[0], "-P", credentials[1]] if credentials else []
        return [program, "-i", "127.0.0.1", "-p", str(port), *auth]

    # microsocks prints nothing at start; it logs only connections it relays, so a probe is safe.
    return _start("socks5", argv, tmp_path, None, credentials)


def start_pproxy_socks4(tmp_path: Path) -> ProxyProcess:
    """pproxy (PyPI) as a SOCKS4 proxy; with ``-v`` it logs ``socks4 client -> host:port`` per connection."""
    if importlib.util.find_spec("pproxy") is None:
        pytest.skip("pproxy is not installed (pip install pproxy)")

    def argv(port: int, log_path: Path) -> list[str]:
        return [sys.executable, "-m", "pproxy", "-l", f"socks4://127.0.0.1:{port}", "-v"]

    return _start("socks4", argv, tmp_path, "Serving on", env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.fixture
def proxies() -> Iterator[list[ProxyProcess]]:
    """Collects the proxies a test starts and stops every one of them afterwards."""
    started: list[ProxyProcess] = []
    yield started
    for proxy in started:
        proxy.stop()


# -- servers ---------------------------------------------------------------------------------


@pytest.fixture
def ca_pem(tmp_path: Path) -> Iterator[tuple[trustme.CA, Path]]:
    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    yield ca, path


@pytest.fixture
def tls_server(ca_pem: tuple[trustme.CA, Path]) -> Iterator[LinkAheadTestServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca_pem[0].issue_cert("127.0.0.1").configure_cert(context)
    with LinkAheadTestServer(ssl_context=context) as server:
        yield server


def _configure(url: str, cacert: Path | None = None, **options: object) -> _Connection:
    settings: dict[str, object] = {"username": "admin", "password": PASSWORD, "password_method": "plain"}
    if cacert is not None:
        settings["cacert"] = str(cacert)
    settings.update(options)
    return linkahead.configure_connection(url=url, **settings)


def _connect_line(server: LinkAheadTestServer) -> str:
    return f"CONNECT 127.0.0.1:{server.port}"


# -- through the proxy -------------------------------------------------------------------------


def test_https_through_an_http_connect_proxy(tmp_path: Path, proxies: list[ProxyProcess],
                                             tls_server: LinkAheadTestServer,
                                             ca_pem: tuple[trustme.CA, Path]) -> None:
    proxy = start_tinyproxy(tmp_path, tls_server.port)
    proxies.append(proxy)
    connection = _configure(tls_server.url, ca_pem[1], https_proxy=proxy.url)
    assert b'username="admin"' in connection.retrieve(["Info"]).read()
    log = proxy.wait_for_log(_connect_line(tls_server))
    assert tls_server.counters.logins == 1
    # TLS ran end to end: the proxy saw a tunnel, not the login form or the paths.
    assert "login" not in log and "Info" not in log


def test_https_through_socks5(tmp_path: Path, proxies: list[ProxyProcess], tls_server: LinkAheadTestServer,
                              ca_pem: tuple[trustme.CA, Path]) -> None:
    proxy = start_microsocks(tmp_path)
    proxies.append(proxy)
    connection = _configure(tls_server.url, ca_pem[1], https_proxy=proxy.url)
    assert connection.retrieve(["Info"]).status == 200
    proxy.wait_for_log(f"connected to 127.0.0.1:{tls_server.port}")
    assert tls_server.counters.logins == 1


def test_https_through_socks4(tmp_path: Path, proxies: list[ProxyProcess], tls_server: LinkAheadTestServer,
                              ca_pem: tuple[trustme.CA, Path]) -> None:
    proxy = start_pproxy_socks4(tmp_path)
    proxies.append(proxy)
    connection = _configure(tls_server.url, ca_pem[1], https_proxy=proxy.url)
    assert connection.retrieve(["Info"]).status == 200
    proxy.wait_for_log("socks4 127.0.0.1:")
    proxy.wait_for_log(f"-> 127.0.0.1:{tls_server.port}")
    assert tls_server.counters.logins == 1


def test_http_through_a_plain_http_proxy(tmp_path: Path, proxies: list[ProxyProcess],
                                         linkahead_server: LinkAheadTestServer) -> None:
    proxy = start_tinyproxy(tmp_path, linkahead_server.port)
    proxies.append(proxy)
    connection = _configure(linkahead_server.url, http_proxy=proxy.url)
    assert connection.retrieve(["Entity", "7"]).status == 200
    base = f"http://127.0.0.1:{linkahead_server.port}/"
    proxy.wait_for_log(f"POST {base}login")
    proxy.wait_for_log(f"GET {base}Entity/7")
    assert "): CONNECT " not in proxy.log()


def test_https_proxy_is_not_used_for_http_urls(tmp_path: Path, proxies: list[ProxyProcess],
                                               linkahead_server: LinkAheadTestServer) -> None:
    proxy = start_tinyproxy(tmp_path, linkahead_server.port)
    proxies.append(proxy)
    assert _configure(linkahead_server.url, https_proxy=proxy.url).retrieve(["Info"]).status == 200
    assert "Request" not in proxy.log()


# -- where the proxy setting comes from ----------------------------------------------------------


def test_proxy_from_the_ini_file(tmp_path: Path, proxies: list[ProxyProcess], tls_server: LinkAheadTestServer,
                                 ca_pem: tuple[trustme.CA, Path]) -> None:
    proxy = start_microsocks(tmp_path)
    proxies.append(proxy)
    Path("pylinkahead.ini").write_text(
        f"[Connection]\nurl = {tls_server.url}\nusername = admin\npassword_method = plain\n"
        f"password = {PASSWORD}\ncacert = {ca_pem[1]}\nhttps_proxy = {proxy.url}\n", encoding="utf-8")
    assert linkahead.get_connection().retrieve(["Info"]).status == 200
    proxy.wait_for_log(f"connected to 127.0.0.1:{tls_server.port}")


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_proxy_from_the_environment(tmp_path: Path, proxies: list[ProxyProcess], tls_server: LinkAheadTestServer,
                                    ca_pem: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch,
                                    variable: str) -> None:
    proxy = start_tinyproxy(tmp_path, tls_server.port)
    proxies.append(proxy)
    monkeypatch.setenv(variable, proxy.url)
    connection = _configure(tls_server.url, ca_pem[1])
    assert connection.config.origin("https_proxy") == "environment HTTPS_PROXY"
    assert connection.retrieve(["Info"]).status == 200
    proxy.wait_for_log(_connect_line(tls_server))


def test_http_proxy_from_the_environment(tmp_path: Path, proxies: list[ProxyProcess],
                                         linkahead_server: LinkAheadTestServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = start_tinyproxy(tmp_path, linkahead_server.port)
    proxies.append(proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert _configure(linkahead_server.url).retrieve(["Info"]).status == 200
    proxy.wait_for_log(f"GET http://127.0.0.1:{linkahead_server.port}/Info")


def test_explicit_none_bypasses_the_environment_proxy(tmp_path: Path, proxies: list[ProxyProcess],
                                                      tls_server: LinkAheadTestServer,
                                                      ca_pem: tuple[trustme.CA, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = start_tinyproxy(tmp_path, tls_server.port)
    proxies.append(proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("https_proxy", proxy.url)
    connection = _configure(tls_server.url, ca_pem[1], https_proxy=None)
    assert connection.retrieve(["Info"]).status == 200
    assert tls_server.counters.logins == 1
    # Control: the same environment without the None goes through the proxy, so the
    # empty log above really means "bypassed".
    assert proxy.log() == ""
    _configure(tls_server.url, ca_pem[1]).retrieve(["Info"])
    proxy.wait_for_log(_connect_line(tls_server))


def test_null_in_the_ini_file_bypasses_the_environment_proxy(tmp_path: Path, proxies: list[ProxyProcess],
                                                             linkahead_server: LinkAheadTestServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = start_tinyproxy(tmp_path, linkahead_server.port)
    proxies.append(proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    Path("pylinkahead.ini").write_text(
        f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = plain\n"
        f"password = {PASSWORD}\nhttp_proxy = null\n", encoding="utf-8")
    assert linkahead.get_connection().retrieve(["Info"]).status == 200
    assert proxy.log() == ""


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "127.0.0.0/8", "*"])
def test_no_proxy_exempts_the_server_from_an_environment_proxy(
        tmp_path: Path, proxies: list[ProxyProcess], tls_server: LinkAheadTestServer,
        ca_pem: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    proxy = start_tinyproxy(tmp_path, tls_server.port)
    proxies.append(proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert _configure(tls_server.url, ca_pem[1]).retrieve(["Info"]).status == 200
    assert proxy.log() == ""


def test_no_proxy_for_other_hosts_keeps_the_proxy(tmp_path: Path, proxies: list[ProxyProcess],
                                                  tls_server: LinkAheadTestServer,
                                                  ca_pem: tuple[trustme.CA, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = start_tinyproxy(tmp_path, tls_server.port)
    proxies.append(proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("no_proxy", "linkahead.example.org,.example.com")
    assert _configure(tls_server.url, ca_pem[1]).retrieve(["Info"]).status == 200
    proxy.wait_for_log(_connect_line(tls_server))


def test_no_proxy_does_not_override_an_explicit_proxy(tmp_path: Path, proxies: list[ProxyProcess],
                                                      tls_server: LinkAheadTestServer,
                                                      ca_pem: tuple[trustme.CA, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # As in requests: NO_PROXY qualifies proxies from the environment, not configured ones.
    proxy = start_tinyproxy(tmp_path, tls_server.port)
    proxies.append(proxy)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert _configure(tls_server.url, ca_pem[1], https_proxy=proxy.url).retrieve(["Info"]).status == 200
    proxy.wait_for_log(_connect_line(tls_server))


# -- failures and secrets ----------------------------------------------------------------------


def test_proxy_with_credentials_works_and_never_shows_the_password(
        tmp_path: Path, proxies: list[ProxyProcess], tls_server: LinkAheadTestServer,
        ca_pem: tuple[trustme.CA, Path], caplog: pytest.LogCaptureFixture) -> None:
    proxy = start_tinyproxy(tmp_path, tls_server.port, credentials=("proxyuser", PROXY_PASSWORD))
    proxies.append(proxy)
    caplog.set_level(logging.DEBUG)  # every logger: ours, requests', urllib3's
    connection = _configure(tls_server.url, ca_pem[1], https_proxy=proxy.url, debug=True)
    assert connection.retrieve(["Info"]).status == 200
    proxy.wait_for_log(_connect_line(tls_server))
    assert "proxyuser:***@127.0.0.1" in caplog.text  # the proxy is logged, redacted
    assert PROXY_PASSWORD not in caplog.text

    caplog.clear()
    wrong = proxy.url.replace(PROXY_PASSWORD, "Wr0ng-" + PROXY_PASSWORD)
    with pytest.raises(LinkAheadConnectionError) as caught:
        _configure(tls_server.url, ca_pem[1], https_proxy=wrong, debug=True).retrieve(["Info"])
    message = str(caught.value)
    assert message.startswith("The proxy failed for https://127.0.0.1:")
    assert "Tunnel connection failed" in message  # tinyproxy answers CONNECT with 401 here
    assert "proxyuser:***@" in message
    assert PROXY_PASSWORD not in message and PROXY_PASSWORD not in repr(caught.value)
    assert PROXY_PASSWORD not in caplog.text


def test_socks5_credentials_are_not_shown_when_refused(tmp_path: Path, proxies: list[ProxyProcess],
                                                       tls_server: LinkAheadTestServer,
                                                       ca_pem: tuple[trustme.CA, Path],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    proxy = start_microsocks(tmp_path, credentials=("sockuser", PROXY_PASSWORD))
    proxies.append(proxy)
    caplog.set_level(logging.DEBUG)
    assert _configure(tls_server.url, ca_pem[1], https_proxy=proxy.url, debug=True).retrieve(["Info"]).status == 200
    proxy.wait_for_log(f"connected to 127.0.0.1:{tls_server.port}")
    wrong = proxy.url.replace(PROXY_PASSWORD, "x" + PROXY_PASSWORD)
    with pytest.raises(LinkAheadConnectionError) as caught:
        _configure(tls_server.url, ca_pem[1], https_proxy=wrong).retrieve(["Info"])
    assert "sockuser:***@" in str(caught.value)
    assert PROXY_PASSWORD not in str(caught.value)
    assert PROXY_PASSWORD not in caplog.text


def test_proxy_not_running_names_the_proxy_not_the_password(linkahead_server: LinkAheadTestServer) -> None:
    port = _free_port()  # nothing listens here
    for scheme in ("http", "socks5", "socks4"):
        proxy_url = f"{scheme}://someone:{PROXY_PASSWORD}@127.0.0.1:{port}"
        with pytest.raises(LinkAheadConnectionError) as caught:
            _configure(linkahead_server.url, http_proxy=proxy_url).retrieve(["Info"])
        message = str(caught.value)
        assert not isinstance(caught.value, LinkAheadTimeoutError)
        assert "Is the proxy running" in message
        assert f"proxy {scheme}://someone:***@127.0.0.1:{port}" in message
        assert PROXY_PASSWORD not in message
    assert linkahead_server.counters.requests == 0


def test_percent_encoded_proxy_password_is_hidden_in_both_forms(linkahead_server: LinkAheadTestServer,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = _free_port()
    with pytest.raises(LinkAheadConnectionError) as caught:
        _configure(linkahead_server.url, http_proxy=f"http://u:p%40ss%2Fword@127.0.0.1:{port}",
                   debug=True).retrieve(["Info"])
    for shown in (str(caught.value), caplog.text):
        assert "p%40ss%2Fword" not in shown and "p@ss/word" not in shown


def test_proxy_password_is_hidden_in_the_configuration_repr() -> None:
    connection = linkahead.configure_connection(url="http://127.0.0.1:9/", username="admin", password=PASSWORD,
                                                https_proxy=f"http://u:{PROXY_PASSWORD}@127.0.0.1:9")
    assert PROXY_PASSWORD not in repr(connection.config)


def test_proxy_password_is_hidden_in_configuration_errors() -> None:
    with pytest.raises(ConfigurationError) as caught:
        linkahead.configure_connection(url="http://127.0.0.1:9/", username="admin", password=PASSWORD,
                                       https_proxy=f"https://u:{PROXY_PASSWORD}@127.0.0.1:9")
    assert PROXY_PASSWORD not in str(caught.value)
