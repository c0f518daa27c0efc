"""The names and meanings upstream ``linkahead`` 0.21's data layer and tools use from the six shared modules.

These run without upstream installed (the differential and overlay suites under ``tests/compat``
run upstream itself); each test states the upstream behaviour it pins.
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import linkahead
import linkahead_connection
import pytest
from linkahead import configuration, exceptions
from linkahead.connection.connection import _Connection
from linkahead.exceptions import (
    ConfigurationError,
    HTTPClientError,
    HTTPForbiddenError,
    HTTPResourceNotFoundError,
    HTTPServerError,
    LinkAheadConnectionError,
    LinkAheadException,
    LoginFailedError,
    ServerResponseError,
)
from linkahead.testing import Fault, LinkAheadTestServer, RequestInfo
from linkahead_connection import doctor, hook

# -- exceptions ------------------------------------------------------------------------------

UPSTREAM_EXCEPTIONS = {
    # name: upstream 0.21's base class
    "LinkAheadException": "CaosDBException",
    "ConfigurationError": "LinkAheadException",
    "ServerConfigurationException": "LinkAheadException",
    "HTTPClientError": "LinkAheadException",
    "HTTPServerError": "LinkAheadException",
    "CaosDBConnectionError": "LinkAheadException",
    "LinkAheadConnectionError": "CaosDBConnectionError",
    "HTTPURITooLongError": "HTTPClientError",
    "LoginFailedError": "LinkAheadException",
    "HTTPForbiddenError": "HTTPClientError",
    "HTTPResourceNotFoundError": "HTTPClientError",
    "MismatchingEntitiesError": "LinkAheadException",
    "BadQueryError": "LinkAheadException",
    "PagingConsistencyError": "BadQueryError",
    "QueryNotUniqueError": "BadQueryError",
    "EmptyUniqueQueryError": "BadQueryError",
    "TransactionError": "LinkAheadException",
    "EntityError": "TransactionError",
    "UniqueNamesError": "EntityError",
    "UnqualifiedParentsError": "EntityError",
    "UnqualifiedPropertiesError": "EntityError",
    "EntityHasNoAclError": "EntityError",
    "EntityDoesNotExistError": "EntityError",
    "EntityHasNoDatatypeError": "EntityError",
    "ConsistencyError": "EntityError",
    "AuthorizationError": "EntityError",
    "AmbiguousEntityError": "EntityError",
}


@pytest.mark.parametrize("name", sorted(UPSTREAM_EXCEPTIONS))
def test_every_upstream_exception_exists_with_upstream_ancestry(name: str) -> None:
    error_class = getattr(exceptions, name)
    assert issubclass(error_class, getattr(exceptions, UPSTREAM_EXCEPTIONS[name]))
    assert getattr(linkahead, name) is error_class  # upstream's __init__ does `from .exceptions import *`


def test_upstream_constructors_and_attributes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the current names do not warn
        assert HTTPForbiddenError().status == 403
        assert HTTPResourceNotFoundError("gone").msg == "gone"
        assert exceptions.HTTPURITooLongError().status == 414
        client = HTTPClientError(msg="m", status=409, body=b"<Response/>")
        assert (client.msg, client.status, client.body) == ("m", 409, b"<Response/>")
        assert LoginFailedError().msg is None
        assert LinkAheadConnectionError().msg is None
    with pytest.warns(DeprecationWarning, match="CaosDBException is deprecated"):
        exceptions.CaosDBException("old")
    with pytest.warns(DeprecationWarning, match="CaosDBConnectionError is deprecated"):
        exceptions.CaosDBConnectionError("old")
    # The data layer replaces msg before re-raising (administration._update_user does).
    error = HTTPResourceNotFoundError("x")
    error.msg = "User does not exist."
    assert error.msg == "User does not exist."


def test_http_server_error_from_the_body_takes_the_servers_description() -> None:
    body = b'<Response><Error code="0" description="Something broke.">details</Error></Response>'
    assert HTTPServerError(body=body).msg == "Something broke.\n\ndetails"
    assert HTTPServerError(body=b"<half").msg == "<half"
    assert HTTPServerError(body=b"<Response/>").msg == "<Response/>"
    assert HTTPServerError(body=body).status == 500


class _Entity:
    def __init__(self, id: int | None, name: str | None) -> None:
        self.id = id
        self.name = name


class _ServerMessage:
    description = "Entity has unqualified properties."
    code = 114


def test_transaction_error_collects_entity_errors_as_a_tree() -> None:
    record = _Entity(12, "r1")
    prop = _Entity(13, None)
    inner = exceptions.EntityDoesNotExistError("Entity does not exist.", prop)
    outer = exceptions.UnqualifiedPropertiesError(_ServerMessage(), record)
    assert outer.add_error(inner) is outer
    error = exceptions.TransactionError(outer)
    assert outer.code == 114 and outer.msg == _ServerMessage.description and outer.description == outer.msg
    assert error.errors == [outer] and error.entities == [record]
    assert error.all_errors == {outer, inner} and error.all_entities == {record, prop}
    assert error.has_error(exceptions.EntityDoesNotExistError)
    assert not error.has_error(exceptions.EntityDoesNotExistError, direct_children_only=True)
    text = str(error)
    assert text.startswith("TransactionError: An error occured during the transaction.")
    # upstream's layout, its indent inside the line included
    assert "|  -> _ENTITY (id: 12, name: 'r1') CAUSED     |UnqualifiedPropertiesError: Entity has unqualified" in text
    assert "_ENTITY (id: 13) CAUSED     |    |EntityDoesNotExistError: Entity does not exist." in text
    assert repr(error) == text
    with pytest.raises(TypeError, match="EntityError"):
        error.add_error(ValueError("not an entity error"))  # type: ignore[arg-type]
    assert exceptions.TransactionError(msg="empty").errors == []


# -- configuration -------------------------------------------------------------------------------

def _write_ini(text: str, name: str = "pylinkahead.ini") -> Path:
    path = Path(name)
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_get_config_holds_every_section_and_upstream_interpolation() -> None:
    _write_ini("[Connection]\nurl = https://db.example.org/\npassword = a%%b\nusername = 100%\n"
               "[caoscrawler]\nsend_crawler_notifications = false\n[Container]\ndebug = 1\n")
    config = linkahead.get_config()
    assert config is configuration.get_config() is linkahead.configuration.get_config()
    assert config["Connection"]["url"] == "https://db.example.org/"  # caoscrawler reads it so
    assert config["caoscrawler"]["send_crawler_notifications"] == "false"
    assert config.getint("Container", "debug") == 1
    settings = configuration.collect({})
    assert settings.values["password"] == "a%b"  # upstream's "%%"
    assert settings.values["username"] == "100%"  # a lone % is read as written
    assert settings.origins["url"] == "file pylinkahead.ini"


def test_values_changed_in_get_config_are_used_by_configure_connection(
        linkahead_server: LinkAheadTestServer) -> None:
    # upstream's checkFileSystemConsistency sets the timeout through get_config() this way.
    _write_ini(f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = plain\n")
    linkahead.get_config().set("Connection", "password", linkahead_server.users["admin"])
    linkahead.get_config().set("Connection", "timeout", "77")
    connection = linkahead.configure_connection()
    assert connection.config["timeout"] == 77
    assert connection.config.origin("password") == "get_config()"
    assert connection.retrieve(["Info"]).status == 200


def test_configure_reads_one_more_file_and_reset_reads_again(tmp_path: Path) -> None:
    _write_ini("[Connection]\nurl = https://first.example.org/\nusername = a\n")
    extra = _write_ini("[Connection]\nusername = b\n[Misc]\nx = 1\n", str(tmp_path / "extra.ini"))
    assert linkahead.configure(str(extra)) == [str(extra)]
    assert linkahead.configure(str(tmp_path / "missing.ini")) == []
    settings = configuration.collect({})
    assert settings.values["url"] == "https://first.example.org/"
    assert (settings.values["username"], settings.origins["username"]) == ("b", f"file {extra}")
    _write_ini("[Connection]\nurl = https://second.example.org/\n")
    assert configuration.collect({}).values["url"] == "https://first.example.org/"  # read once, as upstream
    configuration._reset_config()
    assert configuration.collect({}).values["url"] == "https://second.example.org/"
    assert linkahead._read_config_files() == ["pylinkahead.ini"]


def test_config_to_yaml_converts_as_upstream() -> None:
    _write_ini("[Connection]\ntimeout = (3, none)\nssl_insecure = yes\ndebug = 0\nurl = https://x/\n"
               "[Misc]\nsmtp_port = 25\nbcc_append = a@x, b@x\n")
    converted = configuration.config_to_yaml(linkahead.get_config())
    assert converted["Connection"] == {"timeout": (3, None), "ssl_insecure": True, "debug": 0, "url": "https://x/"}
    assert converted["Misc"] == {"smtp_port": 25, "bcc_append": ["a@x", "b@x"]}
    configuration.validate_yaml_schema(converted)  # without upstream's schema file: nothing to check


@pytest.mark.parametrize(("content", "expected"), [
    ("url = https://x/\npassword = SECRET-VALUE\n", "line 1 comes before any [section] header"),
    ("[Connection]\nurl = https://x/\nSECRET-VALUE\n", "line 3 is neither 'key = value'"),
    ("[Connection]\npassword = SECRET-VALUE\npassword = SECRET-VALUE\n", "sets 'password' twice"),
])
def test_ini_errors_name_the_line_never_its_text(content: str, expected: str) -> None:
    _write_ini(content)
    with pytest.raises(ConfigurationError) as info:
        linkahead.get_config()
    assert expected in str(info.value)
    with pytest.raises(ConfigurationError, match=re.escape(expected)):
        configuration.collect({})  # the next use reports it again
    assert "SECRET" not in str(info.value) and info.value.__context__ is None


def test_an_unknown_option_is_quoted_short() -> None:
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(url="http://x/", **{"k" * 5000: "v"})
    assert len(str(info.value)) < 600 and "(5000 characters)" in str(info.value)


def test_a_byte_order_mark_is_accepted() -> None:
    Path("pylinkahead.ini").write_bytes(b"\xef\xbb\xbf[Connection]\nurl = https://bom.example.org/\n")
    assert configuration.collect({}).values["url"] == "https://bom.example.org/"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder whatever its mode")
def test_an_unreadable_config_folder_is_a_configuration_error() -> None:
    folder = Path.home() / ".config" / "linkahead"
    folder.mkdir(parents=True)
    folder.chmod(0)
    try:
        with pytest.raises(ConfigurationError, match="chmod u\\+rx"):
            configuration.find_config_file()
    finally:
        folder.chmod(0o700)


def test_a_folder_that_cannot_be_searched_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in for the kernel: CI runs as root, whom no folder mode stops, so the EACCES a
    # non-root user gets from stat() is raised here instead (the test above uses the real thing).
    real_is_file = Path.is_file

    def is_file(path: Path) -> bool:
        if path.parent.name == "linkahead" and path.parent.parent.name == ".config":
            raise PermissionError(13, "Permission denied", str(path))
        return real_is_file(path)

    monkeypatch.setattr(Path, "is_file", is_file)
    with pytest.raises(ConfigurationError, match=r"Permission denied.*chmod u\+rx") as info:
        configuration.find_config_file()
    assert isinstance(info.value.__context__, PermissionError)  # no secret in a path error


# -- the connection's upstream surface ---------------------------------------------------------

@pytest.fixture
def recorded(linkahead_server: LinkAheadTestServer) -> Iterator[list[RequestInfo]]:
    seen: list[RequestInfo] = []

    def record(request: RequestInfo) -> tuple[int, Mapping[str, str], bytes]:
        seen.append(request)
        return 200, {}, b"<Response/>"

    for method in ("GET", "POST", "PUT", "DELETE"):
        for path in ("Entity", "Entity/12", "User/PAM/jo", "Role/r%201", "_server_properties", "scripting"):
            linkahead_server.routes[(method, path)] = record
    yield seen


def connect(server: LinkAheadTestServer, **extra: Any) -> _Connection:
    return linkahead.configure_connection(url=server.url, username="admin", password=server.users["admin"],
                                          password_method="plain", **extra)


def test_upstream_argument_order(linkahead_server: LinkAheadTestServer, recorded: list[RequestInfo]) -> None:
    connection = connect(linkahead_server)
    connection.insert(["Entity"], {"uniquename": "true"}, "<Insert/>").read()
    connection.update(["Entity"], {"flag": None}, body="<Update>ö</Update>").read()
    connection.delete(["Entity", "12"], {"force": None}).read()
    connection.retrieve(entity_uri_segments=["Entity"], query_dict={"cache": None}).read()
    assert [(r.method, r.path, r.query, r.body) for r in recorded] == [
        ("POST", "Entity", "uniquename=true", b"<Insert/>"),
        ("PUT", "Entity", "flag=", "<Update>ö</Update>".encode()),  # UTF-8, as upstream sends text
        ("DELETE", "Entity/12", "force=", b""),
        ("GET", "Entity", "cache=", b""),
    ]
    with pytest.raises(TypeError, match=r"body=\.\.\."):
        connection.insert(["Entity"], "<Insert/>")  # type: ignore[arg-type]  # the old order


def test_form_data_keeps_slashes_and_sends_none_empty(linkahead_server: LinkAheadTestServer,
                                                      recorded: list[RequestInfo]) -> None:
    connection = connect(linkahead_server)
    connection.put_form_data("User/PAM/jo", {"email": None, "status": "ACTIVE"}).read()
    connection.post_form_data("Role/r 1", {"role_description": "d"}).read()
    connection._form_data_request("POST", "_server_properties", {"k": "v"}).read()
    assert [(r.method, r.path, r.body) for r in recorded] == [
        ("PUT", "User/PAM/jo", b"email=&status=ACTIVE"),
        ("POST", "Role/r%201", b"role_description=d"),
        ("POST", "_server_properties", b"k=v"),
    ]
    assert recorded[0].headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_multipart_generator_body_is_streamed_with_its_content_length(
        linkahead_server: LinkAheadTestServer, recorded: list[RequestInfo]) -> None:
    chunks = [b"--b\r\n", "text part ö\r\n", b"--b--\r\n"]
    length = sum(len(c.encode() if isinstance(c, str) else c) for c in chunks)
    connection = connect(linkahead_server)
    connection._http_request("POST", "scripting", body=(c for c in chunks),
                             headers={"Content-Length": str(length), "Content-Type": "multipart/form-data; boundary=b"})
    assert recorded[-1].body == "--b\r\ntext part ö\r\n--b--\r\n".encode()
    assert recorded[-1].headers.get("Transfer-Encoding") is None


def test_upstream_names_on_the_connection(linkahead_server: LinkAheadTestServer) -> None:
    connection = _Connection.get_instance()
    assert connection.is_configured is False and connection._authenticator is None
    connection = connect(linkahead_server)
    assert connection.is_configured is True
    assert connection._delegate_connection is not None
    connection._login()
    assert linkahead_server.counters.logins == 1
    connection._authenticator.login()  # type: ignore[union-attr]
    assert linkahead_server.counters.logins == 2
    connection._logout()
    assert linkahead_server.counters.logouts == 1
    assert connection.get_username() == "admin"
    assert connection._retry_http_request("GET", "Info").status == 200


def test_download_file_sends_upstreams_path(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.files["data/f.bin"] = b"content"
    connection = connect(linkahead_server)
    assert connection.download_file("/data/f.bin").read() == b"content"  # FileSystem//data/f.bin
    with pytest.raises(HTTPResourceNotFoundError, match="'missing' does not exist"):
        connection.download_file("missing")


class _UpstreamStyleResponse:
    """Like upstream's MockUpResponse: status, getheader, getheaders, read -- and no ``reason``."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def read(self, size: int = -1) -> bytes:
        data, self.body = (self.body, b"") if size < 0 else (self.body[:size], self.body[size:])
        return data

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def getheaders(self) -> dict[str, str]:
        return self.headers


