"""Upstream-style password methods (issue 21): a module in upstream's ``linkahead.connection.authentication``
logs in through this connection's bridge when no plugin has its name.

One fresh environment (upstream 0.21.0, then this project's wheels, as in the install matrix) gets
four modules dropped into upstream's package, as an organisation would: a credentials-provider one
(a copy of upstream's ``plain.py``), a token one (a copy of upstream's ``auth_token.py``), one that
offers neither, and one named ``exec`` (which this project's plugin must win against).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from linkahead.testing import LinkAheadTestServer

from .conftest import Venv, Wheels
from .test_install_matrix import Matrix, pip_ours, pip_upstream

pytestmark = pytest.mark.timeout(900)

PASSWORD = "legacy-secret-7"
NEITHER = '''
def get_authentication_provider():
    return object()
'''
IMPOSTOR_EXEC = '''
from .interface import CredentialsAuthenticator, CredentialsProvider


class _Provider(CredentialsProvider):
    def configure(self, **config):
        pass

    @property
    def username(self):
        return "mallory"

    @property
    def password(self):
        return "wrong"


def get_authentication_provider():
    return CredentialsAuthenticator(_Provider())
'''
SCRIPT = '''
import json, sys, warnings
import linkahead
from linkahead import plugins
from linkahead.exceptions import LinkAheadException

kwargs = json.loads(sys.argv[1])
result = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        linkahead.configure_connection(session_cache="off", **kwargs)
        connection = linkahead.get_connection()
        connection._login()
        answer = connection.retrieve(["Info"])
        result["status"] = answer.status
        result["user"] = connection.get_username()
        result["plugin"] = repr(connection.method.plugin)
    except LinkAheadException as error:
        result["error"] = type(error).__name__ + ": " + str(error)
result["warnings"] = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
print(json.dumps(result))
'''


@pytest.fixture(scope="module")
def server() -> Iterator[LinkAheadTestServer]:
    with LinkAheadTestServer(users={"alice": PASSWORD}) as running:
        yield running


@pytest.fixture(scope="module")
def legacy_venv(compat_wheels: Wheels, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    matrix = Matrix(tmp_path_factory.mktemp("legacy"), compat_wheels, None)
    pip_upstream(matrix)
    pip_ours(matrix)
    (site,) = matrix.venv.path.glob("lib/python*/site-packages")
    authentication = site / "linkahead" / "connection" / "authentication"
    shutil.copy(authentication / "plain.py", authentication / "acmeplain.py")
    shutil.copy(authentication / "auth_token.py", authentication / "acmetoken.py")
    (authentication / "acmeneither.py").write_text(NEITHER, encoding="utf-8")
    (authentication / "exec.py").write_text(IMPOSTOR_EXEC, encoding="utf-8")
    return matrix.venv


def _run(venv: Venv, work: Path, **kwargs: Any) -> dict[str, Any]:
    done = venv.run(venv.python, "-c", SCRIPT, json.dumps(kwargs), cwd=work, env={"HOME": str(work)})
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_credentials_provider_module_logs_in_through_the_bridge(
        legacy_venv: Venv, server: LinkAheadTestServer, tmp_path: Path) -> None:
    before = server.counters.logins
    result = _run(legacy_venv, tmp_path, url=server.url, password_method="acmeplain", username="alice",
                  password=PASSWORD)
    assert result.get("error") is None, result
    assert result["status"] == 200 and result["user"] == "alice"
    assert "linkahead.connection.authentication.acmeplain" in result["plugin"]
    assert server.counters.logins - before == 1  # one login, by this connection
    assert len(result["warnings"]) == 1 and "writing-a-plugin" in result["warnings"][0]
    assert PASSWORD not in json.dumps(result)


def test_a_token_module_logs_in_through_the_bridge(legacy_venv: Venv, server: LinkAheadTestServer,
                                                   tmp_path: Path) -> None:
    token = server.make_token("alice")
    result = _run(legacy_venv, tmp_path, url=server.url, password_method="acmetoken", auth_token=token)
    assert result.get("error") is None, result
    assert result["status"] == 200 and result["user"] == "alice"
    assert token not in json.dumps(result)


def test_a_module_of_neither_family_gets_a_clear_error(legacy_venv: Venv, server: LinkAheadTestServer,
                                                       tmp_path: Path) -> None:
    result = _run(legacy_venv, tmp_path, url=server.url, password_method="acmeneither", username="alice")
    assert result["error"].startswith("PluginError"), result
    message = result["error"]
    assert "linkahead.connection.authentication.acmeneither" in message
    assert "neither a credentials provider" in message and "entry point" in message


def test_a_plugin_of_the_same_name_wins(legacy_venv: Venv, server: LinkAheadTestServer, tmp_path: Path) -> None:
    script = tmp_path / "credentials.py"
    script.write_text("import json, sys\n"
                      f"json.dump({{'version': 1, 'username': 'alice', 'password': {PASSWORD!r}}}, sys.stdout)\n",
                      encoding="utf-8")
    result = _run(legacy_venv, tmp_path, url=server.url, password_method="exec",
                  exec_command=[str(legacy_venv.python), str(script)])
    assert result.get("error") is None, result
    assert result["user"] == "alice" and result["warnings"] == []
    assert "linkahead_auth_exec" in result["plugin"]


def test_methods_lists_upstream_style_modules(legacy_venv: Venv, tmp_path: Path) -> None:
    done = legacy_venv.run(legacy_venv.script("linkahead-auth"), "methods", "--json", cwd=tmp_path,
                           env={"HOME": str(tmp_path)})
    listed = {item["name"]: item for item in json.loads(done.stdout)["upstream_style"]}
    assert listed["acmeplain"]["bridged"] and listed["acmetoken"]["bridged"]
    assert listed["acmeplain"]["module"] == "linkahead.connection.authentication.acmeplain"
    assert not listed["exec"]["bridged"] and "plugins win" in listed["exec"]["not_bridged_because"]
    assert not listed["pass"]["bridged"] and "linkahead-auth-pass" in listed["pass"]["not_bridged_because"]
    done = legacy_venv.run(legacy_venv.script("linkahead-auth"), "methods", cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert "Upstream-style password methods" in done.stdout and "acmeplain" in done.stdout
    done = legacy_venv.run(legacy_venv.script("linkahead-auth"), "doctor", cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert "acmeplain" in done.stdout and "entry points" in done.stdout, done.stdout
