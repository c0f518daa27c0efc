"""A plugin's own network calls and the core's ``plugin_timeout``: the defaults fit together.

A plugin that bounds its calls by the connection's ``timeout`` (as the plugin guide says) must
report its own time-out, naming its service, before the core gives up on it with a PluginError.
The real defaults (210 s, 300 s) are too long for a test; the same relation is tested scaled down
against a real hanging HTTP service (the embedded server with a response delay).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import linkahead
import pytest
import requests
from linkahead import Credentials, PasswordCredentials, hookimpl
from linkahead.exceptions import LinkAheadTimeoutError, PluginError
from linkahead.options import CORE_OPTIONS
from linkahead.testing import LinkAheadTestServer


def defaults() -> dict[str, Any]:
    return {option.name: option.default for option in CORE_OPTIONS}


def test_the_default_plugin_timeout_leaves_room_for_one_call_bounded_by_timeout() -> None:
    assert defaults()["plugin_timeout"] > defaults()["timeout"]


class SlowIdentityProvider:
    """Asks an identity provider (here: a hanging one) for a password, bounded by ``timeout``."""

    def __init__(self, provider_url: str) -> None:
        self.provider_url = provider_url

    @hookimpl
    def get_credentials(self, config: Mapping[str, Any]) -> Credentials:
        try:
            answer = requests.get(self.provider_url, timeout=config["timeout"])
        except requests.Timeout:
            raise LinkAheadTimeoutError(
                f"The identity provider {self.provider_url} did not answer within timeout = {config['timeout']} s."
            ) from None
        return PasswordCredentials("admin", answer.text)


@pytest.fixture
def hanging_provider() -> Any:
    with LinkAheadTestServer(anonymous=True) as provider:
        provider.response_delay = 30.0  # interrupted when the fixture stops the server
        yield provider


def test_a_hanging_provider_ends_in_the_plugins_own_error_when_timeout_is_below_plugin_timeout(
        linkahead_server: LinkAheadTestServer, hanging_provider: LinkAheadTestServer) -> None:
    plugin = SlowIdentityProvider(hanging_provider.url + "password")
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin,
                                                timeout=0.5, plugin_timeout=5)
    with pytest.raises(LinkAheadTimeoutError, match=r"The identity provider .* did not answer within timeout"):
        connection.retrieve(["Info"])


def test_the_opposite_relation_ends_in_the_cores_plugin_error(
        linkahead_server: LinkAheadTestServer, hanging_provider: LinkAheadTestServer) -> None:
    # The situation the old defaults (timeout 210 s > plugin_timeout 120 s) produced.
    plugin = SlowIdentityProvider(hanging_provider.url + "password")
    connection = linkahead.configure_connection(url=linkahead_server.url, password_method=plugin,
                                                timeout=5, plugin_timeout=0.5)
    with pytest.raises(PluginError, match="did not answer get_credentials within plugin_timeout"):
        connection.retrieve(["Info"])
