from __future__ import annotations

import pickle
import re
import sys

import pytest

from beta_middleware import HEADER, InvalidBetaError, betas
from beta_middleware._core.header import HostMatcher, Rules, merge
from beta_middleware._core.names import NameSet


def test_header_name() -> None:
    assert HEADER == "anthropic-beta"


@pytest.mark.parametrize(
    ("own", "added", "sent"),
    [
        ([], ("a", "b"), "a,b"),
        (["x"], ("a",), "x,a"),
        (["x, y", "z"], ("a",), "x,y,z,a"),  # split on commas, several header lines
        ([" x ,, ,y, "], ("a",), "x,y,a"),  # blanks dropped, spaces trimmed
        (["a,x"], ("x", "a", "b"), "a,x,b"),  # each name once, first occurrence wins
        (["x,x"], ("b",), "x,b"),
    ],
)
def test_merge_order_own_then_added(own: list[str], added: tuple[str, ...], sent: str) -> None:
    assert merge(own, NameSet(added)) == sent


@pytest.mark.parametrize(
    ("hosts", "host", "matches"),
    [
        (["api.anthropic.com"], "api.anthropic.com", True),
        (["api.anthropic.com"], "API.Anthropic.COM", True),
        (["API.ANTHROPIC.COM"], "api.anthropic.com", True),
        (["api.anthropic.com"], "api.anthropic.com.", True),
        (["api.anthropic.com"], "anthropic.com", False),
        (["api.anthropic.com"], "evil-api.anthropic.com", False),
        (["api.anthropic.com"], "api.anthropic.com.evil.net", False),
        (["*.example.com"], "api.example.com", True),
        (["*.example.com"], "a.b.EXAMPLE.com", True),
        (["*.example.com"], "example.com", False),
        (["*.example.com"], "badexample.com", False),
        (["*.example.com", "example.com"], "example.com", True),
        ("api.anthropic.com", "api.anthropic.com", True),  # one str is one host
        (["[::1]"], "::1", True),
        (["127.0.0.1"], "127.0.0.1", True),
    ],
)
def test_host_matching(hosts: list[str], host: str, matches: bool) -> None:
    assert HostMatcher(hosts)(host) is matches


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("https://api.anthropic.com", "a scheme"),
        ("api.anthropic.com:443", "a port"),
        ("localhost:8000", "a port"),
        ("[::1]:8000", "a port"),
        ("127.0.0.1:8000", "a port"),
        ("api.anthropic.com/v1", "a path"),
        ("api.anthropic.com/", "a path"),
        ("api.anthropic.com?x", "a path"),
        ("user@api.anthropic.com", "userinfo"),
        ("user:pw@api.anthropic.com", "userinfo"),
        ("*", "a '\\*'"),
        ("a.*.com", "a '\\*'"),
        ("*.*.com", "a '\\*'"),
        ("**.com", "a '\\*'"),
        ("*example.com", "a '\\*'"),
        ("a b", "not a host name"),
        (" api.anthropic.com", "not a host name"),
        ("a..b", "not a host name"),
        (".example.com", "not a host name"),
        ("*.", "not a host name"),
        ("-a.example.com", "not a host name"),
        ("a" * 64 + ".com", "not a host name"),
        ("[example.com]", "not a host name"),
        ("\u2603.example", "not a host name"),  # not allowed in IDNA 2008
        ("xn--zz.example", "not a host name"),  # an invalid xn-- label
        ("::1::2", "not an IP address"),
        ("[::1", "not an IP address"),
        ("[::g]", "not an IP address"),
        ("a:b", "not an IP address"),
        (3, "expected a str"),
        (b"api.anthropic.com", "expected a str"),
    ],
)
def test_bad_hosts_are_refused_with_repr_and_reason(bad: object, why: str) -> None:
    with pytest.raises(ValueError, match="invalid host") as info:
        Rules(hosts=["ok.example.com", bad])  # type: ignore[list-item]
    assert repr(bad) in str(info.value)
    assert re.search(why, str(info.value))


