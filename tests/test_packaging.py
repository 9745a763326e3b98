"""The core imports with no HTTP library; an integration without its stack names its extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

BLOCK = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"blocked {{name}}")
        return None

sys.meta_path.insert(0, Block())
"""


def run(blocked: set[str], code: str) -> subprocess.CompletedProcess[str]:
    script = BLOCK.format(blocked=blocked) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


STACKS = {"requests", "urllib3", "httpx", "httpx2", "httpcore", "httpcore2", "anthropic"}


def test_core_works_without_any_http_library() -> None:
    done = run(
        STACKS,
        """
        import sys
        import beta_middleware
        from beta_middleware import betas, current_betas
        with betas("a-1"):
            assert current_betas() == ("a-1",)
        loaded = {m.split(".")[0] for m in sys.modules}
        print(sorted(loaded & {blocked!r}))
        """.replace("{blocked!r}", repr(STACKS)),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "stack"), [("requests", "requests"), ("httpx", "httpx"), ("httpx2", "httpx2")]
)
def test_integration_without_its_stack_names_the_extra(module: str, stack: str) -> None:
    done = run({stack}, f"import beta_middleware.{module}")
    assert done.returncode == 1
    assert f"ImportError: beta_middleware.{module} needs the '{stack}' package" in done.stderr
    assert f"pip install 'beta-middleware[{module}]'" in done.stderr


def test_package_is_typed() -> None:
    import importlib.resources

    assert importlib.resources.files("beta_middleware").joinpath("py.typed").is_file()
