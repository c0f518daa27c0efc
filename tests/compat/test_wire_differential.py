"""The same public connection calls through upstream ``linkahead`` 0.21.0 and through this project
put the same requests on the wire (issue 11, point 2).

``drivers/wire_calls.py`` runs once in upstream's environment and once in ours (the development
environment), each against its own embedded server with a request log. Call by call, the requests
are compared: method, raw path (undecoded), raw query, body, Content-Type and the SessionToken
cookie (its spelling, percent-encoded or raw, and whose token it carries: the tokens themselves
differ between the two servers), plus the status the server answered. What the caller sees is
compared too (issue 17, point 3): success or the error's classes, its ``status``, ``body`` and
message (the server's address replaced). A difference fails unless ``EXPECTED_DIFFERENCES`` lists
it for that call with the place ``docs/migrating.rst`` gives the reason; a listed difference that
is gone fails as well.
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
    "cookie_header",
    "status_403",
    "status_404",
    "status_409",
    "status_413",
    "status_414",
    "status_431",
    "status_500",
    "no_url",
    "implementation_none",
    "login_without_cookie",
    "login_without_cookie_anonymous",
    "percent_in_ini",
    "rejected_password",
)
ANONYMOUS_SERVER_CALLS = {"login_without_cookie_anonymous"}
# Calls whose Cookie header is compared as spelled. Every call spells it the same way, so one call
# stands for all; the others compare what the cookie carries.
SPELLED_COOKIE_CALLS = {"cookie_header"}
ERROR_STATUSES = (403, 404, 409, 413, 414, 431, 500)

# Differences the project keeps on purpose, in the requests or in what the caller sees. Each row:
# call name -> {aspect: where docs/migrating.rst gives the reason}. The aspects (see _differences):
# "requests" (what the server saw), "cookie spelling", "outcome" (one side failed, or
# ``except <upstream's class>`` would not catch ours), "error class" (caught, but other base
# classes), "status" and "body" (the error's attributes), "message". A call differs in exactly the
# aspects its row lists: an aspect that matches upstream again fails (then remove it from the row
# and from docs/migrating.rst), and so does one not listed. Keep the rows few and precise.
MIGRATING = "docs/migrating.rst, 'Differences on the wire, and why'"
STATUS_CODES = f"{MIGRATING}, behaviour: Status codes"
HTTP_ERRORS = f"{MIGRATING}, behaviour: HTTP errors"
MESSAGES = f"{MIGRATING}, behaviour: Messages"
EXPECTED_DIFFERENCES: dict[str, dict[str, str]] = {
    # Ours sends the path below url without a session cookie and leaves its session alone;
    # upstream logs out, logs in again and sends the link's whole path below url (root path twice).
    "activate_user": {"requests": f"{MIGRATING}: activate_user(link)"},
    # Upstream sends Entity/.. and the HTTP library turns it into "/" (another resource); ours
    # arrives as Entity/.. . (A lone "." arrives as Entity/. from both: no row.)
    "retrieve_dotdot": {"requests": f"{MIGRATING}: '..' as a path segment"},
    # Upstream's token authenticator sends DELETE logout, its password authenticator GET.
    "logout_token": {"requests": f"{MIGRATING}: Logout with a token"},
    # Upstream percent-encodes an already encoded token again, and the server rejects it.
    "request_with_encoded_token": {"requests": f"{MIGRATING}: An auth_token given percent-encoded",
                                   "outcome": f"{MIGRATING}: An auth_token given percent-encoded"},
    # Upstream raises a bare LinkAheadException for any status but 200.
    "status_201": {"outcome": STATUS_CODES},
    "status_204": {"outcome": STATUS_CODES},
    # requests follows upstream's redirects; ours refuses them with ServerResponseError.
    "status_302": {"requests": STATUS_CODES, "outcome": STATUS_CODES},
    # Upstream ends the header with ";" (SessionToken=...;), ours does not.
    "cookie_header": {"cookie spelling": f"{MIGRATING}: The Cookie header"},
    # Ours: a ServerResponseError base, the body kept, the real status; upstream: body None, 414.
    "status_403": {"error class": HTTP_ERRORS, "body": HTTP_ERRORS, "message": MESSAGES},
    "status_404": {"error class": HTTP_ERRORS, "body": HTTP_ERRORS, "message": MESSAGES},
    "status_409": {"error class": HTTP_ERRORS, "message": MESSAGES},
    "status_413": {"error class": HTTP_ERRORS, "status": HTTP_ERRORS, "body": HTTP_ERRORS, "message": MESSAGES},
    "status_414": {"error class": HTTP_ERRORS, "body": HTTP_ERRORS, "message": MESSAGES},
    "status_431": {"error class": HTTP_ERRORS, "status": HTTP_ERRORS, "body": HTTP_ERRORS, "message": MESSAGES},
    # Upstream's HTTPServerError has neither status nor body, and the server's description as message.
    "status_500": {"error class": HTTP_ERRORS, "status": HTTP_ERRORS, "body": HTTP_ERRORS,
                   "message": STATUS_CODES},
    # Ours: ConfigurationError at configure_connection; upstream: LinkAheadConnectionError.
    "no_url": {"outcome": f"{MIGRATING}, behaviour: No url", "message": MESSAGES},
    # Ours: the default transport; upstream: ConfigurationError.
    "implementation_none": {"requests": f"{MIGRATING}, behaviour: implementation=None",
                            "outcome": f"{MIGRATING}, behaviour: implementation=None"},
    # After a login answered without a cookie and a refused request, upstream logs in twice in a row.
    "login_without_cookie": {"requests": f"{MIGRATING}, behaviour: A login answered 200 without a cookie",
                             "message": MESSAGES},
    # Upstream sends the refused password a second time before it gives up.
    "rejected_password": {"requests": f"{MIGRATING}, behaviour: A rejected password", "message": MESSAGES},
}


@dataclass(frozen=True)
class Side:
    """What one client did: per call, its outcome, the classes of the error raised (the MRO's
    names; empty when the call succeeded) and the requests the server saw."""

    outcomes: dict[str, str]
    classes: dict[str, list[str]]
    requests: dict[str, list[dict[str, Any]]]
    errors: dict[str, dict[str, Any]]
    """Per call that failed: the error's ``message`` (the server's address replaced), ``status`` and ``body``."""
    cookies: dict[str, list[str | None]]
    """Per call: each request's Cookie header as spelled."""


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


