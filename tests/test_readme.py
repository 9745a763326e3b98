"""The README works where it is read without the repository: on the package index.

Every link is absolute, and each one into the docs site (mkdocs.yml's `site_url`) names a
page of docs/ (`docs/foo.md` is served at `foo/`) and, with a `#fragment`, an anchor of it.
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


def test_every_readme_link_is_absolute_and_reaches_a_docs_page() -> None:
    targets = links(README.read_text(encoding="utf-8"))
    assert any(target.startswith(SITE_URL) for target in targets)
    assert problems(targets) == []


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
