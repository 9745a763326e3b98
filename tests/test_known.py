from __future__ import annotations

import datetime
import json
import subprocess
import sys
import typing
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import httpx2
import pytest

from beta_middleware import UnknownBetaWarning, betas, known_betas
from beta_middleware._core import known as _known
from beta_middleware.httpx import BetaTransport, instrument
from beta_middleware.httpx2 import AsyncBetaTransport as AsyncBetaTransport2
from beta_middleware.requests import BetaAdapter

ROOT = Path(__file__).resolve().parent.parent
TYPO = "files-api-2025-04-41"


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: no name has warned yet."""
    monkeypatch.setattr(_known, "_checked", set())
    monkeypatch.setattr(_known, "_older", set())


def _literals(tp: object) -> list[str]:
    names: list[str] = []
    for arg in typing.get_args(tp):
        if isinstance(arg, str):
            names.append(arg)
        elif not isinstance(arg, type):  # `Union[str, Literal[...]]`: skip `str`, open the Literal
            names.extend(_literals(arg))
    return names


def sdk_literals() -> frozenset[str]:
    """The installed SDK's names, as its import gives them."""
    from anthropic.types.anthropic_beta_param import AnthropicBetaParam

    return frozenset(_literals(AnthropicBetaParam))


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
        "from beta_middleware._core.known import bundled, sdk_betas\n"
        "assert sdk_betas() == frozenset() and known_betas() == frozenset(bundled()[1])\n"
        "print(len(known_betas()))"
    )
    assert int(out) == len(_known.bundled()[1])


def test_the_sdk_names_are_read_without_importing_it() -> None:
    # importing anthropic takes about a second: no name, known or not, may cost that
    out = run(
        "import sys, warnings\n"
        "from beta_middleware import betas, known_betas\n"
        "betas('files-api-2025-04-14', 'context-1m-2025-08-07')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    betas('some-new-beta-2031-01-01', 'files-api-2025-04-41')\n"
        "print(len(caught), len(known_betas()), sorted(m for m in sys.modules if m.startswith('anthropic')))"
    )
    assert out.split() == ["1", str(len(known_betas())), "[]"]
    assert _known.sdk_betas()  # this environment has the SDK: its names were read


# The reader of the SDK's file, against other layouts of it: fewer names or none, never
# an error.
SDK_LAYOUTS = [
    ("AnthropicBetaParam: TypeAlias = Union[str, Literal[\"a-1\", 'b-1']]\n", {"a-1", "b-1"}),
    ('AnthropicBetaParam = Literal[\n    "a-1",\n    "b-1",\n]\nOther = Literal["c-1"]\n', {"a-1", "b-1"}),
    ('AnthropicBetaParam = Union[\n    str,\n    Literal["a-1"],\n    Literal["b-1"],\n]\n', {"a-1", "b-1"}),
    ('X = Literal["a-1"]\nAnthropicBetaParam = str\n', set()),  # no Literal: nothing
    ('AnthropicBetaParam = Literal["a-1", "bad name", "", 3]\n', {"a-1"}),  # no beta names skipped
    ("from ._beta import AnthropicBetaParam\n", set()),  # defined elsewhere
    ("AnthropicBetaParam = Literal[\n", set()),  # cut short
    ('AnthropicBetaParam = Literal["c-1", "d]\n', {"c-1"}),  # a string cut short
    ('AnthropicBetaParam = Union[MyLiteral["x-1"], Literal["a-1"]]\n', {"a-1"}),  # another name
    ('AnthropicBetaParamOld = Literal["x-1"]\nAnthropicBetaParam = Literal["a-1"]\n', {"a-1"}),
    ("", set()),
]


@pytest.mark.parametrize(("source", "names"), SDK_LAYOUTS)
def test_the_sdk_reader_takes_what_it_recognises(source: str, names: set[str]) -> None:
    assert _known.parse_literals(source) == names


def test_the_sdk_reader_matches_the_imported_literals() -> None:
    # pins the reader to the installed SDK's file
    assert _known.sdk_betas() == sdk_literals()
    assert len(_known.sdk_betas()) > 20


