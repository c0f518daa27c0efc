"""Generative secrets audit: hypothesis draws secrets from every special character class and pushes
them through every option that can hold one and every failure path.

Secrets are built from URL delimiters (``/ # ? @ : ;``), blanks, quotes, backslashes, ``%`` and
``%XX`` sequences, non-ASCII text and lone surrogates, interleaved with letters that ordinary
messages do not use together (so that any four characters of a secret in a row are a leak, not
a coincidence). They go into ``password``, ``auth_token``, the user information of proxy URLs
(keyword arguments, the ini file and ``HTTPS_PROXY``) and of ``url``, and a plugin's own secret
option; the failure paths are invalid values, a server whose answers echo the request (3xx, 4xx
and 5xx), a plugin that fails to import, a plugin whose hooks raise, exit or return garbage, and
the CLI (``status``, ``config``, ``login``, ``methods``; with ``-v`` and ``--json``), run in-process.

The property: the secret -- whole, any four characters of it in a row, URL- or form-encoded,
percent-decoded, escaped -- appears in no log record, warning, ``str``/``repr`` of an error,
chained exception, formatted traceback or CLI output. ``tests/test_secrets_audit.py`` covers the
methods' own back ends (pass, keyring, exec, input) with real tokens.
"""

from __future__ import annotations

import html
import json
import logging
import os
import sys
import textwrap
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import linkahead
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from linkahead import HeaderCredentials, Option, PasswordCredentials, TokenCredentials, hookimpl
from linkahead.cli import main
from linkahead.exceptions import LinkAheadException
from linkahead.options import text
from linkahead.testing import LinkAheadTestServer, RequestInfo
from linkahead.testing.server import Fault

AUDIT = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))

# Letters that ordinary messages never hold two of within four characters.
RARE = "QZXJVWK"
SPECIALS = ["/", "#", "?", "@", ":", ";", " ", "'", '"', "\\", "%", "%41", "%2F", "%BB", "%zz", "&", "=", "+",
            "é", "€", "☃", "\t", "\ud800", "\udcff", "$", "`", "!", "*", ",", "<", ">", "[", "]"]

unit = st.tuples(st.sampled_from(RARE), st.sampled_from(SPECIALS)).map("".join)
plain_unit = st.tuples(st.sampled_from(RARE), st.sampled_from("0123456789")).map("".join)
secrets = st.one_of(
    st.lists(unit, min_size=3, max_size=6).map(lambda units: "".join(units) + "Q"),
    st.lists(plain_unit, min_size=3, max_size=5).map("".join),  # valid almost everywhere: success paths
)


def _printable(secret: str) -> bool:
    return not any("\ud800" <= c <= "\udfff" for c in secret)


def forms(secret: str) -> set[str]:
    """Every form in which a secret could show up in text."""
    found = {secret, unquote(secret), repr(secret)[1:-1], json.dumps(secret)[1:-1], html.escape(secret),
             secret.encode("unicode_escape").decode("ascii")}
    for encoded in (quote(secret, safe="", errors="surrogatepass"), quote(secret, errors="surrogatepass"),
                    quote_plus(secret, errors="surrogatepass")):
        found.add(encoded)
    return found


def pieces(secret: str) -> set[str]:
    """Four characters in a row, of the secret and its decoded form, that hold a rare letter."""
    found: set[str] = set()
    for form in {secret, unquote(secret)}:
        found |= {form[i:i + 4] for i in range(len(form) - 3) if any(c in RARE for c in form[i:i + 4])}
    return found


def assert_hidden(secret: str, *texts: str) -> None:
    haystack = "\n".join(texts)
    leaked = [form for form in forms(secret) if len(form) >= 4 and form in haystack]
    leaked += [piece for piece in pieces(secret) if piece in haystack]
    assert not leaked, f"secret {secret!r} leaked as {leaked!r}"


def shown(error: BaseException) -> str:
    """str, repr and the formatted traceback of ``error`` and of every exception chained to it."""
    texts = ["".join(traceback.format_exception(error))]
    pending: list[BaseException | None] = [error]
    seen: list[BaseException] = []
    while pending:
        current = pending.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        texts += [str(current), repr(current)]
        pending += [current.__cause__, current.__context__]
    return "\n".join(texts)


