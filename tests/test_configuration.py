"""Configuration: discovery order, merging, typed options and the errors for bad input."""

from __future__ import annotations

from pathlib import Path

import linkahead
import pytest
from linkahead.configuration import collect, config_file_candidates, find_config_file
from linkahead.exceptions import ConfigurationError, PasswordMethodNotFoundError
from linkahead.testing import LinkAheadTestServer

INI = """\
[Connection]
url = {url}
username = admin
password_method = plain
password = {password}
"""


def write_ini(path: Path, server: LinkAheadTestServer, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(INI.format(url=server.url, password=server.users["admin"]) + extra)
    return path


@pytest.mark.parametrize(
    "location",
    [
        "env",
        "cwd",
        "cwd-hidden",
        "xdg",
        "home-config",
        "home-hidden",
    ],
)
def test_each_discovery_location_is_found_and_used(
    location: str, linkahead_server: LinkAheadTestServer, linkahead_isolated: Path,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    home = linkahead_isolated
    targets = {
        "env": tmp_path / "elsewhere" / "my.ini",
        "cwd": Path.cwd() / "pylinkahead.ini",
        "cwd-hidden": Path.cwd() / ".pylinkahead.ini",
        "xdg": tmp_path / "xdg" / "linkahead" / "pylinkahead.ini",
        "home-config": home / ".config" / "linkahead" / "pylinkahead.ini",
        "home-hidden": home / ".pylinkahead.ini",
    }
    target = write_ini(targets[location], linkahead_server)
    if location == "env":
        monkeypatch.setenv("PYLINKAHEADINI", str(target))
    if location == "xdg":
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))

    assert find_config_file() is not None
    assert find_config_file().resolve() == target.resolve()  # type: ignore[union-attr]
    response = linkahead.get_connection().retrieve(["Info"])
    assert response.status == 200
    assert b'username="admin"' in response.read()


def test_the_first_existing_file_wins(linkahead_server: LinkAheadTestServer, linkahead_isolated: Path) -> None:
    write_ini(linkahead_isolated / ".pylinkahead.ini", linkahead_server, "timeout = 5\n")
    write_ini(Path.cwd() / "pylinkahead.ini", linkahead_server, "timeout = 7\n")
    config = linkahead.configure_connection().config
    assert config["timeout"] == 7.0
    assert config.origin("timeout") == f"file {Path('pylinkahead.ini')}"


def test_candidates_follow_the_legacy_order(linkahead_isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/xdg")
    assert [str(p) for p in config_file_candidates()] == [
        "pylinkahead.ini",
        ".pylinkahead.ini",
        "/xdg/linkahead/pylinkahead.ini",
        f"{linkahead_isolated}/.config/linkahead/pylinkahead.ini",
        f"{linkahead_isolated}/.pylinkahead.ini",
    ]


def test_keyword_arguments_override_the_file_which_overrides_defaults(
    linkahead_server: LinkAheadTestServer,
) -> None:
    write_ini(Path("pylinkahead.ini"), linkahead_server, "timeout = (3, 30)\nssl_insecure = false\n")
    config = linkahead.configure_connection(timeout=None).config
    assert config["timeout"] is None
    assert config.origin("timeout") == "argument"
    assert config["ssl_insecure"] is False
    assert config["username"] == "admin"
    assert config.origin("debug") == "default"


def test_other_tools_sections_are_tolerated(linkahead_server: LinkAheadTestServer) -> None:
    extra = "\n[Container]\ndebug = 1\n[Misc]\nsendmail = /usr/sbin/sendmail\n[caoscrawler]\nfoo = bar\n"
    write_ini(Path("pylinkahead.ini"), linkahead_server, extra)
    assert linkahead.get_connection().retrieve(["Info"]).status == 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30", 30.0), ("(3, 30)", (3.0, 30.0)), ("null", None), ("none", None), ("2.5", 2.5), ("[1, 2]", (1.0, 2.0))],
)
def test_timeout_forms_in_the_ini(text: str, expected: object, linkahead_server: LinkAheadTestServer) -> None:
    write_ini(Path("pylinkahead.ini"), linkahead_server, f"timeout = {text}\n")
    assert linkahead.configure_connection().config["timeout"] == expected


