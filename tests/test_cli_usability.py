"""What a user or plugin author meets when something is wrong: ``config`` on a broken configuration,
the plugin's own log under ``-v``/``debug = true``, the logout text for a plugin without ``forget``.

``linkahead-auth`` runs as a real subprocess; the plugins are real distributions (a dist-info on
``PYTHONPATH``), found through their entry points like any installed plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from linkahead.testing import LinkAheadTestServer

PASSWORD = "admin-Pa55word"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = shutil.which("linkahead-auth", path=str(Path(sys.executable).parent))
    assert script is not None, "pip install -e core"
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=60, env=environment,
                          cwd=os.getcwd(), stdin=subprocess.DEVNULL)


def write_ini(**values: str) -> Path:
    path = Path("pylinkahead.ini")
    path.write_text("[Connection]\n" + "".join(f"{key} = {value}\n" for key, value in values.items()),
                    encoding="utf-8")
    path.chmod(0o600)
    return path


def install_plugin(site: Path, package: str, method: str, source: str) -> dict[str, str]:
    """A plugin distribution ``<package>`` providing ``method``; the environment that finds it."""
    site.mkdir(exist_ok=True)
    (site / f"{package}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 0.1\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[linkahead.auth]\n{method} = {package}\n", encoding="utf-8")
    return {"PYTHONPATH": str(site)}


LOGGING_PLUGIN = """
    import logging, os
    from linkahead import PasswordCredentials, hookimpl

    logger = logging.getLogger("chatty_sso")  # named after its package, as the plugin guide says

    @hookimpl
    def get_credentials(config):
        logger.debug("fetching credentials for %s", config["url"])
        return PasswordCredentials("admin", os.environ["CHATTY_PASSWORD"])