class Exposure:
    """Everything the code under test showed during one example: records, warnings, errors, output."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.texts: list[str] = []

    def reset(self) -> None:
        """Forget what an earlier example showed (a failed one never reached :meth:`check`)."""
        self.texts.clear()
        self.caplog.clear()

    def attempt(self, action: Callable[[], Any]) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = action()
                read = getattr(result, "read", None)
                if callable(read):
                    read()
            except LinkAheadException as error:
                self.texts.append(shown(error))
        self.texts += [str(warning.message) for warning in caught]

    def check(self, secret: str, *more: str) -> None:
        records = [record.getMessage() for record in self.caplog.records]
        records += [logging.Formatter().formatException(record.exc_info) for record in self.caplog.records
                    if record.exc_info]
        assert_hidden(secret, *self.texts, *records, self.caplog.text, *more)
        self.texts.clear()
        self.caplog.clear()


@pytest.fixture
def exposure(caplog: pytest.LogCaptureFixture) -> Exposure:
    caplog.set_level(logging.DEBUG)
    return Exposure(caplog)


def echo_fault(paths: tuple[str, ...], status: int) -> Callable[[RequestInfo], Fault | None]:
    """Answer ``paths`` with ``status`` and a body that repeats the whole request, headers included."""

    def function(request: RequestInfo) -> Fault | None:
        if request.path not in paths:
            return None
        echoed = "\n".join(f"{name}: {value}" for name, value in request.headers.items()).encode()
        return Fault(status=status, body=echoed + b"\n\n" + request.body)

    return function


# -- the options, without a server ----------------------------------------------------------------


def configure_with(place: str, secret: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Keyword arguments for configure_connection that put ``secret`` into ``place``."""
    base: dict[str, Any] = {"url": "http://127.0.0.1:1/", "username": "auditor", "password": "QZ7XJ9",
                            "timeout": (0.5, 0.5)}
    if place == "password":
        base["password"] = secret
    elif place == "auth_token":
        del base["password"]
        base["auth_token"] = secret
    elif place == "url":
        base["url"] = f"http://auditor:{secret}@127.0.0.1:1/"
    elif place in ("https_proxy", "http_proxy"):
        base[place] = f"http://auditor:{secret}@127.0.0.1:1"
    elif place == "HTTPS_PROXY":
        base["url"] = "https://127.0.0.1:1/"
        monkeypatch.setenv("HTTPS_PROXY", f"http://auditor:{secret}@127.0.0.1:1")
    elif place == "ini":
        Path("pylinkahead.ini").write_text(
            f"[Connection]\nurl = http://127.0.0.1:1/\nusername = auditor\npassword = {secret}\n"
            f"http_proxy = http://auditor:{secret}@127.0.0.1:1\n", encoding="utf-8")
        Path("pylinkahead.ini").chmod(0o600)
        base = {"timeout": (0.5, 0.5)}
    return base


PLACES = ["password", "auth_token", "url", "https_proxy", "http_proxy", "HTTPS_PROXY", "ini"]


