"""Shared fixtures: every test runs isolated from the developer's own configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(linkahead_isolated: Path) -> Iterator[None]:
    # linkahead_isolated (from the linkahead.testing pytest plugin) points HOME and the working
    # directory at a temporary folder and resets the process-wide connection around each test.
    # Files the tests write are private, as a user's pylinkahead.ini with a password should be;
    # tests about readable files set their modes explicitly.
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)