def _faults(request: RequestInfo) -> Fault | None:
    """Answers the embedded server gives before it looks for a session."""
    if request.path == "login" and b"username=nocookie" in request.body:
        return Fault(status=200, body=b"<Response/>")
    if request.path == "Activation":
        # As a LinkAhead server does: the link's own token authenticates it, a session is not needed.
        return Fault(status=200, body=b"<Response/>")
    return None


def _status_route(status: int, url: str) -> Any:
    def answer(request: RequestInfo) -> tuple[int, dict[str, str], bytes]:
        if status == 302:
            return 302, {"Location": url + "Entity/7"}, b""
        if status >= 400:
            return status, {}, f'<Response><Error code="0" description="Status {status} said so."/></Response>'.encode()
        return status, {}, b"" if status == 204 else b"<Response/>"
    return answer


def _run_side(python: Path, encode_py: Path, tmp: Path, root_path: str) -> Side:
    tmp.mkdir()
    with LinkAheadTestServer(root_path=root_path) as server:
        server.request_log = []
        server.files["x/y"] = b"the file x/y"
        server.files["x"] = b"the file x"
        server.add_user("percent", "admin-%-Pa55")
        server.fault = _faults
        for status in (201, 204, 302, *ERROR_STATUSES):
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
        errors: dict[str, dict[str, Any]] = {}
        cookies: dict[str, list[str | None]] = {}
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
                errors[call] = answer["error"]
                requests[call] = [_shape(request) for request in server.request_log[seen:]]
                cookies[call] = [request.cookie for request in server.request_log[seen:]]
        finally:
            driver.stdin.close()
            driver.wait(timeout=60)
            stderr.close()
    return Side(outcomes, classes, requests, errors, cookies)


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


def _differences(upstream: Side, ours: Side, call: str) -> set[str]:
    """The aspects (see ``EXPECTED_DIFFERENCES``) in which the two clients differ for ``call``.

    The outcome compares by class name (the two class hierarchies live in different processes):
    both succeeded, or both failed and ``except <upstream's class>`` catches ours.
    """
    found = set()
    if upstream.requests[call] != ours.requests[call]:
        found.add("requests")
    if call in SPELLED_COOKIE_CALLS and upstream.cookies[call] != ours.cookies[call]:
        found.add("cookie spelling")
    upstream_ok, ours_ok = upstream.outcomes[call] == "ok", ours.outcomes[call] == "ok"
    if upstream_ok or ours_ok:
        if upstream_ok != ours_ok:
            found.add("outcome")
        return found
    if upstream.classes[call][0] not in ours.classes[call]:
        found.add("outcome")
    elif upstream.classes[call] != ours.classes[call]:
        found.add("error class")
    for aspect in ("status", "body", "message"):
        if upstream.errors[call][aspect] != ours.errors[call][aspect]:
            found.add(aspect)
    return found


@pytest.mark.parametrize("call", CALLS)
def test_same_requests_as_upstream(sides: tuple[Side, Side], call: str) -> None:
    upstream, ours = sides
    found = _differences(upstream, ours, call)
    documented = EXPECTED_DIFFERENCES.get(call, {})
    detail = (
        f"upstream ({upstream.outcomes[call]}, {upstream.classes[call]}, {upstream.errors[call]}):\n"
        f"{json.dumps(upstream.requests[call], indent=1)}\ncookies {upstream.cookies[call]}\n"
        f"ours ({ours.outcomes[call]}, {ours.classes[call]}, {ours.errors[call]}):\n"
        f"{json.dumps(ours.requests[call], indent=1)}\ncookies {ours.cookies[call]}"
    )
    matching_again = sorted(set(documented) - found)
    if matching_again:
        pytest.fail(f"{call} now matches upstream in {matching_again}: remove them from its row in "
                    f"EXPECTED_DIFFERENCES and the difference from docs/migrating.rst "
                    f"({[documented[aspect] for aspect in matching_again]})\n{detail}")
    undocumented = sorted(found - set(documented))
    assert not undocumented, f"{call}: differs from upstream 0.21.0 in {undocumented}\n{detail}"
    if documented:
        pytest.skip(f"documented differences: {documented}")


def test_every_call_of_the_driver_is_compared() -> None:
    source = DRIVER.read_text(encoding="utf-8")
    defined = {line[4:].split("(")[0] for line in source.splitlines() if line.startswith("def ")}
    assert defined - {"main"} - {name for name in defined if name.startswith("_")} == set(CALLS)


def test_every_expected_difference_is_documented() -> None:
    migrating = (Path(__file__).resolve().parents[2] / "docs" / "migrating.rst").read_text(encoding="utf-8")
    plain = str.maketrans("", "", "'\"`*")
    for call, row in EXPECTED_DIFFERENCES.items():
        assert call in CALLS, call
        for aspect, where in row.items():
            heading = where.split(": ", 1)[-1] if ": " in where else where.rsplit("behaviour: ", 1)[-1]
            assert heading.translate(plain) in migrating.translate(plain), f"{call}, {aspect}: {heading!r}"
