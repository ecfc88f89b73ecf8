"""The documentation cannot fall behind the code: every public name has its reference entry."""

from __future__ import annotations

import re
from pathlib import Path

import gupshup_async

DOCS = Path(__file__).parent.parent / "docs"


def test_every_public_name_is_in_the_api_reference() -> None:
    page = (DOCS / "reference.md").read_text()
    documented = set(re.findall(r"^::: gupshup_async\.(\w+)$", page, re.MULTILINE)) - {"testing"}
    public = set(gupshup_async.__all__) - {"__version__"}
    assert public - documented == set()
    assert documented - public == set()  # nothing documented that is not public


def test_every_page_is_in_the_navigation() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    pages = {path.name for path in DOCS.glob("*.md")}
    assert {page for page in pages if page not in nav} == set()
