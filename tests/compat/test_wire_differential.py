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
from linkahead.testing import LinkAheadTestServer
from linkahead.testing.server import LoggedRequest

from .conftest import Venv, clean_env

DRIVER = Path(__file__).parent / "drivers" / "wire_calls.py"

CALLS = (
    "configure_plain",
    "first_request",
    "retrieve_query",
    "retrieve_flag_none",
    "retrieve_segments",
    "retrieve_dot",
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
)

# Differences the project keeps on purpose. Each row: call name -> the reason, as documented in
# docs/migrating.rst (section named in the text). A call listed here may differ in any way;
# keep the rows few and the reasons precise. Empty: every call must match upstream.
EXPECTED_DIFFERENCES: dict[str, str] = {
}


@dataclass(frozen=True)
class Side:
    """What one client did: per call, its outcome and the requests the server saw."""

    outcomes: dict[str, str]
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


def _run_side(python: Path, encode_py: Path, tmp: Path) -> Side:
    tmp.mkdir()
    with LinkAheadTestServer() as server:
        server.request_log = []
        server.files["x/y"] = b"the file x/y"
        server.files["x"] = b"the file x"
        spec = {
            "url": server.url,
            "password": server.users["admin"],
            "raw_token": server.make_token("admin", one_time=True),
            "encoded_token": quote(server.make_token("admin", one_time=True), safe=""),
            "encode_py": str(encode_py),
        }
        stderr = (tmp / "stderr.txt").open("w")
        driver = subprocess.Popen([str(python), str(DRIVER), json.dumps(spec)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=tmp,
                                  env=clean_env({"HOME": str(tmp)}))
        assert driver.stdin is not None and driver.stdout is not None
        outcomes: dict[str, str] = {}
        requests: dict[str, list[dict[str, Any]]] = {}
        try:
            for call in CALLS:
                seen = len(server.request_log)
                driver.stdin.write(json.dumps({"call": call}) + "\n")
                driver.stdin.flush()
                line = driver.stdout.readline()
                if not line:
                    stderr.flush()
                    raise AssertionError(f"{python} driver died at {call}:\n{(tmp / 'stderr.txt').read_text()}")
                outcomes[call] = json.loads(line)["outcome"]
                requests[call] = [_shape(request) for request in server.request_log[seen:]]
        finally:
            driver.stdin.close()
            driver.wait(timeout=60)
            stderr.close()
    return Side(outcomes, requests)


@pytest.fixture(scope="module")
def sides(upstream_venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    tmp = tmp_path_factory.mktemp("wire")
    done = upstream_venv.run(upstream_venv.python, "-c",
                             "import linkahead.connection.encode as e; print(e.__file__)", check=True)
    encode_py = Path(done.stdout.strip())
    upstream = _run_side(upstream_venv.python, encode_py, tmp / "upstream")
    ours = _run_side(Path(sys.executable), encode_py, tmp / "ours")
    yield upstream, ours


def _outcome_kind(outcome: str) -> str:
    return "ok" if outcome == "ok" else "error"


@pytest.mark.parametrize("call", CALLS)
def test_same_requests_as_upstream(sides: tuple[Side, Side], call: str) -> None:
    upstream, ours = sides
    same = (upstream.requests[call] == ours.requests[call]
            and _outcome_kind(upstream.outcomes[call]) == _outcome_kind(ours.outcomes[call]))
    if call in EXPECTED_DIFFERENCES:
        if same:
            pytest.fail(f"{call} now matches upstream: remove its row from EXPECTED_DIFFERENCES "
                        f"and the difference from docs/migrating.rst ({EXPECTED_DIFFERENCES[call]})")
        pytest.skip(f"documented difference: {EXPECTED_DIFFERENCES[call]}")
    assert same, (
        f"{call}: the requests differ from upstream 0.21.0's\n"
        f"upstream ({upstream.outcomes[call]}):\n{json.dumps(upstream.requests[call], indent=1)}\n"
        f"ours ({ours.outcomes[call]}):\n{json.dumps(ours.requests[call], indent=1)}"
    )


def test_every_call_of_the_driver_is_compared() -> None:
    source = DRIVER.read_text(encoding="utf-8")
    defined = {line[4:].split("(")[0] for line in source.splitlines() if line.startswith("def ")}
    assert defined - {"main"} - {name for name in defined if name.startswith("_")} == set(CALLS)
