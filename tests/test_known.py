from __future__ import annotations

import datetime
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest

from beta_middleware import UnknownBetaWarning, _known, betas, known_betas
from beta_middleware.httpx import BetaTransport, instrument
from beta_middleware.httpx2 import AsyncBetaTransport as AsyncBetaTransport2
from beta_middleware.requests import BetaAdapter

ROOT = Path(__file__).resolve().parent.parent
TYPO = "files-api-2025-04-41"


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: no name has warned yet."""
    monkeypatch.setattr(_known, "_checked", set())


def sdk_literals() -> frozenset[str]:
    from anthropic.types.anthropic_beta_param import AnthropicBetaParam

    return frozenset(_known._literals(AnthropicBetaParam))


def test_bundled_file_is_well_formed() -> None:
    data = json.loads(_known.DATA.read_text(encoding="utf-8"))
    datetime.date.fromisoformat(data["updated"])
    assert "anthropic" in data["source"]
    names = [entry["name"] for entry in data["betas"]]
    assert len(names) == len(set(names)) > 50
    for entry in data["betas"]:
        assert entry["date"] == _known.date_of(entry["name"])


def test_known_betas_unites_bundle_and_sdk() -> None:
    known = known_betas()
    assert isinstance(known, frozenset)
    assert set(_known.bundled()[1]) <= known
    assert sdk_literals() <= known
    assert {"files-api-2025-04-14", "context-1m-2025-08-07"} <= known
    assert known_betas() is known  # cached


def test_sdk_literals_skip_the_str_member() -> None:
    assert "str" not in _known.sdk_betas()
    assert _known.sdk_betas() == sdk_literals()


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_the_sdk_the_bundle_is_known() -> None:
    out = run(
        "import sys; sys.modules['anthropic'] = None\n"
        "from beta_middleware import known_betas\n"
        "from beta_middleware._known import bundled, sdk_betas\n"
        "assert sdk_betas() == frozenset() and known_betas() == frozenset(bundled()[1])\n"
        "print(len(known_betas()))"
    )
    assert int(out) == len(_known.bundled()[1])


def test_bundled_names_do_not_import_the_sdk() -> None:
    # importing anthropic takes about a second: only an unbundled name may cost that
    out = run(
        "import sys\n"
        "from beta_middleware import betas\n"
        "betas('files-api-2025-04-14', 'context-1m-2025-08-07')\n"
        "print('anthropic' in sys.modules)\n"
        "betas('some-new-beta-2031-01-01')\n"
        "print('anthropic' in sys.modules)"
    )
    assert out.split() == ["False", "True"]


def test_refresh_script_writes_the_sdk_literals(tmp_path: Path) -> None:
    output = tmp_path / "known.json"
    script = [sys.executable, str(ROOT / "scripts" / "refresh-known-betas"), "--output", str(output)]
    done = subprocess.run(script, capture_output=True, text=True, timeout=60, check=True)
    assert "wrote" in done.stdout
    data = json.loads(output.read_text(encoding="utf-8"))
    assert {entry["name"] for entry in data["betas"]} == sdk_literals()
    assert data["updated"] == datetime.date.today().isoformat()
    data["betas"].pop()
    output.write_text(json.dumps(data), encoding="utf-8")
    stale = subprocess.run([*script, "--check"], capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1
    assert "stale" in stale.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (TYPO, "files-api-2025-04-14"),  # swapped digits: one edit
        ("files-api-2025-14-04", "files-api-2025-04-14"),  # not a date: two edits
        ("Files-API-2025-04-14", "files-api-2025-04-14"),  # case only
        ("file-api-2025-04-14", "files-api-2025-04-14"),
        ("context-1m-2024-08-07", "context-1m-2025-08-07"),  # earlier than the known version
        ("mcp-client-2025-04-05", "mcp-client-2025-04-04"),  # not later than every version
        ("interleaved-thinkng-2025-05-14", "interleaved-thinking-2025-05-14"),
    ],
)
def test_suggestion_for_typos(name: str, expected: str) -> None:
    assert _known.suggestion(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "files-api-2025-04-14",  # known
        "files-api-2025-04-15",  # a later version of a known feature: new, not a typo
        "server-side-fallback-2026-08-01",
        "brand-new-feature-2030-01-01",  # far from everything
        "files-api-2025-05-15",  # three edits away
        "pdfs-2024",  # short names allow one edit...
        "pdfs",  # ...and very short ones none
        "feature1",
        "a-2025-01-01",
    ],
)
def test_no_suggestion_when_not_close(name: str) -> None:
    assert _known.suggestion(name) is None


def test_distance_counts_a_swap_as_one_edit() -> None:
    assert _known._distance("ab", "ba", 2) == 1
    assert _known._distance("abc", "abc", 2) == 0
    assert _known._distance("kitten", "sitting", 3) == 3
    assert _known._distance("kitten", "sitting", 1) == 2  # stops above the limit


def test_betas_warns_once_per_name() -> None:
    message = r"unknown beta name 'files-api-2025-04-41': did you mean 'files-api-2025-04-14'\?"
    with pytest.warns(UnknownBetaWarning, match=message):
        scope = betas(TYPO)
    assert scope.names == (TYPO,)  # a warning, not an error: the name is still used
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        betas(TYPO)
        betas("files-api-2025-04-14", [TYPO])


def test_distinct_names_warn_separately() -> None:
    with pytest.warns(UnknownBetaWarning) as caught:
        betas(TYPO, "context-1m-2025-08-70", "brand-new-feature-2030-01-01")
    assert [str(w.message).split("'")[1] for w in caught] == [TYPO, "context-1m-2025-08-70"]


def test_invalid_names_raise_before_any_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="'bad name'"):
            betas(TYPO, "bad name")
    assert _known._checked == set()  # nothing looked at: the next valid call still warns
    with pytest.warns(UnknownBetaWarning):
        betas(TYPO)


def test_warning_points_at_the_callers_line() -> None:
    with pytest.warns(UnknownBetaWarning) as caught:
        betas(TYPO)
    assert caught[0].filename == __file__


@pytest.fixture
def closing() -> Iterator[list[object]]:
    made: list[object] = []
    yield made
    for obj in made:
        close = getattr(obj, "close", None)
        if close is not None:
            close()


def test_every_betas_argument_warns_at_the_caller(closing: list[object]) -> None:
    names = ["context-1m-2025-08-70", "token-counting-2024-10-01", "pdfs-2024-09-52", "skills-2025-01-02"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        closing.append(BetaAdapter(betas=names[0]))
        closing.append(BetaTransport(betas=[names[1]]))
        AsyncBetaTransport2(httpx2.AsyncHTTPTransport(), betas=names[2])
        closing.append(instrument(httpx.Client(), betas=names[3]))
    assert [w.category for w in caught] == [UnknownBetaWarning] * 4
    assert [str(w.message).split("'")[1] for w in caught] == names
    assert {w.filename for w in caught} == {__file__}


def test_a_name_checked_while_waiting_for_the_lock_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another thread checks the same name between this one's first look and taking the lock.
    class RacedLock:
        def __enter__(self) -> None:
            _known._checked.add(TYPO)

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(_known, "_lock", RacedLock())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        betas(TYPO)  # the other thread warns for it, not this one
    assert TYPO in _known._checked
