"""Pickled connections and errors (issue 20): they work on the other side or raise a clear error,
and never carry a secret."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import linkahead
import linkahead.exceptions
import pytest
from linkahead.connection.connection import _Connection
from linkahead.exceptions import ConfigurationError, LinkAheadException, LoginFailedError
from linkahead.testing import LinkAheadTestServer

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def _configured(server: LinkAheadTestServer, store: Path | None = None, **extra: Any) -> _Connection:
    return linkahead.configure_connection(url=server.url, username="admin", password=server.users["admin"],
                                          session_cache=str(store) if store else "none", **extra)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pickled_connection_carries_neither_password_nor_token(linkahead_server: LinkAheadTestServer,
                                                                 protocol: int) -> None:
    connection = _configured(linkahead_server)
    connection.retrieve(["Info"]).read()
    token = connection.auth.state.token
    assert token
    data = pickle.dumps(connection, protocol)
    for secret in (linkahead_server.users["admin"], token):
        assert secret.encode() not in data
        assert secret.encode("utf-16-le") not in data
    assert pickle.loads(data) is connection  # the process-wide connection stays itself here


def test_a_pickled_connection_works_in_another_process_with_its_own_configuration(
        linkahead_server: LinkAheadTestServer, tmp_path: Path) -> None:
    store = tmp_path / "sessions"
    connection = _configured(linkahead_server, store)
    connection.retrieve(["Info"]).read()
    ini = tmp_path / "worker.ini"
    ini.write_text(f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\n"
                   f"password = {linkahead_server.users['admin']}\n")
    code = ("import pickle, sys; c = pickle.loads(sys.stdin.buffer.read()); "
            "print(c.config['session_cache'], b'username=\"admin\"' in c.retrieve(['Info']).read())")
    result = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(connection), capture_output=True,
                            timeout=120, env={**_env(), "PYLINKAHEADINI": str(ini)})
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split() == [str(store), "True"]
    assert linkahead_server.counters.logins == 1  # the worker took the stored session


def test_without_the_password_on_the_other_side_the_error_says_what_did_not_travel(
        linkahead_server: LinkAheadTestServer) -> None:
    data = pickle.dumps(_Connection().configure(url=linkahead_server.url, username="admin",
                                                password=linkahead_server.users["admin"], session_cache="none"))
    with pytest.raises(ConfigurationError) as caught:
        pickle.loads(data)
    text = str(caught.value)
    assert "never travel with a pickled connection" in text
    assert "password" in text and "linkahead-auth token" in text
    assert linkahead_server.users["admin"] not in text


def test_a_pickled_connection_takes_no_secret_from_an_ini_file_for_another_server(
        linkahead_server: LinkAheadTestServer) -> None:
    data = pickle.dumps(_Connection().configure(url=linkahead_server.url, username="admin",
                                                password=linkahead_server.users["admin"], session_cache="none"))
    Path("pylinkahead.ini").write_text("[Connection]\nurl = https://other.example.org/\nusername = admin\n"
                                       "password = Other-Server-Secret\n")
    from linkahead.configuration import _reset_config

    _reset_config()
    with pytest.raises(ConfigurationError, match=r"is for https://other\.example\.org/") as caught:
        pickle.loads(data)
    assert "Other-Server-Secret" not in str(caught.value)
    assert linkahead_server.counters.logins == 0


def test_the_same_options_arriving_twice_make_one_connection(linkahead_server: LinkAheadTestServer) -> None:
    Path("pylinkahead.ini").write_text(f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\n"
                                       f"password = {linkahead_server.users['admin']}\nsession_cache = none\n")
    other = _Connection().configure(url=linkahead_server.url, username="admin", session_cache="none", timeout=30)
    first, second = pickle.loads(pickle.dumps(other)), pickle.loads(pickle.dumps(other))
    assert first is second and first is not other
    assert first.auth.state.token is None  # nothing of the sender's session travelled
    assert b'username="admin"' in first.retrieve(["Info"]).read()


class _Inline:
    @linkahead.hookimpl
    def get_credentials(self, config: Any) -> linkahead.PasswordCredentials:
        return linkahead.PasswordCredentials("admin", "x")


def test_connections_that_cannot_travel_say_so(linkahead_server: LinkAheadTestServer) -> None:
    connection = _Connection().configure(url=linkahead_server.url, password_method=_Inline(), session_cache="none")
    with pytest.raises(ConfigurationError, match="plugin object"):
        pickle.dumps(connection)

    from linkahead.connection.transport import RequestsTransport

    connection = _Connection().configure(url=linkahead_server.url, username="admin", password="x",
                                         session_cache="none", implementation=RequestsTransport)
    connection._transport = object()  # type: ignore[assignment]  # a transport of this process's own
    with pytest.raises(ConfigurationError, match="implementation"):
        pickle.dumps(connection)


def _error_classes() -> list[type[BaseException]]:
    found = []
    for name in linkahead.exceptions.__all__:
        value = getattr(linkahead.exceptions, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            found.append(value)
    return found


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_survives_pickling(cls: type[BaseException]) -> None:
    wanted = {"msg": "what happened", "method": "nope", "installed": ["plain"], "plugin": "nope"}
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    arguments = {p.name: wanted.get(p.name, "x") for p in parameters
                 if p.default is inspect.Parameter.empty and p.kind is not p.VAR_POSITIONAL
                 and p.kind is not p.VAR_KEYWORD}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the CaosDB* names warn when made
        error = cls(**arguments)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilding warns about nothing
        copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.__dict__.keys() == error.__dict__.keys()


def test_a_login_error_travels_without_the_password(linkahead_server: LinkAheadTestServer) -> None:
    connection = _Connection().configure(url=linkahead_server.url, username="admin",
                                         password="Wrong-Pa55word-123", session_cache="none")
    with pytest.raises(LoginFailedError) as caught:
        connection.retrieve(["Info"])
    data = pickle.dumps(caught.value)
    assert b"Wrong-Pa55word-123" not in data
    copy = pickle.loads(data)
    assert isinstance(copy, LinkAheadException) and str(copy) == str(caught.value)
    assert copy.__cause__ is None and copy.__context__ is None


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
