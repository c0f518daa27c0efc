"""Performs public connection calls, one per command, in whichever ``linkahead`` is installed.

Run by ``test_wire_differential.py`` with upstream 0.21's interpreter and with ours. It reads one
JSON command per line on stdin (``{"call": NAME}``), performs that call, reads the whole answer and
writes one JSON line (``{"call": NAME, "outcome": "ok" | "error: <class>: <text>"}``) so that the
test knows which of the server's logged requests belong to which call. The first argument is a
JSON object: ``url``, ``password``, the tokens, the path of upstream's ``encode.py``.

Only the standard library and ``linkahead``: it must run unchanged in both environments.
"""

# mypy: ignore-errors
# (This file runs inside other interpreters; in the upstream environment ``linkahead`` is upstream's.)

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

SPEC: dict[str, Any] = json.loads(sys.argv[1])
URL: str = SPEC["url"]


def _encode_module() -> Any:
    """Upstream's multipart encoder (``linkahead.connection.encode``), ours or loaded from upstream's file."""
    try:
        from linkahead.connection import encode
        return encode
    except ImportError:
        loaded = importlib.util.spec_from_file_location("upstream_encode", SPEC["encode_py"])
        module = importlib.util.module_from_spec(loaded)
        loaded.loader.exec_module(module)
        return module


def _connection() -> Any:
    from linkahead.connection.connection import get_connection
    return get_connection()


def _configure(**kwargs: Any) -> None:
    from linkahead.connection.connection import configure_connection
    configure_connection(url=URL, timeout=30, **kwargs)


def _read(response: Any) -> None:
    response.read()


def configure_plain() -> None:
    _configure(username="admin", password=SPEC["password"], password_method="plain")


def first_request() -> None:
    _read(_connection().retrieve(["Entity", "1"]))


def retrieve_query() -> None:
    _read(_connection().retrieve(entity_uri_segments=["Entity"],
                                 query_dict={"query": "FIND Record WITH a = 'b/c' & d", "P": "0L10"}))


def retrieve_flag_none() -> None:
    # Container.retrieve(flags={"cache": None}) sends this.
    _read(_connection().retrieve(entity_uri_segments=["Entity", "1&2"], query_dict={"cache": None, "H": "x"}))


def retrieve_segments() -> None:
    _read(_connection().retrieve(["Entity", "a/b", "ä ö"]))


def retrieve_dot() -> None:
    _read(_connection().retrieve(["Entity", "."]))


def insert_positional() -> None:
    _read(_connection().insert(["Entity"], {"force": "true"}, "<Request><Record name='r'/></Request>"))


def insert_keywords() -> None:
    _read(_connection().insert(entity_uri_segment=["Entity"], body="<Request><Record/></Request>",
                               query_dict=None))


def insert_multipart() -> None:
    encode = _encode_module()
    content = io.BytesIO(b"file content\x00\xff" * 1000)
    parts = [encode.MultipartParam("FileRepresentation", "<Request><File path='x/y'/></Request>"),
             encode.MultipartParam("upload", filename="y.bin", filetype="application/octet-stream",
                                   filesize=len(content.getvalue()), fileobj=content)]
    body, headers = encode.multipart_encode(parts, boundary="fixed-boundary-for-the-comparison")
    _read(_connection().insert(entity_uri_segment=["Entity"], body=body, headers=headers, query_dict=None))


def update_positional() -> None:
    _read(_connection().update(["Entity"], None, body="<Request><Record id='1'/></Request>"))


def update_keywords() -> None:
    _read(_connection().update(entity_uri_segment=["Entity"], query_dict={"x": "1"},
                               body="<Request><Record id='2'/></Request>"))


def delete_positional() -> None:
    _read(_connection().delete(["Entity", "1&2"], {"flag": None}))


def delete_keywords() -> None:
    _read(_connection().delete(entity_uri_segments=["Entity", "3"]))


def post_form_data() -> None:
    _read(_connection().post_form_data("User", {"username": "x y", "password": None, "status": "ACTIVE"}))


def put_form_data_realm_path() -> None:
    # administration._update_user sends "User/<realm>/<name>" and relies on the slashes.
    _read(_connection().put_form_data(entity_uri_segment="User/PAM/x", params={"email": None, "status": "ACTIVE"}))


def form_data_request() -> None:
    # administration.set_server_property uses the private method.
    _read(_connection()._form_data_request(method="POST", path="_server_properties", params={"k": "v"}))


