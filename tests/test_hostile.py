"""Hostile input, property-based: token and cookie parsing, URLs, ini files, every option converter.

The property everywhere: the documented exception (``ValueError`` from converters and parsers,
``ConfigurationError`` from the configuration) or a well-formed result -- never another exception
and never a hang (each example has a deadline).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from linkahead import configuration, options, tokens
from linkahead.configuration import ConnectionConfig
from linkahead.connection.connection import make_uri_path
from linkahead.exceptions import ConfigurationError
from linkahead.options import CORE_OPTIONS, Option

FAST = settings(max_examples=150, deadline=500, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Values a caller or an ini file might hand a converter: text of every kind, numbers from tiny to
# huge, containers, bytes, None.
huge_ints = st.integers(min_value=-(10**400), max_value=10**400)
scalars = st.one_of(
    st.none(), st.booleans(), huge_ints, st.floats(allow_nan=True, allow_infinity=True),
    st.text(), st.binary(max_size=20), st.complex_numbers(),
)
anything = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=3), st.tuples(children, children), st.dictionaries(st.text(max_size=5), children,
                                                                                    max_size=3),
), max_leaves=6)
# Text that looks like what it is parsed as: python literals for timeout, URLs, numbers.
literal_text = st.one_of(
    st.from_regex(r"\A[\s(\[{]*[-+]?[0-9.eE]{0,420}[\s,]*[-+]?[0-9.eE]{0,20}[)\]}]*\Z"),
    st.builds(repr, anything),
    st.sampled_from(["null", "None", "{[]: 1}", "{{}}", "{1: {}}", "1" + "0" * 400, "(" * 200 + ")" * 200,
                     "[" * 5000, "1e400", "(1e400, 1)", "(1, 10**9)", "--1", "0x10", "1_000", "True", "∞"]),
)
url_text = st.one_of(
    st.builds(lambda scheme, auth, host, port, path: f"{scheme}://{auth}{host}{port}{path}",
              st.sampled_from(["http", "https", "HTTP", "socks5", "socks5h", "ftp", "", "https:"]),
              st.sampled_from(["", "user@", "user:pw@", ":@", "@", "a:b:c@"]),
              st.one_of(st.sampled_from(["localhost", "[::1]", "[::1", "::1]", "127.0.0.1", "", "h o st", "é.example"]),
                        st.text(max_size=15)),
              st.one_of(st.sampled_from(["", ":", ":0", ":65535", ":65536", ":-1", ":99999999999", ":x", ":8 0"]),
                        st.text(max_size=5).map(lambda t: ":" + t)),
              st.one_of(st.sampled_from(["", "/", "/root/", "/?q", "/#f", "/%zz", "/\x00", "/\n"]),
                        st.text(max_size=10))),
    st.text(),
)


def converters() -> list[tuple[str, Callable[[Any], Any]]]:
    """Every public converter in linkahead.options and every core option's parse."""
    found = {name: getattr(options, name) for name in options.__all__
             if callable(getattr(options, name)) and name not in ("Option",)}
    found.update({f"option {option.name}": option.parse for option in CORE_OPTIONS})
    return sorted(found.items())


@pytest.mark.parametrize(("name", "convert"), converters(), ids=[name for name, _ in converters()])
@FAST
@given(value=st.one_of(anything, literal_text, url_text))
def test_every_converter_answers_a_value_or_value_error(name: str, convert: Callable[[Any], Any], value: Any) -> None:
    try:
        result = convert(value)
    except ValueError as error:
        assert str(error)  # a sentence, not an empty error
        return
    if isinstance(result, float):
        assert math.isfinite(result)
    if name in ("number", "optional_number", "option plugin_timeout") and result is not None:
        assert result > 0
    if name in ("timeout", "option timeout") and result is not None:
        parts = result if isinstance(result, tuple) else (result,)
        assert all(isinstance(part, float) and 0 < part < math.inf for part in parts)


@FAST
@given(value=url_text)
@example("http://[::1")
@example("https://host:99999/")
@example("http://host:8 0/")
@example("http://exa mple.org/")
@example("http://host/\n")
def test_url_accepts_only_usable_server_urls(value: str) -> None:
    try:
        result = options.url(value)
    except ValueError:
        # The configuration error may show the URL but not a password in it.
        with pytest.raises(ConfigurationError) as info:
            configuration.validate(configuration.collect({"url": value}, read_file=False), CORE_OPTIONS, "plain")
        assert ":pw@" not in str(info.value)
        return
    from urllib.parse import urlsplit

    parts = urlsplit(result)
    assert parts.scheme.lower() in ("http", "https")
    assert parts.hostname
    assert parts.port is None or 0 <= parts.port <= 65535
    assert not any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in result)


