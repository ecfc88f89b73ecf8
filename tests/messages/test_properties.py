"""Properties over generated messages and documents.

- Anything the builders accept round-trips through JSON, both ways.
- A valid document changed at random is either accepted and round-trips, or is refused with
  `ValidationError`: never another exception, never a silently different document.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gupshup_async import (
    ButtonMessage,
    CarouselCard,
    CarouselMessage,
    CtaUrlMessage,
    FlowMessage,
    ImageHeader,
    ListMessage,
    Message,
    ProductListMessage,
    ProductSection,
    Row,
    Section,
    ValidationError,
    VideoHeader,
    parse_interactive,
)
from gupshup_async._examples import EXAMPLES


def texts(max_size: int) -> st.SearchStrategy[str]:
    """Strings around a limit: usually valid, sometimes a little too long, blank or padded."""
    return st.text(min_size=0, max_size=max_size + 2)


def ids(max_size: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=max_size).map(str.strip),
        texts(max_size),
    )


headers = st.one_of(
    st.none(),
    texts(60),
    st.builds(ImageHeader, st.just("https://cdn.example.com/a.png")),
    st.builds(VideoHeader, id=ids(20)),
)


@st.composite
def button_messages(draw: st.DrawFn) -> ButtonMessage:
    buttons = draw(st.lists(st.tuples(ids(256), texts(20)), min_size=0, max_size=4))
    return ButtonMessage(
        draw(texts(1024)), buttons, header=draw(headers), footer=draw(st.none() | texts(60))
    )


@st.composite
def list_messages(draw: st.DrawFn) -> ListMessage:
    sections = draw(
        st.lists(
            st.builds(
                Section,
                st.none() | texts(24),
                st.lists(st.builds(Row, ids(200), texts(24), st.none() | texts(72)), max_size=4),
            ),
            min_size=1,
            max_size=4,
        )
    )
    header = draw(st.none() | texts(60))
    return ListMessage(draw(texts(4096)), draw(texts(20)), sections, header=header)


@st.composite
def other_messages(draw: st.DrawFn) -> Message:
    kind = draw(st.sampled_from(["cta", "flow", "products", "carousel"]))
    if kind == "cta":
        url = draw(st.sampled_from(["https://example.com/x?y=1", "http://a.example", "ftp://x"]))
        return CtaUrlMessage(draw(texts(1024)), draw(texts(20)), url, header=draw(headers))
    if kind == "flow":
        by_id = draw(st.booleans())
        return FlowMessage(
            draw(texts(1024)),
            draw(texts(30)),
            flow_id=draw(ids(20)) if by_id else None,
            flow_name=None if by_id else draw(texts(20)),
            mode=draw(st.sampled_from([None, "draft", "published"])),
            flow_action=draw(st.sampled_from([None, "navigate", "data_exchange"])),
            screen=draw(st.none() | ids(20)),
            data=draw(st.none() | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
            flow_token=draw(st.none() | ids(20)),
        )
    if kind == "products":
        sections = draw(
            st.lists(
                st.builds(ProductSection, st.none() | texts(24), st.lists(ids(10), max_size=12)),
                min_size=1,
                max_size=3,
            )
        )
        return ProductListMessage(draw(texts(60)), draw(texts(1024)), draw(ids(20)), sections)
    count = draw(st.integers(1, 4))
    replies = draw(st.integers(1, 3))
    cards = [
        CarouselCard(
            ImageHeader("https://cdn.example.com/a.png"),
            draw(st.none() | texts(160)),
            buttons=[(f"c{i}b{j}", draw(texts(20))) for j in range(replies)],
        )
        for i in range(count)
    ]
    return CarouselMessage(draw(texts(1024)), cards)


def built(strategy: st.SearchStrategy[Message]) -> st.SearchStrategy[Message | None]:
    """The message, or None where the builder refused the inputs (as it should, often)."""

    @st.composite
    def attempt(draw: st.DrawFn) -> Message | None:
        try:
            return draw(strategy)
        except ValidationError:
            return None

    return attempt()


@given(built(st.one_of(button_messages(), list_messages(), other_messages())))
def test_anything_the_builders_accept_round_trips(message: Message | None) -> None:
    if message is None:
        return
    document = message.to_interactive()
    assert json.loads(json.dumps(document)) == document
    assert parse_interactive(document) == message
    assert parse_interactive(document).to_interactive() == document


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if isinstance(node, (dict, list)) else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _containers(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _containers(value, (*path, index))
    return found


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(sorted(EXAMPLES))))
    document = EXAMPLES[document].to_interactive()
    for _ in range(draw(st.integers(1, 3))):
        target = _at(document, draw(st.sampled_from(_containers(document))))
        operation = draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
        if isinstance(target, dict):
            keys = sorted(target)
            if operation == "add" or not keys:
                target[draw(st.text(max_size=12))] = draw(json_values)
            elif operation == "delete":
                del target[draw(st.sampled_from(keys))]
            else:
                target[draw(st.sampled_from(keys))] = draw(json_values)
        elif target:
            index = draw(st.integers(0, len(target) - 1))
            if operation == "delete":
                del target[index]
            elif operation == "duplicate":
                target.append(copy.deepcopy(target[index]))
            else:
                target[index] = draw(json_values)
        else:
            target.append(draw(json_values))
    return document


@given(mutated_documents())
def test_mutated_documents_are_accepted_exactly_or_refused(document: dict[str, Any]) -> None:
    try:
        message = parse_interactive(document)
    except ValidationError as refused:
        problems = refused.errors
    else:
        assert message.to_interactive() == document
        assert parse_interactive(message.to_interactive()) == message
        return
    assert problems
    assert all(p.path == "interactive" or p.path.startswith("interactive.") for p in problems)