@pytest.mark.parametrize(
    ("given", "spec"),
    [
        ("API.Anthropic.com.", "api.anthropic.com"),  # one trailing dot: the fully qualified form
        ("*.Example.com", "*.example.com"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("under_score.internal", "under_score.internal"),
        ("b\u00fccher.example", "xn--bcher-kva.example"),
        ("B\u00dcCHER.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
        ("*.b\u00fccher.example", "*.xn--bcher-kva.example"),
        ("fa\u00df.de", "xn--fa-hia.de"),  # IDNA 2008, as the stacks encode it (2003: fass.de)
    ],
)
def test_hosts_are_kept_in_one_form(given: str, spec: str) -> None:
    assert HostMatcher([given]).spec == (spec,)
    assert HostMatcher([spec]).spec == (spec,)  # what Rules pickles is taken again as it is


@pytest.mark.parametrize("given", ["b\u00fccher.example", "xn--bcher-kva.example", "XN--bcher-KVA.example"])
@pytest.mark.parametrize(
    ("host", "matches"),
    [
        ("b\u00fccher.example", True),
        ("xn--bcher-kva.example", True),
        ("B\u00fcCHER.example", True),
        ("b\u00fccher.example.", True),
        ("bucher.example", False),
        ("xb\u00fccher.example", False),
    ],
)
def test_internationalised_names_match_in_either_form(given: str, host: str, matches: bool) -> None:
    assert HostMatcher([given])(host) is matches
    wildcard = HostMatcher(["*." + given])
    assert wildcard("api." + host) is matches
    assert wildcard("a.xn--bcher-kva.example") is True
    assert wildcard(host) is False


def test_internationalised_names_without_the_idna_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only without any HTTP stack: the standard library's IDNA 2003 codec stands in.
    monkeypatch.setitem(sys.modules, "idna", None)
    hosts = HostMatcher(["b\u00fccher.example", "*.xn--mnchen-3ya.example"])
    assert hosts.spec == ("xn--bcher-kva.example", "*.xn--mnchen-3ya.example")
    for host in (
        "xn--bcher-kva.example",
        "b\u00fccher.example",
        "a.m\u00fcnchen.example",
        "a.xn--mnchen-3ya.example",
    ):
        assert hosts(host), host
    with pytest.raises(ValueError, match="not a host name"):
        HostMatcher(["a" * 70 + "\u00fc.example"])


@pytest.mark.parametrize("host", ["::1", "[::1]", "0:0:0:0:0:0:0:1", "0000::0001"])
def test_ipv6_addresses_match_however_spelt(host: str) -> None:
    assert HostMatcher(["::1"])(host)
    assert HostMatcher(["[0::1]"])(host)
    assert not HostMatcher(["::2"])(host)


def test_hosts_in_several_forms_are_kept_once() -> None:
    hosts = HostMatcher(
        ["b\u00fccher.example", "xn--bcher-kva.example", "Api.example.com", "api.example.com."]
    )
    assert hosts.spec == ("xn--bcher-kva.example", "api.example.com")
    assert Rules(hosts=["b\u00fccher.example"]) == Rules(hosts=["xn--bcher-kva.example"])


def test_bad_fixed_betas_are_refused() -> None:
    with pytest.raises(InvalidBetaError, match=r"'a b'"):
        Rules(betas=["ok", "a b"])


def test_rules_add_fixed_then_context_each_once() -> None:
    rules = Rules(betas=["f1", "shared"])
    assert rules.added().names == ("f1", "shared")
    with betas("c1", "shared"):
        assert rules.added().names == ("f1", "shared", "c1")
        assert rules.header("own, c1") == "own,c1,f1,shared"
        with betas("c2"):
            assert rules.added().names == ("f1", "shared", "c1", "c2")
        assert rules.added().names == ("f1", "shared", "c1")


def test_rules_without_fixed_betas_read_the_context_directly() -> None:
    rules = Rules()
    assert rules.header(None) is None  # nothing to add: leave the request as it was
    assert rules.header("own") is None
    with betas("a", "b") as scope:
        assert rules.header("") == "a,b"
        assert scope.names == ("a", "b")


def test_rules_follow_the_innermost_scope() -> None:
    rules = Rules(betas="f")
    with betas("a"):
        assert rules.added().names == ("f", "a")
    with betas("b"):
        assert rules.added().names == ("f", "b")


def test_rules_applies_to() -> None:
    assert Rules().applies_to("anything")
    rules = Rules(hosts=["*.example.com"])
    assert rules.applies_to("api.example.com")
    assert not rules.applies_to("example.org")


def test_rules_pickle_equality_and_repr() -> None:
    rules = Rules(betas=["a"], hosts=["*.example.com"])
    with betas("ctx"):
        rules.added()
    copy = pickle.loads(pickle.dumps(rules))
    assert copy == rules
    assert hash(copy) == hash(rules)
    assert copy.added().names == ("a",)
    assert rules != Rules(betas=["a"])
    assert rules != object()
    assert repr(rules) == "Rules(betas=['a'], hosts=['*.example.com'])"
    assert repr(rules.hosts) == "HostMatcher(['*.example.com'])"


def test_the_label_check_is_the_documented_pattern() -> None:
    # checked without `re` (install()'s cost): every short label over the characters that matter
    import itertools
    import re

    from beta_middleware._core.header import _label

    pattern = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?")
    for n in range(5):
        for chars in itertools.product("a9_-Z.é", repeat=n):
            label = "".join(chars)
            assert _label(label) is bool(pattern.fullmatch(label)), label
    for label in ("a" * 63, "a" * 64, "a" + "-" * 61 + "b", "-" + "a" * 62):
        assert _label(label) is bool(pattern.fullmatch(label)), label
