from __future__ import annotations

import pickle

import pytest

from beta_middleware import HEADER, InvalidBetaError, betas
from beta_middleware._header import HostMatcher, Rules, merge
from beta_middleware._names import NameSet


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
    "bad", ["", "https://api.anthropic.com", "api.anthropic.com:443/x", "a b", "*", "a.*.com", 3]
)
def test_bad_hosts_are_refused_with_repr(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid host") as info:
        Rules(hosts=["ok.example.com", bad])  # type: ignore[list-item]
    assert repr(bad) in str(info.value)


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
        assert rules.added() is rules.added()  # precomputed at scope entry
        assert scope.names == ("a", "b")


def test_rules_cache_follows_the_innermost_scope() -> None:
    rules = Rules(betas="f")
    with betas("a"):
        first = rules.added()
        assert rules.added() is first  # cached while the scope is innermost
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


def test_the_host_shape_check_is_the_documented_pattern() -> None:
    # checked without `re` (start-up cost): every short string over the characters that matter
    import itertools
    import re

    from beta_middleware._header import _HOST

    pattern = re.compile(r"(\*\.)?[a-z0-9_:.\-]+")
    for n in range(5):
        for chars in itertools.product("a*.Z9_:-/ é", repeat=n):
            host = "".join(chars)
            assert _HOST.fullmatch(host) is bool(pattern.fullmatch(host)), host
