"""Uses the names upstream's callers use of ``linkahead.connection.connection``, in whichever
``linkahead`` is installed, and prints what each step observed as one JSON object.

Run by ``test_upstream_names.py`` in upstream 0.21's own environment and in the overlay
environment (upstream, then this project over it), against the same embedded server; the two
outputs are compared step by step. The steps follow upstream's own unit tests (its
``MockUpServerConnection`` tests) and its data layer (``Query.execute`` reading
``_delegate_connection._base_path``). The first argument is a JSON object: ``url`` (the server,
which serves anonymous requests), ``token`` (a raw one-time token), ``renewed`` (a percent-encoded
session token a mock-up answer sets), ``workdir``.

Only the standard library and ``linkahead``: it must run unchanged in both environments.
"""

# mypy: ignore-errors
# (This file runs inside other interpreters; ``linkahead`` there is upstream's, or ours over it.)

from __future__ import annotations

import json
import sys
import traceback
import warnings
from typing import Any
from urllib.parse import unquote

SPEC: dict[str, Any] = json.loads(sys.argv[1])
URL: str = SPEC["url"]
observed: dict[str, Any] = {}


def _error(error: BaseException) -> dict[str, Any]:
    return {"class": type(error).__name__, "message": str(error)}


def _step(name: str, function: Any) -> None:
    try:
        observed[name] = function()
    except Exception as error:  # the outcome is what is compared
        observed[name] = {"raised": _error(error), "where": traceback.format_exc().splitlines()[-3:]}


def _mockup_resources() -> tuple[Any, Any]:
    from linkahead.connection.mockup import MockUpResponse, MockUpServerConnection
    return MockUpServerConnection, MockUpResponse


def no_query_in_answer() -> Any:
    """``execute_query`` where the server answers 200 without a ``<Query>`` (the embedded server)."""
    import linkahead as db
    db.configure_connection(url=URL, password_method="unauthenticated", timeout=30)
    try:
        db.execute_query("FIND Record")
    except Exception as error:
        return _error(error)
    return "no error"


def wrong_root_path() -> Any:
    """The same with a root path the server does not have: it answers below ``/`` all the same."""
    import linkahead as db
    db.configure_connection(url=URL + "wrong/path", password_method="unauthenticated", timeout=30)
    try:
        db.execute_query("FIND Record")
    except Exception as error:
        return _error(error)
    return "no error"


def default_transport() -> Any:
    from linkahead.connection.connection import _DefaultCaosDBServerConnection, configure_connection
    from linkahead.connection.interface import CaosDBServerConnection
    connection = configure_connection(url=URL, password_method="unauthenticated", timeout=30)
    transport = connection._delegate_connection
    explicit = configure_connection(url=URL, password_method="unauthenticated", timeout=30,
                                    implementation=_DefaultCaosDBServerConnection)
    response = explicit.retrieve(["Entity", "1"])
    return {
        "default_is_it": isinstance(transport, _DefaultCaosDBServerConnection),
        "is_a_server_connection": isinstance(transport, CaosDBServerConnection),
        "base_path": transport._base_path,
        "unconfigured_base_path": _DefaultCaosDBServerConnection()._base_path,
        "explicit_status": response.status,
        "explicit_is_it": isinstance(explicit._delegate_connection, _DefaultCaosDBServerConnection),
    }


def reexports() -> Any:
    import linkahead.configuration
    import linkahead.connection.connection as module
    import linkahead.exceptions
    names = ["ConfigurationError", "HTTPClientError", "HTTPForbiddenError", "HTTPResourceNotFoundError",
             "HTTPServerError", "HTTPURITooLongError", "LinkAheadConnectionError", "LinkAheadException",
             "LoginFailedError"]
    same = {name: getattr(module, name, None) is getattr(linkahead.exceptions, name) for name in names}
    same["get_config"] = module.get_config is linkahead.configuration.get_config
    same["config_to_yaml"] = module.config_to_yaml is linkahead.configuration.config_to_yaml
    same["make_uri_path"] = module.make_uri_path(["Entity", "a/b"], {"q": None})
    return same