@AUDIT
@given(secret=secrets, place=st.sampled_from(PLACES), extra=st.sampled_from([
    {}, {"timeout": "soon"}, {"ssl_insecure": "maybe"}, {"password_method": "no-such"}, {"cacert": "/nonexistent"},
    {"pasword": "x"}, {"plugin_timeout": -1},
]))
@example(secret="Q/Z#X?J@V Q", place="https_proxy", extra={})
@example(secret="Q%BBZ%41X", place="http_proxy", extra={})
@example(secret="Q\ud800Z/X", place="password", extra={})
def test_every_option_and_bad_value(secret: str, place: str, extra: dict[str, Any], exposure: Exposure,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    exposure.reset()
    # The environment and a UTF-8 file cannot hold a lone surrogate. (A file that is not UTF-8 is
    # the ini reader's business, tested with it.)
    assume(_printable(secret) or place not in ("HTTPS_PROXY", "ini"))
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    Path("pylinkahead.ini").unlink(missing_ok=True)
    kwargs = {**configure_with(place, secret, monkeypatch), **extra}

    def configure() -> Any:
        connection = linkahead.configure_connection(**kwargs)
        exposure.texts += [repr(connection.config), str(connection.config), repr(connection.auth.state)]
        return connection.retrieve(["Info"])  # nothing listens: a connection error

    exposure.attempt(configure)
    exposure.check(secret)


# -- a server that echoes the request -------------------------------------------------------------


@AUDIT
@given(secret=secrets, place=st.sampled_from(["password", "auth_token", "plugin"]),
       path=st.sampled_from(["login", "Entity"]), status=st.sampled_from([301, 302, 400, 401, 403, 404, 413, 500, 502]))
def test_server_answers_that_echo_the_request(secret: str, place: str, path: str, status: int, exposure: Exposure,
                                              linkahead_server: LinkAheadTestServer) -> None:
    exposure.reset()
    server = linkahead_server
    if _printable(secret):
        server.add_user("auditor", secret)  # the login succeeds where the fault lets it

    class Holder:
        """A plugin whose own secret option carries the password."""

        __name__ = "holder"

        @hookimpl
        def declare_options(self) -> list[Option]:
            return [Option("holder_secret", "the password", text, secret=True, required=True)]

        @hookimpl
        def get_credentials(self, config: Any) -> PasswordCredentials:
            return PasswordCredentials("auditor", config["holder_secret"])

    kwargs: dict[str, Any] = {"url": server.url, "timeout": (2, 2), "debug": True}
    if place == "password":
        kwargs.update(username="auditor", password=secret)
    elif place == "auth_token":
        kwargs.update(auth_token=secret)
    else:
        kwargs.update(password_method=Holder(), holder_secret=secret)
    server.fault = echo_fault((path,), status)

    def run() -> Any:
        connection = linkahead.configure_connection(**kwargs)
        exposure.texts += [repr(connection.config), repr(connection.auth.state)]
        try:
            return connection.insert(["Entity"], body="<Insert/>")
        finally:
            exposure.texts.append(repr(connection.auth.state))

    try:
        exposure.attempt(run)
        exposure.attempt(lambda: linkahead.get_connection().retrieve(["Entity", "1"]))
    finally:
        server.fault = None
    exposure.check(secret)


# -- plugins that fail ------------------------------------------------------------------------------

AUDIT_PLUGIN = """
    import os
    import sys

    import linkahead
    from linkahead.options import text

    if os.environ.get("AUDIT_IMPORT_FAILS"):
        raise RuntimeError("cannot start with " + os.environ["AUDIT_SECRET"])


    @linkahead.hookimpl
    def declare_options():
        return [linkahead.Option("acme_audit_secret", "a secret of this plugin", text, secret=True),
                linkahead.Option("acme_audit_mode", "what to do", text, default="raise")]


    @linkahead.hookimpl
    def get_credentials(config):
        secret = config["acme_audit_secret"] or ""
        mode = config["acme_audit_mode"]
        if mode == "raise":
            raise RuntimeError(f"refused {secret}")
        if mode == "exit":
            sys.exit(f"bye {secret}")
        if mode == "garbage":
            return {"password": secret}
        if mode == "headers":
            return linkahead.HeaderCredentials({"X-Secret": secret})
        if mode == "token":
            return linkahead.TokenCredentials(secret)
        return linkahead.PasswordCredentials("auditor", secret)


    @linkahead.hookimpl
    def refresh(config, credentials, reason):
        raise ValueError(f"cannot refresh {config['acme_audit_secret']}")
"""


@pytest.fixture
def audit_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution ``acme-audit`` (method ``acme-audit``) on ``sys.path``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_audit.py").write_text(textwrap.dedent(AUDIT_PLUGIN), encoding="utf-8")
    info = site / "acme_audit-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-audit\nVersion: 1.0\nSummary: audit\n")
    (info / "entry_points.txt").write_text("[linkahead.auth]\nacme-audit = acme_audit\n")
    (info / "RECORD").write_text("")
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("acme_audit", None)


MODES = ["raise", "exit", "garbage", "headers", "token", "password", "import"]


