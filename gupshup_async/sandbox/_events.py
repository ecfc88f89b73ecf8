"""The webhook bodies the sandbox sends: statuses of the messages it processed, a user's
message, a tap on a button; in Gupshup's v3 format (Meta's envelope). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gupshup_async.sandbox._account import Processed

__all__ = ["inbound_event", "reply_event", "status_event"]


def _envelope(app_id: str, value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "gs_app_id": app_id,
        "object": "whatsapp_business_account",
        "entry": [{"id": "sandbox-waba", "changes": [{"field": "messages", "value": value}]}],
    }


_FAILURES = {
    131026: "Message undeliverable",
    131047: "Re-engagement message: more than 24 hours since the customer last replied",
}


def status_event(
    app_id: str, processed: Processed, status: str, timestamp: int, *, failed_code: int = 131026
) -> dict[str, Any]:
    """The status callback Gupshup would post for a message it accepted: Meta's id in ``id``,
    Gupshup's in ``gs_id``.
    """
    entry: dict[str, Any] = {
        "id": processed.wamid,
        "gs_id": processed.message_id,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": processed.to,
    }
    if processed.callback_data is not None:
        entry["biz_opaque_callback_data"] = processed.callback_data
    if status == "failed":
        title = _FAILURES.get(failed_code, "Message failed")
        entry["errors"] = [
            {
                "code": failed_code,
                "title": title,
                "message": title,
                "error_data": {"details": "the sandbox was told so about this number"},
            }
        ]
    return _envelope(app_id, {"messaging_product": "whatsapp", "statuses": [entry]})


def inbound_event(
    app_id: str, sender: str, message: Mapping[str, Any], seq: int, timestamp: int
) -> dict[str, Any]:
    """The callback of a user's message: ``message`` holds its ``type`` and content (and a
    ``context`` when it answers one of ours).
    """
    inbound = {
        "from": sender,
        "id": f"wamid.sandbox-inbound-{seq}",
        "timestamp": str(timestamp),
        **message,
    }
    contacts = [{"profile": {"name": "Sandbox User"}, "wa_id": sender}]
    return _envelope(
        app_id, {"messaging_product": "whatsapp", "contacts": contacts, "messages": [inbound]}
    )


def reply_event(
    app_id: str,
    processed: Processed,
    reply_id: str,
    title: str,
    timestamp: int,
    *,
    kind: str = "button_reply",
    description: str | None = None,
) -> dict[str, Any]:
    """The inbound message Gupshup would post when the user taps a button or picks a row."""
    reply: dict[str, Any] = {"id": reply_id, "title": title}
    if description is not None:
        reply["description"] = description
    message = {
        "from": processed.to,
        "id": f"wamid.sandbox-reply-{processed.seq}-{reply_id}",
        "timestamp": str(timestamp),
        "type": "interactive",
        "context": {"from": "sandbox-business", "id": processed.wamid},
        "interactive": {"type": kind, kind: reply},
    }
    contacts = [{"profile": {"name": "Sandbox User"}, "wa_id": processed.to}]
    return _envelope(
        app_id, {"messaging_product": "whatsapp", "contacts": contacts, "messages": [message]}
    )
