"""JSON plumbing shared by every message class: reading defensively, and the overlay that keeps
fields we do not model, so that a document read and written back is the same document.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gupshup_async.errors import Problem, ValidationError
from gupshup_async.messages._limits import json_problem, type_name

JSON = dict[str, Any]
_T = TypeVar("_T")

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dump_json(document: Any) -> bytes:
    """Compact UTF-8 JSON, as the request body carries it."""
    return _encoder.encode(document).encode()


def seal(message: Any, problems: list[Problem], path: str, document: Callable[[], Any]) -> None:
    """Finish making ``message``: raise `ValidationError` with ``problems``, if any; else
    encode ``document()`` once into its ``_encoded`` bytes. What extra fields carry is only
    known to be JSON when it is written, and a message must fail when made, not when sent.
    """
    if not problems:
        written = document()
        try:
            object.__setattr__(message, "_encoded", dump_json(written))
        except (TypeError, ValueError) as exc:
            problem = json_problem(written, path)
            problems.append(problem or Problem(path, f"cannot be written as JSON: {exc}"))
    if problems:
        raise ValidationError(problems)


def strict_equal(a: object, b: object) -> bool:
    """JSON equality: ``1 == True`` and ``1 == 1.0`` hold in Python, not in JSON."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=False))
    return a == b


def leftover(document: Mapping[str, Any], generated: Mapping[str, Any]) -> JSON:
    """What ``document`` has that ``generated`` lacks or says differently, as an overlay."""
    extra: JSON = {}
    for key, value in document.items():
        if key not in generated:
            extra[key] = copy.deepcopy(value)
            continue
        ours = generated[key]
        if isinstance(value, Mapping) and isinstance(ours, Mapping):
            nested = leftover(value, ours)
            if nested:
                extra[key] = nested
        elif not strict_equal(value, ours):
            extra[key] = copy.deepcopy(value)
    return extra


def merge(generated: JSON, extra: Mapping[str, Any]) -> JSON:
    """Lay ``extra`` over ``generated`` (a fresh dict, changed in place) and return it."""
    for key, value in extra.items():
        ours = generated.get(key)
        if isinstance(ours, dict) and isinstance(value, Mapping):
            generated[key] = merge(ours, value)
        else:
            generated[key] = copy.deepcopy(value)
    return generated


class Reader:
    """Reads untrusted JSON, recording a `Problem` for each shape it cannot use."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(self, value: object, path: str) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.problem(path, f"must be a JSON object, got {type_name(value)}")
        return None

    def optional_object(self, parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        """``parent[key]`` when it is an object; an empty one when absent or (reported) wrong."""
        if key not in parent:
            return {}
        return self.mapping(parent[key], f"{path}.{key}") or {}

    def array(self, value: object, path: str) -> list[Any]:
        if isinstance(value, list):
            return value
        if value is None:
            self.problem(path, "is required")
        else:
            self.problem(path, f"must be a JSON array, got {type_name(value)}")
        return []

    def each(
        self, value: object, path: str, read: Callable[[Mapping[str, Any], str, int], _T]
    ) -> list[_T]:
        """``read(object, its path, its index)`` for each object of the array ``value``."""
        found: list[_T] = []
        for index, item in enumerate(self.array(value, path)):
            where = f"{path}[{index}]"
            obj = self.mapping(item, where)
            if obj is not None:
                found.append(read(obj, where, index))
        return found

    def constant(self, parent: Mapping[str, Any], key: str, expected: str, path: str) -> None:
        found = parent.get(key)
        if found != expected:
            shown = "missing" if key not in parent else repr(found)
            self.problem(f"{path}.{key}", f"must be {expected!r}, got {shown}")

    def text_of(self, parent: Mapping[str, Any], key: str, path: str) -> Any:
        """The ``text`` inside ``parent[key]`` (``{"text": ...}``), or None when absent."""
        if key not in parent:
            return None
        wrapper = self.mapping(parent[key], f"{path}.{key}")
        if wrapper is None:
            return None
        if "text" not in wrapper:
            self.problem(f"{path}.{key}.text", "is required")
        return wrapper.get("text")

    def raise_if_any(self, more: list[Problem] | None = None) -> None:
        # The reader and a message's own checks may both see a missing part: say it once.
        problems = list(dict.fromkeys(self.problems + (more or [])))
        if problems:
            raise ValidationError(problems)
