"""Messages filled from rows: placeholders, literal braces, missing columns, file formats."""

from __future__ import annotations

import json
from pathlib import Path

from gupshup_async import ButtonMessage, Recipient, TemplateMessage, ValidationError
from gupshup_async.recipients import RowMessage, read_rows, row_items

TEMPLATE = {
    "type": "button",
    "body": {"text": "Hi {name}, your code is {{{code}}}."},
    "action": {"buttons": [{"type": "reply", "reply": {"id": "ok-{code}", "title": "OK"}}]},
}


def test_placeholders_are_filled_and_double_braces_are_literal() -> None:
    template = RowMessage({"interactive": TEMPLATE})
    assert template.placeholders == ["code", "name"]
    message = template.render({"name": "Asha", "code": "42"})
    assert isinstance(message, ButtonMessage)
    assert message.body == "Hi Asha, your code is {42}."
    assert message.buttons[0].id == "ok-42"


def test_a_missing_column_is_a_validation_error_with_its_path() -> None:
    refused = RowMessage(TEMPLATE).render({"name": "Asha"})
    assert isinstance(refused, ValidationError)
    assert {p.path for p in refused.errors} == {
        "interactive.body.text",
        "interactive.action.buttons[0].reply.id",
    }
    assert "placeholder {code} has no value" in str(refused)


def test_a_template_without_placeholders_is_checked_once() -> None:
    fixed = dict(TEMPLATE, body={"text": "Hello"})
    fixed["action"] = {"buttons": [{"type": "reply", "reply": {"id": "ok", "title": "OK"}}]}
    template = RowMessage(fixed)
    assert template.render({}) is template.render({"x": 1})


def test_rows_from_csv_and_jsonl_become_items(tmp_path: Path) -> None:
    csv_file = tmp_path / "r.csv"
    csv_file.write_text("phone,name,code,key\n+919876543210,Asha,7,cust-1\n")
    jsonl_file = tmp_path / "r.jsonl"
    jsonl_file.write_text(json.dumps({"to": "+919876543211", "name": "Ravi", "code": 8}) + "\n\n")
    template = RowMessage(TEMPLATE)
    [(who, message)] = list(row_items(template, read_rows(csv_file)))
    assert who == Recipient("+919876543210", key="cust-1")
    assert isinstance(message, ButtonMessage)
    [(who, message)] = list(row_items(template, read_rows(jsonl_file)))
    assert who == Recipient("+919876543211")  # known by recipient and message
    assert isinstance(message, ButtonMessage)
    assert message.buttons[0].id == "ok-8"


def test_whatsapp_template_rows_fill_parameters_and_keep_their_paths(tmp_path: Path) -> None:
    document = {
        "type": "template",
        "template": {
            "name": "order_shipped",
            "language": {"code": "en"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "{name}"}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "track-{order}"}],
                },
            ],
        },
    }
    rows = RowMessage(document)
    assert rows.placeholders == ["name", "order"]
    message = rows.render({"name": "Asha", "order": "4411"})
    assert isinstance(message, TemplateMessage)
    assert message.quick_replies == {"track-4411": 0}
    missing = rows.render({"name": "Asha"})
    assert isinstance(missing, ValidationError)
    assert missing.path == "template.components[1].parameters[0].payload"
    spaced = rows.render({"name": "Asha\n Rao", "order": "1"})
    assert isinstance(spaced, ValidationError)
    assert spaced.path == "template.components[0].parameters[0].text"
    assert "132018" in str(spaced)
