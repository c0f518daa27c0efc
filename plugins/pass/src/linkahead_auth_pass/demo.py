"""A throw-away GnuPG home, key and password store for ``linkahead-auth demo``.

The GnuPG home lives under the system temporary folder with a short name, because the gpg-agent's
socket path must stay short (about 108 bytes); it and its agent are removed when the process exits.
The store is written the way ``pass`` writes it (``.gpg-id`` plus ``<identifier>.gpg``) so the demo
does not need the ``pass`` command.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from linkahead.exceptions import LinkAheadException

__all__ = ["prepare_demo_store"]

IDENTIFIER = "linkahead/admin"
_TIMEOUT = 60.0


def _run(gpg: str, home: str, *args: str, data: bytes | None = None) -> str:
    command = [gpg, "--homedir", home, "--batch", "--no-tty", "--quiet", *args]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LinkAheadException(f"gpg failed while preparing the demo store: {type(error).__name__}") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise LinkAheadException(f"gpg {args[0]} failed while preparing the demo store: {' '.join(said)}")
    return done.stdout.decode("utf-8", "replace")


def _cleanup(home: str) -> None:
    gpgconf = shutil.which("gpgconf")
    if gpgconf is not None:
        try:
            subprocess.run([gpgconf, "--homedir", home, "--kill", "gpg-agent"], capture_output=True,
                           timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
    shutil.rmtree(home, ignore_errors=True)


def prepare_demo_store(gpg: str, password: str, workdir: Path) -> dict[str, str]:
    """Make a key without passphrase and a store in ``workdir`` holding ``password``; export both."""
    home = tempfile.mkdtemp(prefix="gpg")
    atexit.register(_cleanup, home)
    _run(gpg, home, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-generate-key",
         "LinkAhead demo <demo@localhost.invalid>", "future-default", "default", "never")
    listing = _run(gpg, home, "--with-colons", "--list-secret-keys")
    fingerprints = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
    if not fingerprints:
        raise LinkAheadException("gpg created no key for the demo store")
    store = workdir / "password-store"
    (store / IDENTIFIER).parent.mkdir(parents=True, mode=0o700)
    (store / ".gpg-id").write_text(fingerprints[0] + "\n", encoding="utf-8")
    entry = f"{password}\nlogin: admin\nurl: demo\n".encode()
    _run(gpg, home, "--yes", "--compress-algo=none", "--no-encrypt-to", "--trust-model", "always",
         "--recipient", fingerprints[0], "--output", str(store / f"{IDENTIFIER}.gpg"), "--encrypt", data=entry)
    os.environ["GNUPGHOME"] = home
    os.environ["PASSWORD_STORE_DIR"] = str(store)
    return {"username": "admin", "password_identifier": IDENTIFIER}