def test_timeout_forms_as_arguments(linkahead_server: LinkAheadTestServer) -> None:
    common = {"url": linkahead_server.url, "username": "admin", "password": "x"}
    assert linkahead.configure_connection(timeout=12, **common).config["timeout"] == 12.0
    assert linkahead.configure_connection(timeout=(1, 2), **common).config["timeout"] == (1.0, 2.0)
    assert linkahead.configure_connection(timeout=None, **common).config["timeout"] is None
    assert linkahead.configure_connection(**common).config["timeout"] == 210.0


def test_bad_timeout_text_names_file_option_and_forms(linkahead_server: LinkAheadTestServer) -> None:
    write_ini(Path("pylinkahead.ini"), linkahead_server, "timeout = soon\n")
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection()
    message = str(info.value)
    assert "Invalid timeout = 'soon'" in message
    assert "pylinkahead.ini" in message
    assert "(connect, read) pair" in message


def test_pylinkahead_ini_naming_a_missing_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYLINKAHEADINI", str(tmp_path / "nope.ini"))
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(url="http://127.0.0.1:1/", username="a", password="b")
    assert "PYLINKAHEADINI names the configuration file" in str(info.value)
    assert "nope.ini" in str(info.value)
    assert "unset PYLINKAHEADINI" in str(info.value)


def test_malformed_ini_names_the_file_and_line() -> None:
    Path("pylinkahead.ini").write_text("[Connection]\nurl = http://x/\nthis line has no equals sign\n")
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection()
    message = str(info.value)
    assert "pylinkahead.ini" in message
    assert "is not valid INI" in message
    assert "line 3" in message


def test_ini_without_section_header() -> None:
    Path("pylinkahead.ini").write_text("url = http://x/\n")
    with pytest.raises(ConfigurationError, match=r"is not valid INI: line 1 comes before any \[section\] header"):
        linkahead.configure_connection()


def test_unknown_ini_key_suggests_the_closest(linkahead_server: LinkAheadTestServer) -> None:
    write_ini(Path("pylinkahead.ini"), linkahead_server, "pasword_identifier = x\n")
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection()
    message = str(info.value)
    assert "Unknown option 'pasword_identifier'" in message
    assert "from file pylinkahead.ini" in message
    assert "Did you mean 'password_identifier'?" in message


def test_unknown_keyword_argument_suggests_the_closest(linkahead_server: LinkAheadTestServer) -> None:
    expected = r"Unknown option 'usrname' \(keyword argument\)\. Did you mean 'username'\?"
    with pytest.raises(ConfigurationError, match=expected):
        linkahead.configure_connection(url=linkahead_server.url, usrname="admin", password="x")


def test_options_of_other_installed_methods_are_tolerated(linkahead_server: LinkAheadTestServer) -> None:
    # A file written for the keyring or exec method keeps working when plain is selected.
    write_ini(Path("pylinkahead.ini"), linkahead_server, "keyring_service = x\nexec_timeout = 3\n")
    assert linkahead.get_connection().retrieve(["Info"]).status == 200


