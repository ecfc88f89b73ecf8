"""The documentation cannot fall behind the code: every public name has its reference entry."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

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


FRAGMENT = re.compile(r"#\s*fragment:?(.*)", re.IGNORECASE)


def _python_blocks() -> list[tuple[str, str]]:
    found = []
    for path in [*sorted(DOCS.glob("*.md")), DOCS.parent / "README.md"]:
        text = path.read_text()
        for match in re.finditer(r"```python\n(.*?)```", text, re.DOTALL):
            line = text[: match.start()].count("\n") + 2
            found.append((f"{path.name}:{line}", match.group(1)))
    return found


def _undefined(code: str) -> set[str]:
    """Names a snippet uses and neither defines nor imports (scopes flattened: a check for
    missing imports and names from nowhere, not a type checker).
    """
    tree = ast.parse(code)
    defined, used = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store | ast.Del) else used).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            defined.add(node.name)
    return used - defined


@pytest.mark.parametrize(("where", "code"), _python_blocks(), ids=lambda v: str(v)[:40])
def test_every_snippet_is_complete_or_says_it_is_a_fragment(where: str, code: str) -> None:
    # Complete: every name it uses is imported or defined in it. A fragment says so on its
    # first line and names what comes from the reader's code.
    missing = _undefined(code)
    first = FRAGMENT.match(code.splitlines()[0] if code.strip() else "")
    said = set(re.findall(r"\w+", first.group(1))) if first else set()
    assert missing - said == set(), f"{where}: uses {sorted(missing - said)} from nowhere"