def http_request_private() -> None:
    # administration and server-side scripting call it directly.
    _read(_connection()._http_request(method="GET", path="_server_properties"))
    _read(_connection()._http_request(method="POST", path=quote("scripting"), body=b"call=x",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"}))


def download_relative() -> None:
    _read(_connection().download_file("x/y"))


def download_absolute() -> None:
    _read(_connection().download_file("/x"))


def activate_user() -> None:
    _read(_connection().activate_user(URL + "Activation?token=abc%2Fdef&x=1"))


def configure_plain_again() -> None:
    # A fresh session on both sides, whatever activate_user left behind.
    configure_plain()


def request_before_logout() -> None:
    _read(_connection().retrieve(["Entity", "6"]))


def logout() -> None:
    _connection()._logout()


def request_after_logout() -> None:
    _read(_connection().retrieve(["Entity", "2"]))


def configure_raw_token() -> None:
    _configure(auth_token=SPEC["raw_token"])


def request_with_raw_token() -> None:
    _read(_connection().retrieve(["Entity", "4"]))


def logout_token() -> None:
    _connection()._logout()


def configure_encoded_token() -> None:
    _configure(auth_token=SPEC["encoded_token"])


def request_with_encoded_token() -> None:
    _read(_connection().retrieve(["Entity", "5"]))


def retrieve_dotdot() -> None:
    _read(_connection().retrieve(["Entity", ".."]))


# -- behaviour: what the caller sees (the outcomes are compared as well as the requests) ------------

def configure_plain_for_statuses() -> None:
    configure_plain()


def status_201() -> None:
    _read(_connection().retrieve(["Status", "201"]))


def status_204() -> None:
    _read(_connection().retrieve(["Status", "204"]))


def status_302() -> None:
    _read(_connection().retrieve(["Status", "302"]))


def cookie_header() -> None:
    # The test compares this call's Cookie header as spelled (every call spells it the same way).
    _read(_connection().retrieve(["Entity", "13"]))


def status_403() -> None:
    _read(_connection().retrieve(["Status", "403"]))


def status_404() -> None:
    _read(_connection().retrieve(["Status", "404"]))


def status_409() -> None:
    _read(_connection().retrieve(["Status", "409"]))


def status_413() -> None:
    _read(_connection().retrieve(["Status", "413"]))


def status_414() -> None:
    _read(_connection().retrieve(["Status", "414"]))


def status_431() -> None:
    _read(_connection().retrieve(["Status", "431"]))


def status_500() -> None:
    _read(_connection().retrieve(["Status", "500"]))


def no_url() -> None:
    from linkahead.connection.connection import configure_connection
    configure_connection(username="admin", password=SPEC["password"], password_method="plain")
    _read(_connection().retrieve(["Entity", "8"]))


def implementation_none() -> None:
    _configure(username="admin", password=SPEC["password"], password_method="plain", implementation=None)
    _read(_connection().retrieve(["Entity", "9"]))


def login_without_cookie() -> None:
    # The server answers this user's login 200 without a Set-Cookie (upstream's MockUpServerConnection
    # does that); the requests after it carry no session and are refused.
    _configure(username="nocookie", password="any", password_method="plain")
    _read(_connection().retrieve(["Entity", "11"]))


def login_without_cookie_anonymous() -> None:
    # The same on a server that serves requests without a session as "anonymous" (the test switches
    # it on for this call): the call succeeds without a cookie.
    _configure(username="nocookie", password="any", password_method="plain")
    _read(_connection().retrieve(["Entity", "12"]))


def percent_in_ini() -> None:
    # Upstream's interpolation: "%%" in the file is one "%" in the value.
    import linkahead
    from linkahead.configuration import _reset_config
    ini = SPEC["workdir"] + "/percent.ini"
    with open(ini, "w", encoding="utf-8") as file:
        file.write(f"[Connection]\nurl = {URL}\nusername = percent\npassword_method = plain\n"
                   "password = admin-%%-Pa55\ntimeout = 30\n")
    try:
        linkahead.configure(ini)
        from linkahead.connection.connection import configure_connection
        configure_connection()
        _read(_connection().retrieve(["Entity", "10"]))
    finally:
        _reset_config()


def rejected_password() -> None:
    # The server refuses the password: how often is it sent, and what does the caller see?
    _configure(username="admin", password="not-the-password", password_method="plain")
    _read(_connection().retrieve(["Entity", "14"]))


def _normalized(text: str) -> str:
    """``text`` with the server's address replaced (the two sides run against two servers)."""
    netloc = URL.split("://", 1)[1].split("/", 1)[0]
    return text.replace(URL, "<url>/").replace(netloc, "<host>")


def _attribute(error: BaseException, name: str) -> object:
    value = getattr(error, name, "<no attribute>")
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value if value is None or isinstance(value, (str, int)) else repr(value)


def main() -> None:
    calls: dict[str, Callable[[], None]] = globals()
    for line in sys.stdin:
        name = json.loads(line)["call"]
        error_details = {}
        try:
            calls[name]()
            outcome = "ok"
            classes = []
        except Exception as error:
            outcome = f"error: {type(error).__name__}: {str(error)[:300]}"
            classes = [cls.__name__ for cls in type(error).__mro__]
            error_details = {"message": _normalized(str(error)), "status": _attribute(error, "status"),
                             "body": _attribute(error, "body")}
        sys.stdout.write(json.dumps({"call": name, "outcome": outcome, "classes": classes,
                                     "error": error_details}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