@FAST
@given(value=url_text)
@example("http://proxy:99999")
@example("socks5://[::1")
def test_proxy_url_accepts_only_usable_proxy_urls(value: str) -> None:
    try:
        result = options.proxy_url(value)
    except ValueError:
        return
    if result is None:
        return
    from urllib.parse import urlsplit

    parts = urlsplit(result)
    assert parts.scheme.lower() in ("http", "socks4", "socks4a", "socks5", "socks5h")
    assert parts.hostname
    assert parts.port is None or 0 <= parts.port <= 65535


# -- tokens and cookies -------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), huge_ints, st.floats(allow_nan=False), st.text(max_size=10)),
    lambda children: st.lists(children, max_size=4), max_leaves=8,
)
token_arrays = st.builds(
    lambda kind, realm, user, issued, timeout, tail: [kind, realm, user, [], [], issued, timeout, "n", "c", *tail],
    st.one_of(st.sampled_from(["S", "O"]), json_values), st.one_of(st.text(max_size=8), json_values),
    st.one_of(st.text(max_size=8), json_values), st.one_of(huge_ints, json_values),
    st.one_of(huge_ints, json_values), st.lists(json_values, max_size=3),
)


def encodings(fields: Any) -> st.SearchStrategy[str]:
    text = json.dumps(fields)
    return st.sampled_from([text, quote(text, safe=""), quote(text)])


@FAST
@given(value=st.one_of(st.text(), token_arrays.flatmap(encodings), st.just("%5B" * 9000)))
@example('["S","PAM","admin",[],[],1' + "0" * 400 + ',1,"n","c"]')
@example('["S","PAM","admin",[],[],1,1' + "0" * 400 + ',"n","c"]')
@example("[" * 100000)
def test_parse_token_answers_token_info_or_value_error(value: str) -> None:
    try:
        info = tokens.parse_token(value)
    except ValueError as error:
        assert value not in str(error) or len(value) < 2
        return
    assert info.kind in ("S", "O")
    assert math.isfinite(info.expires_at)  # usable as a deadline, never an OverflowError
    assert info.expires_at >= 0


@FAST
@given(header=st.one_of(
    st.none(), st.text(),
    st.builds(lambda before, value, after: f"{before}SessionToken={value}{after}",
              st.sampled_from(["", "a=b, ", "x; ", "JSESSIONID=1; ", "NotSessionToken=1; "]),
              st.one_of(st.text(max_size=30), st.just("a" * 20000), token_arrays.flatmap(encodings)),
              st.sampled_from(["", "; Path=/", ", other=1", "; Max-Age=0", ";SessionToken=second"])),
))
def test_set_cookie_parsing_never_raises(header: str | None) -> None:
    value = tokens.session_token_from_set_cookie(header)
    if value is None:
        return
    assert len(value) <= tokens.MAX_TOKEN_LENGTH
    # What we adopt goes into our own Cookie header: it must not be able to break it.
    assert not any(c in value for c in ";, \t\r\n\"\\\x00")
    assert all(0x21 <= ord(c) <= 0x7e for c in value)


# -- url paths ---------------------------------------------------------------------------------


@FAST
@given(segments=st.lists(st.one_of(st.text(), huge_ints, st.floats()), max_size=5),
       query=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.text(max_size=8)),
                                                   max_size=3)))
@example(["\ud800"], None)
@example(["a/b", "..", "?x", "#y", "%2F"], {"q": "a&b=c", "": None})
def test_make_uri_path_quotes_every_segment(segments: list[Any], query: dict[str, str | None] | None) -> None:
    try:
        path = make_uri_path(segments, query)
    except ValueError:
        # Documented: text that cannot be UTF-8 encoded (a lone surrogate).
        assert any("\ud800" <= c <= "\udfff" for s in [*map(str, segments), *(query or {}), *(query or {}).values()]
                   if s is not None for c in s)
        return
    assert all(0x21 <= ord(c) <= 0x7e for c in path)
    base, _, query_text = path.partition("?")
    if segments:
        assert [unquote(part) for part in base.split("/")] == [str(s) for s in segments]
    if query:
        assert len(query_text.split("&")) == len(query)
    assert "#" not in path


# -- ini files ----------------------------------------------------------------------------------

