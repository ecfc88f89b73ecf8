"""`gupshup-async send --text/--image/...` and a campaign of text messages, as subprocesses
against the sandbox process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN
from tests.servers import sandbox_process

COMMAND = [sys.executable, "-m", "gupshup_async"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


def gupshup(sandbox: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args, "--base-url", sandbox, "--app-id", SANDBOX_APP_ID],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GUPSHUP_APP_TOKEN": SANDBOX_TOKEN},
        check=False,
    )


def processed(sandbox: str) -> list[dict[str, object]]:
    account = httpx.get(f"{sandbox}/sandbox/account", timeout=10).json()
    return [item for items in account["by_recipient"].values() for item in items]


@pytest.mark.parametrize(
    ("options", "kind"),
    [
        (["--text", "Your order shipped: https://example.com/t/42", "--preview-url"], "text"),
        (["--image", "https://example.com/receipt.jpg", "--caption", "Receipt"], "image"),
        (["--video", "1166846181421424"], "video"),
        (["--audio", "https://example.com/note.ogg"], "audio"),
        (["--document", "https://example.com/i.pdf", "--filename", "invoice.pdf"], "document"),
        (["--sticker", "798882015472548"], "sticker"),
    ],
)
def test_send_each_free_form_type(sandbox: str, options: list[str], kind: str) -> None:
    to = f"+91987654{len(processed(sandbox)):04d}"
    done = gupshup(sandbox, "send", "--to", to, *options, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"]
    [sent] = [p for p in processed(sandbox) if p["message_id"] == result["message_id"]]
    assert sent["type"] == kind


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--text", ""], "text.body: must not be empty"),
        (["--text", "x" * 4097], "at most 4096 characters"),
        (["--image", "ftp://example.com/a.png"], "image.link"),
        (["--audio", "1", "--caption", "no"], "no caption on audio"),
        (["--image", "1", "--filename", "a.pdf"], "--filename goes with --document only"),
        (["--text", "hi", "--image", "1"], "give one message"),
        (["--text", "hi", "--body", "b", "--button", "a:A"], "give one message"),
    ],
)
def test_bad_free_form_options_are_one_line_and_send_nothing(
    sandbox: str, options: list[str], says: str
) -> None:
    before = len(processed(sandbox))
    done = gupshup(sandbox, "send", "--to", "+919876543210", *options)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert says in lines[0]
    assert len(processed(sandbox)) == before


def test_a_campaign_of_text_messages_filled_from_rows(sandbox: str, tmp_path: Path) -> None:
    rows = tmp_path / "people.csv"
    rows.write_text(
        "phone,name,link\n+917000000901,Asha,https://x.test/a\n+917000000902,Ravi,https://x.test/b\n"
    )
    message = tmp_path / "text.json"
    message.write_text(
        json.dumps({"type": "text", "text": {"body": "Hi {name}, track it: {link}"}})
    )
    done = gupshup(sandbox, "bulk", str(rows), "--message", str(message), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sent"] == 2
    bodies = {p["body"] for p in processed(sandbox) if p["type"] == "text"}
    assert {"Hi Asha, track it: https://x.test/a", "Hi Ravi, track it: https://x.test/b"} <= bodies
