"""Inbound webhook events (Gupshup's version 3, Meta's envelope): replies to our buttons and
lists, flow answers, locations, other messages, delivery statuses. Pure: no I/O.

`parse_events` never raises on a new or unknown event shape (it becomes an `UnknownEvent`
keeping the raw payload); only a body that is not a webhook envelope at all raises
`WebhookError`. Every event has a stable ``identity``: Gupshup retries a callback that was not
acknowledged within 10 seconds, so the same event can arrive twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from gupshup_async.errors import GupshupError

__all__ = [
    "ButtonReply",
    "ConnectivityCheck",
    "Event",
    "FlowReply",
    "InboundMessage",
    "ListReply",
    "LocationReply",
    "StatusUpdate",
    "UnknownEvent",
    "WebhookError",
    "parse_events",
]


class WebhookError(GupshupError, ValueError):
    """The body is not a webhook envelope at all (not JSON, or no ``entry`` list)."""


@attrs.frozen
class _Inbound:
    """What every inbound message carries."""

    sender: str  # the user's WhatsApp id
    message_id: str
    timestamp: int | None
    context_id: str | None  # the id of our message this answers (its SendResult.message_id)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("message", self.message_id)


@attrs.frozen
class ButtonReply(_Inbound):
    """A tap on one of our reply buttons: ``id`` is the button's id."""

    id: str = ""
    title: str = ""
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class ListReply(_Inbound):
    """A row picked from one of our lists: ``id`` is the row's id."""

    id: str = ""
    title: str = ""
    description: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class FlowReply(_Inbound):
    """The answer to a flow or an address message: ``response`` is ``response_json`` decoded."""

    name: str | None = None
    body: str | None = None
    response: dict[str, Any] = attrs.field(factory=dict, hash=False)
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class LocationReply(_Inbound):
    """A location the user shared (the answer to a location request)."""

    latitude: float = 0.0
    longitude: float = 0.0
    name: str | None = None
    address: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class InboundMessage(_Inbound):
    """Any other message from a user: ``type`` says which (``text``, ``image``, ...)."""

    type: str = ""
    text: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)


@attrs.frozen
class StatusUpdate:
    """What became of a message we sent: sent, delivered, read, failed, enqueued (or newer)."""

    message_id: str
    status: str
    recipient: str | None
    timestamp: int | None
    gs_id: str | None = None
    error_code: int | None = None
    error_title: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("status", self.message_id, self.status)


