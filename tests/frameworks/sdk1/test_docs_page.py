"""docs/frameworks.md: the recipes of this environment's frameworks run as written."""

from __future__ import annotations

import pytest

from tests.frameworks.docs_page import SECTIONS, check_elsewhere, check_every_recipe_is_run, check_recipe
from tests.messages_server import MessagesServer


def test_every_recipe_of_the_page_is_run_somewhere() -> None:
    check_every_recipe_is_run()


@pytest.mark.parametrize("title", sorted(SECTIONS["sdk1"]))
def test_recipe(api: MessagesServer, title: str) -> None:
    check_recipe(api, title)


def test_the_other_pages_blocks_of_these_frameworks(api: MessagesServer) -> None:
    check_elsewhere(api, "sdk1")
