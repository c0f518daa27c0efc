"""Shared fixtures: every test runs isolated from the developer's own configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(linkahead_isolated: Path) -> Iterator[None]:
    # linkahead_isolated (from the linkahead.testing pytest plugin) points HOME and the working
    # directory at a temporary folder and resets the process-wide connection around each test.
    yield