@AUDIT
@given(secret=secrets, mode=st.sampled_from(MODES), bounded=st.booleans())
def test_plugins_that_fail(secret: str, mode: str, bounded: bool, exposure: Exposure, audit_plugin: None,
                           linkahead_server: LinkAheadTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    exposure.reset()
    sys.modules.pop("acme_audit", None)
    monkeypatch.setenv("AUDIT_SECRET", secret.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    if mode == "import":
        monkeypatch.setenv("AUDIT_IMPORT_FAILS", "1")
    else:
        monkeypatch.delenv("AUDIT_IMPORT_FAILS", raising=False)
    linkahead_server.fault = echo_fault(("login", "Entity"), 401)  # every credential is rejected

    def run() -> Any:
        connection = linkahead.configure_connection(
            url=linkahead_server.url, password_method="acme-audit", acme_audit_secret=secret,
            acme_audit_mode=mode, plugin_timeout=5.0 if bounded else None, timeout=(2, 2), debug=True)
        exposure.texts.append(repr(connection.config))
        return connection.retrieve(["Entity"])

    try:
        exposure.attempt(run)
    finally:
        linkahead_server.fault = None
    exposure.check(os.environ["AUDIT_SECRET"] if mode == "import" else secret)


@AUDIT
@given(secret=secrets, kind=st.sampled_from(["raise", "garbage", "headers", "token", "exit"]))
def test_plugin_objects_that_fail(secret: str, kind: str, exposure: Exposure,
                                  linkahead_server: LinkAheadTestServer) -> None:
    class Careless:
        __name__ = "careless"

        @hookimpl
        def get_credentials(self, config: Any) -> Any:
            if kind == "raise":
                raise OSError(f"store locked: {secret}")
            if kind == "garbage":
                return ("auditor", secret)
            if kind == "headers":
                return HeaderCredentials({"Authorization": f"Bearer {secret}"})
            if kind == "token":
                return TokenCredentials(secret)
            raise SystemExit(secret)

        @hookimpl
        def refresh(self, config: Any, credentials: Any, reason: str) -> Any:
            return credentials  # the same again: the server rejects it again

    exposure.reset()
    linkahead_server.fault = echo_fault(("Entity",), 401)
    try:
        for bounded in (None, 5.0):
            connection = linkahead.configure_connection(url=linkahead_server.url, password_method=Careless(),
                                                        plugin_timeout=bounded, timeout=(2, 2), debug=True)
            exposure.attempt(lambda connection=connection: connection.retrieve(["Entity"]))  # type: ignore[misc]
            exposure.texts.append(repr(connection.auth.state))
    finally:
        linkahead_server.fault = None
    exposure.check(secret)


# -- the CLI, in-process ------------------------------------------------------------------------------

CLI_PLACES = ["password", "auth_token", "https_proxy", "http_proxy", "url", "HTTPS_PROXY", "plugin"]
COMMANDS = [("status",), ("status", "--json"), ("-v", "status"), ("config",), ("config", "--json"),
            ("-v", "config"), ("login",), ("-v", "login")]


@SLOW
@given(secret=secrets.filter(_printable), place=st.sampled_from(CLI_PLACES),
       fault=st.sampled_from([None, ("login", 302), ("login", 400), ("login", 502), ("Info", 500), ("Info", 403)]))
@example(secret="Q/Z#X?J@V Q", place="http_proxy", fault=None)
def test_cli_commands(secret: str, place: str, fault: tuple[str, int] | None, audit_plugin: None,
                      linkahead_server: LinkAheadTestServer, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    server = linkahead_server
    server.add_user("auditor", secret)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() replaces it
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("AUDIT_IMPORT_FAILS", raising=False)
    sys.modules.pop("acme_audit", None)
    values = {"url": server.url, "username": "auditor", "password": "QZ7XJ9", "timeout": "(2, 2)"}
    if place in ("password", "auth_token"):
        values.pop("password")
        values[place] = secret
    elif place in ("https_proxy", "http_proxy"):
        values[place] = f"http://auditor:{secret}@127.0.0.1:1"
    elif place == "url":
        values["url"] = server.url.replace("http://", f"http://auditor:{secret}@")
    elif place == "HTTPS_PROXY":
        values["url"] = server.url.replace("http://127.0.0.1", "https://localhost")
        monkeypatch.setenv("HTTPS_PROXY", f"http://auditor:{secret}@127.0.0.1:1")
    else:
        values.update(password_method="acme-audit", acme_audit_secret=secret, acme_audit_mode="password")
    ini = Path("pylinkahead.ini")
    ini.write_text("[Connection]\n" + "".join(f"{key} = {value}\n" for key, value in values.items()),
                   encoding="utf-8")
    ini.chmod(0o600)
    if fault is not None:
        server.fault = echo_fault((fault[0],), fault[1])
    outputs: list[str] = []
    try:
        for command in COMMANDS:
            main(list(command))
            out, err = capsys.readouterr()
            outputs.append(out + err)
        monkeypatch.setenv("AUDIT_SECRET", secret)
        monkeypatch.setenv("AUDIT_IMPORT_FAILS", "1")
        for command in (("methods",), ("-v", "methods"), ("methods", "--json")):
            sys.modules.pop("acme_audit", None)
            main(list(command))
            out, err = capsys.readouterr()
            outputs.append(out + err)
    finally:
        server.fault = None
    text_ = "\n".join(outputs)
    assert "Configuration file" in text_  # the commands ran
    records = [record.getMessage() for record in caplog.records]
    caplog.clear()
    assert_hidden(secret, text_, *records)
