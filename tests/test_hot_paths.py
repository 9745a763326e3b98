"""The per-request caches and shortcuts of the hot paths give what the plain code gives."""

from __future__ import annotations

import asyncio

from beta_middleware import betas
from beta_middleware._core.header import HostMatcher, Rules, merge, sent
from beta_middleware._core.names import NameSet


def test_sent_is_recomputed_when_own_values_or_names_change() -> None:
    rules = Rules()
    with betas("a-1", "b-1"):
        added = rules.added()
        for _ in range(2):  # the second pass reads the memo
            assert sent(None, added) == sent("", added) == "a-1,b-1"
            assert sent("own-1", added) == "own-1,a-1,b-1"
            assert sent("own-2, a-1", added) == "own-2,a-1,b-1"
            assert sent("x,y", added) == merge(("x", "y"), added) == "x,y,a-1,b-1"
        with betas("c-1"):
            assert sent("x,y", rules.added()) == "x,y,a-1,b-1,c-1"
        assert sent("x,y", added) == "x,y,a-1,b-1"


def test_the_memo_of_sent_values_is_bounded() -> None:
    added = NameSet(("a-1",))
    for i in range(1000):
        assert sent(f"own-{i}", added) == f"own-{i},a-1"
        assert len(added.after) <= 64
    assert sent("own-999", added) == "own-999,a-1"


def test_added_is_right_for_integrations_and_contexts_taking_turns() -> None:
    one, two = Rules(betas="fixed-1"), Rules(betas=["fixed-2", "a-1"])
    with betas("a-1"):
        for _ in range(2):  # the second pass reads the caches
            assert one.added().names == ("fixed-1", "a-1")
            assert two.added().names == ("fixed-2", "a-1")
            with betas("b-1"):
                assert one.added().names == ("fixed-1", "a-1", "b-1")
                assert two.added().names == ("fixed-2", "a-1", "b-1")
    assert one.added().names == ("fixed-1",)


async def test_added_is_right_for_many_interleaved_tasks() -> None:
    rules = Rules(betas="fixed-1")
    seen: dict[int, list[str]] = {}

    async def task(i: int) -> None:
        async with betas(f"task-{i}"):
            for _ in range(3):
                seen.setdefault(i, []).append(rules.header(None) or "")
                await asyncio.sleep(0)

    await asyncio.gather(*(task(i) for i in range(50)))
    assert seen == {i: [f"fixed-1,task-{i}"] * 3 for i in range(50)}


def test_host_matcher_answers_alike_with_its_memo() -> None:
    spec = ["api.example.com", "*.b.example.com"]
    matcher = HostMatcher(spec)
    hosts = ["", "api.example.com", "API.Example.com.", "example.com", "a.b.example.com", "b.example.com"]
    for host in [*hosts, *hosts[::-1], *(h for h in hosts for _ in range(2))]:
        assert matcher(host) is HostMatcher(spec)(host), host
    assert [matcher(h) for h in hosts] == [False, True, True, False, True, False]


def test_the_exact_set_of_a_host_matcher_holds_only_hosts_it_matches() -> None:
    # Integrations test `host in matcher.exact` before calling the matcher: a yes there
    # must be a yes of the matcher, for every form of a host.
    matcher = HostMatcher(["API.Example.com.", "*.b.example.com", "[::1]"])
    assert matcher.exact == frozenset({"api.example.com", "::1"})
    for host in matcher.exact:
        assert matcher(host)
    for host in ("API.example.com", "api.example.com.", "a.b.example.com"):
        assert host not in matcher.exact
        assert matcher(host)


def test_value_is_added_joined_for_every_kind_of_rules() -> None:
    few, many = Rules(betas=["a-1", "f-1"]), Rules(betas=[f"f-{i}" for i in range(8)])
    plain, dropping = Rules(), Rules(betas="f-1")
    dropping.drop(["x-1"])
    # names that are, contain, or are contained in the fixed names
    contexts = [(), ("x-1",), ("a-1",), ("xa-1",), ("f-1", "y-1"), ("f-10", "b-1"), ("a-1-2",)]
    for names in contexts:
        with betas(*names):
            for rules in (few, many, plain, dropping):
                everything = dict.fromkeys((*rules.fixed.names, *names))
                expected = ",".join(n for n in everything if n not in rules.dropped)
                for _ in range(2):  # the second pass reads the caches
                    assert rules.value() == rules.added().joined == expected, (names, rules)