"""


# -- config on a broken configuration -------------------------------------------------------------


def test_config_marks_every_bad_row_and_still_shows_the_table() -> None:
    ini = write_ini(url="localhost:10443", timeout="soon", pasword="hunter2-typo",
                    https_proxy="http://proxyuser:proxy-pw@127.0.0.1:3128")
    result = run("config")
    assert result.returncode == 1
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[3:] if line.strip()}
    assert result.stdout.splitlines()[3].split() == ["option", "value", "origin", "problem"]
    assert "<- invalid: 'localhost:10443' has no http:// or https:// scheme" in rows["url"]
    assert "<- required for password_method 'plain', not set" in rows["username"]
    assert "<- required for password_method 'plain', not set" in rows["password"]
    assert "<- invalid: expected a number of seconds" in rows["timeout"]
    assert rows["pasword"].split()[1] == "***"  # an unknown key may be a misspelt secret
    assert "<- unknown option; did you mean 'password'?" in rows["pasword"]
    assert "<-" not in rows["ssl_insecure"] and rows["ssl_insecure"].split()[1:3] == ["false", "default"]
    assert f"file {ini}" in rows["timeout"]
    # One error line on stderr, counting the marked rows; no secret anywhere.
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("linkahead-auth: error: ")
    assert "(5 problems marked in the table above)" in lines[0]
    for secret in ("hunter2-typo", "proxy-pw"):
        assert secret not in result.stdout + result.stderr


def test_config_with_a_missing_method_shows_the_table_and_names_the_installed_ones() -> None:
    write_ini(url="https://linkahead.example.org/", password_method="plian", plian_colour="blue")
    result = run("config")
    assert result.returncode == 1
    assert "Password method:    plian\n" in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[3:] if line.strip()}
    assert "<- No password method 'plian' is installed" in rows["password_method"]
    assert "plain" in rows["password_method"]
    assert "<-" not in rows["url"]
    assert "ignored" in rows["plian_colour"]  # the missing method's own options are not judged


def test_config_json_on_error_carries_every_option_with_its_error() -> None:
    write_ini(url="https://linkahead.example.org/", username="me", timeout="-3")
    result = run("config", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["error"]["type"] == "ConfigurationError"
    options = report["options"]
    assert all(set(entry) == {"value", "origin", "secret", "ignored", "error"} for entry in options.values())
    assert options["timeout"]["error"].startswith("invalid: ")
    assert options["password"]["error"] == "required for password_method 'plain', not set"
    assert options["url"]["error"] is None and options["url"]["value"] == "https://linkahead.example.org/"


def test_config_without_any_file_still_shows_the_defaults_and_says_url_is_missing() -> None:
    result = run("config")
    assert result.returncode == 1
    assert "Configuration file: none" in result.stdout
    assert "<- required for password_method 'plain', not set" in result.stdout
    assert "No server URL is configured" in result.stderr


def test_an_unreadable_config_file_is_one_error_line_without_a_table() -> None:
    Path("pylinkahead.ini").write_text("not an ini file\n", encoding="utf-8")
    result = run("config")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "is not valid INI" in result.stderr


# -- the plugin's own log -----------------------------------------------------------------------


def test_verbose_shows_the_selected_plugins_own_logger_redacted(linkahead_server: LinkAheadTestServer,
                                                                tmp_path: Path) -> None:
    env = install_plugin(tmp_path / "site", "chatty_sso", "chatty", LOGGING_PLUGIN)
    env["CHATTY_PASSWORD"] = PASSWORD
    write_ini(url=linkahead_server.url, password_method="chatty")
    quiet = run("status", env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "chatty_sso" not in quiet.stderr

    verbose = run("status", "-v", env=env)
    assert verbose.returncode == 0, verbose.stderr
    line = next(line for line in verbose.stderr.splitlines() if line.startswith("DEBUG chatty_sso: "))
    assert f"fetching credentials for {linkahead_server.url}" in line
    assert verbose.stderr.count("fetching credentials") == 1  # once, not once per handler
    assert PASSWORD not in verbose.stdout + verbose.stderr


def test_debug_true_in_the_ini_shows_the_plugins_logger(linkahead_server: LinkAheadTestServer,
                                                       tmp_path: Path) -> None:
    env = install_plugin(tmp_path / "site", "chatty_sso", "chatty", LOGGING_PLUGIN)
    env["CHATTY_PASSWORD"] = PASSWORD
    write_ini(url=linkahead_server.url, password_method="chatty", debug="true")
    code = "import linkahead; linkahead.get_connection().retrieve(['Info'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **env}, cwd=os.getcwd(), stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("fetching credentials for") == 1
    assert "Logged in as 'admin'" in result.stderr  # the core's own log, as before


def test_the_plugin_logger_follows_linkahead_debug_off_again(linkahead_server: LinkAheadTestServer,
                                                            tmp_path: Path) -> None:
    # In one process: debug on for one connection, then an application that logs at WARNING.
    env = install_plugin(tmp_path / "site", "chatty_sso", "chatty", LOGGING_PLUGIN)
    env["CHATTY_PASSWORD"] = PASSWORD
    code = textwrap.dedent(f"""
        import logging, linkahead
        linkahead.configure_connection(url={linkahead_server.url!r}, password_method="chatty", debug=True)
        linkahead.get_connection().retrieve(["Info"])
        logging.getLogger("linkahead").setLevel(logging.WARNING)
        linkahead.configure_connection(url={linkahead_server.url!r}, password_method="chatty")
        linkahead.get_connection().retrieve(["Info"])
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **env}, cwd=os.getcwd(), stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("fetching credentials for") == 1


# -- logout -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "expected"), [
    ("plain", "Password method 'plain' keeps nothing to forget"),
    ("chatty", "Password method 'chatty' has no forget hook: whatever it may keep for"),
])
def test_logout_says_what_it_knows_about_a_method_without_forget(linkahead_server: LinkAheadTestServer,
                                                                 tmp_path: Path, method: str, expected: str) -> None:
    env = install_plugin(tmp_path / "site", "chatty_sso", "chatty", LOGGING_PLUGIN)
    write_ini(url=linkahead_server.url, username="admin", password=PASSWORD, password_method=method)
    result = run("logout", env=env)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


# -- demo ---------------------------------------------------------------------------------------


def test_demo_labels_examples_and_third_party_methods(tmp_path: Path) -> None:
    env = install_plugin(tmp_path / "site", "chatty_sso", "chatty", LOGGING_PLUGIN)
    result = run("demo", "--method", "plain", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    ours = next(line for line in lines if line.startswith("Installed password methods: "))
    assert "plain" in ours and "chatty" not in ours and "acme-sso" not in ours
    assert "Also installed: chatty (third-party, from chatty-sso 0.1)" in lines
    # ./run setup installs the plugin guide's example from its folder; a plain pip install does not.
    from linkahead import plugins

    if "acme-sso" in plugins.installed_methods():
        assert "Also installed: acme-sso (example plugin from docs/examples/acme-sso, not for real use)" in lines
        example = run("demo", "--method", "acme-sso")
        assert "Also installed: acme-sso (example plugin from docs/examples/acme-sso" in example.stdout
        assert "  acme-sso         skipped  (needs ACME's SSO service" in example.stdout
