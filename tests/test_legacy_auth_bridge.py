"""The upstream-style bridge without upstream installed (issue 21): the lookup is skipped quietly.

The bridge itself, with upstream 0.21.0 and real modules in its package, is tested in
``tests/compat/test_legacy_auth.py``.
"""

from __future__ import annotations

import warnings

import pytest
from linkahead import legacy_auth, plugins
from linkahead.exceptions import PasswordMethodNotFoundError


def test_without_upstream_nothing_is_found_and_nothing_warns() -> None:
    assert legacy_auth.module_names() == {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        assert legacy_auth.find("acmelegacy") is None
        with pytest.raises(PasswordMethodNotFoundError, match="No password method 'acmelegacy' is installed"):
            plugins.load_method("acmelegacy")
    assert [w for w in caught if issubclass(w.category, DeprecationWarning)] == []


@pytest.mark.parametrize("name", ["pass", "keyring", "plain", "auth_token", "../x", "a.b", "", "__init__",
                                  "interface"])
def test_upstream_own_modules_and_odd_names_are_never_bridged(name: str) -> None:
    assert legacy_auth.find(name) is None
