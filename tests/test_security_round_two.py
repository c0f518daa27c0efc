"""Regression tests for issue 13 (security and robustness, round two), one section per item.

Each test failed before its fix. They use the embedded server, real sockets (a trickling server
for the request deadline), real entry-point metadata on ``sys.path`` for plugin identity and the
CLI in-process (``linkahead.cli.main``) for its output.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import linkahead
import pytest
from linkahead import HeaderCredentials, Option, PasswordCredentials, hookimpl
from linkahead.cli import config_entries, main
from linkahead.exceptions import (
    ConfigurationError,
    LinkAheadException,
    LinkAheadTimeoutError,
    LoginFailedError,
    PasswordMethodNotFoundError,
    PluginError,
)
from linkahead.options import text
from linkahead.testing import LinkAheadTestServer, RequestInfo
from linkahead.testing.server import Fault

# A password with no four characters in a row that an ordinary message holds.
PASSWORD = "Qz7vXk9JwQ4y"


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and everything reachable through ``__cause__`` and ``__context__``."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [current.__cause__, current.__context__]
    return found


def everything_shown(error: BaseException) -> str:
    """What a user or a log could ever see of ``error``: str, repr and the full traceback text."""
    parts = ["".join(traceback.format_exception(error))]
    for inner in chain(error):
        parts += [str(inner), repr(inner)]
        request = getattr(inner, "request", None)
        parts.append(repr(getattr(request, "body", None)))
    return "\n".join(parts)


def assert_hidden(secret: str, text: str) -> None:
    for form in {secret, quote(secret, safe="", errors="surrogatepass"), quote_plus(secret, errors="surrogatepass")}:
        assert form not in text
    pieces = [secret[i:i + 4] for i in range(len(secret) - 3)]
    assert not [piece for piece in pieces if piece in text], text


@pytest.fixture(autouse=True)
def _auditor(linkahead_server: LinkAheadTestServer) -> None:
    """The user ``auditor`` with :data:`PASSWORD` (``admin``'s password is ordinary words)."""
    linkahead_server.add_user("auditor", PASSWORD)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Run ``linkahead-auth`` in-process; returns (exit code, stdout + stderr)."""
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() replaces it

    def run(*args: str) -> tuple[int, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out + err

    yield run


def write_ini(**values: str) -> Path:
    path = Path("pylinkahead.ini")
    path.write_text("[Connection]\n" + "".join(f"{key} = {value}\n" for key, value in values.items()),
                    encoding="utf-8")
    path.chmod(0o600)
    return path


# -- 1: a login answer that echoes the request ------------------------------------------------


@pytest.mark.parametrize("status", [302, 400, 404, 502])
def test_1_login_answer_echoing_the_request_is_not_quoted(
    linkahead_server: LinkAheadTestServer, status: int, cli: Any
) -> None:
    def echo(request: RequestInfo) -> Fault | None:
        return Fault(status=status, body=request.body) if request.path == "login" else None

    linkahead_server.fault = echo
    connection = linkahead.configure_connection(url=linkahead_server.url, username="auditor", password=PASSWORD)
    with pytest.raises(LinkAheadException) as info:
        connection.retrieve(["Info"])
    assert f"answered {status}" in str(info.value)
    assert_hidden(PASSWORD, everything_shown(info.value))
    assert PASSWORD.encode() not in getattr(info.value, "body", b"")

    write_ini(url=linkahead_server.url, username="auditor", password=PASSWORD)
    for args in (("status",), ("status", "--json"), ("-v", "status"), ("login",)):
        code, output = cli(*args)
        assert code == 1
        assert f"{status}" in output
        assert_hidden(PASSWORD, output)


# -- 2: linkahead-auth config shows proxy URLs without their password --------------------------


def test_2_config_hides_the_proxy_password(linkahead_server: LinkAheadTestServer, cli: Any) -> None:
    proxy_password = "Prox-Y-pa55"
    write_ini(url=linkahead_server.url, username="auditor", password=PASSWORD,
              https_proxy=f"http://user:{proxy_password}@127.0.0.1:3128",
              http_proxy=f"socks5://user:{proxy_password}@127.0.0.1:1080")
    code, output = cli("config")
    assert code == 0
    assert "http://user:***@127.0.0.1:3128" in output
    assert_hidden(proxy_password, output)
    code, output = cli("config", "--json")
    report = json.loads(output)
    assert report["options"]["https_proxy"]["value"] == "http://user:***@127.0.0.1:3128"
    assert_hidden(proxy_password, output)


# -- 3: URL delimiters in proxy or url passwords -----------------------------------------------


@pytest.mark.parametrize("delimiter", ["/", "#", "?", " ", "'", '"', "@", "\\", ";", ":"])
@pytest.mark.parametrize("where", ["https_proxy", "url", "HTTPS_PROXY"])
def test_3_passwords_with_url_delimiters_never_show_in_errors(
    delimiter: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = f"AAAA{delimiter}BBBB{delimiter}99x"
    bad = f"http://user:{password}@127.0.0.1:3128"
    kwargs: dict[str, Any] = {"url": "https://127.0.0.1:1/", "password_method": "unauthenticated"}
    if where == "HTTPS_PROXY":
        monkeypatch.setenv("HTTPS_PROXY", bad)
    elif where == "url":
        kwargs["url"] = bad.replace("3128", "1")
    else:
        kwargs[where] = bad
    try:
        connection = linkahead.configure_connection(**kwargs)
    except ConfigurationError as error:
        assert_hidden(password, everything_shown(error))
        return
    # Accepted (a delimiter that needs no encoding): nothing shown may hold it either.
    assert_hidden(password, repr(connection.config))
    assert_hidden(password, json.dumps([entry["value"] for entry in config_entries(connection.config)]))


# -- 4: a proxy password that cannot be sent ---------------------------------------------------


@pytest.mark.parametrize("password", ["Qz7%BBXv9J", "Qz7€Xv9J", "Qz7%FF%FEXv9J"])
def test_4_unsendable_proxy_password_is_a_configuration_error(password: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot be sent to the proxy") as info:
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method="unauthenticated",
                                       http_proxy=f"http://user:{password}@127.0.0.1:3128")
    assert_hidden(password, everything_shown(info.value))


# -- 5: lone surrogates --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["password", "username"])
def test_5_lone_surrogate_is_refused_at_configuration(linkahead_server: LinkAheadTestServer, key: str) -> None:
    values = {"username": "admin", "password": PASSWORD}
    values[key] = "Zx7\ud800Qv9J"
    with pytest.raises(ConfigurationError, match=f"Invalid {key}.*lone surrogate") as info:
        linkahead.configure_connection(url=linkahead_server.url, **values)
    assert_hidden("Zx7\ud800Qv9J", everything_shown(info.value))
    assert linkahead_server.counters.requests == 0


def test_5_lone_surrogate_from_a_plugin_fails_cleanly(linkahead_server: LinkAheadTestServer) -> None:
    secret = "Wq4\udcffZx8K"

    class Surrogate:
        __name__ = "surrogate"

        @hookimpl
        def get_credentials(self, config: Any) -> PasswordCredentials:
            return PasswordCredentials("auditor", secret)

    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=Surrogate())
    with pytest.raises(LoginFailedError, match="not valid Unicode") as info:
        connection.retrieve(["Info"])
    assert_hidden(secret, everything_shown(info.value))


# -- 7: a plugin cannot unmask a core secret ---------------------------------------------------


def test_7_plugin_redeclaring_password_cannot_unmask_it(linkahead_server: LinkAheadTestServer) -> None:
    class Redeclares:
        __name__ = "redeclares"

        @hookimpl
        def declare_options(self) -> list[Option]:
            return [Option("password", "the password, required here", text, required=True),
                    Option("auth_token", "a token", text, required=False)]

        @hookimpl
        def get_credentials(self, config: Any) -> PasswordCredentials:
            return PasswordCredentials("auditor", config["password"])

    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=Redeclares(),
                                                password=PASSWORD, auth_token="T0ken-value")
    assert connection.config.is_secret("password")
    for shown in (repr(connection.config), str(connection.config),
                  json.dumps([entry["value"] for entry in config_entries(connection.config)])):
        assert PASSWORD not in shown and "T0ken-value" not in shown
    assert connection.retrieve(["Info"]).status == 200


# -- 8: plugin import errors -------------------------------------------------------------------


def register_distribution(site: Path, dist: str, method: str, module: str, source: str) -> None:
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\nSummary: test\n")
    (info / "entry_points.txt").write_text(f"[linkahead.auth]\n{method} = {module}\n")
    (info / "RECORD").write_text("")


GOOD_PLUGIN = """
    import linkahead
    @linkahead.hookimpl
    def get_credentials(config):
        return linkahead.PasswordCredentials("auditor", config["password"])
"""


def test_8_plugin_import_error_text_is_not_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    secret = "Zq8Vw3XjKq"
    register_distribution(tmp_path, "acme-leaky", "leaky", "acme_leaky",
                          f"raise RuntimeError('cannot read {secret}')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method="leaky")
    assert "cannot be imported: RuntimeError at acme_leaky.py:1" in str(info.value)
    assert_hidden(secret, everything_shown(info.value))
    for args in (("methods",), ("methods", "--json"), ("-v", "methods"), ("-v", "--url", "http://127.0.0.1:1/",
                                                                          "--method", "leaky", "status")):
        _, output = cli(*args)
        assert "leaky" in output
        assert_hidden(secret, output)


# -- 9: no error keeps a reference to the request that held the password ------------------------


@pytest.mark.parametrize("fault", [Fault(drop=True), Fault(cut_after=0, status=200, body=b"x" * 10)])
def test_9_failed_login_keeps_no_reference_to_the_request(linkahead_server: LinkAheadTestServer,
                                                          fault: Fault) -> None:
    linkahead_server.fault = lambda request: fault if request.path == "login" else None
    connection = linkahead.configure_connection(url=linkahead_server.url, username="auditor", password=PASSWORD,
                                                timeout=(2, 2))
    with pytest.raises(LinkAheadException) as info:
        connection.retrieve(["Info"])
    assert chain(info.value) == [info.value]  # no __context__, no __cause__
    assert_hidden(PASSWORD, everything_shown(info.value))


def test_9_plugin_errors_keep_no_chain(linkahead_server: LinkAheadTestServer) -> None:
    class Raising:
        __name__ = "raising"

        @hookimpl
        def get_credentials(self, config: Any) -> None:
            raise RuntimeError(f"no access with {PASSWORD}")

    for timeout in (None, 5.0):
        connection = linkahead.configure_connection(url=linkahead_server.url, password_method=Raising(),
                                                    plugin_timeout=timeout)
        with pytest.raises(PluginError) as info:
            connection.retrieve(["Info"])
        assert chain(info.value) == [info.value]
        assert_hidden(PASSWORD, everything_shown(info.value))


# -- 11: a total deadline per request ------------------------------------------------------------


class TricklingServer:
    """Answers every request a byte at a time (one every ``pause`` s), within ``limit`` s at most."""

    def __init__(self, trickle_headers: bool, pause: float = 0.1, limit: float = 8.0) -> None:
        self.trickle_headers = trickle_headers
        self.pause = pause
        self.limit = limit
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/"

    def serve(self) -> None:
        with self.listener:
            connection, _ = self.listener.accept()
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += connection.recv(4096)
                body = b"<Response/>" + b" " * 60
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                head += b"X-Padding: " + b"p" * 60 + b"\r\n" if self.trickle_headers else b""
                head += f"Content-Length: {len(body)}\r\n\r\n".encode()
                answer = head + body
                started = time.monotonic()
                if not self.trickle_headers:
                    connection.sendall(head)
                    answer = body
                try:
                    for index in range(len(answer)):
                        if time.monotonic() - started > self.limit:
                            connection.sendall(answer[index:])
                            break
                        connection.sendall(answer[index:index + 1])
                        if self.stop.wait(self.pause):
                            return
                except OSError:
                    return  # the client gave up: what the deadline is for

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.mark.parametrize("trickle_headers", [True, False], ids=["headers", "body"])
def test_11_a_trickling_server_cannot_hold_a_request_beyond_its_deadline(trickle_headers: bool) -> None:
    server = TricklingServer(trickle_headers)
    try:
        connection = linkahead.configure_connection(url=server.url, password_method="unauthenticated",
                                                    timeout=0.5)
        started = time.monotonic()
        with pytest.raises(LinkAheadTimeoutError, match=r"did not complete within 1 s") as info:
            connection.retrieve(["Info"]).read()
        elapsed = time.monotonic() - started
    finally:
        server.close()
    # Deadline 1 s (connect + read time-out); the trickle alone would last 8 s.
    assert elapsed < 4.0, elapsed
    assert chain(info.value) == [info.value]


def test_11_the_deadline_leaves_pooled_connections_usable(linkahead_server: LinkAheadTestServer) -> None:
    from linkahead.connection.deadline import WATCHDOG

    pending = WATCHDOG.pending()  # other tests' unread answers may still be watched
    connection = linkahead.configure_connection(url=linkahead_server.url, username="auditor", password=PASSWORD,
                                                timeout=0.2)
    for _ in range(30):
        assert connection.retrieve(["Info"]).read()
    # Outlive every deadline: the watchdog must not have touched a connection back in the pool.
    time.sleep(0.5)
    assert connection.retrieve(["Info"]).read()
    assert WATCHDOG.pending() <= pending + 1
    assert linkahead_server.counters.connections == 1  # one pooled connection, never shut down


# -- 12: a hung plugin costs one thread, not one per call ----------------------------------------


def test_12_calls_into_a_hung_plugin_leave_one_thread(linkahead_server: LinkAheadTestServer) -> None:
    release = threading.Event()

    class Hung:
        __name__ = "hung"

        @hookimpl
        def get_credentials(self, config: Any) -> None:
            release.wait(30)

    def hung_threads() -> int:
        return sum(1 for thread in threading.enumerate() if thread.name.startswith("linkahead-hung-"))

    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=Hung(),
                                                plugin_timeout=0.02)
    try:
        for _ in range(25):
            with pytest.raises(PluginError, match="'hung'"):
                connection.retrieve(["Info"])
        assert hung_threads() == 1
    finally:
        release.set()


# -- 13: quoted values are cut short ---------------------------------------------------------------


@pytest.mark.parametrize("key", ["ssl_insecure", "timeout", "url", "https_proxy", "plugin_timeout"])
def test_13_huge_values_give_short_messages(key: str) -> None:
    huge = "x" * 1_000_000
    kwargs: dict[str, Any] = {"url": "http://127.0.0.1:1/", "password_method": "unauthenticated", key: huge}
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(**kwargs)
    assert len(str(info.value)) < 1000
    assert "characters)" in str(info.value) or key == "url"


@pytest.mark.parametrize(("scheme", "extra"), [("https", {"ssl_insecure": True}), ("http", {})])
def test_13_huge_host_names_give_short_warnings(scheme: str, extra: dict[str, Any]) -> None:
    url = f"{scheme}://{'h' * 100_000}.example/"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        linkahead.configure_connection(url=url, username="auditor", password=PASSWORD, **extra)
    assert caught
    assert all(len(str(warning.message)) < 1000 for warning in caught)


# -- 16: sys.exit() in a plugin ------------------------------------------------------------------


@pytest.mark.parametrize("plugin_timeout", [None, 5.0], ids=["direct", "bounded"])
def test_16_a_plugin_calling_sys_exit_is_a_plugin_error(linkahead_server: LinkAheadTestServer,
                                                        plugin_timeout: float | None) -> None:
    class Exits:
        __name__ = "exits"

        @hookimpl
        def get_credentials(self, config: Any) -> None:
            sys.exit(3)

    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=Exits(),
                                                plugin_timeout=plugin_timeout)
    with pytest.raises(PluginError, match=r"'exits' failed in get_credentials: called sys\.exit\(\)"):
        connection.retrieve(["Info"])


@pytest.mark.parametrize("plugin_timeout", [None, 5.0], ids=["direct", "bounded"])
def test_16_keyboard_interrupt_stays_one(linkahead_server: LinkAheadTestServer,
                                         plugin_timeout: float | None) -> None:
    class Interrupted:
        __name__ = "interrupted"

        @hookimpl
        def get_credentials(self, config: Any) -> None:
            raise KeyboardInterrupt

    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=Interrupted(),
                                                plugin_timeout=plugin_timeout)
    with pytest.raises(KeyboardInterrupt):
        connection.retrieve(["Info"])


def test_16_sys_exit_on_import_is_a_plugin_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_distribution(tmp_path, "acme-quits", "quits", "acme_quits", "import sys\nsys.exit('bye')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"'quits' .* calls sys\.exit\(\) on import"):
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method="quits")


# -- 18: an unusable proxy in the environment ---------------------------------------------------


def test_18_unusable_environment_proxy_matters_only_when_used(
    linkahead_server: LinkAheadTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.example:3128")
    # An http:// url never uses HTTPS_PROXY.
    connection = linkahead.configure_connection(url=linkahead_server.url, username="auditor", password=PASSWORD)
    assert connection.config["https_proxy"] is None
    assert connection.retrieve(["Info"]).status == 200
    # An https:// url would use it: a clear error naming the variable.
    with pytest.raises(ConfigurationError, match=r"environment HTTPS_PROXY.*HTTPS proxies are not supported"):
        linkahead.configure_connection(url="https://linkahead.example/", username="auditor", password=PASSWORD)
    # ... unless NO_PROXY exempts the server.
    monkeypatch.setenv("NO_PROXY", "linkahead.example")
    linkahead.configure_connection(url="https://linkahead.example/", username="auditor", password=PASSWORD)


# -- 19: the message after a repeated 401 --------------------------------------------------------


def test_19_repeated_401_with_header_credentials_speaks_of_headers(linkahead_server: LinkAheadTestServer) -> None:
    class Headers:
        __name__ = "headers"

        @hookimpl
        def get_credentials(self, config: Any) -> HeaderCredentials:
            return HeaderCredentials({"Authorization": "Bearer H3ader-secret"})

        @hookimpl
        def refresh(self, config: Any, credentials: Any, reason: str) -> HeaderCredentials:
            return HeaderCredentials({"Authorization": "Bearer H3ader-secret-2"})

    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=Headers())
    with pytest.raises(LoginFailedError) as info:
        connection.retrieve(["Entity"])
    message = str(info.value)
    assert "401" in message and "request headers" in message
    for misleading in ("user name", "username", "realm", "lack access"):
        assert misleading not in message
    assert "H3ader" not in message


def test_19_repeated_401_after_a_good_login_does_not_blame_the_account(
    linkahead_server: LinkAheadTestServer,
) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, username="auditor", password=PASSWORD)
    with linkahead_server.route("GET", "Entity", lambda request: (401, {}, b"<Response/>")), \
            pytest.raises(LoginFailedError) as info:
        connection.retrieve(["Entity"])
    message = str(info.value)
    assert "accepted that login" in message and "ends sessions" in message
    assert "lack access" not in message


# -- 20: two distributions, one method name ------------------------------------------------------


def test_20_two_distributions_with_one_method_name_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linkahead_server: LinkAheadTestServer, cli: Any
) -> None:
    register_distribution(tmp_path / "one", "acme-one", "twin", "acme_one", GOOD_PLUGIN)
    register_distribution(tmp_path / "two", "acme-two", "twin", "acme_two", GOOD_PLUGIN)
    register_distribution(tmp_path / "evil", "evil-plain", "plain", "evil_plain", GOOD_PLUGIN)
    for folder in ("one", "two", "evil"):
        monkeypatch.syspath_prepend(str(tmp_path / folder))
    for name, dists in (("twin", ("acme-one", "acme-two")), ("plain", ("evil-plain", "linkahead-auth-plain"))):
        with pytest.raises(ConfigurationError) as info:
            linkahead.configure_connection(url=linkahead_server.url, username="auditor", password=PASSWORD,
                                           password_method=name)
        message = str(info.value)
        for dist in dists:
            assert dist in message
            assert f"password_method = {dist}:{name}" in message
    assert "acme_one" not in sys.modules and "evil_plain" not in sys.modules  # refused before importing

    connection = linkahead.configure_connection(url=linkahead_server.url, username="auditor", password=PASSWORD,
                                                password_method="acme-two:twin")
    assert connection.method.distribution == "acme-two"
    assert connection.retrieve(["Info"]).status == 200
    connection = linkahead.configure_connection(url=linkahead_server.url, username="auditor", password=PASSWORD,
                                                password_method="linkahead-auth-plain:plain")
    assert connection.method.distribution == "linkahead-auth-plain"
    assert connection.retrieve(["Info"]).status == 200

    _, output = cli("methods")
    assert "refuses to choose" in output
    report = json.loads(cli("methods", "--json")[1])
    twins = {item["select"] for item in report["methods"] if item["name"] == "twin"}
    assert twins == {"acme-one:twin", "acme-two:twin"}


# -- 21: hints built from user input -------------------------------------------------------------


@pytest.mark.parametrize("name", ["x; rm -rf ~", "$(reboot)", "a b", "`id`", "plain'"])
def test_21_pip_hint_only_for_valid_distribution_names(name: str) -> None:
    with pytest.raises(PasswordMethodNotFoundError) as info:
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method=name)
    message = str(info.value)
    for line in message.split("pip install ")[1:]:
        target = line.split()[0].rstrip(".")
        assert linkahead.plugins.is_distribution_name(target), message


def test_21_pass_hints_are_shell_quoted() -> None:
    from linkahead_auth_pass.store import shell_command

    assert shell_command("pass", "insert", "linkahead/me") == "'pass insert linkahead/me'"
    hint = shell_command("pass", "insert", "me; rm -rf ~")
    assert hint == "the command: pass insert 'me; rm -rf ~'"
