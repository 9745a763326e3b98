"""Every example of the README and of every page in docs/ runs as it is written.

The blocks of a page, by their fence:
- ```` ```python ````: run in order, in one namespace per page (a later block may use an
  earlier one's names). Requests that requests sends to https go to a stand-in for the API
  (`responses`), the anthropic SDK's to the loopback server's (`ANTHROPIC_BASE_URL`); both
  refuse the betas of `API_REFUSED`. A `# SomeWarning: message` comment names a warning the
  block must issue; any other warning fails the page. An installation a page makes ends
  with the page. A block that imports a framework (`FRAMEWORKS`) needs that framework:
  the framework suite runs it (tests/frameworks/docs_page.py), not this one.
- ```` ```python title="test_....py" ````: a test module, run by pytest; all its tests must pass
  (a module that starts with `pytest.importorskip(...)` of a package not installed skips).
- ```` ```console ````: `$ python -m beta_middleware ...` commands; the output must match the
  lines that follow (`...` matches anything; an empty line, an empty line - never a doctest
  marker, which the site would show).
- ```` ```bash ```` (installing, the project's own test command) and ```` ```text ````
  (what is not code) are shown, not run.
"""

from __future__ import annotations

import doctest
import importlib.util
import json
import re
import shlex
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import responses

from beta_middleware import HEADER, uninstall
from beta_middleware._core import known as _known

from .server import API_REFUSED, REJECTIONS, Server

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
FRAMEWORKS = ("langchain_anthropic", "pydantic_ai", "litellm", "llama_index", "instructor", "strands")
"""The frameworks' top-level modules: a block importing one is run by the framework suite."""
MODEL = "claude-sonnet-5-5"
"""The model id every page uses: a current one, that the installed SDK lists."""
FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<info>[^\n]*)\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)
SHOWN = {"bash", "text"}
# Pages whose examples another test runs: each block of this one is for one SDK line, and
# tests/sdk_cases.py runs it in that line's environment (the two lines cannot share one).
# docs/frameworks.md needs the frameworks: the framework suite runs it (scripts/test-frameworks).
RUN_ELSEWHERE = {"anthropic-sdk-lines.md", "frameworks.md"}
WARNING = re.compile(r"#\s*(\w+Warning): (.*)")
IMPORTS = re.compile(r"^(?:from|import) (\w+)", re.MULTILINE)
IMPORTORSKIP = re.compile(r"""pytest\.importorskip\(\s*["']([\w.]+)["']""")


@dataclass
class Block:
    lang: str
    title: str | None
    code: str
    line: int


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        title = re.search(r'title="([^"]+)"', match["info"])
        line = text.count("\n", 0, match.start()) + 2
        found.append(Block(match["lang"], title[1] if title else None, match["code"], line))
    return found


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def needs_a_framework(block: Block) -> bool:
    return bool(re.search(rf"^\s*(?:from|import)\s+(?:{'|'.join(FRAMEWORKS)})\b", block.code, re.MULTILINE))


def examples(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang == "python" and b.title is None and not needs_a_framework(b)]


def module_blocks(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang == "python" and b.title is not None]


def consoles(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang == "console"]


def test_every_block_is_run_or_shown_on_purpose() -> None:
    for page in PAGES:
        for block in blocks(page):
            assert block.lang in {"python", "console", *SHOWN}, (
                f"{page_id(page)}:{block.line}: {block.lang!r}"
            )
            if block.title is not None:
                assert re.fullmatch(r"test_\w+\.py", block.title), f"{page_id(page)}:{block.line}"


def test_every_page_is_in_the_site_and_has_examples() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", config, re.MULTILINE))
    assert listed == {p.name for p in PAGES if p.parent.name == "docs"}
    for page in PAGES:
        # built from docstrings, from CHANGELOG.md, and a run's figures (tests/test_benchmarks.py
        # runs the benchmark's code); the contributors' commands
        if page.name not in {"api.md", "changelog.md", "performance.md", "CONTRIBUTING.md"}:
            assert examples(page) or module_blocks(page) or consoles(page), page_id(page)


