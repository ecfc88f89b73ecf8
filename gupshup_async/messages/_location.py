"""A location message: a pin on the map, with a name and an address."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._free_form import FreeFormBase
from gupshup_async.messages._json import JSON, Reader
from gupshup_async.messages._parts import copy_extra

#: Ours: Meta states no length for a location's name or address.
PLACE_TEXT_MAX: Final = 1000


def _coordinate(out: list[Problem], path: str, value: object, limit: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        out.append(Problem(path, f"must be a number, got {rules.show(value)}"))
    elif not math.isfinite(value) or not -limit <= value <= limit:
        out.append(Problem(path, f"must be from {-limit:g} to {limit:g}, got {value!r}"))


def _number(value: object) -> object:
    """Meta's examples write coordinates as numbers, its schema as strings: read both."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


@attrs.frozen
class LocationMessage(FreeFormBase):
    """``LocationMessage(37.4847, -122.1486, name="Meta HQ", address="1 Hacker Way")``:
    latitude from -90 to 90, longitude from -180 to 180 (degrees).
    """

    latitude: float
    longitude: float
    name: str | None = attrs.field(default=None, kw_only=True)
    address: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    PAYLOAD: ClassVar[str] = "location"

    def _check(self, out: list[Problem], path: str) -> None:
        _coordinate(out, f"{path}.latitude", self.latitude, 90)
        _coordinate(out, f"{path}.longitude", self.longitude, 180)
        rules.text(out, f"{path}.name", self.name, PLACE_TEXT_MAX, required=False)
        rules.text(out, f"{path}.address", self.address, PLACE_TEXT_MAX, required=False)

    def _fields_json(self) -> JSON:
        out: JSON = {"latitude": self.latitude, "longitude": self.longitude}
        if self.name is not None:
            out["name"] = self.name
        if self.address is not None:
            out["address"] = self.address
        return out

    @classmethod
    def _read(cls, document: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
        for key in ("latitude", "longitude"):
            if key not in document:
                reader.problem(f"location.{key}", "is required")
        return {
            "latitude": _number(document.get("latitude")),
            "longitude": _number(document.get("longitude")),
            "name": document.get("name"),
            "address": document.get("address"),
        }
