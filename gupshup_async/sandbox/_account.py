"""The sandbox's account: its app and token, the templates it knows, and what it processed,
the ground truth tests count against.
"""

from __future__ import annotations

import collections
from typing import Any

import attrs

__all__ = ["SANDBOX_APP_ID", "SANDBOX_TEMPLATES", "SANDBOX_TOKEN", "Account", "Processed"]

SANDBOX_APP_ID = "sandbox-app"
SANDBOX_TOKEN = "sandbox-token-0000"

#: The templates the sandbox knows unless told others (Meta's shape): `gupshup-async sandbox
#: --templates FILE` or ``Sandbox(templates=...)`` replaces them.
SANDBOX_TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "order_shipped",
        "language": "en",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Track it"},
                    {"type": "QUICK_REPLY", "text": "Stop updates"},
                    {"type": "URL", "text": "See order", "url": "https://shop.example/o/{{1}}"},
                ],
            },
        ],
    },
    {
        "name": "appointment_reminder",
        "language": "en",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "Hi {{1}}, see you on {{2}}. Can you make it?"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Yes"},
                    {"type": "QUICK_REPLY", "text": "Reschedule"},
                ],
            },
        ],
    },
    {
        "name": "cart_reminder",
        "language": "en",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "NAMED",
        "components": [
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{first_name}}, your cart misses you: {{discount}} off."},
            {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SAVE10"}]},
        ],
    },
    {
        "name": "spring_collection",
        "language": "en",
        "status": "APPROVED",
        "category": "MARKETING",
        "components": [
            {"type": "BODY", "text": "Spring is here: {{1}} off our new plants."},
            {
                "type": "CAROUSEL",
                "cards": [
                    {
                        "components": [
                            {"type": "HEADER", "format": "IMAGE"},
                            {"type": "BODY", "text": "{{1}}, from {{2}}"},
                            {
                                "type": "BUTTONS",
                                "buttons": [
                                    {"type": "QUICK_REPLY", "text": "Tell me more"},
                                    {
                                        "type": "URL",
                                        "text": "Buy",
                                        "url": "https://shop.example/p/{{1}}",
                                    },
                                ],
                            },
                        ]
                    }
                ]
                * 3,
            },
        ],
    },
    {
        "name": "summer_sale",
        "language": "en",
        "status": "PAUSED",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Summer sale: {{1}} off."}],
    },
]


@attrs.frozen
class Processed:
    """One message the sandbox accepted as sent."""

    seq: int
    message_id: str
    to: str
    interactive_type: str
    body_text: str | None
    app_id: str = SANDBOX_APP_ID
    reply_to: str | None = None
    callback_data: str | None = None
    #: Meta's id for the message, as statuses and replies name it (the send got ``message_id``,
    #: Gupshup's; statuses carry that one as ``gs_id``).
    wamid: str = ""
    #: The template's name, for a template message (``interactive_type`` is "template").
    template: str | None = None
    #: A free-form message sent when the user's 24-hour window was closed: it fails (131047).
    outside_window: bool = False
    #: The template's language, for a template message.
    language: str | None = None


class Account:
    """What was processed, in order, per recipient: the ground truth for "exactly once"."""

    def __init__(self) -> None:
        self.processed: list[Processed] = []
        #: Read receipts asked for, in order: (Meta's id of the user's message, typing shown).
        self.read_receipts: list[tuple[str, bool]] = []
        #: Webhook subscriptions set through the subscription API, by id.
        self.subscriptions: dict[str, dict[str, Any]] = {}
        #: Users who stopped marketing messages (`Sandbox.user_preference`).
        self.opted_out: set[str] = set()
        #: Numbers users left, each to the number they changed to.
        self.moved: dict[str, str] = {}
        #: Media uploaded, by media id: (MIME type, the file's bytes).
        self.media: dict[str, tuple[str, bytes]] = {}
        self.answers: collections.Counter[int] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()
        #: Callbacks acknowledged, by the URL that took them.
        self.callbacks: collections.Counter[str] = collections.Counter()

    def by_recipient(self) -> dict[str, list[Processed]]:
        grouped: dict[str, list[Processed]] = {}
        for item in self.processed:
            grouped.setdefault(item.to, []).append(item)
        return grouped

    def to_json(self) -> dict[str, Any]:
        return {
            "processed": len(self.processed),
            "media": {media_id: kind for media_id, (kind, _) in self.media.items()},
            "read_receipts": [
                {"message_id": message_id, "typing": typing}
                for message_id, typing in self.read_receipts
            ],
            "answers": {str(k): v for k, v in sorted(self.answers.items())},
            "faults": dict(sorted(self.faults.items())),
            "callbacks": dict(sorted(self.callbacks.items())),
            "by_recipient": {
                to: [
                    {
                        "message_id": p.message_id,
                        "seq": p.seq,
                        "type": p.interactive_type,
                        "body": p.body_text,
                        "template": p.template,
                        "outside_window": p.outside_window,
                    }
                    for p in items
                ]
                for to, items in self.by_recipient().items()
            },
        }
