"""The webhook bodies the sandbox sends: statuses of the messages it processed, a user's
message, a tap on a button; in Gupshup's v3 format (Meta's envelope). Pure.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from gupshup_async.sandbox._account import Processed

__all__ = [
    "gupshup_billing_event",
    "gupshup_status_event",
    "inbound_event",
    "number_change_event",
    "preference_event",
    "reply_event",
    "status_event",
    "template_status_event",
    "user_id_of",
]


def user_id_of(phone: str) -> str:
    """The business-scoped user id the sandbox gives a number: stable, like Meta's."""
    if "." in phone:
        return phone  # already a user id
    digits = phone.encode()
    return f"IN.{zlib.crc32(b'u' + digits):010d}{zlib.crc32(b's' + digits):010d}"


def _envelope(app_id: str, value: Mapping[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "gs_app_id": app_id,
        "object": "whatsapp_business_account",
        "entry": [{"id": "sandbox-waba", "changes": [{"field": field, "value": value}]}],
    }


_FAILURES = {
    131050: "Unable to deliver the message: the user stopped marketing messages",
    131026: "Message undeliverable",
    131047: "Re-engagement message: more than 24 hours since the customer last replied",
}


def status_event(
    app_id: str,
    processed: Processed,
    status: str,
    timestamp: int,
    *,
    failed_code: int = 131026,
    pricing_category: str | None = None,
) -> dict[str, Any]:
    """The status callback Gupshup would post for a message it accepted: Meta's id in ``id``,
    Gupshup's in ``gs_id``; with ``pricing_category``, the ``pricing`` (per-message pricing,
    billable) and ``conversation`` a sent or delivered status carries.
    """
    entry: dict[str, Any] = {
        "id": processed.wamid,
        "gs_id": processed.message_id,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_user_id": user_id_of(processed.to),
    }
    if "." not in processed.to:  # a send to a user id is answered by user id only
        entry["recipient_id"] = processed.to
    if processed.callback_data is not None:
        entry["biz_opaque_callback_data"] = processed.callback_data
    if pricing_category is not None and status in ("sent", "delivered", "read"):
        entry["pricing"] = {"billable": True, "pricing_model": "PMP", "category": pricing_category}
        entry["conversation"] = {
            "id": f"sandbox-{processed.to}",
            "origin": {"type": pricing_category},
        }
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


def template_status_event(app_id: str, name: str, language: str, status: str) -> dict[str, Any]:
    """Meta's ``message_template_status_update`` for a template of the app's."""
    value = {
        "event": status,
        "message_template_id": zlib.crc32(f"{name}/{language}".encode()),
        "message_template_name": name,
        "message_template_language": language,
        "reason": None,
    }
    return _envelope(app_id, value, "message_template_status_update")


def preference_event(app_id: str, wa_id: str, value: str, timestamp: int) -> dict[str, Any]:
    """Meta's ``user_preferences``: the user stopped (or resumed) marketing messages."""
    preference = {
        "wa_id": wa_id,
        "detail": f"User requested to {value} marketing messages",
        "category": "marketing_messages",
        "value": value,
        "timestamp": timestamp,
    }
    change = {
        "messaging_product": "whatsapp",
        "contacts": [{"profile": {"name": "Sandbox User"}, "wa_id": wa_id}],
        "user_preferences": [preference],
    }
    return {
        "gs_app_id": app_id,
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "sandbox-waba", "changes": [{"field": "user_preferences", "value": change}]}
        ],
    }


def number_change_event(
    app_id: str, old: str, new: str, seq: int, timestamp: int
) -> dict[str, Any]:
    """Meta's ``user_changed_number`` system message: from the old number, naming the new one
    and the user ids before and after (a new number brings a new user id).
    """
    system = {
        "body": f"User Sandbox User changed from {old} to {new}",
        "wa_id": new,
        "type": "user_changed_number",
        "user_id": user_id_of(new),
        "previous_user_id": user_id_of(old),
    }
    message = {
        "from": old,
        "id": f"wamid.sandbox-system-{seq}",
        "timestamp": str(timestamp),
        "type": "system",
        "system": system,
    }
    return _envelope(app_id, {"messaging_product": "whatsapp", "messages": [message]})


def gupshup_status_event(
    app_name: str, processed: Processed, status: str, timestamp_ms: int, *, failed_code: int
) -> dict[str, Any]:
    """The status in Gupshup's own format (a version-2 subscription's ``message-event``)."""
    inner: dict[str, Any] = {"ts": timestamp_ms // 1000}
    if status == "enqueued":
        inner = {"whatsappMessageId": processed.wamid, "type": "session"}
    elif status == "failed":
        inner = {"code": failed_code, "reason": _FAILURES.get(failed_code, "Message failed")}
    payload: dict[str, Any] = {
        "id": processed.message_id if status in ("enqueued", "failed") else processed.wamid,
        "type": status,
        "destination": processed.to,
        "payload": inner,
    }
    if status not in ("enqueued", "failed"):
        payload["gsId"] = processed.message_id
    return {
        "app": app_name,
        "timestamp": timestamp_ms,
        "version": 2,
        "type": "message-event",
        "payload": payload,
    }


def gupshup_billing_event(
    app_name: str, processed: Processed, category: str, timestamp_ms: int
) -> dict[str, Any]:
    """Gupshup's ``billing-event`` for a message, as per-message pricing writes it."""
    return {
        "app": app_name,
        "timestamp": timestamp_ms,
        "version": 2,
        "type": "billing-event",
        "payload": {
            "deductions": {
                "type": "regular",
                "model": "PMP",
                "source": "whatsapp",
                "billable": category != "service",
                "category": category,
            },
            "references": {
                "id": processed.wamid,
                "gsId": processed.message_id,
                "destination": processed.to,
            },
        },
    }
