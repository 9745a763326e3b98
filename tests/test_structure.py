"""The package's structure: its layers, no import circle, and no use of another module's private names.

The imports are read from the source (every `import` and `from ... import`, at the top, in a
function or under `if TYPE_CHECKING:`), never by importing the modules. Imports made by name
at run time (`install()`'s patch modules, the package's lazy attributes) are not statements:
they follow the layers too, and `test_the_imports_by_name_name_modules_of_their_layers`
checks them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import beta_middleware
from beta_middleware._install import installation

PACKAGE = "beta_middleware"
ROOT = Path(beta_middleware.__file__).parent

# Bottom first: a module imports modules of its own layer or of those below it, never above.
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("beta_middleware._core",),
    "adapters": (
        "beta_middleware._httpx",
        "beta_middleware.requests",
        "beta_middleware.httpx",
        "beta_middleware.httpx2",
        "beta_middleware.anthropic",
        "beta_middleware.testing",
        "beta_middleware.pytest_plugin",
    ),
    "installation": ("beta_middleware._install",),
    "face": ("beta_middleware",),  # `beta_middleware/__init__.py`: what users import
    "command line": ("beta_middleware._cli", "beta_middleware.__main__"),
}
STACKS = ("requests", "urllib3", "httpx", "httpx2", "anthropic")


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: dict[str, list[int]] = field(default_factory=dict)
    """Each module of the package this one imports, with the lines."""
    external: set[str] = field(default_factory=set)
    """The top-level names of the other packages it imports."""
    taken: list[tuple[str, str, int]] = field(default_factory=list)
    """(module, name, line) for each name this one takes from another module of the package."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (ROOT.parent / name.replace(".", "/") / "__init__.py").is_file()


def is_module(name: str) -> bool:
    return is_package(name) or (ROOT.parent / (name.replace(".", "/") + ".py")).is_file()


def read_package() -> dict[str, Module]:
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        module = Module(module_name(path), path, ast.parse(path.read_text(encoding="utf-8")))
        modules[module.name] = module
    for module in modules.values():
        read_imports(module)
    return modules


def read_imports(module: Module) -> None:
    here = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    aliases: dict[str, str] = {}  # a name bound to a module of the package -> that module
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.partition(".")[0] == PACKAGE:
                    module.imports.setdefault(alias.name, []).append(node.lineno)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                else:
                    module.external.add(alias.name.partition(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            if base.partition(".")[0] != PACKAGE:
                module.external.add(base.partition(".")[0])
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if is_module(submodule):  # `from . import x`: the module itself
                    module.imports.setdefault(submodule, []).append(node.lineno)
                    aliases[alias.asname or alias.name] = submodule
                else:
                    module.imports.setdefault(base, []).append(node.lineno)
                    module.taken.append((base, alias.name, node.lineno))
    for node in ast.walk(module.tree):  # `drop.learn`: a name read from a module imported whole
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            target = aliases[node.value.id]
            if not is_module(f"{target}.{node.attr}"):
                module.taken.append((target, node.attr, node.lineno))


def exported(module: Module) -> set[str]:
    """The names in the module's `__all__` (a list or tuple of strings, starred tuples included)."""
    names: set[str] = set()

    def strings(node: ast.expr) -> None:
        if isinstance(node, (ast.List, ast.Tuple)):
            for element in node.elts:
                strings(element)
        elif isinstance(node, ast.Starred):
            strings(node.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)

    for node in module.tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            strings(node.value)
    return names


def layer_of(name: str) -> int:
    best, found = "", -1
    for rank, prefixes in enumerate(LAYERS.values()):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > len(best):
                best, found = prefix, rank
    assert found >= 0, f"{name} is in no layer: add it to LAYERS"
    return found


MODULES = read_package()


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module, or one that imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1 or node in graph.get(node, ()):
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_import_is_read_even_inside_functions() -> None:
    # the reader itself: a few imports of each kind it must see
    main, install, scope = (
        MODULES[f"{PACKAGE}.{name}"] for name in ("__main__", "_install.installation", "_core.scope")
    )
    assert "beta_middleware._cli.demo" in main.imports  # inside main()
    assert "beta_middleware._cli.names" in main.imports  # `from ._cli import names`
    assert "beta_middleware._core.header" in install.imports  # at the top
    assert "beta_middleware._core.known" in scope.imports
    assert "typing" in scope.external  # under `if TYPE_CHECKING:`
    taken = {(source, name) for source, name, _ in MODULES[f"{PACKAGE}._httpx"].taken}
    assert ("beta_middleware._core.drop", "learn") in taken  # `drop.learn(...)`
    assert ("beta_middleware._core.header", "Rules") in taken  # `from ._core.header import Rules`


def test_there_is_no_import_circle() -> None:
    graph = {name: {m for m in module.imports if m in MODULES} for name, module in MODULES.items()}
    assert circles(graph) == []
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}) == [["a", "b", "c"], ["d"]]


