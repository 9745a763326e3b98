from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Callable

import pytest

from beta_middleware import __main__ as cli
from beta_middleware._cli import demo as _demo

STACKS = (
    "requests",
    "httpx",
    "httpx2",
    "sdk transport",
    "sdk middleware",
    "httpx async",
    "httpx2 async",
    "sdk transport async",
    "sdk middleware async",
)


def test_demo_prints_every_stack_and_exits_zero() -> None:
    out = io.StringIO()
    assert _demo.main(out) == 0
    text = out.getvalue()
    head, _, table = text.partition("\n\n")
    named = head.split(" stacks:\n", 1)[1].split("\n  (")[0]
    assert [name.strip() for name in named.replace("\n", " ").split(",")] == list(STACKS)
    assert "through each of 9 stacks" in head
    for step in _demo.STEPS:
        assert f"\n{step.label}\n" in table
    assert "\n      files-api-2025-04-14,context-1m-2025-08-07  " in table
    assert "\n        token-efficient-tools-2025-02-19,files-api-2025-04-14,context-1m-2025-08-07  " in table
    assert table.count("  9 of 9 ok\n") == len(_demo.STEPS)
    assert text.endswith("\n54 requests through 9 stacks: 0 wrong\n")
    assert "FAIL" not in text


def test_every_stack_receives_what_each_step_should_produce() -> None:
    _, rows = _demo.collect()
    assert [(name, step) for name, step, _ in rows] == [
        (name, step) for name in STACKS for step in _demo.STEPS
    ]
    assert [got for _, step, got in rows] == [step.expected for _, step, _ in rows]


def test_demo_fits_100_columns() -> None:
    out = io.StringIO()
    assert _demo.main(out) == 0
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)


def test_a_long_list_of_stacks_is_wrapped_between_names() -> None:
    names = [f"stack number {i}" for i in range(12)]
    lines = _demo._wrapped(names, 40, "  ")
    assert all(len(line) <= 40 for line in lines)
    assert " ".join(line.strip() for line in lines) == ", ".join(names)


def test_demo_exits_non_zero_when_a_value_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = _demo.Step("wrong expectation", (), None, "never-sent")
    monkeypatch.setattr(_demo, "STEPS", (*_demo.STEPS, wrong))
    out = io.StringIO()
    assert _demo.main(out) == 1
    text = out.getvalue()
    assert "\nwrong expectation\n    never-sent " in text
    assert "  0 of 9 ok\n" in text
    for stack in STACKS:
        assert re.search(rf"\n    \(none\) +FAIL from {stack}\n", text), stack
    assert text.endswith(": 9 wrong\n")


def test_demo_without_any_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_demo, "_run_sync", lambda url: [])

    async def none(url: str) -> list[_demo.Row]:
        return []

    monkeypatch.setattr(_demo, "_run_async", none)
    out = io.StringIO()
    assert _demo.main(out) == 1
    assert "no HTTP stack installed" in out.getvalue()


def test_command_line_runs_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    assert ": 0 wrong" in capsys.readouterr().out


def test_command_line_without_a_command_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr()
    assert "COMMAND" in out.out
    assert "demo" in out.out
    assert out.err == ""


def test_python_dash_m(command_line: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    done = command_line("demo")
    assert done.returncode == 0, done.stderr
    assert ": 0 wrong" in done.stdout


def test_without_the_sdk_the_note_on_its_stacks_is_left_out() -> None:
    rows = [("requests", step, step.expected) for step in _demo.STEPS]
    out = io.StringIO()
    assert _demo._report("http://127.0.0.1:1", rows, out) == 0
    text = out.getvalue()
    assert "each of 1 stacks:\n  requests\n\n" in text
    assert "sdk" not in text
    assert text.count("  1 of 1 ok\n") == len(_demo.STEPS)