def fake_sdk(tmp_path: Path, files: dict[str, bytes]) -> str:
    for name, data in files.items():
        path = tmp_path / "anthropic" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from beta_middleware._core.known import sdk_betas, bundled\n"
        "from beta_middleware import known_betas, betas\n"
        "betas('some-new-beta-2031-01-01')\n"
        "print(sorted(sdk_betas()), known_betas() >= set(bundled()[1]))"
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"__init__.py": b"", "types/anthropic_beta_param.py": b'AnthropicBetaParam = Literal["z-1"]'},
            "['z-1']",
        ),
        ({"__init__.py": b""}, "[]"),  # another layout: no such file
        ({"__init__.py": b"", "types/anthropic_beta_param.py": b"\xff\xfe not utf-8"}, "[]"),
        ({"__init__.py": b"raise ImportError", "types/anthropic_beta_param.py/x": b""}, "[]"),  # a folder
    ],
    ids=["found", "no file", "not utf-8", "not a file"],
)
def test_an_sdk_of_another_layout_gives_its_names_or_none(
    tmp_path: Path, files: dict[str, bytes], expected: str
) -> None:
    assert run(fake_sdk(tmp_path, files)).split() == [*expected.split(), "True"]


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
        "pdf-2024",  # short names allow one edit...
        "pdf",  # ...and very short ones none
        "files",  # a word of a feature, not the feature: it may be a beta of its own
        "context",
        "files-api-2025-04-15-x",  # a known name's start: a name of its own
        "feature1",
        "a-2025-01-01",
    ],
)
def test_no_suggestion_when_not_close(name: str) -> None:
    assert _known.suggestion(name) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # a known feature without its date, or with only its start: its newest version
        ("files-api", "files-api-2025-04-14"),
        ("context-1m", "context-1m-2025-08-07"),
        ("interleaved-thinking", "interleaved-thinking-2025-05-14"),
        ("pdfs", "pdfs-2024-09-25"),
        ("pdfs-2024", "pdfs-2024-09-25"),
        ("files-api-2025-04", "files-api-2025-04-14"),
        ("files-api-", "files-api-2025-04-14"),
        ("Context-1M", "context-1m-2025-08-07"),
        ("computer-use", "computer-use-2025-11-24"),  # several versions: the newest
        # `_` for `-` (and any case)
        ("files_api_2025_04_14", "files-api-2025-04-14"),
        ("FILES_API_2025_04_14", "files-api-2025-04-14"),
        ("files_api", "files-api-2025-04-14"),
        ("files_api_2025_04_15", "files-api-2025-04-15"),  # a newer version, spelt as published
        # a typo of the feature, without the date
        ("interleaved-thinkng", "interleaved-thinking-2025-05-14"),
        ("file-api", "files-api-2025-04-14"),
        ("contxt-1m", "context-1m-2025-08-07"),
    ],
)
def test_suggestion_for_a_name_missing_its_date_or_spelt_with_underscores(name: str, expected: str) -> None:
    assert _known.suggestion(name) == expected


def test_every_known_feature_alone_gets_its_newest_version() -> None:
    features: dict[str, list[str]] = {}
    for name in known_betas():
        parts = _known._split_date(name)
        assert parts is not None
        features.setdefault(parts[0], []).append(name)
    for feature, versions in features.items():
        assert _known.suggestion(feature) == max(versions)  # same feature: the latest date sorts last


@pytest.mark.parametrize("name", ["files-api", "files_api_2025_04_14", "context-1m-2025"])
def test_every_way_in_warns_did_you_mean(name: str, closing: list[object]) -> None:
    expected = _known.suggestion(name)
    assert expected is not None
    message = f"unknown beta name {name!r}: did you mean {expected!r}?"
    makers: list[Callable[[], object]] = [
        lambda: betas(name),
        lambda: closing.append(BetaAdapter(betas=name)),
        lambda: closing.append(BetaTransport(betas=[name])),
        lambda: AsyncBetaTransport2(httpx2.AsyncHTTPTransport(), betas=name),
    ]
    for make in makers:
        _known._checked.clear()
        _known._older.clear()
        with pytest.warns(UnknownBetaWarning) as caught:
            make()
        assert [str(w.message) for w in caught] == [message]


def test_known_and_seen_names_are_never_looked_at_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # the work is per new name: a scope entered again with known or seen names only does set lookups
    with pytest.warns(UnknownBetaWarning):
        betas("files-api")
    monkeypatch.setattr(_known, "suggestion", lambda name: pytest.fail(f"{name!r} looked at again"))
    for _ in range(3):
        betas("files-api", "files-api-2025-04-14", "context-1m-2025-08-07")


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