def test_each_module_imports_only_its_layer_and_those_below() -> None:
    upward = [
        f"{name}:{lines[0]} imports {target}"
        for name, module in MODULES.items()
        for target, lines in module.imports.items()
        if target in MODULES and layer_of(target) > layer_of(name)
    ]
    assert upward == []


def test_the_core_imports_no_http_stack() -> None:
    core = {name: module.external & set(STACKS) for name, module in MODULES.items() if layer_of(name) == 0}
    assert len(core) >= 10
    assert {name: stacks for name, stacks in core.items() if stacks} == {}


def test_no_module_takes_another_modules_private_names() -> None:
    private = [
        f"{module.name}:{line} takes {name} from {source}"
        for module in MODULES.values()
        for source, name, line in module.taken
        if source != module.name and name.startswith("_") and not name.startswith("__")
    ]
    assert private == []


def test_what_a_module_takes_from_another_it_exports() -> None:
    missing = [
        f"{module.name}:{line} takes {name} from {source}, whose __all__ lacks it"
        for module in MODULES.values()
        for source, name, line in module.taken
        if source != module.name and not name.startswith("__") and name not in exported(MODULES[source])
    ]
    assert missing == []


# All but the start-up hook (found on a path of its own, not imported) and the subpackages'
# `__init__.py`, which hold only their docstring.
EXPORTING = sorted(
    name
    for name, module in MODULES.items()
    if module.path.parent.name != "_bootstrap" and (module.path.name != "__init__.py" or name == PACKAGE)
)


def test_the_subpackages_hold_only_their_docstring() -> None:
    inits = [m for name, m in MODULES.items() if m.path.name == "__init__.py" and name != PACKAGE]
    assert len(inits) == 3
    assert all(len(m.tree.body) == 1 and isinstance(m.tree.body[0], ast.Expr) for m in inits)


@pytest.mark.parametrize("name", EXPORTING)
def test_every_module_says_what_it_exports(name: str) -> None:
    module = MODULES[name]
    names = exported(module)
    assert names, f"{name} has no __all__"
    defined: set[str] = set()
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        for target in node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]:
            for leaf in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(leaf, ast.Name):
                    defined.add(leaf.id)
    defined |= {
        alias.asname or alias.name.partition(".")[0]
        for node in ast.walk(module.tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert names <= defined, f"{name}.__all__ names what it does not define: {sorted(names - defined)}"


def test_the_imports_by_name_name_modules_of_their_layers() -> None:
    # install() imports each stack's patch module by name when the stack is imported
    patchers = {
        **installation._PATCHERS,
        **installation._THREAD_PATCHERS,
        **installation._FORK_PATCHERS,
        **installation._POOL_PATCHERS,
    }
    assert {layer_of(module) for module in patchers.values()} == {2}
    assert all(is_module(module) for module in patchers.values())
    # the package's attributes, each imported on first use from the module that defines it
    assert set(beta_middleware._LAZY) == set(beta_middleware.__all__)
    assert set(beta_middleware.__all__) < set(dir(beta_middleware))
    for name, module in beta_middleware._LAZY.items():
        assert is_module(f"{PACKAGE}.{module}")
        assert name in exported(MODULES[f"{PACKAGE}.{module}"]), f"{module} does not export {name}"
