from __future__ import annotations

import io
import subprocess
import sys

import pytest

from beta_middleware import __main__ as cli
from beta_middleware import _demo


def test_demo_prints_every_stack_and_exits_zero() -> None:
    out = io.StringIO()
    assert _demo.main(out) == 0
    text = out.getvalue()
    for stack in ("requests", "httpx", "httpx2", "httpx async", "httpx2 async"):
        assert f"\n{stack} " in text
    assert "files-api-2025-04-14,context-1m-2025-08-07" in text
    assert "token-efficient-tools-2025-02-19,files-api-2025-04-14,context-1m-2025-08-07" in text
    assert ": 0 wrong" in text
    assert "FAIL" not in text


def test_demo_exits_non_zero_when_a_value_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = _demo.Step("wrong expectation", (), None, "never-sent")
    monkeypatch.setattr(_demo, "STEPS", (*_demo.STEPS, wrong))
    out = io.StringIO()
    assert _demo.main(out) == 1
    assert "FAIL (expected never-sent)" in out.getvalue()


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


def test_command_line_needs_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "beta_middleware", "demo"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert ": 0 wrong" in done.stdout
