"""The core imports with no HTTP library; an integration without its stack names its extra."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

import pytest
from packaging.requirements import Requirement

BLOCK = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)  # as if not installed
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
    ("module", "stack"),
    [("requests", "requests"), ("httpx", "httpx"), ("httpx2", "httpx2"), ("anthropic", "anthropic")],
)
def test_integration_without_its_stack_names_the_extra(module: str, stack: str) -> None:
    done = run({stack}, f"import beta_middleware.{module}")
    assert done.returncode == 1
    assert f"ImportError: beta_middleware.{module} needs the '{stack}' package" in done.stderr
    assert f"pip install 'beta-middleware[{module}]'" in done.stderr


def test_package_is_typed() -> None:
    import importlib.resources

    assert importlib.resources.files("beta_middleware").joinpath("py.typed").is_file()


def extras() -> dict[str, set[str]]:
    """Each extra's requirements, as the installed package's metadata states them (what pip reads)."""
    meta = importlib.metadata.metadata("beta-middleware")
    found: dict[str, set[str]] = {}
    for extra in meta.get_all("Provides-Extra") or []:
        for line in meta.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}):
                requirement.marker = None
                found.setdefault(extra, set()).add(str(requirement))
    return found


def test_the_extras_are_as_loose_as_the_code_allows() -> None:
    # Installing an extra must not move a user's other packages (scripts/check-extras
    # proves it against real dependants): lower bounds only, each tested in an environment.
    found = extras()
    assert {name: found[name] for name in ("requests", "httpx", "httpx2", "anthropic", "all")} == {
        "requests": {"requests>=2.26"},
        "httpx": {"httpx>=0.24"},
        "httpx2": {"httpx2>=2.0"},
        # No bound: any would move a package pinning an older SDK (instructor pins 0.93.0);
        # beta_middleware.anthropic names the release it needs when imported (test_anthropic).
        "anthropic": {"anthropic"},
        "all": {"requests>=2.26", "httpx>=0.24", "httpx2>=2.0", "anthropic"},
    }


def test_the_0x_test_environments_cover_the_anthropic_extra() -> None:
    # The newest 0.x, and the extra's lower bound with the lowest httpx that release accepts.
    found = extras()
    assert {"anthropic<1,>=0.108", "httpx>=0.24", "boto3>=1.28"} <= found["dev-anthropic0"]
    assert {"anthropic==0.108.*", "httpx==0.25.*"} <= found["dev-anthropic0-oldest"]
    assert found["dev-anthropic0"] <= found["dev-anthropic0-oldest"]
