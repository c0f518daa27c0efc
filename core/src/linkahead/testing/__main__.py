"""Run the embedded server in its own process: ``python -m linkahead.testing``.

Prints one line ``URL <url>`` when it listens, then serves until standard input closes (or
SIGTERM/SIGINT). Benchmarks use it to keep the server's CPU out of the client's measurement.
Lines on standard input control it: ``invalidate`` ends every session (as a server restart
would), ``counters`` prints ``COUNTERS <json>``; each command is answered by one line.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .server import DEFAULT_USERS, LinkAheadTestServer


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m linkahead.testing", description=__doc__)
    parser.add_argument("--users", default=json.dumps(dict(DEFAULT_USERS)), help="JSON object: user name to password")
    parser.add_argument("--anonymous", action="store_true", help="serve requests without a token as 'anonymous'")
    parser.add_argument("--session-timeout", type=float, default=3600.0)
    parser.add_argument("--root-path", default="/")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with LinkAheadTestServer(json.loads(args.users), anonymous=args.anonymous,
                             session_timeout=args.session_timeout, root_path=args.root_path) as server:
        print(f"URL {server.url}", flush=True)

        def wait_for_stdin_to_close() -> None:
            for line in sys.stdin:
                command = line.strip()
                if command == "invalidate":
                    server.invalidate_sessions()
                    print("INVALIDATED", flush=True)
                elif command == "counters":
                    print(f"COUNTERS {json.dumps(server.counters.__dict__)}", flush=True)
                elif command:
                    print(f"UNKNOWN {command!r}: use 'invalidate' or 'counters'", flush=True)
            stop.set()

        watcher = threading.Thread(target=wait_for_stdin_to_close, daemon=True)
        watcher.start()
        stop.wait()
        print(f"COUNTERS {json.dumps(server.counters.__dict__)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