def test_date_of_agrees_with_the_calendar() -> None:
    day = datetime.date(1999, 12, 25)
    for _ in range(2000):  # every day of some five years, leap days included
        assert _known.date_of(f"feature-{day.isoformat()}") == day.isoformat()
        day += datetime.timedelta(days=1)
    for bad in ["2025-02-29", "1900-02-29", "2025-13-01", "2025-00-10", "2025-04-31", "0000-01-01"]:
        assert _known.date_of(f"feature-{bad}") is None
    assert _known.date_of("2000-02-29") is None  # no feature
    for bad in [
        "feature-2025-4-014",
        "feature-2025_04-14",
        "feature-\uff12\uff10\uff12\uff15-04-14",
        "feature",
    ]:
        assert _known.date_of(bad) is None
    assert _known.date_of("feature-2000-02-29") == "2000-02-29"


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The full comparisons the typo check makes."""
    made: list[tuple[str, str]] = []
    distance = _known._distance

    def counted(a: str, b: str, limit: int) -> int:
        made.append((a, b))
        return distance(a, b, limit)

    monkeypatch.setattr(_known, "_distance", counted)
    return made


def test_a_new_name_is_compared_with_few_known_names(comparisons: list[tuple[str, str]]) -> None:
    known = len(known_betas())
    assert known > 50
    names = [
        f"{feature}-{i}-2025-0{i % 9 + 1}-1{i % 10}" for i in range(200) for feature in ("files", "context")
    ]
    names += [n[::-1] for n in known_betas()] + ["x" * 30, "files-api-2025-04-41", "Context-1M-2025-08-07"]
    for name in names:
        comparisons.clear()
        _known.suggestion(name)
        assert len(comparisons) <= 5, (name, comparisons)  # of the known dozens
    # and the filter misses nothing: the same answer as comparing with every name
    for name in [*names, *(n[:5] + n[6:] for n in known_betas()), *(n[:-1] + "x" for n in known_betas())]:
        limit = _known._limit(len(name))
        full = sorted(
            (d, k) for k in known_betas() if (d := _known._distance(name.lower(), k.lower(), limit)) <= limit
        )
        expected = full[0][1] if full and name not in known_betas() and limit else None
        if expected is not None and _known._index().newer_version(name):
            expected = None
        assert _known.suggestion(name) == expected, name


def test_every_length_with_an_edit_limit_needs_shared_grams() -> None:
    # what makes the index sound: a candidate sharing no gram could never be within the limit
    for length in range(8, 200):
        limit = _known._limit(length)
        assert limit
        assert length - (_known._Q - 1) - (_known._Q + 1) * limit >= 1


def test_what_is_remembered_stays_bounded(comparisons: list[tuple[str, str]]) -> None:
    # Five times what the two generations hold: each is filled and dropped several times.
    new = 10 * _known._REMEMBERED
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(new):
            betas(f"new-feature-{i}-2031-01-01")
    remembered = len(_known._checked) + len(_known._older)
    assert remembered <= 2 * _known._REMEMBERED
    assert len(comparisons) < new // 100  # almost none of them near any known name


def test_a_name_forgotten_may_warn_again() -> None:
    with pytest.warns(UnknownBetaWarning):
        betas(TYPO)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(_known._REMEMBERED):  # TYPO is remembered, one generation older
            betas(f"new-feature-{i}-2031-01-01")
        betas(TYPO)
        for i in range(_known._REMEMBERED):
            betas(f"newer-feature-{i}-2031-01-01")
    with pytest.warns(UnknownBetaWarning):
        betas(TYPO)  # forgotten after twice that many: looked at again


def test_importing_the_package_loads_no_stack_and_reads_nothing() -> None:
    # A behaviour, not a timing: what `import beta_middleware` adds to `sys.modules` (what
    # was there before - under coverage, its own imports - does not count).
    heavy = ["requests", "httpx", "httpx2", "anthropic", "json", "inspect", "typing", "datetime"]
    heavy += ["importlib.resources", "importlib.util", "pathlib", "threading", "asyncio"]
    code = (
        "import sys, builtins\n"
        "opened = []\n"
        "real_open = builtins.open\n"
        "builtins.open = lambda *a, **k: (opened.append(a[0]), real_open(*a, **k))[1]\n"
        "before = set(sys.modules)\n"
        "import beta_middleware\n"
        "from beta_middleware import BetaScope, betas, current_betas, known_betas\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules and m not in before), opened)\n"
    )
    assert run(code).split() == ["[]", "[]"]
    # what is imported on first use is still there
    assert run("import beta_middleware as b; print(b.rejected_betas(b'{}'), b.raise_for_betas)").startswith(
        "() <"
    )


def test_the_first_names_load_the_known_lists_lazily() -> None:
    # the lists are read on the first name, with nothing imported for it: `json`, `re` and
    # `importlib.util` were most of the first name's cost (under coverage some are loaded already)
    out = run(
        "import sys\n"
        "before = set(sys.modules)\n"
        "import beta_middleware\n"
        "from beta_middleware._core import known as _known\n"
        "print(_known.bundled.cache_info().currsize == 0)\n"  # nothing read yet
        "beta_middleware.betas('first-new-name-2031-01-01')\n"
        "print(_known.bundled.cache_info().currsize == 1, bool(_known.sdk_betas()))\n"
        "new = {m for m in sys.modules if m not in before and not m.startswith('beta_middleware')}\n"
        "print(sorted(new & {'json', 're', 'importlib.util', 'anthropic'}))\n"
    )
    assert out.split() == ["True", "True", "True", "[]"]


def bundled_json(**dumps: object) -> str:
    """The bundled file's data as `json.dumps(..., **dumps)` writes it."""
    return json.dumps(json.loads(_known.DATA.read_text(encoding="utf-8")), **dumps)  # type: ignore[arg-type]


