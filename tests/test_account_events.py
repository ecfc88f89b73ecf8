"""Events about users and templates rather than messages, typed: a number change (a system
message, which opens no 24-hour window), a user stopping marketing messages, a template paused,
its quality or category changed. Bodies as Meta documents them.
"""

from __future__ import annotations

import time
from typing import Any

from gupshup_async import (
    MemoryWindowStore,
    SystemNotice,
    TemplateUpdate,
    UnknownEvent,
    UserPreference,
    parse_events,
)


def change(field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": value}]}],
    }


def test_a_number_change_is_a_system_notice_that_opens_no_window() -> None:
    now = int(time.time())
    body = change(
        "messages",
        {
            "messaging_product": "whatsapp",
            "messages": [
                {
                    "from": "16505551234",
                    "id": "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBI3RjU2OTg3RjQ0QTE0QUFBQUEA",
                    "timestamp": str(now),
                    "type": "system",
                    "system": {
                        "body": "User A changed from 16505551234 to 16505559999",
                        "new_wa_id": "16505559999",
                        "type": "user_changed_number",
                    },
                }
            ],
        },
    )
    [event] = parse_events(body)
    assert isinstance(event, SystemNotice)
    assert (event.kind, event.sender, event.new_wa_id) == (
        "user_changed_number",
        "16505551234",
        "16505559999",
    )
    windows = MemoryWindowStore()
    windows.record([event])
    assert not windows.window("16505551234").is_open(now)  # a number change is not a message


def test_a_user_who_stopped_marketing_messages() -> None:
    body = change(
        "user_preferences",
        {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550783881",
                "phone_number_id": "106540352242922",
            },
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "user_preferences": [
                {
                    "wa_id": "16505551234",
                    "detail": "User requested to stop marketing messages",
                    "category": "marketing_messages",
                    "value": "stop",
                    "timestamp": 1731705721,
                }
            ],
        },
    )
    [event] = parse_events(body)
    assert isinstance(event, UserPreference)
    assert (event.wa_id, event.category, event.value, event.timestamp) == (
        "16505551234",
        "marketing_messages",
        "stop",
        1731705721,
    )
    assert event.stopped


def test_template_status_quality_and_category_updates() -> None:
    paused = change(
        "message_template_status_update",
        {
            "event": "PAUSED",
            "message_template_id": 806312974732579,
            "message_template_name": "welcome_template",
            "message_template_language": "en_US",
            "reason": None,
            "other_info": {"title": "SECOND_PAUSE", "description": "paused for low quality"},
        },
    )
    quality = change(
        "message_template_quality_update",
        {
            "previous_quality_score": "GREEN",
            "new_quality_score": "YELLOW",
            "message_template_id": 806312974732579,
            "message_template_name": "welcome_template",
            "message_template_language": "en_US",
        },
    )
    category = change(
        "template_category_update",
        {
            "message_template_id": 806312974732579,
            "message_template_name": "welcome_template",
            "message_template_language": "en_US",
            "previous_category": "UTILITY",
            "new_category": "MARKETING",
        },
    )
    [status] = parse_events(paused)
    [score] = parse_events(quality)
    [kind] = parse_events(category)
    assert isinstance(status, TemplateUpdate)
    assert (status.name, status.language, status.template_id, status.status) == (
        "welcome_template",
        "en_US",
        "806312974732579",
        "PAUSED",
    )
    assert isinstance(score, TemplateUpdate)
    assert (score.previous, score.new) == ("GREEN", "YELLOW")
    assert isinstance(kind, TemplateUpdate)
    assert (kind.field, kind.previous, kind.new) == (
        "template_category_update",
        "UTILITY",
        "MARKETING",
    )


def test_a_preference_without_a_user_stays_unknown_never_raises() -> None:
    [event] = parse_events(change("user_preferences", {"user_preferences": [{"value": "stop"}]}))
    assert isinstance(event, UnknownEvent)
