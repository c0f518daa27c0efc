"""Hiding secrets that can hide inside ordinary-looking text, and keeping quoted values short.

The core never puts a password, token or cookie into a message on purpose. What remains are
values that are not secret options but may *contain* a secret: a URL with ``user:password@``
(a proxy URL, or a mistaken server URL), and what a server's answer may echo of a request.

- :func:`hide_userinfo` hides everything between ``scheme://`` and the *last* ``@`` of a URL,
  whatever characters the password holds (``/ # ? : @``, quotes, blanks, ``%XX``), because
  a URL parser cuts such a password in pieces and any piece may end up in a message.
- :func:`redact_url_passwords` does the same for URLs inside free text.
- :func:`redact` removes known secret values in every form they may take in a message
  (raw, URL-encoded, form-encoded, escaped).
- :func:`quoted` is how a message repeats a value: redacted and cut to :data:`QUOTE_LIMIT`
  characters, so a 20 MB value cannot become a 40 MB message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["URL_PASSWORD", "QUOTE_LIMIT", "redact_url_passwords", "hide_userinfo", "quoted", "redact",
           "secret_forms", "reveals"]

QUOTE_LIMIT = 80
"""Quoted values longer than this many characters are cut (``'aaaa...' (20000000 characters)``)."""

URL_PASSWORD = re.compile(r"(://[^/\s:@'\"]*:)[^\s]*(?=@)")
"""Matches the password part of ``scheme://user:password@host`` inside any text: everything after
the user name's ``:`` up to the last ``@`` before the next blank."""

_URL_USERINFO = re.compile(r"(://)[^\s]*(?=@)")


def redact_url_passwords(text: str) -> str:
    """``text`` with every ``scheme://user:password@`` shown as ``scheme://user:***@``.

    A URL without a ``:`` in its user part (``http://TOKEN@host``) is shown as ``http://***@host``.
    """
    if "@" not in text:
        return text
    text = URL_PASSWORD.sub(r"\1***", text)
    return _URL_USERINFO.sub(lambda match: match.group(0) if match.group(0).endswith(":***")
                             else match.group(1) + "***", text)


def hide_userinfo(url: str) -> str:
    """``url`` with its user name kept and its password hidden: ``http://user:***@host:3128``.

    Everything between ``://`` (or the start, without a scheme) and the last ``@`` is treated as
    user information, so a password containing ``/``, ``#``, ``?``, ``@`` or blanks is hidden
    whole. Text without ``@`` is returned unchanged.
    """
    at = url.rfind("@")
    if at < 0:
        return url
    scheme_end = url.find("://")
    start = scheme_end + 3 if 0 <= scheme_end < at else 0
    userinfo = url[start:at]
    user, colon, _ = userinfo.partition(":")
    shown_user = f"{user}:" if colon and _plain_user(user) else ""
    return f"{url[:start]}{shown_user}***{url[at:]}"


def _plain_user(user: str) -> bool:
    # A user part that holds URL delimiters is probably a password cut at the wrong place.
    return bool(user) and not any(c in user for c in "/#?;%\\'\" ") and user.isprintable()


def quoted(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for a message: URL passwords hidden, cut after ``limit`` characters."""
    text = value if isinstance(value, str) else None
    if text is not None and any("\ud800" <= c <= "\udfff" for c in text):
        # Text that cannot be encoded is usually a mistyped or mis-decoded credential.
        return "(a value with a broken character, not shown)"
    if text is not None and "@" in text:
        text = hide_userinfo(text)
    if text is not None and len(text) > limit:
        return f"{text[:limit]!r}... ({len(text)} characters)"
    try:
        shown = repr(text if text is not None else value)
    except Exception:  # noqa: BLE001 -- a hostile __repr__ must not break an error message
        return f"<{type(value).__name__}>"
    if len(shown) > limit + 2:
        return f"{shown[:limit]}... ({len(shown)} characters)"
    return shown


def secret_forms(secret: str) -> set[str]:
    """The forms ``secret`` may take in a message: raw, URL- and form-encoded, escaped, repr'd."""
    import json  # only when there is a secret to look for
    from html import escape  # (html loads a large table)

    forms = {secret, quote(secret, safe="", errors="surrogatepass"),
             quote_plus(secret, errors="surrogatepass"), quote(secret, errors="surrogatepass"),
             escape(secret), escape(secret, quote=False), repr(secret)[1:-1],
             json.dumps(secret)[1:-1], secret.encode("unicode_escape").decode("ascii")}
    return {form for form in forms if form}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form (see :func:`secret_forms`) of every secret replaced by ``***``."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= secret_forms(secret)
    # Longest first, so a secret containing another is hidden whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def reveals(text: str, secret: Any, piece: int = 4) -> bool:
    """True when ``text`` holds ``secret`` or any ``piece`` characters of it in a row.

    A value too long to check cheaply counts as revealed: the caller then says less.
    """
    if not isinstance(secret, str) or not secret:
        return False
    if len(secret) > 4096:
        return True
    if len(secret) < piece:
        return any(form in text for form in secret_forms(secret))
    return any(secret[i:i + piece] in text for i in range(len(secret) - piece + 1)) or any(
        form in text for form in secret_forms(secret))


REASON_LIMIT = 300
"""Reason phrases are shown at most this long."""


def safe_reason(reason: Any, secrets: Iterable[str], piece: int = 12) -> str:
    """A server's reason phrase for a message: one line, at most :data:`REASON_LIMIT` characters,
    and not at all when it repeats ``piece`` characters of a secret of the request (a server or a
    proxy that echoes the ``Cookie`` or ``Authorization`` header in its reason phrase)."""
    shown = " ".join(str(reason or "").split())[:REASON_LIMIT]
    if shown and any(reveals(shown, secret, piece) for secret in secrets if secret):
        return "(reason phrase not shown: it repeats part of the request)"
    return shown
