"""The README's links work wherever it is read: in a clone (offline), on GitHub, on the package index.

A link to a page of docs/ is relative (`docs/foo.md`, read in a clone or on GitHub), with
the same page on the docs site (mkdocs.yml's `site_url`, `docs/foo.md` served at `foo/`)
beside it in the same paragraph, for the package index, which shows the README alone. A
relative link to another file of the repository has its GitHub address beside it. Every
other link is absolute; each one into the site names a page of docs/ and, with a
`#fragment`, an anchor of it.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SITE = re.search(r"^site_url:\s*(\S+)\s*$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
assert SITE is not None
SITE_URL = SITE[1]
CODE = re.compile(r"^```.*?^```$", re.MULTILINE | re.DOTALL)
LINKS = (
    re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"),  # [text](target "title")
    re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE),  # [label]: target
    re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']"""),  # HTML
)


def links(text: str) -> list[str]:
    """The link targets of a Markdown page, outside its code blocks."""
    prose = CODE.sub("", text)
    return [target for pattern in LINKS for target in pattern.findall(prose)]


def slug(heading: str) -> str:
    """The anchor mkdocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"[`*_]", "", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    """The anchors of a docs page: its headings' (or their `{#id}`) and mkdocstrings' objects."""
    text = CODE.sub("", page.read_text(encoding="utf-8"))
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        given = re.search(r"\{\s*#([\w-]+)[^}]*\}\s*$", heading)
        found.add(given[1] if given else slug(heading))
    found.update(re.findall(r"^:::\s*([\w.]+)", text, re.MULTILINE))
    return found


def documented(fragment: str, page: Path) -> bool:
    """Whether `fragment` is an object mkdocstrings renders on `page`: one of its `:::`s' members."""
    text = page.read_text(encoding="utf-8")
    for documented_object in sorted(
        re.findall(r"^:::\s*([\w.]+)", text, re.MULTILINE), key=len, reverse=True
    ):
        if fragment.startswith(documented_object + "."):
            found: object = importlib.import_module(documented_object)
            for part in fragment.removeprefix(documented_object + ".").split("."):
                if part.startswith("_") or not hasattr(found, part):
                    return False
                found = getattr(found, part)
            return True
    return False


def problems(targets: list[str], docs: Path = ROOT / "docs") -> list[str]:
    """What is wrong with each link target, for a page read away from the repository."""
    found = []
    for target in targets:
        if not re.match(r"https?://", target):
            found.append(f"{target!r}: not absolute (the package index shows the README alone)")
            continue
        if not target.startswith(SITE_URL):
            continue
        path, _, fragment = target.removeprefix(SITE_URL).partition("#")
        if path and not re.fullmatch(r"[\w-]+/", path):
            found.append(f"{target!r}: a docs page is served at {SITE_URL}NAME/")
            continue
        page = docs / f"{path.rstrip('/') or 'index'}.md"
        if not page.is_file():
            found.append(f"{target!r}: no page {page.name} in docs/")
        elif fragment and fragment not in anchors(page) and not documented(fragment, page):
            found.append(f"{target!r}: no anchor #{fragment} in {page.name}")
    return found


REPOSITORY = "https://github.com/beta-middleware/beta-middleware/blob/main/"


def online(target: str) -> str:
    """Where the relative link `target` (`docs/foo.md#a`, `CONTRIBUTING.md`) is read without the clone."""
    path, _, fragment = target.partition("#")
    if path.startswith("docs/") and path.endswith(".md"):
        page = path.removeprefix("docs/").removesuffix(".md")
        return SITE_URL + ("" if page == "index" else f"{page}/") + (f"#{fragment}" if fragment else "")
    return REPOSITORY + target


def relative_problems(text: str, root: Path = ROOT) -> list[str]:
    """What is wrong with each relative link of `text`: no such file or anchor, or no address beside it."""
    found = []
    for paragraph in re.split(r"\n\s*\n", CODE.sub("", text)):
        targets = links(paragraph)
        for target in targets:
            if re.match(r"https?://", target):
                continue
            path, _, fragment = target.partition("#")
            if not path or not (root / path).is_file():
                found.append(f"{target!r}: no such file in the repository")
                continue
            if fragment and path.endswith(".md") and fragment not in anchors(root / path):
                found.append(f"{target!r}: no anchor #{fragment} in {path}")
            if online(target) not in targets:
                found.append(f"{target!r}: no {online(target)} beside it (the package index shows no file)")
    return found


