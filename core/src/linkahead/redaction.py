"""Hiding secrets that can hide inside ordinary-looking text.

The core never puts a password, token or cookie into a message on purpose. What remains are
values that are not secret options but may *contain* a secret: a URL with ``user:password@``
(a proxy URL, or a mistaken server URL). Every place that shows such a value passes it through
:func:`redact_url_passwords`.
"""

from __future__ import annotations

import re

__all__ = ["URL_PASSWORD", "redact_url_passwords"]

URL_PASSWORD = re.compile(r"(://[^/\s:@'\"]*:)[^@\s/'\"]+(?=@)")
"""Matches the password part of ``scheme://user:password@host`` inside any text."""


def redact_url_passwords(text: str) -> str:
    """``text`` with every ``scheme://user:password@`` shown as ``scheme://user:***@``."""
    if "@" not in text:
        return text
    return URL_PASSWORD.sub(r"\1***", text)
