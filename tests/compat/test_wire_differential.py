"""The same public connection calls through upstream ``linkahead`` 0.21.0 and through this project
put the same requests on the wire (issue 11, point 2).

``drivers/wire_calls.py`` runs once in upstream's environment and once in ours (the development
environment), each against its own embedded server with a request log. Call by call, the requests
are compared: method, raw path (undecoded), raw query, body, Content-Type and the SessionToken
cookie (its spelling, percent-encoded or raw, and whose token it carries: the tokens themselves
differ between the two servers), plus the status the server answered. A difference fails unless
``EXPECTED_DIFFERENCES`` lists the call with the reason ``docs/migrating.rst`` gives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from linkahead.testing import Fault, LinkAheadTestServer, RequestInfo
from linkahead.testing.server import LoggedRequest

from .conftest import Venv, clean_env

# The first test that needs an environment may build it (downloads on a cold cache); each
# subprocess has its own time-out.
pytestmark = pytest.mark.timeout(600)

DRIVER = Path(__file__).parent / "drivers" / "wire_calls.py"

CALLS = (
    "configure_plain",
    "first_request",
    "retrieve_query",
    "retrieve_flag_none",
    "retrieve_segments",
    "retrieve_dot",
    "retrieve_dotdot",
    "insert_positional",
    "insert_keywords",
    "insert_multipart",
    "update_positional",
    "update_keywords",
    "delete_positional",
    "delete_keywords",
    "post_form_data",
    "put_form_data_realm_path",
    "form_data_request",
    "http_request_private",
    "download_relative",
    "download_absolute",
    "activate_user",
    "configure_plain_again",
    "request_before_logout",
    "logout",
    "request_after_logout",
    "configure_raw_token",
    "request_with_raw_token",
    "logout_token",
    "configure_encoded_token",
    "request_with_encoded_token",
    "configure_plain_for_statuses",
    "status_201",
    "status_204",
    "status_302",
    "no_url",
    "implementation_none",
    "login_without_cookie",
    "login_without_cookie_anonymous",
    "percent_in_ini",
)
ANONYMOUS_SERVER_CALLS = {"login_without_cookie_anonymous"}

# Differences the project keeps on purpose, in the requests or in what the caller sees. Each row:
# call name -> where docs/migrating.rst gives the reason. A call listed here may differ in any way,
# and fails once it matches upstream again (then remove the row). Keep the rows few and precise.
MIGRATING = "docs/migrating.rst, 'Differences on the wire, and why'"
EXPECTED_DIFFERENCES: dict[str, str] = {
    # Ours sends the path below url without a session cookie and leaves its session alone;
    # upstream logs out, logs in again and sends the link's whole path below url (root path twice).
    "activate_user": f"{MIGRATING}: activate_user(link)",
    # Upstream sends Entity/.. and the HTTP library turns it into "/" (another resource); ours
    # arrives as Entity/.. . (A lone "." arrives as Entity/. from both: no row.)
    "retrieve_dotdot": f"{MIGRATING}: '..' as a path segment",
    # Upstream's token authenticator sends DELETE logout, its password authenticator GET.
    "logout_token": f"{MIGRATING}: Logout with a token",
    # Upstream percent-encodes an already encoded token again, and the server rejects it.
    "request_with_encoded_token": f"{MIGRATING}: An auth_token given percent-encoded",
    # Upstream raises a bare LinkAheadException for any status but 200.
    "status_201": f"{MIGRATING}, behaviour: Status codes",
    "status_204": f"{MIGRATING}, behaviour: Status codes",
    # requests follows upstream's redirects; ours refuses them with ServerResponseError.
    "status_302": f"{MIGRATING}, behaviour: Status codes",
    # Ours: ConfigurationError at configure_connection; upstream: LinkAheadConnectionError.
    "no_url": f"{MIGRATING}, behaviour: No url",
    # Ours: the default transport; upstream: ConfigurationError.
    "implementation_none": f"{MIGRATING}, behaviour: implementation=None",
    # After a login answered without a cookie and a refused request, upstream logs in twice in a row.
    "login_without_cookie": f"{MIGRATING}, behaviour: A login answered 200 without a cookie",
}


@dataclass(frozen=True)
class Side:
    """What one client did: per call, its outcome, the classes of the error raised (the MRO's
    names; empty when the call succeeded) and the requests the server saw."""

    outcomes: dict[str, str]
    classes: dict[str, list[str]]
    requests: dict[str, list[dict[str, Any]]]


def _cookie_shape(header: str | None) -> str | None:
    """The cookie header with each token replaced by what it is: tokens differ between servers."""
    if header is None:
        return None
    shaped = []
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if not name:
            continue  # upstream ends the header with ";": no difference on the wire that matters
        if name != "SessionToken":
            shaped.append(part.strip())
            continue
        spelling = "raw" if any(char in value for char in '"[], ') else "percent-encoded"
        try:
            fields = json.loads(unquote(value)) if spelling == "percent-encoded" else json.loads(value)
            described = f"{fields[0]} token of {fields[2]}"
        except (ValueError, IndexError, TypeError, KeyError):
            described = "no token"
        shaped.append(f"SessionToken=<{spelling} {described}>")
    return "; ".join(shaped)


def _shape(request: LoggedRequest) -> dict[str, Any]:
    body = request.body
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "content_type": request.content_type,
        "body": body.decode("utf-8", "backslashreplace"),
        "cookie": _cookie_shape(request.cookie),
        "status": request.status,
    }


def _login_without_cookie(request: RequestInfo) -> Fault | None:
    if request.path == "login" and b"username=nocookie" in request.body:
        return Fault(status=200, body=b"<Response/>")
    return None


def _status_route(status: int, url: str) -> Any:
    def answer(request: RequestInfo) -> tuple[int, dict[str, str], bytes]:
        if status == 302:
            return 302, {"Location": url + "Entity/7"}, b""
        return status, {}, b"" if status == 204 else b"<Response/>"
    return answer


def _run_side(python: Path, encode_py: Path, tmp: Path, root_path: str) -> Side:
    tmp.mkdir()
    with LinkAheadTestServer(root_path=root_path) as server:
        server.request_log = []
        server.files["x/y"] = b"the file x/y"
        server.files["x"] = b"the file x"
        server.add_user("percent", "admin-%-Pa55")
        server.fault = _login_without_cookie
        for status in (201, 204, 302):
            server.routes[("GET", f"Status/{status}")] = _status_route(status, server.url)
        spec = {
            "url": server.url,
            "password": server.users["admin"],
            "raw_token": server.make_token("admin", one_time=True),
            "encoded_token": quote(server.make_token("admin", one_time=True), safe=""),
            "encode_py": str(encode_py),
            "workdir": str(tmp),
        }
        stderr = (tmp / "stderr.txt").open("w")
        driver = subprocess.Popen([str(python), str(DRIVER), json.dumps(spec)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=tmp,
                                  env=clean_env({"HOME": str(tmp)}))
        assert driver.stdin is not None and driver.stdout is not None
        outcomes: dict[str, str] = {}
        classes: dict[str, list[str]] = {}
        requests: dict[str, list[dict[str, Any]]] = {}
        try:
            for call in CALLS:
                seen = len(server.request_log)
                server.anonymous = call in ANONYMOUS_SERVER_CALLS
                driver.stdin.write(json.dumps({"call": call}) + "\n")
                driver.stdin.flush()
                line = driver.stdout.readline()
                if not line:
                    stderr.flush()
                    raise AssertionError(f"{python} driver died at {call}:\n{(tmp / 'stderr.txt').read_text()}")
                answer = json.loads(line)
                outcomes[call] = answer["outcome"]
                classes[call] = answer["classes"]
                requests[call] = [_shape(request) for request in server.request_log[seen:]]
        finally:
            driver.stdin.close()
            driver.wait(timeout=60)
            stderr.close()
    return Side(outcomes, classes, requests)


@pytest.fixture(scope="module", params=["/", "/linkahead/"], ids=["root", "root-path"])
def sides(request: pytest.FixtureRequest, upstream_venv: Venv,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    """Both clients' calls against a server at ``/`` and at a root path (``url`` with a path)."""
    root_path: str = request.param
    tmp = tmp_path_factory.mktemp("wire")
    done = upstream_venv.run(upstream_venv.python, "-c",
                             "import linkahead.connection.encode as e; print(e.__file__)", check=True)
    encode_py = Path(done.stdout.strip())
    upstream = _run_side(upstream_venv.python, encode_py, tmp / "upstream", root_path)
    ours = _run_side(Path(sys.executable), encode_py, tmp / "ours", root_path)
    yield upstream, ours


