"""Flow messages: a WhatsApp Flow opened from a button."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._interactive import InteractiveBase, action_parameters, json_object
from gupshup_async.messages._json import JSON, Reader
from gupshup_async.messages._parts import HEADER_TYPES, Header, copy_extra, to_header


@attrs.frozen
class FlowMessage(InteractiveBase):
    """Opens a WhatsApp Flow, by ``flow_id`` or by ``flow_name`` (exactly one).

    ``screen`` and ``data`` make the ``flow_action_payload`` of a ``navigate`` action.
    """

    TYPE: ClassVar[str] = "flow"
    HEADERS: ClassVar[tuple[type[Header], ...]] = HEADER_TYPES

    body: str
    flow_cta: str
    flow_id: str | None = attrs.field(default=None, kw_only=True)
    flow_name: str | None = attrs.field(default=None, kw_only=True)
    flow_token: str | None = attrs.field(default=None, kw_only=True)
    mode: str | None = attrs.field(default=None, kw_only=True)
    flow_action: str | None = attrs.field(default=None, kw_only=True)
    screen: str | None = attrs.field(default=None, kw_only=True)
    data: dict[str, Any] | None = attrs.field(
        default=None, kw_only=True, hash=False, converter=json_object
    )
    flow_message_version: str = attrs.field(default=rules.FLOW_MESSAGE_VERSION, kw_only=True)
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.parameters"
        if self.flow_message_version != rules.FLOW_MESSAGE_VERSION:
            out.append(
                Problem(
                    f"{where}.flow_message_version",
                    f"must be {rules.FLOW_MESSAGE_VERSION!r}, "
                    f"got {rules.show(self.flow_message_version)}",
                )
            )
        if (self.flow_id is None) == (self.flow_name is None):
            out.append(Problem(where, "must have exactly one of 'flow_id' or 'flow_name'"))
        if self.flow_id is not None:
            rules.identifier(out, f"{where}.flow_id", self.flow_id, rules.ID_MAX)
        if self.flow_name is not None:
            rules.text(out, f"{where}.flow_name", self.flow_name, rules.ID_MAX)
        rules.text(out, f"{where}.flow_cta", self.flow_cta, rules.FLOW_CTA_MAX)
        rules.text(
            out, f"{where}.flow_token", self.flow_token, rules.FLOW_TOKEN_MAX, required=False
        )
        rules.choice(out, f"{where}.mode", self.mode, rules.FLOW_MODES, required=False)
        rules.choice(
            out, f"{where}.flow_action", self.flow_action, rules.FLOW_ACTIONS, required=False
        )
        payload = f"{where}.flow_action_payload"
        if self.screen is None and self.data is None:
            return
        if self.flow_action not in (None, "navigate"):
            out.append(Problem(payload, "is only allowed with flow_action 'navigate'"))
        # Meta's OpenAPI: screen is optional; the flow opens at its FIRST_ENTRY_SCREEN then.
        rules.text(out, f"{payload}.screen", self.screen, rules.ID_MAX, required=False)
        if self.data is not None:
            rules.non_empty_object(out, f"{payload}.data", self.data)
            if not rules.is_json_value(self.data):
                out.append(Problem(f"{payload}.data", "must hold JSON values only"))

    def _action_json(self) -> JSON:
        parameters: JSON = {"flow_message_version": self.flow_message_version}
        for key in ("flow_token", "flow_id", "flow_name", "flow_cta", "mode", "flow_action"):
            value = getattr(self, key)
            if value is not None:
                parameters[key] = value
        if self.screen is not None or self.data is not None:
            payload: JSON = {}
            if self.screen is not None:
                payload["screen"] = self.screen
            if self.data is not None:
                payload["data"] = copy.deepcopy(self.data)
            parameters["flow_action_payload"] = payload
        return {"name": "flow", "parameters": parameters}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = action_parameters(action, "flow", path, reader)
        where = f"{path}.parameters"
        payload = reader.optional_object(parameters, "flow_action_payload", where)
        fields = {
            key: parameters.get(key)
            for key in ("flow_id", "flow_name", "flow_token", "mode", "flow_action", "flow_cta")
        }
        fields["flow_message_version"] = parameters.get("flow_message_version")
        fields["screen"] = payload.get("screen")
        fields["data"] = payload.get("data")
        return fields
