"""The docs site as a reader sees it: the built site, each page opened in a real headless browser.

At 1280 px wide (a laptop's window): no code block is wider than its column (a reader would
have to scroll it sideways), no doctest marker shows, and every page is reachable from the
navigation. It needs Chromium and its driver from the system's packages (Debian's
`chromium` and `chromium-driver`) and selenium (the `docs` extra), and is skipped, saying
what is missing, without them; scripts/test's `site` lane runs it, and installs Chromium
on CI where it can.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:  # the test lanes install the `test` extra only: the `site` lane runs this
    pytest.skip("no selenium (the docs extra): scripts/test --lane site runs this", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(path.stem for path in (ROOT / "docs").glob("*.md"))
WIDTH, HEIGHT = 1280, 900
MARKERS = ("<BLANKLINE>", "# doctest:", "+ELLIPSIS", "+NORMALIZE_WHITESPACE", ">>> ")
"""doctest's markers: what the test suite reads, never what a reader should."""
# Chromium as a test needs it: no sandbox (containers, root), nothing it would fetch or sync,
# and no host but 127.0.0.1 (the theme's web fonts and the repository's star count fail at
# once instead of timing out: the code font falls back to the system's monospace one).
FLAGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={WIDTH},{HEIGHT}",
)


def url_of(page: str) -> str:
    """Where mkdocs serves `docs/PAGE.md`, relative to the site's root."""
    return "" if page == "index" else f"{page}/"


def found(*names: str) -> str | None:
    """The first of `names` that is a program on PATH, or a file."""
    for name in names:
        path = shutil.which(name) or (name if os.path.isfile(name) else None)
        if path is not None:
            return path
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as `mkdocs build --strict` builds it."""
    built = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(built)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    return built


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a line per file the browser fetches says nothing a failure would not


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The site's root URL on 127.0.0.1 (a free port)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system's packages, in a new empty profile."""
    chromium = found("chromium", "chromium-browser", "google-chrome")
    driver_path = found("chromedriver", "/usr/lib/chromium/chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(
            "no Chromium and chromedriver on PATH: apt-get install -y chromium chromium-driver "
            "(scripts/test's site lane does it on CI when it runs as root)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    with tempfile.TemporaryDirectory() as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        # the driver's path given: Selenium Manager, which would download one, never runs
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def open_page(browser: Any, url: str) -> None:
    browser.get(url)
    assert browser.execute_script("return window.innerWidth") == WIDTH


WIDE_BLOCKS = """
return [...document.querySelectorAll('.md-content pre > code')]
    .filter((code) => code.scrollWidth > code.clientWidth)
    .map((code) => {
        const lines = code.textContent.split('\\n');
        const widest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
        return `${code.scrollWidth}px in ${code.clientWidth}px: ${widest}`;
    });
"""


@pytest.mark.parametrize("page", PAGES)
def test_no_code_block_is_wider_than_its_column(browser: Any, served: str, page: str) -> None:
    open_page(browser, served + url_of(page))
    assert browser.execute_script("return document.querySelectorAll('.md-content').length") == 1
    assert browser.execute_script(WIDE_BLOCKS) == []


@pytest.mark.parametrize("page", PAGES)
def test_no_doctest_marker_shows(browser: Any, served: str, page: str) -> None:
    open_page(browser, served + url_of(page))
    text = browser.execute_script("return document.querySelector('.md-content').innerText")
    assert text.strip()
    assert [marker for marker in MARKERS if marker in text] == []


def test_every_page_is_reachable_from_the_navigation(browser: Any, served: str) -> None:
    open_page(browser, served)
    links = browser.execute_script(
        "return [...document.querySelectorAll('nav.md-nav--primary a.md-nav__link[href]')].map((a) => a.href)"
    )
    reached = {link.split("#")[0] for link in links}
    assert {served + url_of(page) for page in PAGES} <= reached
    for link in sorted(reached):  # and each opens a page of the site, not the 404 page
        open_page(browser, link)
        assert browser.execute_script("return document.querySelector('.md-content h1') !== null"), link
        assert "404" not in browser.title, link
