"""The 24-hour window: what is known of it, the policies, the stores, and the send path."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gupshup_async import (
    ButtonMessage,
    GupshupClient,
    MemoryWindowStore,
    OutsideWindow,
    SqliteWindowStore,
    TemplateMessage,
    Window,
    WindowPolicy,
    WindowStore,
    parse_events,
)
from gupshup_async.testing import gupshup_mock
from gupshup_async.window import WINDOW_SECONDS
from tests.conftest import Records, window_of

HOUR = 3600.0
NOW = 1_790_000_000.0
HELLO = ButtonMessage("Your table is ready", ["On my way"])
NUDGE = TemplateMessage("appointment_reminder", "en", body=["Asha", "8pm"])


def test_a_window_is_open_for_24_hours_after_the_user_wrote() -> None:
    assert Window().is_open(NOW) is None
    wrote = Window().wrote(NOW - 23 * HOUR)
    assert wrote.is_open(NOW) is True
    assert wrote.closes_at() == NOW - 23 * HOUR + WINDOW_SECONDS
    assert wrote.is_open(NOW + 2 * HOUR) is False


def test_a_131047_closes_a_window_not_known_open_and_a_write_reopens_it() -> None:
    closed = Window().failed_closed(NOW - HOUR)
    assert closed.is_open(NOW) is False  # even under unknown="open"
    assert WindowPolicy.refuse(unknown="open").decide("91", NUDGE, closed, NOW) is NUDGE
    with pytest.raises(OutsideWindow):
        WindowPolicy.refuse(unknown="open").decide("91", HELLO, closed, NOW)
    assert closed.wrote(NOW - 60).is_open(NOW) is True
    assert closed.wrote(NOW - 60).wrote(NOW - 2 * HOUR) == closed.wrote(NOW - 60)


def test_a_131047_reported_after_the_user_wrote_was_for_an_earlier_message() -> None:
    # Sent at NOW-70s, the user wrote at NOW-60s, the failure came at NOW-30s: a message sent
    # after the write could not have failed with 131047, so the window is open.
    window = Window().wrote(NOW - 60).failed_closed(NOW - 30)
    assert window.is_open(NOW) is True


def test_policies_decide_per_recipient() -> None:
    closed, opened, unknown = Window().wrote(NOW - 30 * HOUR), Window().wrote(NOW - HOUR), Window()
    send = WindowPolicy.send_anyway()
    refuse = WindowPolicy.refuse()
    instead = WindowPolicy.template_instead(NUDGE)
    assert send.decide("91", HELLO, closed, NOW) is HELLO
    assert refuse.decide("91", HELLO, opened, NOW) is HELLO
    assert instead.decide("91", HELLO, opened, NOW) is HELLO
    assert instead.decide("91", HELLO, closed, NOW) is NUDGE
    assert instead.decide("91", HELLO, unknown, NOW) is NUDGE  # unknown counts as closed
    assert WindowPolicy.refuse(unknown="open").decide("91", HELLO, unknown, NOW) is HELLO
    assert refuse.decide("91", NUDGE, closed, NOW) is NUDGE  # templates need no window
    with pytest.raises(OutsideWindow) as refused:
        refuse.decide("919876543210", HELLO, closed, NOW)
    assert refused.value.closed_at == NOW - 6 * HOUR
    assert not refused.value.transient
    assert "919876543210" in str(refused.value)
    assert "131047" in str(refused.value)


def test_a_template_can_be_made_per_recipient_from_the_message_it_replaces() -> None:
    def nudge(to: str, message: object) -> TemplateMessage:
        return TemplateMessage("appointment_reminder", "en", body=[to[-4:], "8pm"])

    chosen = WindowPolicy.template_instead(nudge).decide("919876543210", HELLO, Window(), NOW)
    assert isinstance(chosen, TemplateMessage)
    assert chosen.body[0].text == "3210"  # type: ignore[union-attr]


def test_a_policy_is_checked_when_made() -> None:
    with pytest.raises(ValueError, match="needs the template"):
        WindowPolicy("template")
    with pytest.raises(ValueError, match="outside must be"):
        WindowPolicy("maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown must be"):
        WindowPolicy.refuse(unknown="perhaps")  # type: ignore[arg-type]


def _callback(value: dict[str, object]) -> bytes:
    return json.dumps({"entry": [{"changes": [{"field": "messages", "value": value}]}]}).encode()


def _user_wrote(number: str, at: float) -> bytes:
    message = {"from": number, "id": f"wamid.in-{number}-{at}", "timestamp": str(int(at))}
    return _callback({"messages": [{**message, "type": "text", "text": {"body": "hi"}}]})


def _failed_131047(number: str, at: float) -> bytes:
    status = {
        "id": f"wamid.out-{number}",
        "status": "failed",
        "timestamp": str(int(at)),
        "recipient_id": number,
        "errors": [{"code": 131047, "title": "Re-engagement message"}],
    }
    return _callback({"statuses": [status]})


@pytest.mark.parametrize("kind", ["memory", "kept"])
async def test_stores_learn_from_webhook_events(kind: str, records: Records) -> None:
    store: WindowStore = MemoryWindowStore() if kind == "memory" else records.windows()
    assert isinstance(store, WindowStore)
    assert store.record(parse_events(_user_wrote("919876543210", NOW - HOUR))) == 1
    assert store.record(parse_events(_failed_131047("919876543211", NOW))) == 1
    assert store.record(parse_events(_user_wrote("919876543210", NOW - 5 * HOUR))) == 1
    assert await window_of(store, "+91 98765 43210") == Window(last_inbound=NOW - HOUR)
    assert (await window_of(store, "919876543211")).is_open(NOW) is False
    assert (await window_of(store, "919876543212")).is_open(NOW) is None
    if kind == "kept":
        store.close()  # type: ignore[attr-defined]


def test_a_sqlite_store_is_shared_by_processes_through_its_file(tmp_path: Path) -> None:
    writer = SqliteWindowStore(tmp_path / "w.db")
    reader = SqliteWindowStore(tmp_path / "w.db")
    writer.user_wrote("+919876543210", NOW)
    assert reader.window("919876543210").last_inbound == NOW
    writer.close()
    reader.close()
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="not a window store"):
        SqliteWindowStore(tmp_path / "junk.db")


async def test_send_refuses_or_sends_a_template_and_says_which() -> None:
    windows = MemoryWindowStore()
    windows.user_wrote("919876543210", time.time() - HOUR)
    with gupshup_mock() as gupshup:
        async with GupshupClient(
            "app-1",
            "token-123456",
            rate_limit=None,
            windows=windows,
            window_policy=WindowPolicy.refuse(),
        ) as client:
            inside = await client.send("+91 98765 43210", HELLO)
            with pytest.raises(OutsideWindow):
                await client.send("+91 98765 43211", HELLO)
            instead = await client.send(
                "+91 98765 43211", HELLO, window_policy=WindowPolicy.template_instead(NUDGE)
            )
            anyway = await client.send("+91 98765 43211", HELLO, window_policy=WindowPolicy())
    assert inside.sent_instead is None
    assert anyway.sent_instead is None
    assert instead.sent_instead == NUDGE
    assert [s.message for s in gupshup.sent] == [HELLO, NUDGE, HELLO]


def test_a_checking_policy_without_a_store_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="needs a window store"):
        GupshupClient("app-1", "token-123456", window_policy=WindowPolicy.refuse())


async def test_send_many_refusals_are_not_journaled_so_a_rerun_looks_again(
    tmp_path: Path,
) -> None:
    windows = MemoryWindowStore()
    items = [(f"+9198765432{n:02d}", HELLO) for n in range(4)]
    journal = tmp_path / "run.db"
    with gupshup_mock() as gupshup:
        async with GupshupClient(
            "app-1", "token-123456", rate_limit=None, windows=windows
        ) as client:
            refuse = WindowPolicy.refuse()
            first = [
                o async for o in client.send_many(items, journal=journal, window_policy=refuse)
            ]
            assert all(isinstance(o.error, OutsideWindow) for o in first)
            for to, _ in items[:2]:
                windows.user_wrote(to, time.time())
            second = [
                o async for o in client.send_many(items, journal=journal, window_policy=refuse)
            ]
    assert sorted(o.to for o in second if o.ok) == ["919876543200", "919876543201"]
    assert len(gupshup.sent) == 2