def as_json(text: str) -> tuple[str, dict[str, str | None]]:
    data = json.loads(text)
    return data["updated"], {entry["name"]: entry["date"] for entry in data["betas"]}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(None, id="the bundled file"),
        pytest.param(
            '{"updated": "2026-01-01", "betas": [\n  {"name": "a-1", "date": null}\n ]}', id="no date"
        ),
        pytest.param(bundled_json(indent=2), id="another layout"),
        pytest.param(bundled_json(), id="one line"),
        pytest.param(
            '{"updated": "2026-01-01", "betas": [\n  {"name": "a\\u002d1", "date": null}\n ]}', id="escape"
        ),
        pytest.param(
            '{"updated": "2026-01-01", "betas": [\n  {"name": "a-1", "date": 7}\n ]}', id="odd date"
        ),
        pytest.param(
            '{"updated": "2026-01-01", "betas": [\n  {"name": "a-1", "date": "2026-01-01"}]}', id="end"
        ),
        pytest.param(
            '{"updated": "2026-01-01", "betas": [\n  {"name": "a-1", "date": null}\n ], "x": 1}', id="more"
        ),
    ],
)
def test_the_bundled_file_reads_as_json_reads_it(text: str | None) -> None:
    text = _known.DATA.read_text(encoding="utf-8") if text is None else text
    assert _known.read_bundled(text) == as_json(text)
    if text.startswith('{"updated": "2026-01-01"'):
        assert _known.read_bundled(text)[1]["a-1"] in (None, 7, "2026-01-01")


def test_a_cut_bundled_file_is_an_error_as_json_makes_it() -> None:
    text = _known.DATA.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="Expecting"):
        _known.read_bundled(text[: text.index("},\n") + 1])  # after a whole entry


class NoFinder:
    """A meta path entry without `find_spec` (an old-style finder)."""


class NothingHere:
    @staticmethod
    def find_spec(name: str, path: object, target: object = None) -> None:
        return None


def test_the_sdk_is_found_as_importlib_finds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    for name in ("pytest", "anthropic", "beta_middleware", "no_such_module_anywhere"):
        mine, theirs = _known._find_spec(name), importlib.util.find_spec(name)
        assert (mine and mine.origin) == (theirs and theirs.origin), name
    # a finder without find_spec, one finding nothing: the next ones are asked
    monkeypatch.setattr(sys, "meta_path", [NoFinder(), NothingHere(), *sys.meta_path])
    monkeypatch.delitem(
        sys.modules, "anthropic", raising=False
    )  # found on the path, as before it was imported
    spec = _known._find_spec("anthropic")
    assert spec is not None
    assert spec.submodule_search_locations
    monkeypatch.setitem(sys.modules, "anthropic", None)  # blocked: none
    assert _known._find_spec("anthropic") is None


def test_the_lazy_attributes_are_there_and_nothing_else() -> None:
    import beta_middleware

    assert _known.DATA.name == "known_betas.json"
    assert _known.DATA.is_file()
    for module in (_known, beta_middleware):
        with pytest.raises(AttributeError, match="no_such_name"):
            module.no_such_name  # noqa: B018
    assert beta_middleware.rejected_betas(b"{}") == ()