class _UpstreamStyleConnection:
    """Like upstream's MockUpServerConnection: a login answered without a cookie, keyword calls."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []

    def configure(self, **config: Any) -> None:
        self.config = config

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None,
                **kwargs: Any) -> _UpstreamStyleResponse:
        self.requests.append((method, path, body))
        if path == "login":
            return _UpstreamStyleResponse(200, {"AuthToken": "mockup-auth-token"}, b"")
        if path == "Entity/404":
            return _UpstreamStyleResponse(404, {}, b"<Response/>")
        return _UpstreamStyleResponse(200, {}, b"<Response><Record id='1'/></Response>")


def test_an_upstream_style_mockup_implementation_works() -> None:
    # Downstream tools test with url="unittests" and upstream's MockUpServerConnection.
    connection = linkahead.configure_connection(url="unittests", username="testuser", password="pw",
                                                password_method="plain", implementation=_UpstreamStyleConnection)
    assert connection.retrieve(["Entity", "1"]).read() == b"<Response><Record id='1'/></Response>"
    with pytest.raises(HTTPResourceNotFoundError):
        connection.retrieve(["Entity", "404"])
    transport = connection._delegate_connection
    assert isinstance(transport, _UpstreamStyleConnection)
    assert [(m, p) for m, p, _ in transport.requests] == [("POST", "login"), ("GET", "Entity/1"), ("GET", "Entity/404")]


@pytest.mark.parametrize("implementation", [42, lambda: object()])
def test_a_wrong_implementation_is_a_configuration_error(implementation: Any) -> None:
    with pytest.raises(ConfigurationError, match="implementation must be a callable returning a transport"):
        linkahead.configure_connection(url="http://x/", username="u", password="p", password_method="plain",
                                       implementation=implementation)


def test_a_login_without_cookie_then_a_refusal_says_so(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.fault = lambda request: Fault(status=200) if request.path == "login" else None
    with pytest.raises(LoginFailedError, match="accepted the login but set no SessionToken cookie"):
        connect(linkahead_server).retrieve(["Info"])
    assert linkahead_server.counters.requests == 4  # login, 401, one new login, 401: no more


def test_a_login_answered_by_a_web_page_is_named(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.fault = lambda request: (
        Fault(status=200, headers={"Content-Type": "text/html"}, body=b"<html/>") if request.path == "login" else None
    )
    connection = connect(linkahead_server)
    with pytest.raises(LoginFailedError, match="answered by a web page"):
        connection.retrieve(["Info"])


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_is_an_error_naming_the_fix(linkahead_server: LinkAheadTestServer, status: int) -> None:
    linkahead_server.routes[("GET", "Entity")] = lambda request: (status, {"Location": "https://elsewhere/"}, b"")
    with pytest.raises(ServerResponseError, match="a redirect, which the connection does not follow") as info:
        connect(linkahead_server).retrieve(["Entity"])
    assert info.value.status == status and not isinstance(info.value, HTTPClientError)


@pytest.mark.parametrize("status", [201, 204])
def test_other_success_statuses_are_answers(linkahead_server: LinkAheadTestServer, status: int) -> None:
    linkahead_server.routes[("POST", "Entity")] = lambda request: (status, {}, b"")
    assert connect(linkahead_server).insert(["Entity"], body="<Insert/>").status == status


def test_a_raw_json_auth_token_is_sent_percent_encoded(linkahead_server: LinkAheadTestServer) -> None:
    encoded = linkahead_server.make_token("admin", one_time=True)
    raw = json.dumps(json.loads(unquote(encoded)), separators=(",", ":"))
    assert raw.startswith('["O"')
    cookies: list[str] = []

    def info(request: RequestInfo) -> tuple[int, Mapping[str, str], bytes]:
        cookies.append(request.headers.get("Cookie", ""))
        return 200, {}, b"<Response/>"

    linkahead_server.routes[("GET", "Entity")] = info
    linkahead.configure_connection(url=linkahead_server.url, auth_token=raw)
    linkahead.get_connection().retrieve(["Entity"]).read()
    assert cookies == [f"SessionToken={quote(raw, safe='')}"]
    assert linkahead_server.counters.one_time_logins == 1


def test_no_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="url"):
        linkahead.configure_connection(username="u", password="p", password_method="plain")


# -- installation ------------------------------------------------------------------------------

def test_the_development_install_serves_the_shared_modules_through_the_hook() -> None:
    """The dev environment (editable) runs the same hook as an installed wheel, from the checkout."""
    assert hook.installed()
    root = hook.shared_root()
    assert root is not None and Path(linkahead.__file__).parent == Path(root)
    for name, file in hook.SHARED.items():
        assert name in sys.modules or name == "linkahead.connection.connection", name
        assert Path(sys.modules[name].__file__ or "") == Path(root, file), name
    assert hook.served["linkahead"] == str(Path(root, "__init__.py"))
    assert linkahead.__version__ == linkahead_connection.__version__


def test_doctor_explains_each_shared_module() -> None:
    lines = doctor.report()
    assert lines[1] == "import hook: active in this process"
    for name in (*hook.SHARED, *hook.FALLBACK):
        assert any(line.startswith(f"{name}: linkahead-connection") for line in lines), (name, lines)
    assert doctor.problems() == []
    data = doctor.as_json()
    assert data["ok"] and data["hook"]["active"] and len(data["modules"]) == len(hook.SHARED) + len(hook.FALLBACK)


def test_the_hook_serves_nothing_else() -> None:
    finder = hook.LinkAheadConnectionFinder
    for name in ("linkahead.hookspecs", "linkahead.common", "linkahead.connection.session", "requests", "linkahead_x"):
        assert finder.find_spec(name, None) is None, name


def test_linkahead_exception_is_the_base(linkahead_server: LinkAheadTestServer) -> None:
    assert issubclass(ConfigurationError, LinkAheadException)
    assert issubclass(exceptions.LinkAheadTimeoutError, LinkAheadConnectionError)
