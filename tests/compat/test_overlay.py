"""Upstream's data API runs on this connection when this project is installed over upstream 0.21.0
(issue 11, points 3 and 4): the supported install, with ``password_method`` ``plain`` and ``pass``.

The overlay environment (``linkahead==0.21.0`` from the index, then our core and plugins as
non-editable wheels, with pip) runs ``drivers/data_api.py``; the embedded server answers with the
XML stand-in (``xml_standin.py``). The driver checks what a user sees, this test what arrived.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from linkahead.testing import LinkAheadTestServer

from .conftest import Venv
from .xml_standin import XmlStandIn

# The first test that needs an environment may build it (downloads on a cold cache); each
# subprocess has its own time-out.
pytestmark = pytest.mark.timeout(600)

DRIVER = Path(__file__).parent / "drivers" / "data_api.py"
GPG = shutil.which("gpg2") or shutil.which("gpg")
PASS = shutil.which("pass")
GPGCONF = shutil.which("gpgconf")

# Sections other tools keep in the same file; upstream's get_config() must hand them out.
OTHER_SECTIONS = "\n[Container]\ndebug = 0\n\n[caoscrawler]\nsendmail = /usr/sbin/sendmail\n"


@pytest.fixture(params=["/", "/linkahead/"], ids=["root", "root-path"])
def standin(request: pytest.FixtureRequest) -> Iterator[XmlStandIn]:
    """The stand-in on a server at ``/`` and at a root path (a ``url`` with a path, as behind a proxy)."""
    with LinkAheadTestServer(root_path=request.param) as server:
        server.request_log = []
        yield XmlStandIn(server).install()


def _run_driver(venv: Venv, work: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = venv.run(venv.python, DRIVER, cwd=work, env={"HOME": str(work), **(env or {})}, timeout=120)
    assert done.returncode == 0, f"the data-API driver failed:\n{done.stderr}\n{done.stdout}"
    observed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return observed


def _check_server_side(standin: XmlStandIn, observed: dict[str, Any]) -> None:
    assert observed["connection_module"] == "linkahead.connection.connection"
    assert {"Connection", "Container", "caoscrawler"} <= set(observed["config_sections"])
    assert observed["config_url"] == standin.server.url
    assert observed["count"] == 1  # COUNT Record: the RecordType is not a Record
    assert observed["empty_unique"] == "EmptyUniqueQueryError"
    assert observed["missing"] == "EntityDoesNotExistError"
    assert observed["container_names"] == ["Sample", "sample-1"]
    # Container.retrieve(flags={"cache": None, "H": "1"}): both ids in one segment, the flag kept.
    record_id = observed["record_id"]
    retrieves = [(path, query) for method, path, query in standin.entity_requests if method == "GET" and "%26" in path]
    assert retrieves and retrieves[0][0].startswith("Entity/") and retrieves[0][1] == "cache=&H=1"
    assert standin.server.files["data/sub/upload.bin"] == bytes(range(256)) * 64 + "ünïcode".encode()
    assert observed["downloaded_bytes"] == len(standin.server.files["data/sub/upload.bin"])
    assert record_id not in standin.entities  # deleted
    # administration._update_user/_set_roles rely on "User/PAM/name" keeping its slashes.
    assert "User/PAM/new-user" in standin.user_paths and "UserRoles/PAM/new-user" in standin.user_paths
    assert 'email="y@example.com"' in observed["user_xml"]
    assert observed["roles"] == observed["roles_again"] == ["curator"]
    assert "new-user" not in standin.users
    assert observed["properties"]["TEST_PROPERTY"] == "on"
    assert observed["script_plain"] == [0, "management/test.py", "ran -Ooption=o1 -p0=pos0"]
    assert observed["script_file"][0] == 0 and "input.txt:script input" in observed["script_file"][1]


def test_data_api_with_plain(overlay_venv: Venv, standin: XmlStandIn, tmp_path: Path) -> None:
    server = standin.server
    (tmp_path / "pylinkahead.ini").write_text(
        f"[Connection]\nurl = {server.url}\nusername = admin\npassword_method = plain\n"
        f"password = {server.users['admin']}\ntimeout = 30\n{OTHER_SECTIONS}", encoding="utf-8")
    observed = _run_driver(overlay_venv, tmp_path)
    assert observed["password_method"] == "plain"
    _check_server_side(standin, observed)
    assert server.counters.logins == 1


def _gpg(home: str, *args: str) -> None:
    assert GPG is not None
    subprocess.run([GPG, "--homedir", home, "--batch", "--no-tty", *args], capture_output=True, timeout=60,
                   check=True)


@pytest.fixture
def pass_store(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A GnuPG home with a key without passphrase and a store made by the real ``pass``: the env for it."""
    if GPG is None or PASS is None or GPGCONF is None:
        pytest.skip("needs gpg, gpgconf and pass (Debian packages gnupg and pass)")
    home = tempfile.mkdtemp(prefix="gpg")  # short: the agent's socket path has a length limit
    try:
        Path(home, "gpg-agent.conf").write_text("s2k-count 65536\n", encoding="utf-8")
        _gpg(home, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
             "compat <compat@localhost.invalid>", "future-default", "default", "never")
        env = {"GNUPGHOME": home, "PASSWORD_STORE_DIR": str(tmp_path / "store")}
        yield env
    finally:
        assert GPGCONF is not None
        subprocess.run([GPGCONF, "--homedir", home, "--kill", "gpg-agent"], capture_output=True, timeout=30,
                       check=False)
        shutil.rmtree(home, ignore_errors=True)