known_keys = [option.name for option in CORE_OPTIONS] + ["keyring_service", "pasword", "URL", "Password"]
ini_value = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30), literal_text, url_text,
    st.sampled_from(["plain", "auth_token", "unauthenticated", "no-such-method", "", " ", "null", "%(x)s", "${x}"]),
)
ini_line = st.one_of(
    st.builds(lambda key, sep, value: f"{key}{sep}{value}", st.one_of(st.sampled_from(known_keys), st.text(max_size=8)),
              st.sampled_from([" = ", "=", ": ", " "]), ini_value),
    st.sampled_from(["[Connection]", "[Container]", "[connection]", "[Connection", "  indented = 1", "; comment",
                     "# comment", "", "\t", "[Connection]\n[Connection]", "url = a\nurl = b", "\x00", "\ufeff"]),
)
ini_text = st.lists(ini_line, max_size=8).map(lambda lines: "\n".join(["[Connection]", *lines]))


def plain_options() -> list[Option]:
    from linkahead_auth_plain import declare_options

    return [*CORE_OPTIONS, *declare_options()]


@FAST
@given(content=st.one_of(ini_text, st.binary(max_size=200).map(lambda data: data.decode("latin-1"))),
       raw=st.one_of(st.none(), st.binary(max_size=100)))
@example("[Connection]\ntimeout = 1" + "0" * 400, None)
@example("[Connection]\ntimeout = {[]: 1}", None)
@example("[Connection]\nurl = http://h\npassword = a\n b", None)
@example("", b"\xff\xfe[Connection]")
def test_ini_files_are_read_or_rejected_with_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, raw: bytes | None
) -> None:
    path = tmp_path / "pylinkahead.ini"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    path.chmod(0o600)
    monkeypatch.setenv("PYLINKAHEADINI", str(path))
    try:
        section = configuration.read_connection_section(path)
        assert all(isinstance(key, str) and isinstance(value, str) for key, value in section.items())
        settings_ = configuration.collect({})
        config = configuration.validate(settings_, plain_options(), "plain", ("keyring_",))
    except ConfigurationError as error:
        assert str(error)
        return
    assert isinstance(config, ConnectionConfig)
    repr(config)  # showing it must work too


@FAST
@given(kwargs=st.dictionaries(st.sampled_from(known_keys), st.one_of(anything, ini_value), max_size=5))
def test_keyword_arguments_are_validated_or_rejected(kwargs: dict[str, Any]) -> None:
    try:
        settings_ = configuration.collect(kwargs, read_file=False)
        config = configuration.validate(settings_, plain_options(), "plain", ("keyring_",))
    except ConfigurationError as error:
        assert str(error)
        return
    repr(config)


# -- the bugs these properties found, pinned as plain examples ------------------------------------


@pytest.mark.parametrize("value", ["1" + "0" * 400, "(1, 1" + "0" * 400 + ")", "{[]: 1}", "{{}}"])
def test_timeout_text_that_crashed_the_converter(value: str) -> None:
    with pytest.raises(ConfigurationError, match="Invalid timeout"):
        configuration.validate(configuration.collect({"url": "http://localhost/", "timeout": value},
                                                     read_file=False), CORE_OPTIONS, "plain")


def test_huge_integers_are_not_numbers() -> None:
    with pytest.raises(ValueError, match="expected a positive number"):
        options.number(10**400)


@pytest.mark.parametrize("value", ["http://exa mple.org/", "http://host/\n", "http://ho\tst/", "http://host/\x00"])
def test_urls_with_blanks_or_control_characters_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"contains a blank or a control character|must be one line"):
        options.url(value)


@pytest.mark.parametrize("value", ["http://proxy:99999", "socks5://proxy:x", "http://[::1"])
def test_proxy_urls_with_a_bad_port_or_host_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not a valid URL"):
        options.proxy_url(value)


@pytest.mark.parametrize("field", [5, 6])
def test_token_numbers_beyond_a_java_long_are_refused(field: int) -> None:
    fields: list[Any] = ["S", "PAM", "admin", [], [], 1, 1, "n", "c"]
    fields[field] = 10**400
    with pytest.raises(ValueError, match="not a non-negative integer"):
        tokens.parse_token(json.dumps(fields))


def test_a_password_continued_on_the_next_ini_line_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pylinkahead.ini"
    path.write_text("[Connection]\nurl = http://localhost/\nusername = admin\npassword = first-half\n"
                    "  second-half\n", encoding="utf-8")
    path.chmod(0o600)
    monkeypatch.setenv("PYLINKAHEADINI", str(path))
    with pytest.raises(ConfigurationError) as info:
        configuration.validate(configuration.collect({}), plain_options(), "plain")
    message = str(info.value)
    assert message.startswith(f"Invalid password (from file {path}): must be one line")
    assert "half" not in message
