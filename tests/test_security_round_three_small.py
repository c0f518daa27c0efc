"""Security round three (issue 18), the smaller items: plugin identity hints, the exec contract's
headers, ``linkahead-auth serve``'s limits and password, and two warnings (``*.localhost`` in clear
text, a runtime folder on disk)."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import linkahead
import pytest
from linkahead.connection.transport import CleartextPasswordWarning
from linkahead.exceptions import ConfigurationError
from linkahead.session_store import InsecureSessionStoreWarning, in_memory
from linkahead.testing import LinkAheadTestServer

PLUGIN = """
    import linkahead
    @linkahead.hookimpl
    def get_credentials(config):
        return linkahead.PasswordCredentials(config["username"], config["password"])
"""


def register_distribution(site: Path, dist: str, method: str, module: str, source: str) -> None:
    """Lay out an installed distribution (dist-info with entry points) the way pip does."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\nSummary: test plugin\n")
    (info / "entry_points.txt").write_text(f"[linkahead.auth]\n{method} = {module}\n")
    (info / "RECORD").write_text("")


def test_the_collision_hint_names_the_impostor_not_the_genuine_plugin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linkahead_server: LinkAheadTestServer) -> None:
    register_distribution(tmp_path / "evil", "evil-plain", "plain", "evil_plain", PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path / "evil"))  # first on sys.path: the genuine one is last
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(url=linkahead_server.url, username="admin", password="x",
                                       password_method="plain")
    message = str(info.value)
    assert "pip uninstall evil-plain" in message
    assert "pip uninstall linkahead-auth-plain" not in message


SHADOW = """
import json, sys
import linkahead
c = linkahead.configure_connection(url=sys.argv[1], username="admin", password=sys.argv[2],
                                   password_method="plain", session_cache="none")
print(json.dumps({"distribution": c.method.distribution, "label": c.method.label}))
"""


