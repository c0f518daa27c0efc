"""The ``pass`` password method against real GnuPG, a store built by the real ``pass`` command,
and the embedded server over loopback HTTP.

GnuPG homes are made with ``tempfile.mkdtemp(prefix="gpg")`` (short paths: the gpg-agent socket
path has a length limit) once per module, and their agents are killed at teardown.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import linkahead_auth_pass
import pytest
from linkahead import PasswordCredentials, configure_connection, get_connection
from linkahead.demo import who_am_i
from linkahead.exceptions import ConfigurationError, LoginFailedError
from linkahead.testing import LinkAheadTestServer
from linkahead_auth_pass.demo import _cleanup
from linkahead_auth_pass.store import check_identifier

GPG = shutil.which("gpg2") or shutil.which("gpg")
PASS = shutil.which("pass")
GPGCONF = shutil.which("gpgconf")

pytestmark = pytest.mark.skipif(
    GPG is None or PASS is None or GPGCONF is None,
    reason="needs gpg, gpgconf and pass (Debian packages gnupg and pass)",
)

LOCKED_PASSPHRASE = "unlock-me-Passphrase"


@dataclass(frozen=True)
class Key:
    home: str
    fingerprint: str
    keyid: str


def _gpg(home: str, *args: str) -> str:
    assert GPG is not None
    done = subprocess.run([GPG, "--homedir", home, "--batch", "--no-tty", *args],
                          capture_output=True, timeout=60, check=True)
    return done.stdout.decode()


def _kill_agent(home: str) -> None:
    assert GPGCONF is not None
    subprocess.run([GPGCONF, "--homedir", home, "--kill", "gpg-agent"], capture_output=True, timeout=30, check=False)


def _make_key(passphrase: str, name: str) -> Key:
    home = tempfile.mkdtemp(prefix="gpg")
    # The agent calibrates passphrase hashing to ~100 ms per use, seconds per key: keep tests fast.
    Path(home, "gpg-agent.conf").write_text("s2k-count 65536\n", encoding="utf-8")
    _gpg(home, "--pinentry-mode", "loopback", "--passphrase", passphrase, "--quick-gen-key",
         f"{name} <{name}@localhost.invalid>", "future-default", "default", "never")
    colons = _gpg(home, "--with-colons", "--list-secret-keys").splitlines()
    fingerprint = next(line.split(":")[9] for line in colons if line.startswith("fpr:"))
    keyid = next(line.split(":")[4] for line in colons if line.startswith("ssb:"))
    return Key(home, fingerprint, keyid)


def _destroy(home: str) -> None:
    _kill_agent(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def key() -> Iterator[Key]:
    """A key without passphrase: what an unattended job would use."""
    made = _make_key("", "linkahead-test")
    yield made
    _destroy(made.home)


@pytest.fixture(scope="module")
def locked_key() -> Iterator[Key]:
    """A key with a passphrase the agent has not cached, and a pinentry that never answers."""
    made = _make_key(LOCKED_PASSPHRASE, "locked")
    pinentry = Path(made.home, "silent-pinentry")
    # Stands in for a passphrase window nobody answers: it reads until the agent goes away.
    pinentry.write_text(f"#!{sys.executable}\nimport sys\nsys.stdin.buffer.read()\n", encoding="utf-8")
    pinentry.chmod(0o700)
    with Path(made.home, "gpg-agent.conf").open("a", encoding="utf-8") as conf:
        conf.write(f"pinentry-program {pinentry}\n")
    _kill_agent(made.home)  # forget anything cached while the key was made; reread gpg-agent.conf
    yield made
    _destroy(made.home)


@pytest.fixture
def empty_home() -> Iterator[str]:
    home = tempfile.mkdtemp(prefix="gpg")
    yield home
    _destroy(home)


class PassStore:
    """A store driven by the real ``pass`` command."""

    def __init__(self, path: Path, key: Key) -> None:
        self.path = path
        self.key = key

    def run(self, *args: str, stdin: str = "") -> None:
        assert PASS is not None
        env = {**os.environ, "PASSWORD_STORE_DIR": str(self.path), "GNUPGHOME": self.key.home}
        env.pop("PASSWORD_STORE_GPG_OPTS", None)
        subprocess.run([PASS, *args], input=stdin.encode(), env=env, capture_output=True, timeout=60, check=True)

    def insert(self, name: str, content: str) -> None:
        self.run("insert", "--force", "--multiline", name, stdin=content)


def _new_store(path: Path, key: Key) -> PassStore:
    store = PassStore(path, key)
    store.run("init", key.fingerprint)
    return store


@pytest.fixture
def store(tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch) -> PassStore:
    """An initialised store; GNUPGHOME and PASSWORD_STORE_DIR point at it for this test."""
    made = _new_store(tmp_path / "store", key)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "PASSWORD_STORE_GPG_OPTS", "GPG_TTY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GNUPGHOME", key.home)
    monkeypatch.setenv("PASSWORD_STORE_DIR", str(made.path))
    return made


def _configure(server: LinkAheadTestServer, **kwargs: object) -> None:
    configure_connection(url=server.url, password_method="pass", **kwargs)


def _whoami() -> str | None:
    name: str | None = who_am_i(get_connection())["username"]
    return name


# -- logging in ----------------------------------------------------------------------------------


def test_login_with_keyword_arguments_and_an_entry_in_a_subfolder(
        linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("linkahead/admin", linkahead_server.users["admin"] + "\n")
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    assert _whoami() == "admin"
    assert linkahead_server.counters.logins == 1
    assert linkahead_server.counters.failed_logins == 0


def test_login_with_pylinkahead_ini_and_a_multiline_entry(
        linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    password = linkahead_server.users["admin"]
    store.insert("linkahead/admin", f"{password}\nlogin: admin\nurl: {linkahead_server.url}\nnotes: x\n")
    Path("pylinkahead.ini").write_text(
        f"[Connection]\nurl = {linkahead_server.url}\npassword_method = pass\n"
        "password_identifier = linkahead/admin\n\n[Misc]\nsendmail = /usr/sbin/sendmail\n",
        encoding="utf-8",
    )
    configure_connection()
    assert _whoami() == "admin"  # the user name came from the entry's login: line
    credentials = get_connection().auth.state.credentials
    assert isinstance(credentials, PasswordCredentials)
    assert credentials.username == "admin" and credentials.password == password


def test_configured_username_wins_over_the_entry(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    linkahead_server.add_user("alice", "alice-Pa55")
    store.insert("linkahead/alice", "alice-Pa55\nuser: admin\n")
    _configure(linkahead_server, username="alice", password_identifier="linkahead/alice")
    assert _whoami() == "alice"


def test_pass_store_dir_option_overrides_the_environment(
        linkahead_server: LinkAheadTestServer, store: PassStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.insert("admin", linkahead_server.users["admin"])
    monkeypatch.setenv("PASSWORD_STORE_DIR", str(store.path.parent / "elsewhere"))
    _configure(linkahead_server, username="admin", password_identifier="admin", pass_store_dir=str(store.path))
    assert _whoami() == "admin"


def test_default_store_is_in_the_home_folder(
        linkahead_server: LinkAheadTestServer, key: Key, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _new_store(Path.home() / ".password-store", key)  # HOME is a temporary folder here
    store.insert("linkahead/admin", linkahead_server.users["admin"])
    monkeypatch.delenv("PASSWORD_STORE_DIR", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("GNUPGHOME", key.home)
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    assert _whoami() == "admin"


def test_password_store_gpg_opts_are_passed_to_gpg(
        linkahead_server: LinkAheadTestServer, store: PassStore, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store.insert("admin", linkahead_server.users["admin"])
    log_file = tmp_path / "a folder with spaces" / "gpg.log"
    log_file.parent.mkdir()
    # Quoting must be honoured although no shell runs: the path has spaces.
    monkeypatch.setenv("PASSWORD_STORE_GPG_OPTS", f"--logger-file '{log_file}' --verbose")
    _configure(linkahead_server, username="admin", password_identifier="admin")
    assert _whoami() == "admin"
    assert log_file.is_file() and log_file.stat().st_size > 0


def test_password_store_gpg_opts_with_bad_quoting(
        linkahead_server: LinkAheadTestServer, store: PassStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.insert("admin", linkahead_server.users["admin"])
    monkeypatch.setenv("PASSWORD_STORE_GPG_OPTS", "--logger-file 'unclosed")
    _configure(linkahead_server, username="admin", password_identifier="admin")
    with pytest.raises(ConfigurationError, match="PASSWORD_STORE_GPG_OPTS cannot be split"):
        _whoami()


# -- refresh ---------------------------------------------------------------------------------------


def test_rotated_password_is_read_again_after_a_rejection(
        linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("linkahead/admin", "first-Pa55\nlogin: admin\n")
    linkahead_server.users["admin"] = "first-Pa55"
    _configure(linkahead_server, password_identifier="linkahead/admin")
    assert _whoami() == "admin"
    # The administrator rotates the password on the server and in the store; sessions end.
    linkahead_server.users["admin"] = "second-Pa55"
    store.insert("linkahead/admin", "second-Pa55\nlogin: admin\n")
    linkahead_server.invalidate_sessions()
    assert _whoami() == "admin"
    assert linkahead_server.counters.logins == 2
    assert linkahead_server.counters.failed_logins == 1  # the old password once, then the store again


def test_unchanged_password_after_a_rejection_is_a_login_failure(
        linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("linkahead/admin", "not-the-password\n")
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    with pytest.raises(LoginFailedError, match=r"rejected the login of user 'admin' \(password_method 'pass'\)"):
        _whoami()
    assert linkahead_server.counters.failed_logins == 1  # not retried with the same password


def test_requested_refresh_reads_the_store_again(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("linkahead/admin", linkahead_server.users["admin"])
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    assert _whoami() == "admin"
    linkahead_server.users["admin"] = "rotated-Pa55"
    store.insert("linkahead/admin", "rotated-Pa55")
    get_connection().refresh_credentials()
    credentials = get_connection().auth.state.credentials
    assert isinstance(credentials, PasswordCredentials) and credentials.password == "rotated-Pa55"
    assert _whoami() == "admin"


def test_refresh_hook_answers(store: PassStore) -> None:
    store.insert("e", "pw-1\nlogin: bob\n")
    config = {"password_identifier": "e"}
    old = linkahead_auth_pass.get_credentials(config=config)
    assert old == PasswordCredentials("bob", "pw-1")
    assert linkahead_auth_pass.refresh(config=config, credentials=old, reason="rejected") is None
    assert linkahead_auth_pass.refresh(config=config, credentials=old, reason="requested") == old
    assert linkahead_auth_pass.refresh(config=config, credentials=old, reason="expired") == old
    store.insert("e", "pw-2\nlogin: bob\n")
    assert linkahead_auth_pass.refresh(config=config, credentials=old, reason="rejected") == PasswordCredentials(
        "bob", "pw-2")


# -- entry contents --------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "password", "username"), [
    (b"pw", "pw", None),
    (b"pw\n", "pw", None),
    (b"pw\r\nlogin: carol\r\n", "pw", "carol"),
    (b"p w  \nurl: https://x\nUser:  dave  \nlogin: later\n", "p w  ", "dave"),
    (b"pw\nusername:erin\n", "pw", "erin"),
    ("pässwörd\nlogin: frank\n".encode(), "pässwörd", "frank"),
])
def test_parse_entry(content: bytes, password: str, username: str | None) -> None:
    assert linkahead_auth_pass.parse_entry(content, "e") == (password, username)


def test_empty_entry(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("linkahead/admin", "")
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    with pytest.raises(LoginFailedError, match=r"'linkahead/admin' is empty after decryption.*pass insert -f"):
        _whoami()


def test_entry_with_an_empty_first_line(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("linkahead/admin", "\nlogin: admin\n")
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    with pytest.raises(LoginFailedError, match=r"first line .* is empty.*pass edit linkahead/admin"):
        _whoami()


def test_no_username_anywhere(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("linkahead/admin", linkahead_server.users["admin"])
    _configure(linkahead_server, password_identifier="linkahead/admin")
    with pytest.raises(ConfigurationError, match=r"No user name .* 'login: <name>'"):
        _whoami()
    assert linkahead_server.counters.requests == 0


# -- errors ------------------------------------------------------------------------------------------


def test_missing_password_identifier(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    with pytest.raises(ConfigurationError, match=r"'password_identifier' is required for password_method 'pass'"):
        _configure(linkahead_server, username="admin")


def test_store_missing(linkahead_server: LinkAheadTestServer, store: PassStore, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-store"
    monkeypatch.setenv("PASSWORD_STORE_DIR", str(missing))
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    with pytest.raises(ConfigurationError) as caught:
        _whoami()
    assert str(caught.value) == (
        f"The password store {str(missing)!r} (from environment variable PASSWORD_STORE_DIR) does not exist or "
        "is not a folder. Create it with 'pass init <your-gpg-key-id>', or point PASSWORD_STORE_DIR (or the "
        "option pass_store_dir) at your store."
    )
    assert linkahead_server.counters.requests == 0


def test_entry_missing_lists_close_entries(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    for name in ("linkahead/admin", "linkahead/admins-old", "mail/work", ".hidden/admin"):
        store.insert(name, "x")
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admn")
    with pytest.raises(ConfigurationError) as caught:
        _whoami()
    message = str(caught.value)
    assert message.startswith(f"There is no entry 'linkahead/admn' in the password store {str(store.path)!r}")
    assert "(no file 'linkahead/admn.gpg'). Close entries: 'linkahead/admin', 'linkahead/admins-old'." in message
    assert "mail/work" not in message and ".hidden" not in message
    assert message.endswith("Fix password_identifier, or add the entry with 'pass insert linkahead/admn'.")


def test_entry_missing_without_close_entries(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("mail/work", "x")
    _configure(linkahead_server, username="admin", password_identifier="zzz")
    with pytest.raises(ConfigurationError, match=r"The store has 1 entry; list them with 'pass ls'"):
        _whoami()


def test_identifier_naming_a_folder(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("linkahead/admin", "x")
    store.insert("linkahead/guest", "x")
    _configure(linkahead_server, username="admin", password_identifier="linkahead")
    with pytest.raises(ConfigurationError, match=r"names a folder .* entry inside it: 'linkahead/admin', "
                                                 r"'linkahead/guest'"):
        _whoami()


def test_gpg_not_installed(linkahead_server: LinkAheadTestServer, store: PassStore, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    store.insert("linkahead/admin", "x")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # a real machine without gpg on PATH
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    with pytest.raises(ConfigurationError) as caught:
        _whoami()
    assert "no gpg program was found on PATH" in str(caught.value)
    assert "Debian/Ubuntu: 'apt install gnupg'" in str(caught.value)
    assert "pass_gpg_binary" in str(caught.value)


def test_configured_gpg_binary_missing(linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    store.insert("linkahead/admin", "x")
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin",
               pass_gpg_binary="/nonexistent/gpg")
    with pytest.raises(ConfigurationError, match=r"The gpg program '/nonexistent/gpg' \(option pass_gpg_binary\) "
                                                 r"was not found"):
        _whoami()


def test_gnupghome_not_a_folder(linkahead_server: LinkAheadTestServer, store: PassStore, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    store.insert("linkahead/admin", "x")
    monkeypatch.setenv("GNUPGHOME", str(tmp_path / "nowhere"))
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    with pytest.raises(ConfigurationError, match=r"GNUPGHOME is set to .*nowhere', which is not a folder"):
        _whoami()


def test_no_secret_key_for_the_entry(linkahead_server: LinkAheadTestServer, store: PassStore, key: Key,
                                     empty_home: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store.insert("linkahead/admin", "x")
    monkeypatch.setenv("GNUPGHOME", empty_home)
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin")
    with pytest.raises(ConfigurationError) as caught:
        _whoami()
    assert str(caught.value) == (
        f"Cannot decrypt the password store entry 'linkahead/admin': it is encrypted for the key(s) {key.keyid}, "
        f"but the GnuPG home {empty_home!r} has no secret key for any of them. Set GNUPGHOME to the GnuPG home "
        "that holds your key, import the secret key ('gpg --import'), or re-encrypt the store for your key "
        "('pass init <your-key-id>')."
    )


def test_locked_key_without_a_terminal_fails_fast(
        linkahead_server: LinkAheadTestServer, tmp_path: Path, locked_key: Key,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = _new_store(tmp_path / "locked-store", locked_key)
    store.insert("linkahead/admin", linkahead_server.users["admin"])
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "PASSWORD_STORE_GPG_OPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GNUPGHOME", locked_key.home)
    monkeypatch.setenv("PASSWORD_STORE_DIR", str(store.path))
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin", pass_timeout=60)
    started = time.monotonic()
    with pytest.raises(LoginFailedError) as caught:
        _whoami()
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"took {elapsed:.1f} s; must fail at once, not wait for a prompt"
    message = str(caught.value)
    assert "protected by a passphrase that the gpg-agent has not cached" in message
    assert "run 'pass show linkahead/admin' in a terminal" in message
    assert linkahead_server.counters.requests == 0


def test_unanswered_passphrase_prompt_times_out(
        linkahead_server: LinkAheadTestServer, tmp_path: Path, locked_key: Key,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = _new_store(tmp_path / "locked-store", locked_key)
    store.insert("linkahead/admin", linkahead_server.users["admin"])
    monkeypatch.delenv("PASSWORD_STORE_GPG_OPTS", raising=False)
    # A display makes the method interactive, so the agent starts its (silent) pinentry and waits.
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("GNUPGHOME", locked_key.home)
    monkeypatch.setenv("PASSWORD_STORE_DIR", str(store.path))
    _configure(linkahead_server, username="admin", password_identifier="linkahead/admin", pass_timeout=1.5)
    started = time.monotonic()
    try:
        with pytest.raises(LoginFailedError, match=r"did not finish decrypting .* within 1.5 s and was stopped"):
            _whoami()
    finally:
        _kill_agent(locked_key.home)  # ends the waiting pinentry too
    elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 15


# -- identifiers that try to leave the store -------------------------------------------------------


@pytest.mark.parametrize(("identifier", "reason"), [
    ("../outside", "must not contain '.' or '..' path components"),
    ("linkahead/../../outside", "must not contain '.' or '..' path components"),
    ("./admin", "must not contain '.' or '..' path components"),
    ("/etc/passwd", "not a file system path"),
    ("~/outside", "not a file system path"),
    ("admin\0x", "must not contain control characters"),
    ("admin\nx", "must not contain control characters"),
    ("linkahead//admin", "must not contain empty path components"),
    ("linkahead/", "must not contain empty path components"),
    ("   ", "must not be empty"),
])
def test_identifiers_leaving_the_store_are_refused(
        linkahead_server: LinkAheadTestServer, store: PassStore, tmp_path: Path, identifier: str,
        reason: str) -> None:
    store.insert("linkahead/admin", "x")
    shutil.copy(store.path / "linkahead" / "admin.gpg", tmp_path / "outside.gpg")
    with pytest.raises(ConfigurationError, match=r"Invalid password_identifier") as caught:
        _configure(linkahead_server, username="admin", password_identifier=identifier)
    assert reason in str(caught.value)
    # The plugin checks again when called without the core's validation.
    with pytest.raises(ConfigurationError, match=reason):
        linkahead_auth_pass.get_credentials(config={"password_identifier": identifier, "username": "admin"})
    assert linkahead_server.counters.requests == 0


@pytest.mark.parametrize("identifier", ["x; touch file", "$(touch file)", "`touch file`", "x && touch file",
                                        "-o file", "x | touch file"])
def test_shell_injection_creates_nothing(linkahead_server: LinkAheadTestServer, store: PassStore, tmp_path: Path,
                                         identifier: str) -> None:
    store.insert("linkahead/admin", "x")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    Path("pylinkahead.ini").write_text(
        f"[Connection]\nurl = {linkahead_server.url}\nusername = admin\npassword_method = pass\n"
        f"password_identifier = {identifier}\n", encoding="utf-8")
    configure_connection()
    with pytest.raises(ConfigurationError, match=r"There is no entry .* in the password store"):
        _whoami()
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    cache = Path("home", ".cache")  # the entry-point cache (issue 20) may be written on first use
    assert {p for p in after if p != cache and cache not in p.parents} == {*before, Path("work", "pylinkahead.ini")}
    assert not any(p.name == "file" for p in tmp_path.rglob("*"))
    assert not Path("file").exists()


def test_symlink_leading_outside_the_store(linkahead_server: LinkAheadTestServer, store: PassStore,
                                           tmp_path: Path) -> None:
    store.insert("linkahead/admin", linkahead_server.users["admin"])
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(store.path / "linkahead" / "admin.gpg", outside / "admin.gpg")
    (store.path / "evil.gpg").symlink_to(outside / "admin.gpg")
    (store.path / "evil-folder").symlink_to(outside)
    (store.path / "good.gpg").symlink_to(store.path / "linkahead" / "admin.gpg")
    for identifier in ("evil", "evil-folder/admin"):
        _configure(linkahead_server, username="admin", password_identifier=identifier)
        with pytest.raises(ConfigurationError, match=rf"entry '{identifier}' leads outside the store"):
            _whoami()
    # A symlink that stays inside the store is fine.
    _configure(linkahead_server, username="admin", password_identifier="good")
    assert _whoami() == "admin"


def test_check_identifier_accepts_ordinary_names() -> None:
    for name in ("admin", "linkahead/admin", "web sites/linkahead.example.org/ädmin", "a..b", ".hidden/x"):
        assert check_identifier(name) == name


# -- the demo hook -----------------------------------------------------------------------------------


def test_demo_config_prepares_a_working_store(linkahead_server: LinkAheadTestServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Registered first, so monkeypatch restores the variables the hook sets (the demo does the same).
    monkeypatch.setenv("GNUPGHOME", "unchanged")
    monkeypatch.setenv("PASSWORD_STORE_DIR", "unchanged")
    monkeypatch.delenv("DISPLAY", raising=False)
    workdir = tmp_path / "demo"
    workdir.mkdir()
    answer = linkahead_auth_pass.demo_config(server=linkahead_server, workdir=workdir)
    home = os.environ["GNUPGHOME"]
    try:
        assert answer == {"username": "admin", "password_identifier": "linkahead/admin"}
        assert os.environ["PASSWORD_STORE_DIR"] == str(workdir / "password-store")
        assert len(home) < 40  # the agent socket path limit
        _configure(linkahead_server, **answer)
        assert _whoami() == "admin"
        # The real pass command reads the store the hook wrote.
        assert PASS is not None
        shown = subprocess.run([PASS, "show", "linkahead/admin"], env=dict(os.environ), capture_output=True,
                               timeout=60, check=True).stdout.decode()
        assert shown.splitlines()[0] == linkahead_server.users["admin"]
    finally:
        _cleanup(home)
    assert not Path(home).exists()


def test_demo_config_without_gpg(linkahead_server: LinkAheadTestServer, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert linkahead_auth_pass.demo_config(server=linkahead_server, workdir=tmp_path) is None


# -- secrets -----------------------------------------------------------------------------------------


def test_password_never_appears_in_logs_reprs_or_errors(
        linkahead_server: LinkAheadTestServer, store: PassStore, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    secret = "Zq9-very-Secret-7741"
    stale = "Stale-Secret-0815"
    linkahead_server.users["admin"] = secret
    store.insert("linkahead/admin", f"{secret}\nlogin: admin\nurl: x\n")
    caplog.set_level(logging.DEBUG)
    _configure(linkahead_server, password_identifier="linkahead/admin", debug=True)
    assert _whoami() == "admin"
    connection = get_connection()
    shown = [repr(connection.auth.state), repr(connection.auth.state.credentials), repr(connection.config),
             str(connection.auth.state.credentials)]
    # Then the store holds a wrong password: the failure texts must not show it either.
    store.insert("linkahead/admin", f"{stale}\nlogin: admin\n")
    linkahead_server.invalidate_sessions()
    linkahead_server.users["admin"] = "something-else"
    with pytest.raises(LoginFailedError) as caught:
        _whoami()
    shown += [str(caught.value), repr(caught.value)]
    captured = capsys.readouterr()
    records = caplog.records
    assert any(r.name == "linkahead_auth_pass" for r in records), "the plugin's DEBUG records were captured"
    assert any(r.name == "gnupg" for r in records), "python-gnupg's DEBUG records were captured"
    everything = "\n".join([caplog.text, *(r.getMessage() for r in records), captured.out, captured.err, *shown])
    assert secret not in everything
    assert stale not in everything


def test_cli_login_at_debug_level_does_not_show_the_password(
        linkahead_server: LinkAheadTestServer, store: PassStore) -> None:
    secret = "Cli-Secret-Pa55-9931"
    linkahead_server.users["admin"] = secret
    store.insert("linkahead/admin", f"{secret}\nlogin: admin\n")
    Path("pylinkahead.ini").write_text(
        f"[Connection]\nurl = {linkahead_server.url}\npassword_method = pass\n"
        "password_identifier = linkahead/admin\n", encoding="utf-8")
    cli = Path(sys.executable).parent / "linkahead-auth"
    for command in (["-v", "login"], ["-v", "config"], ["-v", "status"]):
        done = subprocess.run([str(cli), *command], env=dict(os.environ), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert secret not in done.stdout + done.stderr
        assert "admin" in done.stdout + done.stderr
    assert linkahead_server.counters.logins >= 2