def stand_in(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
    sent = str(request.headers.get(HEADER, "")).split(",")
    refused = [name for name in sent if name in API_REFUSED]
    if refused:
        return 400, {}, json.dumps(REJECTIONS["unsupported"](refused)[0])
    return 200, {}, "{}"


@pytest.fixture
def offline(server: Server, monkeypatch: pytest.MonkeyPatch, aws_env: None) -> object:
    """Where the examples' requests go, and a clean slate for their warnings."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setattr(_known, "_checked", set())  # as in a new process: no name warned yet
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, re.compile("https://.*"), callback=stand_in)
        mock.add_callback(responses.POST, re.compile("https://.*"), callback=stand_in)
        yield mock


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(
    "page", [p for p in PAGES if examples(p) and p.name not in RUN_ELSEWHERE], ids=page_id
)
def test_examples_run(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    try:
        for block in examples(page):
            where = f"{page_id(page)}, block at line {block.line}"
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                exec(compile(block.code, where, "exec"), namespace)
            issued = [(w.category.__name__, str(w.message)) for w in caught]
            assert issued == WARNING.findall(block.code), where
    finally:
        uninstall()  # an example may install() as a program would, for the rest of its page


def test_blocks_that_need_a_framework_are_run_by_the_framework_suite() -> None:
    from .frameworks.docs_page import elsewhere, environment_of

    needing = {
        (page_id(page), b.line)
        for page in PAGES
        if page.name not in RUN_ELSEWHERE
        for b in blocks(page)
        if b.lang == "python" and needs_a_framework(b)
    }
    assert {("README.md", "langchain"), ("docs/index.md", "langchain")} <= {
        (page, code.split("_")[0].split()[-1]) for page, code in ((page_id(p), c) for p, _, c in elsewhere())
    }
    assert {(page_id(path), line) for path, line, _ in elsewhere()} == needing
    for path, line, code in elsewhere():
        assert environment_of(code) is not None, f"{page_id(path)}:{line}: no framework environment runs it"


def test_one_current_model_id_on_every_page() -> None:
    from typing import get_args

    from anthropic.types import ModelParam

    ids = {
        page_id(page): set(
            re.findall(r"\bclaude-[a-z0-9][a-z0-9.-]*[a-z0-9]", page.read_text(encoding="utf-8"))
        )
        for page in PAGES
    }
    assert {page: found for page, found in ids.items() if found - {MODEL}} == {}
    assert sum(bool(found) for found in ids.values()) >= 5
    listed = {arg for part in get_args(ModelParam) for arg in get_args(part) if isinstance(arg, str)}
    assert MODEL in listed, f"{MODEL} is no model of the installed SDK: {sorted(listed)}"


@pytest.fixture
def loaded(page: Path) -> None:
    """What the page's modules import, loaded before `pytester` notes the loaded modules.

    `pytester` unloads, when it is done, what was loaded after it started; a package's exit
    handler (joblib's) would then import it again during the interpreter's shutdown.
    """
    for name in sorted({name for block in module_blocks(page) for name in IMPORTS.findall(block.code)}):
        if not name.startswith("test_") and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


@pytest.mark.parametrize("page", [p for p in PAGES if module_blocks(p)], ids=page_id)
@pytest.mark.usefixtures("loaded")
def test_test_modules_pass(page: Path, pytester: pytest.Pytester) -> None:
    modules = module_blocks(page)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    for block in modules:
        assert block.title is not None
        pytester.makepyfile(**{block.title.removesuffix(".py"): block.code})
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error", "--strict-markers")
    tests = skipped = 0
    for block in modules:
        count = len(re.findall(r"^\s*(?:async )?def test_", block.code, re.MULTILINE))
        tests += count
        # a module for an engine this environment lacks skips itself (scripts/test's
        # "clusters" lane has Dask and Ray, and runs these pages' modules)
        if any(importlib.util.find_spec(name) is None for name in IMPORTORSKIP.findall(block.code)):
            skipped += count
    assert tests > skipped
    result.assert_outcomes(passed=tests - skipped, skipped=skipped)


def commands(block: Block) -> list[tuple[str, str]]:
    """The block's `$ command` lines, each with the output shown after it."""
    found: list[tuple[str, str]] = []
    for line in block.code.splitlines(keepends=True):
        if line.startswith("$ "):
            found.append((line[2:].strip(), ""))
        else:
            assert found, f"output before any command in the block at line {block.line}"
            found[-1] = (found[-1][0], found[-1][1] + line)
    return found


@pytest.mark.parametrize("page", [p for p in PAGES if consoles(p)], ids=page_id)
def test_console_output_matches(
    page: Path, command_line: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    checker = doctest.OutputChecker()
    for block in consoles(page):
        for command, shown in commands(block):
            prefix = "python -m beta_middleware "
            assert command.startswith(prefix), f"{page_id(page)}:{block.line}: {command!r}"
            done = command_line(*shlex.split(command.removeprefix(prefix)))
            assert done.stderr == "", command
            assert checker.check_output(shown, done.stdout, doctest.ELLIPSIS), (
                f"{page_id(page)}:{block.line}: {command}\n"
                + checker.output_difference(doctest.Example(command, shown), done.stdout, doctest.ELLIPSIS)
            )


def test_a_wrong_output_is_noticed() -> None:
    block = Block("console", None, "$ python -m beta_middleware check a-1\nvalid ...\n", 1)
    ((command, shown),) = commands(block)
    assert command == "python -m beta_middleware check a-1"
    assert not doctest.OutputChecker().check_output(shown, "unknown  a-1: ...\n", doctest.ELLIPSIS)
