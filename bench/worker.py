"""One benchmark client in its own process, driven by lines on standard input.

Run by ``bench/run.py`` with the interpreter of the environment under test (the development
venv, or the legacy client's venv), so this file imports only the standard library at the top
and the client it measures inside :func:`make_client`::

    python bench/worker.py KIND URL USERNAME PASSWORD

``KIND`` is ``connection`` (this project), ``session`` (a bare ``requests.Session`` as users
create it: ``trust_env=True``), ``session-noenv`` (the same with ``trust_env=False``, the work
our transport does), ``session-nojar`` (that, and a cookie policy refusing every cookie into
the session's jar, as our transport also does) or ``legacy`` (the ``linkahead`` 0.21 client).
After logging in and warming up it prints ``READY {json}`` and then answers each command with one line of JSON:

``run N``
    send N authenticated ``GET Entity`` requests, reading each body;
    ``{"cpu": seconds, "wall": seconds}`` for all N (``time.process_time``: this process only).
``burst T``
    T threads, released together by a barrier, send one request each;
    ``{"wall": seconds, "errors": count, "error": "first error text"}``. The benchmark
    invalidates the server's sessions before, so each burst meets an expired session.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


class _RefuseAllCookies:
    """Made a real ``http.cookiejar.DefaultCookiePolicy`` subclass on first use (lazy import)."""

    def __new__(cls) -> Any:
        import http.cookiejar

        class Refuse(http.cookiejar.DefaultCookiePolicy):
            def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
                return False

        return Refuse()


def make_client(kind: str, url: str, username: str, password: str) -> Callable[[], None]:
    """A function sending one authenticated request the way ``kind`` does it."""
    if kind in ("connection", "legacy"):
        # Both are imported as ``linkahead``; which one depends on the interpreter's venv.
        import linkahead

        options = {"url": url, "username": username, "password": password, "password_method": "plain"}
        linkahead.configure_connection(**options)
        connection = linkahead.get_connection()

        def through_connection() -> None:
            connection.retrieve(["Entity"]).read()

        return through_connection

    if kind in ("session", "session-noenv", "session-nojar"):
        import requests

        session = requests.Session()
        session.trust_env = kind == "session"
        if kind == "session-nojar":
            # What the connection's transport also does: the cookie is handled by hand, so the
            # session's jar need not parse and store every renewed cookie.
            session.cookies.set_policy(_RefuseAllCookies())
        login = session.post(url + "login", data={"username": username, "password": password}, timeout=30)
        login.raise_for_status()
        # A fair baseline: the same request with the session cookie, adopting each renewal --
        # what a hand-written client must do at the least.
        headers = {"Accept": "text/xml", "Cookie": login.headers["Set-Cookie"].split(";")[0]}

        def through_session() -> None:
            response = session.get(url + "Entity", headers=headers, timeout=30)
            response.content  # noqa: B018 -- read the body like the connection's caller does
            if response.status_code != 200:
                raise RuntimeError(f"bare session: {response.status_code} {response.reason}")
            renewed = response.headers.get("Set-Cookie")
            if renewed:
                headers["Cookie"] = renewed.split(";")[0]

        return through_session

    raise SystemExit(f"unknown client kind {kind!r}: use connection, session, session-noenv, session-nojar or legacy")


def run(send: Callable[[], None], count: int) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        send()
    return {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}


def burst(send: Callable[[], None], threads: int) -> dict[str, object]:
    barrier = threading.Barrier(threads + 1)
    errors: list[str] = []

    def one() -> None:
        barrier.wait(timeout=30)
        try:
            send()
        except Exception as error:  # noqa: BLE001 -- the count of failures is the result, not a crash
            errors.append(f"{type(error).__name__}: {str(error)[:200]}")

    workers = [threading.Thread(target=one, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=30)
    started = time.perf_counter()
    for worker in workers:
        worker.join(timeout=120)
    return {"wall": time.perf_counter() - started, "errors": len(errors), "error": errors[0] if errors else ""}


def main() -> int:
    kind, url, username, password = sys.argv[1:5]
    send = make_client(kind, url, username, password)
    warm_up = run(send, 50)  # pools, caches, the first login
    info: dict[str, object] = {"kind": kind, "python": sys.version.split()[0], "warm_up": warm_up}
    try:
        from importlib.metadata import version

        info["requests"] = version("requests")
        info["client"] = version("linkahead") if kind == "legacy" else (
            version("linkahead-connection") if kind == "connection" else "")
    except Exception:  # noqa: BLE001 -- versions are information, not a requirement
        pass
    print("READY " + json.dumps(info), flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "run":
            print(json.dumps(run(send, int(argument))), flush=True)
        elif command == "burst":
            print(json.dumps(burst(send, int(argument))), flush=True)
        elif command:
            print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