def _same_outcome(upstream: Side, ours: Side, call: str) -> bool:
    """Both succeeded, or both failed and ``except <upstream's class>`` catches ours (by name: the
    two class hierarchies live in different processes)."""
    if upstream.outcomes[call] == "ok" or ours.outcomes[call] == "ok":
        return upstream.outcomes[call] == ours.outcomes[call]
    return upstream.classes[call][0] in ours.classes[call]


@pytest.mark.parametrize("call", CALLS)
def test_same_requests_as_upstream(sides: tuple[Side, Side], call: str) -> None:
    upstream, ours = sides
    same = upstream.requests[call] == ours.requests[call] and _same_outcome(upstream, ours, call)
    if call in EXPECTED_DIFFERENCES:
        if same:
            pytest.fail(f"{call} now matches upstream: remove its row from EXPECTED_DIFFERENCES "
                        f"and the difference from docs/migrating.rst ({EXPECTED_DIFFERENCES[call]})")
        pytest.skip(f"documented difference: {EXPECTED_DIFFERENCES[call]}")
    assert same, (
        f"{call}: the requests or the outcome differ from upstream 0.21.0's\n"
        f"upstream ({upstream.outcomes[call]}):\n{json.dumps(upstream.requests[call], indent=1)}\n"
        f"ours ({ours.outcomes[call]}):\n{json.dumps(ours.requests[call], indent=1)}"
    )


def test_every_call_of_the_driver_is_compared() -> None:
    source = DRIVER.read_text(encoding="utf-8")
    defined = {line[4:].split("(")[0] for line in source.splitlines() if line.startswith("def ")}
    assert defined - {"main"} - {name for name in defined if name.startswith("_")} == set(CALLS)


def test_every_expected_difference_is_documented() -> None:
    migrating = (Path(__file__).resolve().parents[2] / "docs" / "migrating.rst").read_text(encoding="utf-8")
    for call, where in EXPECTED_DIFFERENCES.items():
        heading = where.split(": ", 1)[-1] if ": " in where else where.rsplit("behaviour: ", 1)[-1]
        plain = str.maketrans("", "", "'\"`*")
        assert heading.translate(plain) in migrating.translate(plain), f"{call}: {heading!r} not in migrating.rst"
