"""Read receipts, replies, and media in and out: against the sandbox (and a real receiver) for
what Gupshup does, against respx (virtual time) for retries and where the token goes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx
import pytest
import respx

from gupshup_async import (
    ButtonReply,
    GupshupClient,
    ImageMessage,
    MediaReceived,
    Receiver,
    RetryPolicy,
    TextMessage,
    ValidationError,
)
from gupshup_async.errors import APIError
from gupshup_async.sandbox import Sandbox
from tests.servers import under_uvicorn, until

SECRET = "hook-secret-conversation"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024


def client_for(sandbox: Sandbox) -> GupshupClient:
    return GupshupClient(sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None)


async def test_mark_read_with_typing_reaches_the_event_endpoint() -> None:
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        await client.mark_read("wamid.HBgLOTE5ODc2NTQzMjEwFQIAEhgg", typing=True)
        await client.mark_read("wamid.second")
    assert sandbox.account.read_receipts == [
        ("wamid.HBgLOTE5ODc2NTQzMjEwFQIAEhgg", True),
        ("wamid.second", False),
    ]
    assert sandbox.account.processed == []  # no message was sent


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
async def test_mark_read_refuses_a_bad_id_and_sends_nothing(bad: object) -> None:
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        with pytest.raises(ValidationError) as refused:
            await client.mark_read(bad)  # type: ignore[arg-type]
    assert refused.value.path == "message.message_id"
    assert sandbox.account.read_receipts == []
    assert sum(sandbox.account.answers.values()) == 0


async def test_reply_marks_the_tap_read_and_answers_it_quoted() -> None:
    tap = ButtonReply("919876543210", "wamid.tap-1", 1749419544, "wamid.ours", id="book")
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        result = await client.reply(tap, TextMessage("Booked for 8pm!"))
    [sent] = sandbox.account.processed
    assert (sent.to, sent.reply_to, sent.body_text) == (
        "919876543210",
        "wamid.tap-1",
        "Booked for 8pm!",
    )
    assert sandbox.account.read_receipts == [("wamid.tap-1", True)]
    assert result.message_id == sent.message_id


@pytest.mark.virtual_time
async def test_mark_read_is_retried_like_a_send_and_a_failed_receipt_never_blocks_the_reply(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = "https://partner.example.test"
    with respx.mock(using="httpx") as mock:
        event = mock.post(f"{base}/partner/app/app-1/v1/event").mock(
            side_effect=[httpx.Response(503), httpx.Response(200, json={"status": "success"})]
        )
        async with GupshupClient("app-1", "tok", base_url=base, rate_limit=None) as client:
            await client.mark_read("wamid.1")
        assert event.call_count == 2  # a 503 took nothing: retried
        event.side_effect = [httpx.Response(400, json={"status": "error", "message": "bad id"})]
        send = mock.post(f"{base}/partner/app/app-1/v3/message").mock(
            return_value=httpx.Response(200, json={"messages": [{"id": "gs-1"}]})
        )
        tap = ButtonReply("919876543210", "wamid.2", 1, None, id="x")
        async with GupshupClient("app-1", "tok", base_url=base, rate_limit=None) as client:
            with caplog.at_level(logging.WARNING, logger="gupshup_async"):
                result = await client.reply(tap, TextMessage("Thanks"))
    assert result.message_id == "gs-1"
    assert send.call_count == 1
    assert "marking wamid.2 read failed" in caplog.text
    assert "tok" not in caplog.text


async def test_an_uploaded_file_is_sent_by_its_media_id(tmp_path: Path) -> None:
    path = tmp_path / "menu.png"
    path.write_bytes(PNG)
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        from_path = await client.upload_media(path, "image/png")
        from_bytes = await client.upload_media(PNG, "IMAGE/PNG", filename="menu.png")
        await client.send("+91 98765 43210", ImageMessage(id=from_path, caption="Menu"))
    assert sandbox.account.media[from_path] == ("image/png", PNG)
    assert sandbox.account.media[from_bytes] == ("image/png", PNG)
    assert from_path != from_bytes
    assert [p.interactive_type for p in sandbox.account.processed] == ["image"]


@pytest.mark.parametrize(
    ("data", "kind", "path", "says"),
    [
        (PNG, "image/gif", "file_type", "must be one of image/jpeg"),
        (b"", "image/png", "file", "is empty"),
        (b"x" * (500 * 1024 + 1), "image/webp", "file", "up to 512,000 bytes"),
        (b"x" * (5 * 1024 * 1024 + 1), "image/jpeg", "file", "up to 5,242,880 bytes"),
    ],
)
async def test_an_upload_whatsapp_would_not_deliver_is_refused_before_sending(
    data: bytes, kind: str, path: str, says: str
) -> None:
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        with pytest.raises(ValidationError) as refused:
            await client.upload_media(data, kind)
    assert refused.value.path == path
    assert says in str(refused.value)
    assert sandbox.account.media == {}
    assert sum(sandbox.account.answers.values()) == 0


async def test_an_upload_of_a_missing_file_says_so(tmp_path: Path) -> None:
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        with pytest.raises(ValidationError, match=r"cannot read .*gone\.png"):
            await client.upload_media(tmp_path / "gone.png", "image/png")
    assert sandbox.account.media == {}


async def test_inbound_media_is_downloaded_by_the_url_that_came_with_it(tmp_path: Path) -> None:
    seen: list[object] = []
    receiver = Receiver(SECRET, handlers=[seen.append])
    async with under_uvicorn(receiver, "/hooks") as hook:
        async with Sandbox(
            callback_url=hook, callback_headers={"X-Hook-Secret": SECRET}
        ) as sandbox:
            await sandbox.user_sends_media(
                "919876543210", "image", PNG, "image/png", caption="Look"
            )
            await until(lambda: bool(seen))
            [event] = seen
            assert isinstance(event, MediaReceived)
            assert (event.kind, event.caption, event.mime_type) == ("image", "Look", "image/png")
            async with client_for(sandbox) as client:
                assert await client.download_media(event) == PNG
                written = await client.download_media(event, tmp_path / "got.png")
                with pytest.raises(APIError) as missing:
                    await client.download_media(f"{sandbox.base_url}/sandbox/media/404404")
        await receiver.aclose()
    assert written == tmp_path / "got.png"
    assert written.read_bytes() == PNG
    assert missing.value.status_code == 404
    assert missing.value.attempts == 1  # a 404 is not retried: Gupshup rate-limits them


@pytest.mark.virtual_time
async def test_the_token_goes_only_to_gupshups_own_host() -> None:
    base = "https://partner.example.test"
    with respx.mock(using="httpx") as mock:
        ours = mock.get(f"{base}/media/1").mock(return_value=httpx.Response(200, content=b"a"))
        theirs = mock.get("https://cdn.elsewhere.test/1").mock(
            side_effect=[httpx.Response(503), httpx.Response(200, content=b"b")]
        )
        async with GupshupClient(
            "app-1", "sk_secret_token", base_url=base, rate_limit=None, retry=RetryPolicy()
        ) as client:
            assert await client.download_media(f"{base}/media/1") == b"a"
            assert await client.download_media("https://cdn.elsewhere.test/1") == b"b"
    assert ours.calls[0].request.headers["Authorization"] == "sk_secret_token"
    assert "Authorization" not in theirs.calls[-1].request.headers
    assert theirs.call_count == 2  # a 503 is retried


async def test_media_without_a_url_is_refused() -> None:
    event = MediaReceived("919876543210", "wamid.m", 1, None, kind="image", media_id="1")
    async with GupshupClient("app-1", "tok", rate_limit=None) as client:
        with pytest.raises(ValidationError) as refused:
            await client.download_media(event)
    assert refused.value.path == "url"


async def test_a_campaign_mixing_every_kind_sends_and_journals_each_once(tmp_path: Path) -> None:
    from gupshup_async import DocumentMessage, ReactionMessage, Recipient

    journal = tmp_path / "mixed.db"
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        uploaded = await client.upload_media(PNG, "image/png")
        items = [
            (Recipient("+917000000001", key="text"), TextMessage("Your order shipped")),
            (Recipient("+917000000002", key="link"), ImageMessage("https://cdn.example.com/a.png")),
            (Recipient("+917000000003", key="id"), ImageMessage(id=uploaded, caption="Receipt")),
            (
                Recipient("+917000000004", key="doc"),
                DocumentMessage("https://cdn.example.com/i.pdf", filename="invoice.pdf"),
            ),
            (Recipient("+917000000005", key="react"), ReactionMessage("wamid.HBgL1", "👍")),
        ]
        first = [o async for o in client.send_many(items, journal=journal)]
        again = [o async for o in client.send_many(items, journal=journal)]
    assert all(o.ok and not o.skipped for o in first)
    assert all(o.skipped for o in again)  # journaled, every kind: none sent twice
    kinds = sorted(p.interactive_type for p in sandbox.account.processed)
    assert kinds == ["document", "image", "image", "reaction", "text"]
    [by_id] = [p for p in sandbox.account.processed if p.to == "917000000003"]
    assert by_id.interactive_type == "image"


async def test_a_download_to_a_file_is_whole_or_absent(tmp_path: Path) -> None:
    # Real time: the file is written from a thread, which virtual time would outrun.
    base = "https://partner.example.test"
    target = tmp_path / "photo.png"
    with respx.mock(using="httpx") as mock:
        mock.get(f"{base}/media/ok").mock(
            side_effect=[httpx.Response(503, content=b"busy"), httpx.Response(200, content=PNG)]
        )
        mock.get(f"{base}/media/gone").mock(return_value=httpx.Response(404))
        async with GupshupClient(
            "app-1", "tok", base_url=base, rate_limit=None, retry=RetryPolicy(initial_delay=0.01)
        ) as client:
            assert await client.download_media(f"{base}/media/ok", target) == target
            with pytest.raises(APIError):
                await client.download_media(f"{base}/media/gone", tmp_path / "gone.png")
    assert target.read_bytes() == PNG  # the retry started the file over
    assert sorted(os.listdir(tmp_path)) == ["photo.png"]  # no part left behind
