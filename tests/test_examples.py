"""Every program in examples/ runs, against the sandbox, under the servers users run it on."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from aiohttp import web

from gupshup_async import ButtonMessage, ButtonReply, Event, GupshupClient, StatusUpdate
from gupshup_async.sandbox import Sandbox
from tests.servers import sandbox_process, under_uvicorn, until

EXAMPLES = Path(__file__).parent.parent / "examples"
SECRET = "hook-secret-e2e-0042"


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def under_aiohttp(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("server", ["fastapi", "aiohttp"])
async def test_the_receivers_take_statuses_and_taps_and_refuse_strangers(server: str) -> None:
    received: list[Event] = []

    async def keep(events: list[Event]) -> None:
        received.extend(events)

    if server == "fastapi":
        serve = under_uvicorn(example("receiver_fastapi").create_app(SECRET, keep))
    else:
        serve = under_aiohttp(example("receiver_aiohttp").create_app(SECRET, keep))
    async with serve as base:
        hook = f"{base}/hooks/gupshup"
        async with Sandbox(callback_url=hook, callback_headers={"X-Hook-Secret": SECRET}) as box:
            async with GupshupClient(
                box.app_id, box.token, base_url=box.base_url, rate_limit=None
            ) as client:
                sent = await client.send("+91 98765 43210", ButtonMessage("Book?", [("y", "Yes")]))
            await until(lambda: len([e for e in received if isinstance(e, StatusUpdate)]) == 4)
            await box.tap(sent.message_id, "y", "Yes")
            await box.tap(sent.message_id, "y", "Yes")  # delivered twice: handled once
            await until(lambda: any(isinstance(e, ButtonReply) for e in received))
        async with httpx.AsyncClient() as http:
            stranger = await http.post(hook, json={"entry": []}, headers={"X-Hook-Secret": "no"})
            garbage = await http.post(hook, content=b"{not json", headers={"X-Hook-Secret": SECRET})
    assert [e.status for e in received if isinstance(e, StatusUpdate)] == [
        "enqueued",
        "sent",
        "delivered",
        "read",
    ]
    assert len([e for e in received if isinstance(e, ButtonReply)]) == 1
    assert (stranger.status_code, garbage.status_code) == (401, 400)


async def test_a_button_tap_is_answered_in_context() -> None:
    module = example("answer_button_tap")
    async with Sandbox() as box:
        client = GupshupClient(box.app_id, box.token, base_url=box.base_url, rate_limit=None)
        async with under_aiohttp(module.create_app(client, SECRET)) as base:
            box.callback_url = f"{base}/hooks/gupshup"
            box.callback_headers = {"X-Hook-Secret": SECRET}
            async with GupshupClient(
                box.app_id, box.token, base_url=box.base_url, rate_limit=None
            ) as ours:
                offer = await ours.send(
                    "+91 98765 43210", ButtonMessage("Table for two?", [("book", "Book it")])
                )
            await box.tap(offer.message_id, "book", "Book it")
            offered = box.account.processed[0]
            tap_id = f"wamid.sandbox-reply-{offered.seq}-book"  # the id the sandbox gives a tap
            await until(lambda: len(box.account.processed) >= 3)  # offer, answer, image
            _, answer, image = box.account.processed
    assert answer.body_text is not None
    assert answer.body_text.startswith("Booked")
    assert answer.interactive_type == "text"
    assert answer.reply_to == tap_id  # sent as a reply to the tap itself
    assert answer.to == "919876543210"
    assert (image.interactive_type, image.to) == ("image", "919876543210")
    assert box.account.read_receipts == [(tap_id, True)]  # the tap marked read, typing shown


def test_the_csv_campaign_script_sends_every_row_once_and_resumes(tmp_path: Path) -> None:
    with sandbox_process() as url:
        env = {
            **os.environ,
            "GUPSHUP_APP_ID": "sandbox-app",
            "GUPSHUP_APP_TOKEN": "sandbox-token-0000",
            "GUPSHUP_BASE_URL": url,
        }
        argv = [sys.executable, str(EXAMPLES / "campaign_csv.py")]
        argv += [str(EXAMPLES / "recipients.csv"), str(EXAMPLES / "shipped.json")]
        argv += ["--rate", "100", "--journal", str(tmp_path / "j.db")]
        first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        account = httpx.get(f"{url}/sandbox/account", timeout=10).json()
    assert first.returncode == 0, first.stderr
    assert "5 rows: 5 sent now, 0 before" in first.stdout
    assert "5 rows: 0 sent now, 5 before" in again.stdout
    assert account["processed"] == 5
    bodies = [m["body"] for messages in account["by_recipient"].values() for m in messages]
    assert "Hi Asha, your order has shipped. How was the ordering?" in bodies