@attrs.frozen
class ConnectivityCheck:
    """Gupshup checking that the callback URL answers."""

    raw: dict[str, Any] = attrs.field(factory=dict, hash=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("connectivity-check", json.dumps(self.raw, sort_keys=True, default=str))


@attrs.frozen
class UnknownEvent:
    """A shape this version does not know; ``raw`` keeps it whole."""

    field: str | None
    raw: dict[str, Any] = attrs.field(factory=dict, hash=False)

    @property
    def identity(self) -> tuple[str, ...]:
        return ("unknown", json.dumps(self.raw, sort_keys=True, default=str))


Event = (
    ButtonReply
    | ListReply
    | FlowReply
    | LocationReply
    | InboundMessage
    | StatusUpdate
    | ConnectivityCheck
    | UnknownEvent
)


def parse_events(body: bytes | str | Mapping[str, Any]) -> list[Event]:
    """The events in one webhook call, in the order they appear."""
    envelope: Any = body
    if isinstance(body, (bytes, str)):
        try:
            envelope = json.loads(body)
        except ValueError as bad:
            raise WebhookError(f"the webhook body is not JSON: {bad}") from None
    if not isinstance(envelope, Mapping):
        raise WebhookError("the webhook body is not a JSON object")
    if envelope.get("field") == "platform-event" or "entry" not in envelope:
        if isinstance(envelope.get("value"), Mapping):
            return list(_change(envelope))
        raise WebhookError("the webhook body has no 'entry' list: not a webhook envelope")
    entries = envelope["entry"]
    if not isinstance(entries, list):
        raise WebhookError("the webhook body's 'entry' is not a list")
    events: list[Event] = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        if not isinstance(changes, list):
            events.append(UnknownEvent(None, _as_dict(entry)))
            continue
        for change in changes:
            events.extend(_change(change))
    return events


def _change(change: Any) -> Iterator[Event]:
    if not isinstance(change, Mapping) or not isinstance(change.get("value"), Mapping):
        yield UnknownEvent(None, _as_dict(change))
        return
    field, value = change.get("field"), change["value"]
    if field == "platform-event" and value.get("type") == "connectivity-check":
        yield ConnectivityCheck(_as_dict(value))
        return
    if field != "messages":
        yield UnknownEvent(_text(field), _as_dict(change))
        return
    found = False
    for status in _list(value.get("statuses")):
        found = True
        yield _status(status)
    for message in _list(value.get("messages")):
        found = True
        yield _message(message)
    if not found:
        yield UnknownEvent(field, _as_dict(change))


def _status(status: Any) -> Event:
    if not isinstance(status, Mapping) or not _text(status.get("id")):
        return UnknownEvent("messages", _as_dict(status))
    code, title = _int(status.get("code")), _text(status.get("reason"))
    errors = _list(status.get("errors"))
    if errors and isinstance(errors[0], Mapping):
        first = errors[0]
        code = code if code is not None else _int(first.get("code"))
        title = title or _text(first.get("title")) or _text(first.get("message"))
    return StatusUpdate(
        message_id=str(status["id"]),
        status=_text(status.get("status")) or "unknown",
        recipient=_text(status.get("recipient_id")),
        timestamp=_int(status.get("timestamp")),
        gs_id=_text(status.get("gs_id")),
        error_code=code,
        error_title=title,
        raw=_as_dict(status),
    )


def _message(message: Any) -> Event:
    if not isinstance(message, Mapping) or not _text(message.get("id")):
        return UnknownEvent("messages", _as_dict(message))
    context = message.get("context")
    common: dict[str, Any] = {
        "sender": _text(message.get("from")) or "",
        "message_id": str(message["id"]),
        "timestamp": _int(message.get("timestamp")),
        "context_id": _text(context.get("id")) if isinstance(context, Mapping) else None,
        "raw": _as_dict(message),
    }
    kind = message.get("type")
    if kind == "interactive" and isinstance(message.get("interactive"), Mapping):
        interactive = message["interactive"]
        reply_kind = interactive.get("type")
        reply = interactive.get(reply_kind) if isinstance(reply_kind, str) else None
        if isinstance(reply, Mapping):
            if reply_kind == "button_reply":
                return ButtonReply(
                    **common, id=_text(reply.get("id")) or "", title=_text(reply.get("title")) or ""
                )
            if reply_kind == "list_reply":
                return ListReply(
                    **common,
                    id=_text(reply.get("id")) or "",
                    title=_text(reply.get("title")) or "",
                    description=_text(reply.get("description")),
                )
            if reply_kind == "nfm_reply":
                return FlowReply(
                    **common,
                    name=_text(reply.get("name")),
                    body=_text(reply.get("body")),
                    response=_decoded(reply.get("response_json")),
                )
    if kind == "location" and isinstance(message.get("location"), Mapping):
        where = message["location"]
        latitude, longitude = _float(where.get("latitude")), _float(where.get("longitude"))
        if latitude is not None and longitude is not None:
            return LocationReply(
                **common,
                latitude=latitude,
                longitude=longitude,
                name=_text(where.get("name")),
                address=_text(where.get("address")),
            )
    text = message.get("text")
    body = _text(text.get("body")) if isinstance(text, Mapping) else None
    return InboundMessage(**common, type=_text(kind) or "unknown", text=body)


def _decoded(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {"value": value}


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