def test_a_module_shadowing_a_plugin_from_the_working_folder_is_not_labelled_genuine(
        tmp_path: Path, linkahead_server: LinkAheadTestServer) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "linkahead_auth_plain.py").write_text(textwrap.dedent(PLUGIN))
    result = subprocess.run([sys.executable, "-c", SHADOW, linkahead_server.url, linkahead_server.users["admin"]],
                            cwd=folder, capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout)
    assert report["distribution"] is None
    assert "working folder" in report["label"] and "linkahead_auth_plain.py" in report["label"]
    # Without the shadow the genuine distribution is named.
    (folder / "linkahead_auth_plain.py").unlink()
    result = subprocess.run([sys.executable, "-c", SHADOW, linkahead_server.url, linkahead_server.users["admin"]],
                            cwd=folder, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(result.stdout)["distribution"] == "linkahead-auth-plain"


@pytest.mark.parametrize("name", ["Transfer-Encoding", "connection", "TE", "Upgrade", "Keep-Alive", "Trailer",
                                  "Proxy-Authorization", "Expect"])
def test_the_exec_contract_refuses_hop_by_hop_and_framing_headers(name: str) -> None:
    contract = pytest.importorskip("linkahead_auth_exec.contract")
    document = json.dumps({"version": 1, "headers": {name: "chunked"}})
    with pytest.raises(contract.ContractError, match="hop-by-hop or framing header"):
        contract.parse_output(document.encode())


def test_the_exec_contract_refuses_header_values_beyond_latin1() -> None:
    contract = pytest.importorskip("linkahead_auth_exec.contract")
    with pytest.raises(contract.ContractError, match="beyond Latin-1"):
        contract.parse_output(b'{"version": 1, "headers": {"X-User": "\\u20ac"}}')
    assert contract.parse_output(b'{"version": 1, "headers": {"X-User": "caf\\u00e9"}}') is not None


class Serve:
    """``linkahead-auth serve`` as a real process, read until its banner is complete."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "linkahead.testing", "--port", "0", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        lines = []
        for line in self.process.stdout:  # ends at the banner's last line (or when the process dies)
            lines.append(line)
            if line.startswith("Serving until"):
                break
        self.banner = "".join(lines)
        found = re.search(r"URL:\s+(http://127\.0\.0\.1:(\d+)/)", self.banner)
        assert found, self.banner + (self.process.stderr.read() if self.process.stderr else "")
        self.url, self.port = found.group(1), int(found.group(2))

    def close(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=30)


def test_serve_makes_a_random_password_and_bounds_bodies_and_idle_connections() -> None:
    serve = Serve("--idle-timeout", "0.5", "--max-body", "1000")
    try:
        password = re.search(r"admin \(password (\S+?)[,)]", serve.banner)
        assert password and password.group(1) != "admin-Pa55word" and len(password.group(1)) >= 12
        connection = linkahead.configure_connection(url=serve.url, username="admin", password=password.group(1),
                                                    session_cache="none", timeout=10)
        assert connection.retrieve(["Info"]).status == 200
        with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as client:
            client.sendall(b"POST /Entity HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
            answer = client.recv(4096)
            assert answer.startswith(b"HTTP/1.1 413")
        with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as idle:
            assert idle.recv(1) == b""  # closed by the server after 0.5 s of silence, not by our 10 s
    finally:
        serve.close()
    other = Serve()
    try:
        again = re.search(r"admin \(password (\S+?)[,)]", other.banner)
        assert again and again.group(1) != password.group(1)
    finally:
        other.close()


def test_a_cleartext_password_to_a_name_below_localhost_warns() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        linkahead.configure_connection(url="http://db.localhost:9/", username="a", password="secret-Pa55",
                                       session_cache="none")
    found = [w for w in caught if issubclass(w.category, CleartextPasswordWarning)]
    assert len(found) == 1 and "resolver" in str(found[0].message) and "secret-Pa55" not in str(found[0].message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        linkahead.configure_connection(url="http://localhost:9/", username="a", password="secret-Pa55",
                                       session_cache="none")
    assert not [w for w in caught if issubclass(w.category, CleartextPasswordWarning)]


def test_a_runtime_folder_on_disk_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       linkahead_server: LinkAheadTestServer) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    if in_memory(str(runtime)) is not False:
        pytest.skip("the temporary folder is in memory here (or the file system type is unknown)")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with pytest.warns(InsecureSessionStoreWarning, match="not in memory"):
        linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                       password=linkahead_server.users["admin"], session_cache="auto")


def test_a_runtime_folder_in_memory_is_quiet(monkeypatch: pytest.MonkeyPatch,
                                            linkahead_server: LinkAheadTestServer) -> None:
    if not os.path.isdir("/dev/shm") or in_memory("/dev/shm") is not True:
        pytest.skip("no tmpfs at /dev/shm here")
    import tempfile

    runtime = tempfile.mkdtemp(dir="/dev/shm", prefix="linkahead-runtime-")
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
        with warnings.catch_warnings():
            warnings.simplefilter("error", InsecureSessionStoreWarning)
            connection = linkahead.configure_connection(url=linkahead_server.url, username="admin",
                                                        password=linkahead_server.users["admin"],
                                                        session_cache="auto")
            assert connection.retrieve(["Info"]).status == 200
    finally:
        import shutil

        shutil.rmtree(runtime, ignore_errors=True)


def test_the_runtime_folder_is_looked_up_once_and_the_temporary_one_not_at_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linkahead_server: LinkAheadTestServer,
        caplog: pytest.LogCaptureFixture) -> None:
    """Reading /proc/self/mountinfo is not free on a node with thousands of mounts: once per runtime
    folder and process, and never for the temporary-directory store unless DEBUG is logged."""
    from linkahead import session_store

    # As in a user's script; other tests may have left the logger at DEBUG (debug = true).
    caplog.set_level(logging.INFO, logger="linkahead.connection")

    looked_up: list[str] = []
    real = session_store.file_system_type

    def counted(path: str) -> str | None:
        looked_up.append(path)
        return real(path)

    monkeypatch.setattr(session_store, "file_system_type", counted)  # a spy: the real lookup still runs
    monkeypatch.delenv("LINKAHEAD_SESSION_CACHE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    password = linkahead_server.users["admin"]
    for _ in range(3):
        linkahead.configure_connection(url=linkahead_server.url, username="admin", password=password,
                                       session_cache="auto")
    assert looked_up == []
    caplog.set_level(logging.DEBUG, logger="linkahead.connection")
    linkahead.configure_connection(url=linkahead_server.url, username="admin", password=password,
                                   session_cache="auto")
    assert looked_up == [str(tmp_path)]  # the DEBUG line names the file system
    looked_up.clear()

    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureSessionStoreWarning)  # whether it warns is tested above
        for _ in range(3):
            linkahead.configure_connection(url=linkahead_server.url, username="admin", password=password,
                                           session_cache="auto")
    assert looked_up.count(str(runtime)) in (1, 2), looked_up  # the check, and the warning's text on disk
    assert set(looked_up) == {str(runtime)}
