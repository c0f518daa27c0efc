"""A misbehaving password method: it raises, hangs past ``plugin_timeout``, or returns garbage.

The error names the plugin, never repeats what the plugin said (it may hold a secret), and the
connection works again after it is configured with a working method.
"""

from __future__ import annotations

import contextvars
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import linkahead
import pytest
from linkahead import PasswordCredentials, hookimpl
from linkahead.connection.connection import _Connection
from linkahead.exceptions import ConfigurationError, LoginFailedError, PluginError
from linkahead.testing import LinkAheadTestServer

SECRET = "pl4gin-s3cret-in-an-exception"


class Raising:
    """Raises an exception whose text holds a secret."""

    __name__ = "raising"

    @hookimpl
    def get_credentials(self, config: Any) -> None:
        raise RuntimeError(f"could not read {SECRET}")


class Garbage:
    """Answers with a value that is not a credential."""

    __name__ = "garbage"

    def __init__(self, answer: object) -> None:
        self.answer = answer

    @hookimpl
    def get_credentials(self, config: Any) -> object:
        return self.answer


class Hanging:
    """Blocks until released (or until the test ends)."""

    __name__ = "hanging"

    def __init__(self, password: str, hang_in: str = "get_credentials") -> None:
        self.release = threading.Event()
        self.password = password
        self.hang_in = hang_in
        self.threads: list[str] = []

    @hookimpl
    def get_credentials(self, config: Any) -> PasswordCredentials:
        self.threads.append(threading.current_thread().name)
        if self.hang_in == "get_credentials":
            self.release.wait(30)
        return PasswordCredentials("admin", "wrong" if self.hang_in == "refresh" else self.password)

    @hookimpl
    def refresh(self, config: Any, credentials: Any, reason: str) -> PasswordCredentials:
        self.release.wait(30)
        return PasswordCredentials("admin", self.password)


@pytest.fixture
def hanging(linkahead_server: LinkAheadTestServer) -> Iterator[Hanging]:
    plugin = Hanging(linkahead_server.users["admin"])
    yield plugin
    plugin.release.set()  # let the abandoned worker threads finish


def configure(server: LinkAheadTestServer, method: object, **extra: object) -> _Connection:
    return linkahead.configure_connection(url=server.url, password_method=method, timeout=5, **extra)


def assert_usable_after_reconfiguration(server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=server.url, username="admin", password=server.users["admin"],
                                                password_method="plain")
    assert connection.retrieve(["Info"]).status == 200


def test_a_raising_plugin_is_named_and_its_text_is_not_copied(linkahead_server: LinkAheadTestServer) -> None:
    connection = configure(linkahead_server, Raising())
    with pytest.raises(PluginError) as info:
        connection.retrieve(["Info"])
    message = str(info.value)
    assert "The password method 'raising' failed in get_credentials: raised RuntimeError" in message
    assert SECRET not in message
    assert info.value.plugin == "raising"
    # Neither chained nor kept as context: the plugin's exception may hold a secret.
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert " at test_faults_plugins.py:" in message  # where it happened, for debugging
    assert linkahead_server.counters.requests == 0
    assert_usable_after_reconfiguration(linkahead_server)


@pytest.mark.parametrize("answer", ["admin:password", {"username": "admin"}, 42, ("admin", "pw")],
                         ids=["str", "dict", "int", "tuple"])
def test_garbage_is_a_plugin_error(linkahead_server: LinkAheadTestServer, answer: object) -> None:
    connection = configure(linkahead_server, Garbage(answer))
    with pytest.raises(PluginError) as info:
        connection.retrieve(["Info"])
    assert f"'garbage' failed in get_credentials: returned a {type(answer).__name__}" in str(info.value)
    assert "expected PasswordCredentials" in str(info.value)
    assert linkahead_server.counters.requests == 0
    assert_usable_after_reconfiguration(linkahead_server)


def test_a_plugin_that_fails_once_works_on_the_next_request(linkahead_server: LinkAheadTestServer) -> None:
    calls: list[int] = []
    password = linkahead_server.users["admin"]

    class Flaky:
        __name__ = "flaky"

        @hookimpl
        def get_credentials(self, config: Any) -> PasswordCredentials:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("store not mounted yet")
            return PasswordCredentials("admin", password)

    connection = configure(linkahead_server, Flaky())
    with pytest.raises(PluginError, match="'flaky' failed in get_credentials: raised OSError"):
        connection.retrieve(["Info"])
    assert connection.retrieve(["Info"]).status == 200
    assert len(calls) == 2


