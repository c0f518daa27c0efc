"""Finding password methods through entry points, and what happens when a plugin is broken."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import linkahead
import pytest
from linkahead import PasswordCredentials, hookimpl
from linkahead.exceptions import PasswordMethodNotFoundError, PluginError
from linkahead.plugins import installed_methods
from linkahead.testing import LinkAheadTestServer


def register_distribution(site: Path, dist: str, method: str, module: str, source: str) -> None:
    """Lay out an installed distribution (dist-info with entry points) the way pip does."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\nSummary: test plugin\n")
    (info / "entry_points.txt").write_text(f"[linkahead.auth]\n{method} = {module}\n")
    (info / "RECORD").write_text("")


def test_unknown_method_lists_installed_ones_and_says_how_to_install() -> None:
    with pytest.raises(PasswordMethodNotFoundError) as info:
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method="globex-sso")
    message = str(info.value)
    assert message.startswith("No password method 'globex-sso' is installed (installed methods: ")
    for name in ("auth_token", "input", "plain", "unauthenticated"):
        assert name in message
    assert "pip install linkahead-auth-globex-sso" in message
    assert info.value.method == "globex-sso"


def test_typo_suggests_the_closest_installed_method() -> None:
    with pytest.raises(PasswordMethodNotFoundError) as info:
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method="plian")
    assert "Did you mean 'plain'?" in str(info.value)


def test_typo_of_a_standard_method_that_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The development environment has every standard method installed; hide `pass` from discovery
    # to see the advice a user without it gets (uninstalling it here would disturb other tests).
    installed = {name: ep for name, ep in installed_methods().items() if name != "pass"}
    monkeypatch.setattr("linkahead.plugins.installed_methods", lambda: installed)
    with pytest.raises(PasswordMethodNotFoundError) as info:
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method="pas")
    assert "Did you mean 'pass'? It is not installed: pip install linkahead-auth-pass." in str(info.value)


def test_only_the_selected_plugin_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linkahead_server: LinkAheadTestServer
) -> None:
    site = tmp_path / "site"
    good = """
        import linkahead
        @linkahead.hookimpl
        def get_credentials(config):
            return linkahead.PasswordCredentials("admin", config["password"])
    """
    register_distribution(site, "acme-good", "acme-good", "acme_good", good)
    register_distribution(site, "acme-bomb", "acme-bomb", "acme_bomb", "raise SystemExit('imported!')\n")
    monkeypatch.syspath_prepend(str(site))
    connection = linkahead.configure_connection(
        url=linkahead_server.url, password_method="acme-good", password=linkahead_server.users["admin"]
    )
    assert connection.retrieve(["Info"]).status == 200
    assert "acme_bomb" not in sys.modules
    assert connection.method.distribution == "acme-good"
    assert connection.method.version == "1.2.3"


def test_plugin_import_error_names_plugin_and_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    register_distribution(site, "acme-broken", "broken", "acme_broken", "import no_such_module_here\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError) as info:
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method="broken")
    message = str(info.value)
    assert "The password method 'broken' (distribution acme-broken" in message
    assert "cannot be imported: ModuleNotFoundError" in message
    assert "pip install --force-reinstall acme-broken" in message
    assert info.value.plugin == "broken"
    assert info.value.distribution == "acme-broken"


def test_plugin_without_get_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    register_distribution(site, "acme-empty", "empty", "acme_empty", "x = 1\n")
    monkeypatch.syspath_prepend(str(site))
    expected = r"'empty' \(distribution acme-empty\) does not implement the get_credentials"
    with pytest.raises(PluginError, match=expected):
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method="empty")


def test_plugin_with_a_misspelt_hook_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    source = """
        import linkahead
        @linkahead.hookimpl
        def get_credentials(configuration):
            return None
    """
    register_distribution(site, "acme-misspelt", "misspelt", "acme_misspelt", source)
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError, match="'misspelt' \\(distribution acme-misspelt\\) is not a valid plugin"):
        linkahead.configure_connection(url="http://127.0.0.1:1/", password_method="misspelt")


class WrongType:
    @hookimpl
    def get_credentials(self, config: Any) -> Any:
        return ("admin", "pw")


class Raises:
    @hookimpl
    def get_credentials(self, config: Any) -> Any:
        raise RuntimeError("the secret is hunter2")


def test_plugin_returning_a_wrong_type(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=WrongType())
    with pytest.raises(PluginError) as info:
        connection.retrieve(["Info"])
    assert str(info.value).startswith(
        "The password method 'WrongType' failed in get_credentials: returned a tuple, expected PasswordCredentials"
    )
    assert linkahead_server.counters.requests == 0


def test_plugin_that_raises_is_named_and_its_text_is_not_copied(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=Raises())
    with pytest.raises(PluginError) as info:
        connection.retrieve(["Info"])
    assert "The password method 'Raises' failed in get_credentials: raised RuntimeError" in str(info.value)
    assert "hunter2" not in str(info.value)
    # Neither chained nor kept as context: the plugin's exception may hold a secret.
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert " at test_discovery.py:" in str(info.value)


def test_connection_stays_usable_after_a_broken_plugin(linkahead_server: LinkAheadTestServer) -> None:
    broken = linkahead.configure_connection(url=linkahead_server.url, password_method=WrongType())
    with pytest.raises(PluginError):
        broken.retrieve(["Info"])
    connection = linkahead.configure_connection(
        url=linkahead_server.url, username="admin", password=linkahead_server.users["admin"]
    )
    assert connection.retrieve(["Info"]).status == 200


def test_plugin_object_as_password_method(linkahead_server: LinkAheadTestServer) -> None:
    calls: list[str] = []

    @hookimpl
    def get_credentials(config: Any) -> PasswordCredentials:
        calls.append(config["url"])
        return PasswordCredentials("admin", linkahead_server.users["admin"])

    plugin = SimpleNamespace(get_credentials=get_credentials, __name__="inline")
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin)
    assert connection.retrieve(["Info"]).status == 200
    assert calls == [linkahead_server.url]
    assert connection.config["password_method"] == "inline"


def test_a_real_distribution_installed_with_pip_is_selected_by_name(
    tmp_path: Path, linkahead_server: LinkAheadTestServer
) -> None:
    """Build and install a third-party plugin with pip into a separate folder and use it."""
    project = tmp_path / "initech-linkahead-sso"
    package = project / "src" / "initech_linkahead_sso"
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "initech-linkahead-sso"
        version = "0.3.0"
        dependencies = []

        [project.entry-points."linkahead.auth"]
        initech-sso = "initech_linkahead_sso"

        [tool.hatch.build.targets.wheel]
        packages = ["src/initech_linkahead_sso"]
    """))
    (package / "__init__.py").write_text(textwrap.dedent("""
        import os
        import linkahead

        @linkahead.hookimpl
        def get_credentials(config):
            return linkahead.PasswordCredentials("admin", os.environ["INITECH_PASSWORD"])
    """))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(project)],
        check=True, capture_output=True, timeout=300,
    )
    script = textwrap.dedent("""
        import os, linkahead
        connection = linkahead.configure_connection(url=os.environ["SERVER_URL"], password_method="initech-sso")
        print(connection.method.label)
        print(connection.retrieve(["Info"]).read().decode())
    """)
    env = dict(os.environ, PYTHONPATH=str(target), SERVER_URL=linkahead_server.url,
               INITECH_PASSWORD=linkahead_server.users["admin"])
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "'initech-sso' (distribution initech-linkahead-sso 0.3.0)" in result.stdout
    assert 'username="admin"' in result.stdout