def _pass(env: dict[str, str], *args: str, stdin: str = "") -> None:
    assert PASS is not None
    full = {**os.environ, **env}
    full.pop("PASSWORD_STORE_GPG_OPTS", None)
    subprocess.run([PASS, *args], input=stdin.encode(), env=full, capture_output=True, timeout=60, check=True)


def test_data_api_with_pass(overlay_venv: Venv, standin: XmlStandIn, pass_store: dict[str, str],
                            tmp_path: Path) -> None:
    server = standin.server
    _pass(pass_store, "init", "compat@localhost.invalid")
    _pass(pass_store, "insert", "--force", "--multiline", "linkahead/admin",
          stdin=f"{server.users['admin']}\nlogin: admin\n")
    (tmp_path / "pylinkahead.ini").write_text(
        f"[Connection]\nurl = {server.url}\nusername = admin\npassword_method = pass\n"
        f"password_identifier = linkahead/admin\ntimeout = 30\n{OTHER_SECTIONS}", encoding="utf-8")
    observed = _run_driver(overlay_venv, tmp_path, pass_store)
    assert observed["password_method"] == "pass"
    _check_server_side(standin, observed)
    assert server.counters.logins == 1


def test_linkahead_auth_methods_in_the_overlay(overlay_venv: Venv, tmp_path: Path) -> None:
    done = overlay_venv.run(overlay_venv.script("linkahead-auth"), "methods", cwd=tmp_path,
                            env={"HOME": str(tmp_path)})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "plain" in output and "pass" in output
    assert "Traceback" not in output


def test_upstream_data_api_is_exposed_next_to_ours(overlay_venv: Venv, tmp_path: Path) -> None:
    code = (
        "import linkahead as db, linkahead.apiutils, linkahead.common.models as m\n"
        "from linkahead.exceptions import CaosDBException, EmptyUniqueQueryError, TransactionError\n"
        "from linkahead import configure_connection, hookimpl, PasswordCredentials\n"
        "assert issubclass(EmptyUniqueQueryError, CaosDBException)\n"
        "for name in ('Record', 'Container', 'execute_query', 'administration', 'find', 'File',\n"
        "             'get_entity_by_name', 'get_config', 'configure'):\n"
        "    assert hasattr(db, name), name\n"
        "print(db.__version__)\n"
    )
    done = overlay_venv.run(overlay_venv.python, "-c", code, cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