def test_a_hanging_get_credentials_ends_at_plugin_timeout(linkahead_server: LinkAheadTestServer,
                                                          hanging: Hanging) -> None:
    connection = configure(linkahead_server, hanging, plugin_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(PluginError) as info:
        connection.retrieve(["Info"])
    assert 0.25 <= time.monotonic() - started < 3.0
    assert str(info.value).startswith(
        "The password method 'hanging' did not answer get_credentials within plugin_timeout = 0.3 s."
    )
    assert info.value.plugin == "hanging"
    assert linkahead_server.counters.requests == 0
    assert_usable_after_reconfiguration(linkahead_server)


def test_a_hanging_refresh_ends_at_plugin_timeout(linkahead_server: LinkAheadTestServer, hanging: Hanging) -> None:
    hanging.hang_in = "refresh"  # get_credentials answers a wrong password: the core asks refresh
    connection = configure(linkahead_server, hanging, plugin_timeout=0.3)
    with pytest.raises(PluginError, match=re.escape("did not answer refresh within plugin_timeout = 0.3 s")):
        connection.retrieve(["Info"])
    assert linkahead_server.counters.failed_logins == 1


def test_threads_waiting_for_a_hanging_plugin_are_released(linkahead_server: LinkAheadTestServer,
                                                           hanging: Hanging) -> None:
    connection = configure(linkahead_server, hanging, plugin_timeout=0.3)
    failures: list[type[BaseException]] = []

    def work() -> None:
        try:
            connection.retrieve(["Info"])
        except (PluginError, LoginFailedError) as error:
            failures.append(type(error))

    threads = [threading.Thread(target=work) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    # The login lock serialises the attempts; each is bounded, so all four end.
    assert not any(thread.is_alive() for thread in threads)
    assert len(failures) == 4
    assert time.monotonic() - started < 4 * 0.3 + 5


def test_the_hook_runs_in_a_worker_thread_with_the_callers_context(linkahead_server: LinkAheadTestServer) -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")
    seen: list[tuple[str, str]] = []
    password = linkahead_server.users["admin"]

    class Observing:
        __name__ = "observing"

        @hookimpl
        def get_credentials(self, config: Any) -> PasswordCredentials:
            seen.append((threading.current_thread().name, variable.get()))
            return PasswordCredentials("admin", password)

    variable.set("from the caller")
    configure(linkahead_server, Observing()).retrieve(["Info"]).read()
    configure(linkahead_server, Observing(), plugin_timeout=None).retrieve(["Info"]).read()
    assert seen[0] == ("linkahead-observing-get_credentials", "from the caller")
    assert seen[1] == (threading.current_thread().name, "from the caller")  # no limit: called directly


def test_no_limit_while_stdin_is_a_terminal(linkahead_server: LinkAheadTestServer, hanging: Hanging,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # A real pseudo-terminal as standard input: a person could be typing at a prompt.
    leader, follower = os.openpty()
    with os.fdopen(follower, "r") as terminal:
        monkeypatch.setattr(sys, "stdin", terminal)
        connection = configure(linkahead_server, hanging, plugin_timeout=0.1)
        threading.Timer(0.5, hanging.release.set).start()
        assert connection.retrieve(["Info"]).status == 200  # waited past plugin_timeout
    os.close(leader)
    assert hanging.threads == [threading.current_thread().name]


@pytest.mark.parametrize(("value", "expected"), [("null", None), ("none", None), (None, None), ("2.5", 2.5), (7, 7.0)])
def test_plugin_timeout_values(linkahead_server: LinkAheadTestServer, value: object, expected: float | None) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, username="a", password="b",
                                                plugin_timeout=value)
    assert connection.config["plugin_timeout"] == expected


def test_plugin_timeout_default_and_invalid_values(linkahead_server: LinkAheadTestServer) -> None:
    connection = linkahead.configure_connection(url=linkahead_server.url, username="a", password="b")
    assert connection.config["plugin_timeout"] == 300.0
    for bad in ("0", "-1", "soon", "(1, 2)"):
        with pytest.raises(ConfigurationError, match="Invalid plugin_timeout"):
            linkahead.configure_connection(url=linkahead_server.url, username="a", password="b", plugin_timeout=bad)
