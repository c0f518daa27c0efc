"""The clear-text warning for plain-http urls to other machines.

Only ``configure_connection`` runs here: it sends nothing, so non-loopback host names are safe to
use -- no test in this file opens a connection to them.
"""

from __future__ import annotations

import warnings

import linkahead
import pytest
from linkahead.connection.transport import CleartextPasswordWarning, InsecureConnectionWarning, is_loopback_host

SECRET = "Cl3artext-Pa55"


def _warnings_of(**options: object) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        linkahead.configure_connection(**options)
    return [w for w in caught if issubclass(w.category, (CleartextPasswordWarning, InsecureConnectionWarning))]


def test_plain_http_to_another_host_warns_once_about_the_password() -> None:
    found = _warnings_of(url="http://linkahead.example.org:10080/", username="admin", password=SECRET,
                         password_method="plain")
    assert [w.category for w in found] == [CleartextPasswordWarning]
    assert issubclass(CleartextPasswordWarning, UserWarning)
    message = str(found[0].message)
    assert "clear text" in message and "linkahead.example.org" in message and "https://" in message
    assert SECRET not in message
    assert found[0].filename == __file__


@pytest.mark.parametrize("url", [
    "http://192.0.2.10/",  # TEST-NET-1: documentation only, never routed
    "http://[2001:db8::1]:8080/linkahead/",
    "http://linkahead/",
    "HTTP://Example.ORG/",
])
def test_other_non_loopback_forms_warn(url: str) -> None:
    found = _warnings_of(url=url, username="admin", password=SECRET, password_method="plain")
    assert [w.category for w in found] == [CleartextPasswordWarning]


def test_a_token_in_clear_text_warns_too() -> None:
    found = _warnings_of(url="http://linkahead.example.org/", auth_token='["O","x"]')
    assert [w.category for w in found] == [CleartextPasswordWarning]
    assert "'auth_token'" in str(found[0].message)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:10080/", "http://127.8.9.10/", "http://[::1]:10080/", "http://localhost/",
    "http://LOCALHOST:8080/linkahead/",
])
def test_loopback_stays_quiet(url: str) -> None:
    assert _warnings_of(url=url, username="admin", password=SECRET, password_method="plain") == []


def test_https_and_unauthenticated_stay_quiet() -> None:
    assert _warnings_of(url="https://linkahead.example.org/", username="admin", password=SECRET,
                        password_method="plain") == []
    assert _warnings_of(url="http://linkahead.example.org/", password_method="unauthenticated") == []


def test_each_configuration_warns_again() -> None:
    options = {"url": "http://linkahead.example.org/", "username": "admin", "password": SECRET}
    assert len(_warnings_of(**options)) == 1
    assert len(_warnings_of(**options)) == 1


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.255.255.254", True), ("::1", True), ("[::1]", True), ("::ffff:127.0.0.1", True),
    ("localhost", True), ("localhost.", True), ("a.b.localhost", True),
    ("128.0.0.1", False), ("0.0.0.0", False), ("10.0.0.1", False), ("::", False), ("localhost.example.org", False),
    ("mylocalhost", False), ("", False),
])
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
