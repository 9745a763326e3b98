"""The Python examples of docs/index.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).parent.parent / "docs" / "index.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_docs_example_runs(code: str) -> None:
    exec(compile(code, str(PAGE), "exec"), {"__name__": "docs_example"})


def test_docs_has_examples() -> None:
    assert len(BLOCKS) >= 4