def test_every_readme_link_reaches_its_page_in_a_clone_and_online() -> None:
    text = README.read_text(encoding="utf-8")
    targets = links(text)
    assert any(target.startswith(SITE_URL) for target in targets)
    assert any(target.startswith("docs/") for target in targets)
    assert problems([t for t in targets if re.match(r"https?://", t)]) == []
    assert relative_problems(text) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[a](docs/no-such-page.md)", "no such file"),
        ("[a](docs/cli.md)", f"no {SITE_URL}cli/ beside it"),
        (f"[a](docs/cli.md) ([b]({SITE_URL}cli/#run))", f"no {SITE_URL}cli/ beside it"),
        (f"[a](docs/cli.md#nowhere) ([b]({SITE_URL}cli/#nowhere))", "no anchor #nowhere in docs/cli.md"),
        ("[a](CONTRIBUTING.md)", f"no {REPOSITORY}CONTRIBUTING.md beside it"),
        (f"[a](docs/cli.md)\n\n[b]({SITE_URL}cli/)", "beside it"),  # another paragraph
    ],
)
def test_a_relative_link_without_its_address_is_named(text: str, problem: str) -> None:
    (found,) = relative_problems(text)
    assert problem in found


def test_a_relative_link_with_its_address_passes() -> None:
    text = (
        f"[a](docs/cli.md#run) ([b]({SITE_URL}cli/#run)), [c](docs/index.md) ([d]({SITE_URL})),\n"
        f"[e](CONTRIBUTING.md) ([f]({REPOSITORY}CONTRIBUTING.md))"
    )
    assert relative_problems(text) == []


def test_the_quick_start_is_the_two_commands_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("### Quick start") :]
    block = re.search(r"^```bash\n(.*?)^```$", quick, re.MULTILINE | re.DOTALL)
    assert block is not None
    assert block[1].splitlines() == [
        'python3 -m venv .venv && .venv/bin/pip install -q -e ".[all]" '
        "&& .venv/bin/python -m beta_middleware demo",
        "scripts/test",
    ]
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip().endswith("\nscripts/test")


def test_contributing_keeps_the_details_and_the_readme_one_line() -> None:
    readme = README.read_text(encoding="utf-8")
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert "scripts/test --lane NAME" in contributing
    assert "--lane" not in readme
    assert "CONTRIBUTING.md" in links(readme)
    # read in a clone or on GitHub: its relative links need no address beside them, only their file
    assert [
        p for p in relative_problems(contributing) if not p.endswith("(the package index shows no file)")
    ] == []


def test_the_docs_site_url_is_the_projects() -> None:
    assert SITE_URL == "https://beta-middleware.github.io/beta-middleware/"


def test_links_are_found_in_every_markdown_form_but_code() -> None:
    text = (
        'See [a](https://x.example/a "title") and [b](<docs/b.md>), <a href="c.html">c</a>.\n'
        "[ref]: https://x.example/ref\n"
        "```python\nprint('[no](not-a-link)')\n```\n"
    )
    assert sorted(links(text)) == ["c.html", "docs/b.md", "https://x.example/a", "https://x.example/ref"]


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("docs/index.md", "not absolute"),
        ("#use", "not absolute"),
        ("requests/", "not absolute"),
        (f"{SITE_URL}no-such-page/", "no page no-such-page.md"),
        (f"{SITE_URL}requests.md", "is served at"),
        (f"{SITE_URL}requests", "is served at"),
        (f"{SITE_URL}cli/#no-such-heading", "no anchor #no-such-heading in cli.md"),
        (f"{SITE_URL}api/#beta_middleware.no_such_name", "no anchor"),
        (f"{SITE_URL}api/#beta_middleware._scope", "no anchor"),
    ],
)
def test_a_broken_link_is_named(target: str, problem: str) -> None:
    (found,) = problems([target])
    assert repr(target) in found
    assert problem in found


@pytest.mark.parametrize(
    "target",
    [
        "https://pypi.org/project/uv/",
        SITE_URL,
        f"{SITE_URL}#beta-middleware",
        f"{SITE_URL}cli/#demo",
        f"{SITE_URL}anthropic/#middleware-or-transport",
        f"{SITE_URL}api/#beta_middleware.betas",
        f"{SITE_URL}api/#beta_middleware.requests.BetaAdapter",
    ],
)
def test_a_working_link_passes(target: str) -> None:
    assert problems([target]) == []


def test_slugs_are_mkdocs_anchors() -> None:
    assert slug("`demo`") == "demo"
    assert slug("Middleware or transport?") == "middleware-or-transport"
    assert slug("anthropic SDK: add `BetaMiddleware` to the client (Bedrock and Vertex too)") == (
        "anthropic-sdk-add-betamiddleware-to-the-client-bedrock-and-vertex-too"
    )
    assert slug("Über [links](x)") == "uber-links"
