from __future__ import annotations

import pytest

from beta_middleware import InvalidBetaError, betas, current_betas
from beta_middleware._core.names import NameSet, parse_names

VALID = ["files-api-2025-04-14", "a", "A.b_c~1", "x!#$%&'*+-.^_`|~0"]

# Every kind of bad name the contract lists, with the words the message must hold.
INVALID = [
    ("", "empty"),
    ("   ", "blank"),
    ("files api", "space"),
    ("a,b", "comma"),
    ("a\r", "line break"),
    ("a\nb", "line break"),
    ("tab\there", "control character"),
    ("nul\x00", "control character"),
    ("del\x7f", "control character"),
    ("café-2025-01-01", "non-ASCII"),
    ('quote"', "not allowed"),
    ("paren(", "not allowed"),
    ("colon:", "not allowed"),
    ("semi;", "not allowed"),
    (b"bytes-name", "got bytes"),
    (7, "got int"),
    (None, "got NoneType"),
    (["nested-list"], "got list"),
]


@pytest.mark.parametrize("name", VALID)
def test_token_names_are_accepted(name: str) -> None:
    assert parse_names([name]) == (name,)


@pytest.mark.parametrize(("bad", "why"), INVALID)
def test_bad_names_are_refused_with_repr_and_reason(bad: object, why: str) -> None:
    with pytest.raises(InvalidBetaError) as info:
        parse_names([["ok-name", bad]])
    assert repr(bad) in str(info.value)
    assert why in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("bad", "why"), INVALID)
def test_betas_refuses_bad_names_and_activates_nothing(bad: object, why: str) -> None:
    with pytest.raises(InvalidBetaError, match=why):
        betas("fine-2025-01-01", ["also-fine", bad])  # type: ignore[list-item]
    if not isinstance(bad, list):
        with pytest.raises(InvalidBetaError, match=why):
            betas(bad)  # type: ignore[arg-type]
    assert current_betas() == ()


def test_positional_arguments_are_names_or_iterables_of_names() -> None:
    def gen() -> object:
        yield "g-1"
        yield "a-1"

    assert parse_names(["a-1", ("b-1", "c-1"), gen(), {"d-1": 1}, frozenset({"e-1"})]) == (
        "a-1",
        "b-1",
        "c-1",
        "g-1",
        "d-1",
        "e-1",
    )


def test_duplicates_keep_their_first_position() -> None:
    assert parse_names(["b", ["a", "b"], "a", "c"]) == ("b", "a", "c")


def test_a_str_is_one_name_not_an_iterable_of_characters() -> None:
    assert parse_names(["abc"]) == ("abc",)


def test_nameset_precomputes_the_header_value() -> None:
    names = NameSet(("a", "b"))
    assert names.joined == "a,b"
    assert names.members == {"a", "b"}
    assert names.extend(["b", "c", "c"]).names == ("a", "b", "c")
    assert names.extend(["a"]) is names
    assert not NameSet(())
    assert bool(names)
    assert repr(names) == "NameSet(('a', 'b'))"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (" files-api-2025-04-14", "it starts with a space; write 'files-api-2025-04-14'"),
        ("files-api-2025-04-14 ", "it ends with a space; write 'files-api-2025-04-14'"),
        ("\ta-1\n", "it starts with a tab and ends with a line break; write 'a-1'"),
        ("a-1\u00a0", "it ends with the blank '\\xa0'; write 'a-1'"),
        ("a-1,b-2", "a comma would split it into two names: give them as separate names, 'a-1' and 'b-2'"),
        ("a,b ,c", "a comma would split it into 3 names: give them as separate names, 'a', 'b' and 'c'"),
        ("a-1,", "a comma would split it; write 'a-1'"),
        (",", "a comma would split it"),
        (" a b ", "it contains a space"),  # no one fix: none proposed
        ("a, b c", "a comma would split it into two names"),
    ],
)
def test_a_refusal_says_what_to_write_instead(bad: str, message: str) -> None:
    with pytest.raises(InvalidBetaError) as info:
        betas(bad)
    assert str(info.value) == f"invalid beta name {bad!r}: {message}"


@pytest.mark.parametrize("name", ["InvalidBetaError", "UnknownBetaWarning", "UnsupportedBetaError"])
def test_the_public_exceptions_are_shown_under_the_package_name(name: str) -> None:
    import pickle
    import traceback

    import beta_middleware

    cls = getattr(beta_middleware, name)
    assert f"{cls.__module__}.{cls.__qualname__}" == f"beta_middleware.{name}"
    error = cls("message")
    assert pickle.loads(pickle.dumps(error)).args == ("message",)
    shown = "".join(traceback.format_exception_only(cls, error))
    assert shown == f"beta_middleware.{name}: message\n"
