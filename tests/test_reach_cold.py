"""Cold start (issue 20): the entry-point cache, pluggy imported at the first hook call, plugin
errors still at configure time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import linkahead
import pytest
from linkahead import plugins
from linkahead.exceptions import PluginError
from linkahead.testing import LinkAheadTestServer


def _cache_files() -> list[Path]:
    return sorted((Path.home() / ".cache" / "linkahead").glob("entry-points-*.json"))


def _summary(found: plugins.InstalledMethods) -> dict[str, list[tuple[str, str | None]]]:
    return {name: [(ep.value, plugins._dist_name(ep)) for ep in providers]
            for name, providers in found.providers.items()}


def test_the_second_scan_comes_from_the_cache_with_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    first = plugins.installed_methods()
    assert len(_cache_files()) == 1
    assert (_cache_files()[0].stat().st_mode & 0o777) == 0o600

    def no_scan(paths: list[str]) -> plugins.InstalledMethods:
        raise AssertionError("scanned although the cache is valid")

    monkeypatch.setattr(plugins, "_scan", no_scan)
    second = plugins.installed_methods()
    assert _summary(second) == _summary(first)
    assert {name: ep.value for name, ep in second.items()} == {name: ep.value for name, ep in first.items()}
    assert "plain" in second and plugins.load_method("plain", second).name == "plain"


def test_installing_a_distribution_is_noticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    assert "reach-extra" not in plugins.installed_methods()
    info = folder / "reach_extra-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reach-extra\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[linkahead.auth]\nreach-extra = reach_extra_plugin\n")
    assert plugins.installed_methods()["reach-extra"].value == "reach_extra_plugin"


@pytest.mark.parametrize("damage", ["writable by others", "corrupt", "foreign format"])
def test_a_cache_that_is_not_trustworthy_is_ignored(damage: str) -> None:
    honest = _summary(plugins.installed_methods())
    cache = _cache_files()[0]
    data = json.loads(cache.read_text())
    # A planted entry would make "plain" import os.system's module: it must never be used.
    data["methods"] = [["plain", [["os:system", data["methods"][0][1][0][1]]]]]
    if damage == "writable by others":
        cache.write_text(json.dumps(data))
        cache.chmod(0o666)
    elif damage == "corrupt":
        cache.write_text(json.dumps(data)[:40])
    else:
        data["format"] = 99
        cache.write_text(json.dumps(data))
    assert _summary(plugins.installed_methods()) == honest


def test_no_home_means_no_cache_and_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    honest = _summary(plugins.installed_methods())
    monkeypatch.setenv("HOME", "/nonexistent")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert _summary(plugins.installed_methods()) == honest


def test_pluggy_is_imported_only_at_the_first_hook_call(linkahead_server: LinkAheadTestServer) -> None:
    code = ("import sys, linkahead\n"
            f"linkahead.configure_connection(url={linkahead_server.url!r}, username='admin', "
            f"password={linkahead_server.users['admin']!r}, session_cache='none')\n"
            "print('pluggy' in sys.modules, 'inspect' in sys.modules, 'importlib.metadata' in sys.modules)\n"
            "linkahead.get_connection().retrieve(['Info']).read()\n"
            "print('pluggy' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    pluggy_after_configure, inspect_loaded, metadata_loaded, pluggy_after_request = result.stdout.split()
    assert (pluggy_after_configure, pluggy_after_request) == ("False", "True")
    # inspect stays off our path; from 3.13 on importlib.metadata (which requests loads) imports it.
    assert inspect_loaded == "False" or metadata_loaded == "True"


def _module(name: str, **functions: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for attribute, value in functions.items():
        setattr(module, attribute, value)
    return module


def test_plugin_errors_still_surface_at_configure_time(linkahead_server: LinkAheadTestServer) -> None:
    @linkahead.hookimpl
    def get_credentials(configuration: object) -> None:  # a misspelt argument name
        return None

    @linkahead.hookimpl
    def get_credential(config: object) -> None:  # a misspelt hook name
        return None

    @linkahead.hookimpl
    def declare_options() -> list[linkahead.Option]:
        return []

    for module, wanted in ((_module("misspelt_argument", get_credentials=get_credentials), "configuration"),
                           (_module("misspelt_hook", get_credential=get_credential), "get_credential"),
                           (_module("no_get_credentials", declare_options=declare_options), "get_credentials")):
        with pytest.raises(PluginError, match=wanted):
            linkahead.configure_connection(url=linkahead_server.url, password_method=module, session_cache="none")


def test_configuring_pass_keyring_or_exec_imports_none_of_their_tools(linkahead_server: LinkAheadTestServer,
                                                                      tmp_path: Path) -> None:
    """With a stored session nothing is decrypted, read from a keyring or run: python-gnupg,
    keyring and the exec runner (subprocess, selectors) are imported when credentials are needed."""
    code = ("import sys, linkahead\n"
            "url = sys.argv[1]\n"
            "linkahead.configure_connection(url=url, username='admin', password_method='pass', "
            "password_identifier='linkahead/admin', session_cache='none')\n"
            "linkahead.configure_connection(url=url, username='admin', password_method='keyring', "
            "session_cache='none')\n"
            "linkahead.configure_connection(url=url, password_method='exec', exec_command=[sys.executable, '-V'], "
            "session_cache='none')\n"
            "tools = ['gnupg', 'keyring', 'linkahead_auth_pass.decrypt', 'linkahead_auth_exec.runner', 'getpass']\n"
            "print(sorted(name for name in tools if name in sys.modules))\n"
            "print(sorted(name for name in ('linkahead_auth_pass', 'linkahead_auth_keyring', 'linkahead_auth_exec') "
            "if name in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code, linkahead_server.url], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tools, plugin_modules = result.stdout.splitlines()
    assert tools == "[]"
    assert plugin_modules == "['linkahead_auth_exec', 'linkahead_auth_keyring', 'linkahead_auth_pass']"