def mockup_unauthenticated() -> Any:
    """Upstream's test_authentication_unauthenticated: no url, the mock-up transport."""
    from linkahead import configure_connection
    server, response_class = _mockup_resources()
    seen = []

    def resource(**kwargs: Any) -> Any:
        seen.append("Cookie" in kwargs["headers"])
        return response_class(200, {"Set-Cookie": f"SessionToken={SPEC['renewed']};"}, "ok")

    connection = configure_connection(password_method="unauthenticated", implementation=server)
    connection._delegate_connection.resources.append(resource)
    before = connection._authenticator.auth_token
    body = connection._http_request(method="GET", path="test").read()
    return {"before": before, "body": body.decode(), "cookie_sent": seen,
            "after": connection._authenticator.auth_token}


def login_unauthenticated() -> Any:
    from linkahead import configure_connection
    connection = configure_connection(url="https://example.com", password_method="unauthenticated")
    try:
        connection._login()
    except Exception as error:
        return type(error).__name__
    return "no error"


def mockup_auth_token() -> Any:
    """Upstream's test_authentication_auth_token: the token is read, sent, renewed and written."""
    from linkahead import configure_connection
    server, response_class = _mockup_resources()
    cookies = []

    def resource(**kwargs: Any) -> Any:
        if kwargs["path"] == "logout":
            return None
        cookie = kwargs["headers"]["Cookie"]
        cookies.append(unquote(cookie.split("=", 1)[1].rstrip(";")))
        return response_class(200, {"Set-Cookie": f"SessionToken={SPEC['renewed']};"}, "ok")

    connection = configure_connection(password_method="auth_token", auth_token=SPEC["token"], implementation=server)
    connection._delegate_connection.resources.append(resource)
    result = {"configured": connection._authenticator.auth_token == SPEC["token"]}
    connection._http_request(method="GET", path="test").read()
    result["sent_configured"] = cookies[-1] == SPEC["token"]
    result["renewed"] = connection._authenticator.auth_token == unquote(SPEC["renewed"])
    connection._http_request(method="GET", path="test").read()
    result["sent_renewed"] = cookies[-1] == unquote(SPEC["renewed"])
    connection._authenticator.auth_token = "written-token"
    connection._http_request(method="GET", path="test").read()
    result["read_renewed_again"] = connection._authenticator.auth_token == unquote(SPEC["renewed"])
    result["sent_written"] = cookies[-1]
    try:
        connection._login()
        result["login"] = "no error"
    except Exception as error:
        result["login"] = type(error).__name__
    return result


def write_auth_token_with_password_method() -> Any:
    """Upstream's test_connection: a token written into a password method's authenticator is sent."""
    from linkahead import configure_connection
    server, response_class = _mockup_resources()
    cookies = []

    def resource(**kwargs: Any) -> Any:
        cookies.append(kwargs["headers"].get("Cookie"))
        return response_class(200, {}, "ok")

    connection = configure_connection(url="unittests", username="testuser", password="testpassword",
                                      password_method="plain", implementation=server)
    connection._delegate_connection.resources.append(resource)
    connection._authenticator.auth_token = "[test-auth-token]"
    connection.retrieve(["some"]).read()
    return {"cookie": (cookies[-1] or "").rstrip(";"), "read": connection._authenticator.auth_token}


def socket_proxy_in_ini() -> Any:
    """``socket_proxy`` is in upstream's ini schema: the connection works with it."""
    import linkahead as db
    from linkahead.configuration import _reset_config
    ini = SPEC["workdir"] + "/socket_proxy.ini"
    with open(ini, "w", encoding="utf-8") as file:
        file.write(f"[Connection]\nurl = {URL}\npassword_method = unauthenticated\ntimeout = 30\n"
                   "socket_proxy = localhost:12345\n")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            db.configure(ini)
            connection = db.configure_connection()
            status = connection.retrieve(["Entity", "1"]).status
        deprecations = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)
                        and "socket_proxy" in str(w.message)]
        return {"status": status, "deprecation_warnings": len(deprecations)}
    finally:
        _reset_config()


STEPS = (no_query_in_answer, wrong_root_path, default_transport, reexports, mockup_unauthenticated,
         login_unauthenticated, mockup_auth_token, write_auth_token_with_password_method, socket_proxy_in_ini)


def main() -> None:
    for function in STEPS:
        _step(function.__name__, function)
    print(json.dumps(observed))


if __name__ == "__main__":
    main()