def test_missing_url() -> None:
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(username="admin", password="x")
    message = str(info.value)
    assert "The option 'url' is required" in message
    assert "url=..." in message


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("localhost:10443", "has no http:// or https:// scheme; write it like https://localhost:10443"),
        ("ftp://host/", "has no http:// or https:// scheme"),
        ("https://", "has no host name"),
        ("https://host:99999/", "is not a valid URL"),
        ("https://user:pw@host/", "must not contain a user name or password"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(url=url, username="admin", password="x")
    assert fragment in str(info.value)


def test_url_with_credentials_never_echoes_the_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(url="https://user:hunter2@host/", username="admin", password="x")
    # The URL value itself is shown (it is not a secret option), so the check is on the advice.
    assert "use the username option" in str(info.value)


def test_bad_boolean() -> None:
    expected = r"Invalid ssl_insecure = 'maybe' \(keyword argument\): expected true or false"
    with pytest.raises(ConfigurationError, match=expected):
        linkahead.configure_connection(url="http://127.0.0.1:1/", username="a", password="b", ssl_insecure="maybe")


def test_required_options_of_the_method_are_checked_before_any_network_call(
    linkahead_server: LinkAheadTestServer,
) -> None:
    with pytest.raises(ConfigurationError) as info:
        linkahead.configure_connection(url=linkahead_server.url, username="admin", password_method="plain")
    assert "The option 'password' is required for password_method 'plain'" in str(info.value)
    assert linkahead_server.counters.requests == 0


def test_auth_token_implies_the_auth_token_method(linkahead_server: LinkAheadTestServer) -> None:
    token = linkahead_server.make_token("admin")
    config = linkahead.configure_connection(url=linkahead_server.url, auth_token=token).config
    assert config["password_method"] == "auth_token"
    assert "implied by auth_token" in config.origin("password_method")


def test_explicit_method_beats_the_implied_one(linkahead_server: LinkAheadTestServer) -> None:
    config = linkahead.configure_connection(
        url=linkahead_server.url, auth_token="x", password_method="unauthenticated"
    ).config
    assert config["password_method"] == "unauthenticated"


def test_environment_proxies_fill_in_and_none_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    settings = collect({"url": "https://x/"}, read_file=False)
    assert settings.values["https_proxy"] == "http://proxy.invalid:3128"
    assert settings.origins["https_proxy"] == "environment HTTPS_PROXY"
    config = linkahead.configure_connection(
        url="https://example.invalid/", username="a", password="b", https_proxy=None
    ).config
    assert config["https_proxy"] is None
    assert config.origin("https_proxy") == "argument"


def test_https_proxy_is_refused_with_advice() -> None:
    with pytest.raises(ConfigurationError, match="HTTPS proxies are not supported"):
        linkahead.configure_connection(url="https://x/", username="a", password="b", https_proxy="https://p:1")


def test_secret_values_are_not_shown_in_config_repr_or_errors(linkahead_server: LinkAheadTestServer) -> None:
    config = linkahead.configure_connection(
        url=linkahead_server.url, username="admin", password="very-secret-pw"
    ).config
    assert "very-secret-pw" not in repr(config)
    assert "password='***'" not in repr(config)
    assert "password=***" in repr(config)
    assert config.shown("password") == "***"


def test_a_failed_reconfiguration_keeps_the_working_connection(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(
        url=linkahead_server.url, username="admin", password=linkahead_server.users["admin"]
    )
    assert connection.retrieve(["Info"]).status == 200
    with pytest.raises(PasswordMethodNotFoundError):
        linkahead.configure_connection(url=linkahead_server.url, password_method="nosuchmethod")
    assert linkahead.get_connection().retrieve(["Info"]).status == 200
    assert linkahead_server.counters.logins == 1


def test_reconfiguring_replaces_the_session(linkahead_server: LinkAheadTestServer) -> None:
    linkahead_server.add_user("other", "other-pw", roles=["reader"])
    first = linkahead.configure_connection(
        url=linkahead_server.url, username="admin", password=linkahead_server.users["admin"]
    )
    assert b'username="admin"' in first.retrieve(["Info"]).read()
    second = linkahead.configure_connection(url=linkahead_server.url, username="other", password="other-pw")
    assert second is first  # the process-wide singleton
    assert b'username="other"' in second.retrieve(["Info"]).read()
    assert linkahead_server.counters.logins == 2
