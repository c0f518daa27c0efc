"""What a newcomer meets first (issue 19): one-time tokens in ``status``, shell-worded advice,
``--config <(...)``, plain logout texts for the standard methods, the demo's reasons, ``serve``'s ini.

``linkahead-auth`` runs as a real subprocess against the embedded server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from linkahead.testing import LinkAheadTestServer

SCRIPT = shutil.which("linkahead-auth", path=str(Path(sys.executable).parent)) or "linkahead-auth"


def run(*args: str, pass_fds: tuple[int, ...] = (), env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, cwd=os.getcwd(),
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, stdin=subprocess.DEVNULL,
                          pass_fds=pass_fds)


def write_ini(**values: str) -> Path:
    path = Path("pylinkahead.ini")
    path.write_text("[Connection]\n" + "".join(f"{key} = {value}\n" for key, value in values.items()),
                    encoding="utf-8")
    path.chmod(0o600)
    return path


def test_status_says_before_it_uses_up_a_one_time_token(linkahead_server: LinkAheadTestServer) -> None:
    write_ini(url=linkahead_server.url, password_method="auth_token",
              auth_token=linkahead_server.make_token("admin", one_time=True))
    first = run("status")
    assert first.returncode == 0, first.stdout + first.stderr
    note = first.stdout.index("Note: auth_token is a one-time token; this check logs in with it and so uses it up.")
    assert note < first.stdout.index("admin", note)  # said before the result of the login
    # The second check meets a used token: the advice is for the shell, not for Python.
    second = run("status")
    assert second.returncode == 1
    assert "run the command again" in second.stdout
    assert "configure the connection" not in second.stdout + second.stderr


def test_status_says_nothing_about_a_session_token(linkahead_server: LinkAheadTestServer) -> None:
    write_ini(url=linkahead_server.url, password_method="auth_token",
              auth_token=linkahead_server.make_token("admin", one_time=False))
    result = run("status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "one-time" not in result.stdout


def test_config_from_process_substitution(linkahead_server: LinkAheadTestServer) -> None:
    # What bash does for --config <(pass show linkahead/ini): a pipe named /dev/fd/N.
    reader, writer = os.pipe()
    with os.fdopen(writer, "w") as pipe:
        pipe.write(f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = plain\n"
                   f"password = {linkahead_server.users['admin']}\n")
    try:
        result = run("--config", f"/dev/fd/{reader}", "status", pass_fds=(reader,))
    finally:
        os.close(reader)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no such file" not in result.stderr
    assert "admin" in result.stdout
    assert "warning" not in result.stderr  # the private copy is mode 600: no permission warning
    assert linkahead_server.users["admin"] not in result.stdout + result.stderr


def test_config_that_does_not_exist_is_still_no_such_file() -> None:
    result = run("--config", "/dev/fd/999", "config")
    assert result.returncode == 2
    assert "--config /dev/fd/999: no such file" in result.stderr


@pytest.mark.parametrize(("delete", "expected"), [
    ("false", "stays in the keyring: logging out is not forgetting"),
    ("true", "Deleted the password of admin at"),
])
def test_keyring_logout_says_what_happened(linkahead_server: LinkAheadTestServer, tmp_path: Path, delete: str,
                                           expected: str) -> None:
    pytest.importorskip("linkahead_auth_keyring")
    pytest.importorskip("keyrings.alt")
    # keyring's plain-text file backend (keyrings.alt), in the test's own data folder.
    env = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring", "XDG_DATA_HOME": str(tmp_path / "data")}
    write_ini(url=linkahead_server.url, username="admin", password_method="keyring",
              keyring_delete_on_logout=delete)
    result = run("logout", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout
    assert "see the method's documentation" not in result.stdout


def test_serve_says_to_keep_its_ini_private() -> None:
    process = subprocess.Popen([SCRIPT, "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # the banner ends with this line; reading waits for it
            lines.append(line)
            if line.startswith("Serving until"):
                break
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert any("chmod 600 pylinkahead.ini" in line for line in lines), "".join(lines)


@pytest.mark.parametrize("prompt", ["User name for ", "Password for admin at "])
def test_ctrl_c_at_an_input_prompt_ends_the_command(linkahead_server: LinkAheadTestServer, prompt: str) -> None:
    import pexpect
    from linkahead.testing.terminal import Terminal

    with Terminal(SCRIPT, ["login", "--url", linkahead_server.url, "--method", "input"],
                  env={**os.environ, "COLUMNS": "100"}, cwd=os.getcwd(), timeout=30) as child:
        if prompt.startswith("Password"):
            child.expect("User name for ")
            child.sendline("admin")
        child.expect(prompt)
        child.sendintr()
        child.expect(pexpect.EOF)  # the command ended: nothing waits for more input
        transcript = str(child.before)
    assert child.exitstatus not in (None, 0), transcript
    assert "cancelled" in transcript or "interrupted" in transcript, transcript
    assert linkahead_server.counters.logins == 0
