"""Messages that ask the user for something: a location, an address, a call, contact info."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from gupshup_async.errors import Problem
from gupshup_async.messages import _limits as rules
from gupshup_async.messages._interactive import (
    InteractiveBase,
    action_parameters,
    json_array,
    json_object,
)
from gupshup_async.messages._json import JSON, Reader
from gupshup_async.messages._parts import Header, TextHeader, copy_extra, to_header


class NamedActionBase(InteractiveBase):
    """A message whose action is only a name: ``{"name": ACTION}``."""

    ACTION: ClassVar[str]

    def _check_action(self, path: str, out: list[Problem]) -> None:
        pass  # the action is fixed

    def _action_json(self) -> JSON:
        return {"name": self.ACTION}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        reader.constant(action, "name", cls.ACTION, path)
        return {}


@attrs.frozen
class LocationRequestMessage(NamedActionBase):
    """Asks the user to share their location: a body text and nothing else."""

    TYPE: ClassVar[str] = "location_request_message"
    ACTION: ClassVar[str] = "send_location"
    FOOTER: ClassVar[bool] = False

    body: str
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )


@attrs.frozen
class AddressMessage(InteractiveBase):
    """Asks the user for a delivery address (India only today); fields may be prefilled."""

    TYPE: ClassVar[str] = "address_message"
    HEADERS: ClassVar[tuple[type[Header], ...]] = (TextHeader,)

    body: str
    country: str = "IN"
    values: dict[str, Any] | None = attrs.field(
        default=None, kw_only=True, hash=False, converter=json_object
    )
    saved_addresses: list[Any] | None = attrs.field(
        default=None, kw_only=True, hash=False, converter=json_array
    )
    validation_errors: dict[str, Any] | None = attrs.field(
        default=None, kw_only=True, hash=False, converter=json_object
    )
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.parameters"
        rules.choice(out, f"{where}.country", self.country, rules.ADDRESS_COUNTRIES, required=True)
        for key in ("values", "validation_errors"):
            value = getattr(self, key)
            if value is not None:
                rules.non_empty_object(out, f"{where}.{key}", value)
        if self.saved_addresses is not None:
            if not isinstance(self.saved_addresses, list) or not self.saved_addresses:
                out.append(Problem(f"{where}.saved_addresses", "must be a non-empty list"))
            else:
                for i, saved in enumerate(self.saved_addresses):
                    rules.non_empty_object(out, f"{where}.saved_addresses[{i}]", saved)
        free_form = (self.values, self.saved_addresses, self.validation_errors)
        if not rules.is_json_value([v for v in free_form if v is not None]):
            out.append(Problem(where, "must hold JSON values only"))

    def _action_json(self) -> JSON:
        parameters: JSON = {"country": self.country}
        for key in ("values", "saved_addresses", "validation_errors"):
            value = getattr(self, key)
            if value is not None:
                parameters[key] = copy.deepcopy(value)
        return {"name": "address_message", "parameters": parameters}

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = action_parameters(action, "address_message", path, reader)
        keys = ("country", "values", "saved_addresses", "validation_errors")
        return {key: parameters.get(key) for key in keys}


@attrs.frozen
class VoiceCallMessage(InteractiveBase):
    """A button that starts a WhatsApp voice call with the business."""

    TYPE: ClassVar[str] = "voice_call"
    HEADERS: ClassVar[tuple[type[Header], ...]] = (TextHeader,)

    body: str
    display_text: str | None = attrs.field(default=None, kw_only=True)
    ttl_minutes: int | None = attrs.field(default=None, kw_only=True)
    payload: str | None = attrs.field(default=None, kw_only=True)
    header: Header | None = attrs.field(default=None, kw_only=True, converter=to_header)
    footer: str | None = attrs.field(default=None, kw_only=True)
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )

    def _check_action(self, path: str, out: list[Problem]) -> None:
        where = f"{path}.parameters"
        rules.text(
            out,
            f"{where}.display_text",
            self.display_text,
            rules.VOICE_CALL_DISPLAY_TEXT_MAX,
            required=False,
        )
        if self.ttl_minutes is not None:
            rules.integer(
                out, f"{where}.ttl_minutes", self.ttl_minutes, *rules.VOICE_CALL_TTL_MINUTES
            )
        rules.text(
            out, f"{where}.payload", self.payload, rules.VOICE_CALL_PAYLOAD_MAX, required=False
        )

    def _action_json(self) -> JSON:
        action: JSON = {"name": "voice_call"}
        parameters = {
            key: getattr(self, key)
            for key in ("display_text", "ttl_minutes", "payload")
            if getattr(self, key) is not None
        }
        if parameters:
            action["parameters"] = parameters
        return action

    @classmethod
    def _read_action(cls, action: Mapping[str, Any], path: str, reader: Reader) -> dict[str, Any]:
        parameters = action_parameters(action, "voice_call", path, reader)
        return {key: parameters.get(key) for key in ("display_text", "ttl_minutes", "payload")}


@attrs.frozen
class CallPermissionRequestMessage(NamedActionBase):
    """Asks the user to let the business call them on WhatsApp; the body is optional."""

    TYPE: ClassVar[str] = "call_permission_request"
    ACTION: ClassVar[str] = "call_permission_request"
    BODY_REQUIRED: ClassVar[bool] = False
    FOOTER: ClassVar[bool] = False

    body: str | None = None
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )


@attrs.frozen
class RequestContactInfoMessage(NamedActionBase):
    """Asks the user to share their phone number (a user known only by their business-scoped
    id, say); WhatsApp labels the button in the user's language.
    """

    TYPE: ClassVar[str] = "request_contact_info"
    ACTION: ClassVar[str] = "request_contact_info"
    FOOTER: ClassVar[bool] = False

    body: str
    extra: dict[str, Any] = attrs.field(
        factory=dict, kw_only=True, hash=False, converter=copy_extra
    )
