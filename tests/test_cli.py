"""The command line through its real entry points, in subprocesses, against a sandbox process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN
from tests.servers import sandbox_process

COMMAND = [sys.executable, "-m", "gupshup_async"]
SCRIPT = Path(sys.executable).with_name("gupshup-async")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


def test_the_installed_script_and_the_module_are_the_same_program() -> None:
    assert SCRIPT.exists()
    for argv in ([str(SCRIPT), "--help"], [*COMMAND, "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0
        for command in ("demo", "send", "sandbox"):
            assert command in done.stdout


@pytest.mark.parametrize(
    "command", ["demo", "send", "bulk", "templates", "report", "receive", "sandbox"]
)
def test_every_command_has_help(command: str) -> None:
    done = run(command, "--help")
    assert done.returncode == 0
    assert "Usage:" in done.stdout


def test_demo_sends_every_type_and_a_bulk_and_summarises() -> None:
    done = run("demo", "--messages", "300", "--rate", "2000")
    assert done.returncode == 0, done.stderr
    for kind in ("button", "list", "cta_url", "flow", "carousel", "voice_call", "text", "image"):
        assert kind in done.stdout
    for kind in ("reaction", "location", "contacts", "document", "sticker"):
        assert re.search(rf"│ {kind}\s+│", done.stdout), kind
    out = done.stdout
    assert re.search(r"messages\s+│\s+300\b", out)
    accepted = int(re.search(r"accepted by Gupshup\s+│\s+(\d+)", out)[1])  # type: ignore[index]
    unknown = int(re.search(r"not known \(no answer[^│]*│\s+(\d+)", out)[1])  # type: ignore[index]
    refused = int(re.search(r"refused when sent\s+│\s+(\d+)", out)[1])  # type: ignore[index]
    assert accepted + unknown + refused == 300  # the counts add up

    def count(label: str) -> int:
        return int(re.search(label + r"[^│]*│\s+(\d+)", out)[1])  # type: ignore[index]

    # An attempt whose answer never came waits for its status: settled, or sent again because
    # none came (it never arrived). Nobody gets the message twice, nobody is missed.
    uncertain = count("attempts whose answer never came")
    assert count("settled by a status webhook") + count("no status in time") == uncertain
    assert re.search(r"people messaged twice \(the sandbox's count\)\s+│\s+0\b", out)
    assert re.search(r"people messaged twice, as statuses show\s+│\s+0\b", out)
    assert re.search(r"people never messaged \(the sandbox's count\)\s+│\s+0\b", out)
    assert "latest status: accepted" not in out  # accepted is not a WhatsApp status
    # The progress bar and the summary give the same rate, of the same thing.
    shown = re.findall(r"(\d+) requests/s", out)
    assert len(shown) == 2
    assert shown[0] == shown[1]
    for title in ("One of every type", "The bulk campaign, as sent", "said later (the bulk)"):
        assert title in out
    last = out.strip().splitlines()[-6:]
    assert any(line.startswith("What you saw:") for line in last)
    assert any(line.startswith("Read more:") for line in last)
    assert any(line.startswith("Try next:") for line in last)
    # The window stage: half the customers wrote; the others got the template; none failed.
    assert re.search(r"wrote in the last 24 hours \(seen by the receiver\)\s+│\s+50\b", done.stdout)
    assert re.search(r"sent the template instead \(order_shipped\)\s+│\s+50\b", done.stdout)
    assert re.search(r"failed with 131047 \(window closed\)\s+│\s+0\b", done.stdout)
    # Templates, opt-outs, number changes: 40 customers, 3 templates each; half-way the deals
    # template is paused, one customer stops marketing and another changes number.
    assert re.search(r"the template was paused midway\s+│\s+(1\d)\b", out)
    assert re.search(r"the customer stopped marketing\s+│\s+1\b", out)
    assert re.search(r"the number its customer left\s+│\s+2\b", out)  # news, receipt
    assert re.search(r"refused by WhatsApp\s+│\s+0\b", out)
    sent = int(re.search(r"│ sent\s+│\s+(\d+)", out)[1])  # type: ignore[index]
    marketing = re.search(r"marketing messages \(billable\)\s+│\s+(\d+) \((\d+)\)", out)
    utility = re.search(r"utility messages \(billable\)\s+│\s+(\d+) \((\d+)\)", out)
    assert marketing is not None
    assert utility is not None
    assert int(marketing[1]) + int(utility[1]) == sent  # every message sent is in the cost


def test_send_buttons_prints_the_message_id(sandbox_url: str) -> None:
    done = run(
        "send",
        "--to",
        "+91 98765 43210",
        "--body",
        "Table for two?",
        "--button",
        "yes:Book it",
        "--button",
        "no:Not now",
        "--base-url",
        sandbox_url,
        env={"GUPSHUP_APP_ID": SANDBOX_APP_ID, "GUPSHUP_APP_TOKEN": SANDBOX_TOKEN},
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\n", done.stdout
    )


def test_send_a_message_file(sandbox_url: str, tmp_path: Path) -> None:
    from gupshup_async._examples import EXAMPLES

    template = tmp_path / "list.json"
    template.write_text(json.dumps({"interactive": EXAMPLES["list"].to_interactive()}))
    done = run(
        "send",
        "--to",
        "919876543210",
        "--message",
        str(template),
        "--app-id",
        SANDBOX_APP_ID,
        "--token",
        SANDBOX_TOKEN,
        "--base-url",
        sandbox_url,
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"[0-9a-f-]{36}\n", done.stdout)  # Gupshup's ids are UUIDs


@pytest.mark.parametrize(
    ("args", "says", "code"),
    [
        (["send", "--body", "Hi", "--button", "a:A"], "Missing option '--to'", 2),
        (["send", "--to", "12", "--body", "Hi", "--button", "a:A"], "to: is not", 2),
        (
            ["send", "--to", "919876543210", "--body", "Hi", "--button", "a:" + "x" * 21],
            "interactive.action.buttons[0].reply.title: must be at most 20 characters",
            2,
        ),
        (["send", "--to", "919876543210", "--body", "Hi", "--button", "nocolon"], "ID:TITLE", 2),
        (["send", "--to", "919876543210"], "give --message FILE.json, --body and at least one", 2),
        (["demo", "--fail-rate", "3"], "--fail-rate", 2),
        (["nonsense"], "No such command", 2),
        (["send", "--to", "1", "--body", "x", "--button", "a:b", "--app-id", ""], "empty", 2),
        (["send", "--to", "1", "--body", "x", "--button", "a:b", "--token", " "], "empty", 2),
        (["send", "--to", "1", "--body", "x", "--button", "a:b", "--timeout", "0"], "positive", 2),
    ],
)
def test_bad_input_is_one_line_not_a_traceback(args: list[str], says: str, code: int) -> None:
    done = run(*args, env={"GUPSHUP_APP_ID": "app", "GUPSHUP_APP_TOKEN": "token-123456"})
    assert done.returncode == code
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr


def test_a_refused_send_says_why_in_one_line(sandbox_url: str) -> None:
    done = run(
        "send",
        "--to",
        "919876543210",
        "--body",
        "Hi",
        "--button",
        "a:A",
        "--base-url",
        sandbox_url,
        env={"GUPSHUP_APP_ID": SANDBOX_APP_ID, "GUPSHUP_APP_TOKEN": "wrong-token-0000"},
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "gupshup-async: send failed: AuthenticationError: HTTP 401: Authentication Failed"
    )
    assert "wrong-token-0000" not in done.stderr


@pytest.fixture
def campaign(tmp_path: Path) -> tuple[Path, Path]:
    rows = ["to,name,order_id"]
    rows += [f"+9170{i:08d},Customer {i},A{i:05d}" for i in range(120)]
    rows += [
        "not-a-number,Nobody,B1",
        "+919876543210,,B2",
        "+919876543211,Someone Long Named Here,B3",
    ]
    recipients = tmp_path / "recipients.csv"
    recipients.write_text("\n".join(rows) + "\n")
    template = tmp_path / "template.json"
    template.write_text(
        json.dumps(
            {
                "type": "button",
                "body": {"text": "Hi {name}, order {order_id} has shipped."},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "ok-{order_id}", "title": "{name}"}}
                    ]
                },
            }
        )
    )
    return recipients, template


def test_bulk_sends_a_template_resumes_and_writes_results(
    sandbox_url: str, campaign: tuple[Path, Path], tmp_path: Path
) -> None:
    recipients, template = campaign
    out = tmp_path / "results.jsonl"
    args = ["bulk", str(recipients), "--message", str(template), "--rate", "500"]
    args += ["--base-url", sandbox_url, "--app-id", SANDBOX_APP_ID, "--token", SANDBOX_TOKEN]
    processed = _processed(sandbox_url)
    refused = run(*args, "--out", str(out))
    # Every row is checked first: three cannot be sent, so nothing is, and each is named.
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 2  # the --token warning, the refusal
    assert "3 of 123 rows cannot be sent, nothing was" in refused.stderr
    said = refused.stderr
    assert f"{recipients}:122: to: must be a phone number, got 'not-a-number'" in said
    assert f"{recipients}:123: interactive.body.text: placeholder {{name}} is empty" in said
    assert f"{recipients}:124: interactive.action.buttons[0].reply.title: must be at" in said
    assert "--skip-invalid" in refused.stderr
    assert _processed(sandbox_url) == processed
    first = run(*args, "--out", str(out), "--skip-invalid")
    assert first.returncode == 0, first.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(results) == 120
    assert all(r["ok"] for r in results)
    assert re.search(r"rows that cannot be sent \(skipped\)\s+│\s+3", first.stdout)
    assert _processed(sandbox_url) == processed + 120
    second = run(*args, "--out", str(out), "--skip-invalid")
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(r["skipped"] and r["ok"] for r in again) == 120  # nothing sent twice
    assert re.search(r"sent in an earlier run \(skipped\)\s+│\s+120", second.stdout)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_bulk_stops_cleanly_on_ctrl_c_or_sigterm_and_says_how_to_resume(
    sandbox_url: str, campaign: tuple[Path, Path], tmp_path: Path, stop: signal.Signals
) -> None:
    recipients, template = campaign
    args = ["bulk", str(recipients), "--message", str(template), "--rate", "20", "--grace", "30"]
    args += ["--skip-invalid"]
    args += ["--base-url", sandbox_url, "--app-id", SANDBOX_APP_ID, "--token", SANDBOX_TOKEN]
    process = subprocess.Popen(
        [*COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal_path = recipients.with_name("recipients.csv.journal.db")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it is well under way, however slow the machine
        time.sleep(0.2)
        if journal_path.exists():
            with contextlib.closing(sqlite3.connect(journal_path)) as db:
                try:
                    (sent,) = db.execute(
                        "SELECT COUNT(*) FROM items WHERE state = 'sent'"
                    ).fetchone()
                except sqlite3.OperationalError:  # not created yet
                    continue
            if sent >= 20:
                break
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "Bulk summary (interrupted)" in stdout  # what was done, also after Ctrl-C
    assert "run the same command again to resume" in stdout
    with contextlib.closing(sqlite3.connect(journal_path)) as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall())
        sent_to = {to for (to,) in db.execute("SELECT recipient FROM items WHERE state='sent'")}
    assert 20 <= states.get("sent", 0) < 120
    # A clean stop: nothing new started, the requests on the wire were answered within the
    # grace period, so none is ambiguous; what waited for the limiter is not recorded at all.
    assert set(states) == {"sent"}
    # The summary counts every request made: one per item sent (the sandbox has no faults).
    made = re.search(r"requests made\s*│\s*(\d+)", stdout)
    assert made is not None
    assert int(made.group(1)) == len(sent_to)


def test_bulk_on_a_journal_another_run_has_open_is_one_line_and_sends_nothing(
    sandbox_url: str, campaign: tuple[Path, Path]
) -> None:
    recipients, template = campaign
    # Slow enough that the first run still holds the journal when the second has started,
    # however loaded the machine (the test stops it afterwards).
    args = ["bulk", str(recipients), "--message", str(template), "--rate", "2", "--skip-invalid"]
    args += ["--base-url", sandbox_url, "--app-id", SANDBOX_APP_ID]
    env = {"GUPSHUP_APP_TOKEN": SANDBOX_TOKEN}
    first = subprocess.Popen(
        [*COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    lock = recipients.with_name("recipients.csv.journal.db.lock")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and str(first.pid) not in (
            lock.read_text() if lock.exists() else ""
        ):
            time.sleep(0.1)
        second = run(*args, env=env)
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert second.returncode == 2
    assert "Traceback" not in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert f"is in use by process {first.pid}" in second.stderr
    assert second.stdout == ""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "t.json").write_text(
        json.dumps(
            {
                "type": "button",
                "body": {"text": "Hi {name}"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "ok", "title": "OK"}}]},
            }
        )
    )
    rows = [{"phone": f"+9170000{n:05d}", "name": f"N{n}"} for n in range(30)]
    (tmp_path / "r.json").write_text(json.dumps(rows))
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "r.csv").write_text(
        "phone,name\n" + "".join(f"{r['phone']},{r['name']}\n" for r in rows)
    )
    return tmp_path


def _rows_file(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    return str(folder / name)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda f: ["r.json", "--rate", "0"], "--rate': must be a positive number, got 0"),
        (lambda f: ["r.json", "--rate", "-5"], "must be a positive number, got -5"),
        (lambda f: ["r.json", "--rate", "nan"], "must be a positive number, got nan"),
        (lambda f: ["r.json", "--app-id", ""], "--app-id': must not be empty"),
        (lambda f: ["r.json", "--journal", "/no/such/dir/j.db"], "/no/such/dir does not exist"),
        (lambda f: ["r.json", "--out", "/no/such/dir/o.jsonl"], "/no/such/dir does not exist"),
        (
            lambda f: [_rows_file(f, "q.csv", 'phone,name\n+919876543210,"Ravi\n+91987,Mo\n')],
            "q.csv:",
        ),
        (
            lambda f: [_rows_file(f, "w.csv", "phone,name\n+919876543210,Ravi,extra\n")],
            "w.csv:2: 3 fields where the header has 2",
        ),
        (
            lambda f: [_rows_file(f, "b.jsonl", '{"phone": "+919876543210"}\n{"phone": broke\n')],
            "b.jsonl:2: not JSON",
        ),
        (lambda f: [_rows_file(f, "o.json", '{"phone": "1"}')], "must hold a JSON array"),
        (lambda f: [_rows_file(f, "r.txt", "+919876543210\n")], "cannot read .txt; read: .csv"),
        (
            lambda f: [_rows_file(f, "n.csv", "name\nRavi\n")],
            "no recipient column: name one to, phone",
        ),
        (
            lambda f: [_rows_file(f, "p.csv", "phone\n+919876543210\n")],
            "no column for the message's placeholders name",
        ),
    ],
)
def test_bulk_bad_input_is_one_line_and_nothing_is_sent(
    sandbox_url: str, files: Path, make: object, says: str
) -> None:
    before = _processed(sandbox_url)
    args = make(files)  # type: ignore[operator]
    args[0] = str(files / args[0]) if "/" not in args[0] else args[0]
    done = run(
        "bulk",
        *args,
        "--message",
        str(files / "t.json"),
        "--base-url",
        sandbox_url,
        env={"GUPSHUP_APP_ID": SANDBOX_APP_ID, "GUPSHUP_APP_TOKEN": SANDBOX_TOKEN},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr
    assert _processed(sandbox_url) == before


def _processed(sandbox_url: str) -> int:
    import httpx

    count: int = httpx.get(f"{sandbox_url}/sandbox/account", timeout=10).json()["processed"]
    return count


@pytest.mark.parametrize("name", ["r.json", "r.jsonl", "r.csv"])
def test_bulk_reads_json_arrays_json_lines_and_csv(
    sandbox_url: str, files: Path, name: str
) -> None:
    done = run(
        "bulk",
        str(files / name),
        "--message",
        str(files / "t.json"),
        "--rate",
        "500",
        "--journal",
        str(files / f"{name}.db"),
        "--base-url",
        sandbox_url,
        env={"GUPSHUP_APP_ID": SANDBOX_APP_ID, "GUPSHUP_APP_TOKEN": SANDBOX_TOKEN},
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"│ sent\s+│ 30 ", done.stdout)


def test_a_stop_that_fails_every_item_says_why_and_the_fixed_rerun_sends_the_rest(
    sandbox_url: str, files: Path
) -> None:
    args = ["bulk", str(files / "r.json"), "--message", str(files / "t.json"), "--rate", "100"]
    args += ["--base-url", sandbox_url, "--app-id", SANDBOX_APP_ID]
    wrong = run(*args, "--token", "a-wrong-token")
    assert wrong.returncode == 1
    assert "Stopped after AuthenticationError 401" in wrong.stdout
    assert "Traceback" not in wrong.stderr
    not_attempted = int(re.search(r"not attempted \(the run stopped\)\s+│ (\d+)", wrong.stdout)[1])
    refused = int(re.search(r"failed: AuthenticationError 401\s+│ (\d+)", wrong.stdout)[1])
    assert not_attempted + refused == 30
    # A wrong token is the account's failure, not the items': none is recorded as failed, and
    # the same command, once the token is fixed, sends every one of them.
    fixed = run(*args, "--token", SANDBOX_TOKEN)
    assert fixed.returncode == 0
    assert re.search(r"│ sent\s+│ 30 ", fixed.stdout), fixed.stdout
    assert "failed in an earlier run" not in fixed.stdout


def test_send_to_an_unreachable_server_is_one_line_and_quick() -> None:
    done = run(
        "send",
        *("--to", "919876543210", "--body", "Hi", "--button", "a:A"),
        *("--base-url", "http://127.0.0.1:9", "--timeout", "2", "--max-attempts", "2"),
        env={"GUPSHUP_APP_ID": "app", "GUPSHUP_APP_TOKEN": "token-123456"},
    )
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "send failed after 2 attempt(s): TransportError" in done.stderr


def test_the_sandbox_on_a_busy_port_is_one_line(sandbox_url: str) -> None:
    port = sandbox_url.rsplit(":", 1)[1]
    done = run("sandbox", "--port", port)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_exit_codes_keep_may_have_been_delivered_apart_from_failed() -> None:
    from gupshup_async.cli._common import EXIT_AMBIGUOUS, EXIT_FAILED, EXIT_OK
    from gupshup_async.cli.bulk import exit_code
    from gupshup_async.errors import ServerError, TransportError
    from gupshup_async.results import BulkStats, Outcome

    stats = BulkStats()
    stats.count(Outcome("919876543210", None, "a", error=TransportError("reset", ambiguous=True)))
    assert exit_code(stats, interrupted=False) == EXIT_AMBIGUOUS
    stats.count(Outcome("919876543211", None, "b", error=ServerError("no", status_code=503)))
    assert exit_code(stats, interrupted=False) == EXIT_FAILED
    assert exit_code(BulkStats(), interrupted=False) == EXIT_OK


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_receive_records_statuses_and_report_says_what_became_of_each(tmp_path: Path) -> None:
    import asyncio

    import httpx

    from gupshup_async import ButtonMessage, GupshupClient
    from gupshup_async.sandbox import Sandbox

    journal = tmp_path / "campaign.db"

    async def campaign() -> list[str]:
        async with (
            Sandbox() as sandbox,
            GupshupClient(
                sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
            ) as client,
        ):
            items = [(f"+9170000000{n:02d}", ButtonMessage("Hi", ["OK"])) for n in range(3)]
            outcomes = [o async for o in client.send_many(items, journal=journal)]
        return [o.result.message_id for o in outcomes if o.result is not None]

    sent = asyncio.run(campaign())
    port = _free_port()
    receiver = subprocess.Popen(
        [*COMMAND, "receive", "--journal", str(journal), "--port", str(port)],
        env={**os.environ, "GUPSHUP_HOOK_SECRET": "s3cret-hook"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stderr is not None
        assert "receiving on" in receiver.stderr.readline()
        statuses = [
            {
                "id": f"wamid.{n}",
                "gs_id": gs_id,
                "status": status,
                "timestamp": "1",
                "recipient_id": "1",
            }
            for n, gs_id in enumerate(sent)
            for status in (["read"] if n else ["failed"])
        ]
        statuses[0]["errors"] = [{"code": 131047, "title": "window closed"}]
        body = {"entry": [{"changes": [{"field": "messages", "value": {"statuses": statuses}}]}]}
        for _ in range(50):
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/hooks/gupshup",
                    json=body,
                    headers={"X-Hook-Secret": "s3cret-hook"},
                    timeout=5,
                )
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert answer.status_code == 200
        time.sleep(0.5)
    finally:
        receiver.send_signal(signal.SIGINT)
        receiver.wait(timeout=10)
        if receiver.stderr is not None:
            receiver.stderr.close()
    as_json = run("report", str(journal), "--json")
    found = json.loads(as_json.stdout)
    assert found["by_status"] == {"failed": 1, "read": 2}
    assert found["failed"][0]["code"] == 131047
    assert found["failed"][0]["what_to_do"] == "send an approved template instead"
    table = run("report", str(journal))
    assert "send an approved template instead" in table.stdout


def test_bulk_in_two_shards_sends_each_row_once_with_a_journal_each(
    sandbox_url: str, files: Path
) -> None:
    args = ["bulk", str(files / "r.csv"), "--message", str(files / "t.json"), "--rate", "500"]
    args += ["--base-url", sandbox_url, "--app-id", SANDBOX_APP_ID, "--token", SANDBOX_TOKEN]
    before = _processed(sandbox_url)
    halves = [run(*args, "--shard", f"{i}/2") for i in (0, 1)]
    assert all(done.returncode == 0 for done in halves), [d.stderr for d in halves]
    sent = [int(re.search(r"│ sent\s+│ (\d+)", done.stdout)[1]) for done in halves]  # type: ignore[index]
    assert sum(sent) == 30
    assert all(0 < n < 30 for n in sent)  # both shards had work
    assert _processed(sandbox_url) - before == 30
    assert (files / "r.csv.shard-0-of-2.journal.db").exists()
    assert (files / "r.csv.shard-1-of-2.journal.db").exists()
    merged = run(
        "report",
        str(files / "r.csv.shard-0-of-2.journal.db"),
        str(files / "r.csv.shard-1-of-2.journal.db"),
        "--json",
    )
    assert json.loads(merged.stdout)["accepted"] == 30
    bad = run(*args, "--shard", "2/2")
    assert bad.returncode == 2
    assert "is not I/N" in bad.stderr


def test_a_token_given_as_an_option_is_used_with_a_warning_to_use_the_environment(
    sandbox_url: str,
) -> None:
    args = ["send", "--to", "+91 98765 43210", "--body", "Hi", "--button", "ok:OK"]
    args += ["--base-url", sandbox_url, "--app-id", SANDBOX_APP_ID]
    given = run(*args, "--token", SANDBOX_TOKEN)
    from_env = run(*args, env={"GUPSHUP_APP_TOKEN": SANDBOX_TOKEN})
    assert given.returncode == from_env.returncode == 0
    assert "visible to every user of this machine" in given.stderr
    assert "GUPSHUP_APP_TOKEN" in given.stderr
    assert SANDBOX_TOKEN not in given.stderr
    assert "visible" not in from_env.stderr


def test_a_token_can_come_from_a_file_and_never_shows(sandbox_url: str, tmp_path: Path) -> None:
    args = ["send", "--to", "+91 98765 43210", "--body", "Hi", "--button", "ok:OK"]
    args += ["--base-url", sandbox_url, "--app-id", SANDBOX_APP_ID]
    private = tmp_path / "token"
    private.write_text(SANDBOX_TOKEN + "\n")  # as `echo` or a mounted secret leaves it
    private.chmod(0o600)
    shared = tmp_path / "shared-token"
    shared.write_text(SANDBOX_TOKEN)
    shared.chmod(0o644)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    by_option = run(*args, "--token-file", str(private))
    by_env = run(*args, env={"GUPSHUP_APP_TOKEN_FILE": str(private)})
    readable = run(*args, "--token-file", str(shared))
    assert by_option.returncode == by_env.returncode == readable.returncode == 0
    assert by_option.stderr == by_env.stderr == ""
    assert "can be read by other users" in readable.stderr
    refused = {
        "empty": run(*args, "--token-file", str(empty)),
        "missing": run(*args, "--token-file", str(tmp_path / "nope")),
        "both": run(*args, "--token-file", str(private), env={"GUPSHUP_APP_TOKEN": "x"}),
        "none": run(*args, env={"GUPSHUP_APP_TOKEN": ""}),
    }
    for done in refused.values():
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert SANDBOX_TOKEN not in done.stderr + done.stdout
    assert "is empty" in refused["empty"].stderr
    assert "No such file" in refused["missing"].stderr
    assert "not both" in refused["both"].stderr
    assert "GUPSHUP_APP_TOKEN" in refused["none"].stderr
    assert "--token-file" in refused["none"].stderr


def test_receive_under_a_flood_of_bad_requests_logs_a_few_lines_and_still_takes_callbacks(
    tmp_path: Path,
) -> None:
    import socket

    import httpx

    secret = tmp_path / "hook-secret"  # a mounted secret, read by its owner only
    secret.write_text("s3cret-hook\n")
    secret.chmod(0o600)
    port = _free_port()
    receiver = subprocess.Popen(
        [*COMMAND, "receive", "--journal", str(tmp_path / "c.db"), "--port", str(port)],
        env={**os.environ, "GUPSHUP_HOOK_SECRET_FILE": str(secret)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stderr is not None
        assert "receiving on" in receiver.stderr.readline()
        deadline = time.monotonic() + 60
        while True:  # until uvicorn listens
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "receive did not start listening"
            time.sleep(0.1)
        for _ in range(300):  # not HTTP at all: uvicorn warns of each one
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
                sock.recv(1024)
        status = {"id": "wamid.1", "status": "read", "timestamp": "1", "recipient_id": "1"}
        value = {"statuses": [status]}
        body = {"entry": [{"changes": [{"field": "messages", "value": value}]}]}
        answer = httpx.post(
            f"http://127.0.0.1:{port}/",
            json=body,
            headers={"X-Hook-Secret": "s3cret-hook"},
            timeout=10,
        )
        assert answer.status_code == 200
    finally:
        receiver.send_signal(signal.SIGINT)
        _, err = receiver.communicate(timeout=10)
    invalid = [line for line in err.splitlines() if "Invalid HTTP request" in line]
    assert 1 <= len(invalid) <= 2  # one a 10 s, not 300


def test_out_that_is_an_input_is_refused_and_every_input_is_left_byte_for_byte(
    sandbox_url: str, campaign: tuple[Path, Path]
) -> None:
    recipients, template = campaign
    journal = recipients.with_name("recipients.csv.journal.db")
    args = ["bulk", str(recipients), "--message", str(template), "--rate", "500"]
    args += ["--base-url", sandbox_url, "--app-id", SANDBOX_APP_ID]
    env = {"GUPSHUP_APP_TOKEN": SANDBOX_TOKEN}
    before = {path: path.read_bytes() for path in (recipients, template)}
    processed = _processed(sandbox_url)
    for out in (recipients, template, journal, recipients.parent / "." / recipients.name):
        done = run(*args, "--out", str(out), env=env)
        assert done.returncode == 2, done.stderr
        assert "is also an input" in done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert {path: path.read_bytes() for path in before} == before
    assert not journal.exists()
    assert _processed(sandbox_url) == processed  # nothing sent


def test_mistyped_values_are_one_line_and_exit_2_never_a_traceback(tmp_path: Path) -> None:
    recipients = tmp_path / "r.csv"
    recipients.write_text("to\n+919876543210\n")
    message = tmp_path / "m.json"
    message.write_text('{"type": "button", "body": {"text": "Hi"}, "action": {"buttons": '
                       '[{"type": "reply", "reply": {"id": "a", "title": "OK"}}]}}')  # fmt: skip
    env = {"GUPSHUP_APP_TOKEN": "t", "GUPSHUP_APP_ID": "a"}
    cases = {
        "redis": ["bulk", str(recipients), "--message", str(message), "--redis", "notaurl"],
        "rate 0": ["demo", "--rate", "0"],
        "rate -1": ["demo", "--rate", "-1"],
        "messages 0": ["demo", "--messages", "0"],
    }
    for name, argv in cases.items():
        done = run(*argv, env=env)
        assert done.returncode == 2, (name, done.stderr)
        assert "Traceback" not in done.stderr, name
        assert len(done.stderr.strip().splitlines()) == 1, (name, done.stderr)
    assert "not a Redis URL" in run(*cases["redis"], env=env).stderr


def test_a_bare_command_prints_its_usage() -> None:
    done = run()
    assert done.returncode == 2
    assert done.stderr.startswith("Usage: gupshup-async [OPTIONS] COMMAND")
    assert "\n  bulk" in done.stderr  # the commands, one a line, not squeezed into an error


def test_report_never_creates_or_changes_a_file(sandbox_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.db"
    for path in (empty, missing):
        done = run("report", str(path))
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert empty.read_bytes() == b""
    assert not missing.exists()
    # A journal of a real campaign, made read-only: reported, not a byte changed.
    recipients = tmp_path / "r.csv"
    recipients.write_text("to\n+919876543210\n+919876543211\n")
    message = tmp_path / "m.json"
    message.write_text('{"type": "button", "body": {"text": "Hi"}, "action": {"buttons": '
                       '[{"type": "reply", "reply": {"id": "a", "title": "OK"}}]}}')  # fmt: skip
    sent = run(
        "bulk", str(recipients), "--message", str(message), "--base-url", sandbox_url,
        "--app-id", SANDBOX_APP_ID, env={"GUPSHUP_APP_TOKEN": SANDBOX_TOKEN},
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    journal = tmp_path / "r.csv.journal.db"
    journal.chmod(0o444)
    before = journal.read_bytes()
    done = run("report", str(journal), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == 2
    assert journal.read_bytes() == before


BUTTON = json.dumps(
    {
        "type": "button",
        "body": {"text": "Hi {name}, your order is on its way."},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "ok", "title": "Thanks"}}]},
    }
)


def _bulk(sandbox_url: str, recipients: Path, message: Path, *more: str, **env: str) -> Any:
    return run(
        "bulk", str(recipients), "--message", str(message), "--base-url", sandbox_url,
        "--app-id", SANDBOX_APP_ID, "--rate", "500", *more,
        env={"GUPSHUP_APP_TOKEN": SANDBOX_TOKEN, **env},
    )  # fmt: skip


def _sent_to(sandbox_url: str) -> list[str]:
    import httpx

    account = httpx.get(f"{sandbox_url}/sandbox/account", timeout=10).json()
    return [to for to, messages in account["by_recipient"].items() for _ in messages]


def test_send_to_an_invalid_number_is_refused_with_exit_2_and_sends_nothing(
    sandbox_url: str,
) -> None:
    before = _sent_to(sandbox_url)
    done = run(
        "send", "--to", "+1 555 0100", "--body", "Hi", "--button", "a:A",
        "--base-url", sandbox_url,
        env={"GUPSHUP_APP_ID": SANDBOX_APP_ID, "GUPSHUP_APP_TOKEN": SANDBOX_TOKEN},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "gupshup-async: refused before sending: to: is not a valid phone number: '+1 555 0100'"
    )
    assert _sent_to(sandbox_url) == before


def test_local_numbers_need_a_country_and_one_person_written_two_ways_is_messaged_once(
    sandbox_url: str, tmp_path: Path
) -> None:
    recipients = tmp_path / "crm.csv"
    recipients.write_text("phone,name\n98765 43210,Asha\n+91 98765 43210,Asha\n098765 43211,Ravi\n")
    message = tmp_path / "m.json"
    message.write_text(BUTTON)
    before = _sent_to(sandbox_url)
    unknown = _bulk(sandbox_url, recipients, message)
    assert unknown.returncode == 2
    assert f"{recipients}:2: to: is not a valid international number" in unknown.stderr
    assert "--country IN" in unknown.stderr
    assert _sent_to(sandbox_url) == before
    done = _bulk(sandbox_url, recipients, message, "--json", GUPSHUP_DEFAULT_COUNTRY="IN")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["rows"], summary["sent"], summary["repeats_not_sent"]) == (3, 2, 1)
    now = _sent_to(sandbox_url)
    assert now.count("919876543210") == before.count("919876543210") + 1
    assert now.count("919876543211") == before.count("919876543211") + 1


def test_repeats_go_once_unless_asked_and_edited_rows_are_held_back(
    sandbox_url: str, tmp_path: Path
) -> None:
    recipients = tmp_path / "r.csv"
    recipients.write_text("to,name\n+917011111111,Asha\n+917011111111,Asha\n+917011111112,Ravi\n")
    message = tmp_path / "m.json"
    message.write_text(BUTTON)
    first = _bulk(sandbox_url, recipients, message, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["repeats_not_sent"] == 1
    assert _sent_to(sandbox_url).count("917011111111") == 1
    # Ravi's row edited after the run: the same command does not send him a second message.
    recipients.write_text("to,name\n+917011111111,Asha\n+917011111112,Ravi Kumar\n")
    before = _sent_to(sandbox_url)
    edited = _bulk(sandbox_url, recipients, message)
    assert edited.returncode == 2
    assert "edited row" in edited.stderr
    assert f"{recipients}:3: 917011111112" in edited.stderr
    assert _sent_to(sandbox_url) == before
    on_purpose = _bulk(sandbox_url, recipients, message, "--send-edited")
    assert on_purpose.returncode == 0, on_purpose.stderr
    assert _sent_to(sandbox_url).count("917011111112") == 2
    # Repeats on purpose.
    twice = tmp_path / "twice.csv"
    twice.write_text("to,name\n+917011111113,Asha\n+917011111113,Asha\n")
    assert _bulk(sandbox_url, twice, message, "--send-repeats").returncode == 0
    assert _sent_to(sandbox_url).count("917011111113") == 2


def test_rows_that_would_send_nonsense_are_refused_with_their_line(
    sandbox_url: str, tmp_path: Path
) -> None:
    message = tmp_path / "m.json"
    message.write_text(BUTTON)
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"to": "+917011111121", "name": {"first": "Asha"}}\n')
    twice = tmp_path / "twice.csv"
    twice.write_text("to,name,name\n+917011111122,Asha,Ravi\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("to,name\n+917011111123,Asha\n+917011111124,  \n")
    unfilled = tmp_path / "unfilled.json"
    unfilled.write_text(BUTTON.replace("{name}", "{first_name}"))
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"type": "button", "body": {"text": "Hi"}, "action": {
        "buttons": [{"type": "reply", "reply": {"id": "x", "title": "T" * 30}}]}}))  # fmt: skip
    before = _sent_to(sandbox_url)
    cases = {
        "nested": (_bulk(sandbox_url, nested, message), f"{nested}:1: ", "is an object"),
        "twice": (_bulk(sandbox_url, twice, message), f"{twice}:1: ", "named twice: name"),
        "empty": (_bulk(sandbox_url, empty, message), f"{empty}:3: ", "is empty in the row"),
        "unfilled": (_bulk(sandbox_url, empty, unfilled), "", "no column for the message's"),
        "invalid": (_bulk(sandbox_url, empty, invalid), "", "cannot be sent to anybody"),
    }
    for name, (done, where, why) in cases.items():
        assert done.returncode == 2, (name, done.stderr)
        assert "Traceback" not in done.stderr, name
        assert where in done.stderr, (name, done.stderr)
        assert why in done.stderr, (name, done.stderr)
    assert _sent_to(sandbox_url) == before
    assert not list(tmp_path.glob("*.journal.db"))  # refused before a journal was made


def test_a_dry_run_checks_everything_and_sends_nothing(sandbox_url: str, tmp_path: Path) -> None:
    recipients = tmp_path / "r.csv"
    recipients.write_text("to,name\n+917011111131,Asha\n+917011111131,Asha\nnope,Ravi\n")
    message = tmp_path / "m.json"
    message.write_text(BUTTON)
    before = _sent_to(sandbox_url)
    table = _bulk(sandbox_url, recipients, message, "--dry-run")
    as_json = _bulk(sandbox_url, recipients, message, "--dry-run", "--json")
    assert table.returncode == as_json.returncode == 2  # a real run would be refused
    assert "Dry run: nothing sent" in table.stdout
    assert "Hi Asha, your order is on its way." in table.stdout  # a sample, as it would go
    found = json.loads(as_json.stdout)
    assert (found["rows"], found["would_send"], found["refused"], found["repeats"]) == (3, 1, 1, 1)
    assert found["sample"]["to"] == "917011111131"
    skip = _bulk(sandbox_url, recipients, message, "--dry-run", "--skip-invalid")
    assert skip.returncode == 0
    assert _sent_to(sandbox_url) == before
    assert not list(tmp_path.glob("*.journal.db"))


async def test_partner_credentials_in_the_environment_are_used_as_from_env_reads_them() -> None:
    import asyncio

    from tests.servers import under_uvicorn

    seen: list[tuple[str, str, str]] = []

    async def partner_api(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        seen.append((scope["method"], scope["path"], headers.get(b"authorization", b"").decode()))
        if scope["path"] == "/partner/account/login":
            answer: dict[str, Any] = {"token": "partner-token-1"}
        elif scope["path"].endswith("/token/"):
            answer = {"status": "success", "token": {"token": "sk_app_1"}}
        else:
            answer = {"messages": [{"id": "gs-1"}], "contacts": [{"wa_id": "919876543210"}]}
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    env = {
        "GUPSHUP_APP_ID": "app-1",
        "GUPSHUP_APP_TOKEN": "",
        "GUPSHUP_PARTNER_EMAIL": "ops@example.com",
        "GUPSHUP_PARTNER_SECRET": "partner-secret-77",
    }
    async with under_uvicorn(partner_api) as url:
        args = ["send", "--to", "+91 98765 43210", "--body", "Hi", "--button", "ok:OK"]
        done = await asyncio.to_thread(run, *args, "--base-url", url, env=env)
        missing = await asyncio.to_thread(
            run, *args, "--base-url", url, env={**env, "GUPSHUP_PARTNER_SECRET": ""}
        )
        no_app = await asyncio.to_thread(
            run, *args, "--base-url", url, env={**env, "GUPSHUP_APP_ID": ""}
        )
    assert done.returncode == 0, done.stderr
    assert [path for _, path, _ in seen] == [
        "/partner/account/login",
        "/partner/app/app-1/token/",
        "/partner/app/app-1/v3/message",
    ]
    assert seen[-1][2] == "sk_app_1"
    assert "partner-secret-77" not in done.stdout + done.stderr
    assert missing.returncode == no_app.returncode == 2
    assert "GUPSHUP_PARTNER_EMAIL and GUPSHUP_PARTNER_SECRET" in missing.stderr
    assert "set GUPSHUP_APP_ID" in no_app.stderr


def test_send_json_says_what_happened_in_success_and_failure(sandbox_url: str) -> None:
    args = ["send", "--to", "+91 98765 43210", "--body", "Hi", "--button", "ok:OK", "--json"]
    env = {"GUPSHUP_APP_ID": SANDBOX_APP_ID, "GUPSHUP_APP_TOKEN": SANDBOX_TOKEN}
    done = run(*args, "--base-url", sandbox_url, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True
    assert result["to"] == "919876543210"
    assert result["message_id"]
    refused = run(*args, "--base-url", sandbox_url, env={**env, "GUPSHUP_APP_TOKEN": "wrong"})
    assert refused.returncode == 1
    failure = json.loads(refused.stdout)
    assert (failure["ok"], failure["error"], failure["attempts"]) == (
        False,
        "AuthenticationError",
        1,
    )
    assert failure["may_have_been_delivered"] is False


def test_receive_on_a_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = run(
            "receive", "--journal", str(tmp_path / "c.db"), "--port", str(port),
            env={"GUPSHUP_HOOK_SECRET": "s3cret-hook"},
        )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"gupshup-async: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_the_whole_loop_from_the_command_line_sandbox_bulk_receive_report(
    tmp_path: Path,
) -> None:
    recipients = tmp_path / "r.csv"
    recipients.write_text("to,name\n+917011111141,Asha\n+917011111142,Ravi\n")
    message = tmp_path / "m.json"
    message.write_text(BUTTON)
    journal = tmp_path / "r.csv.journal.db"
    port = _free_port()
    env = {**os.environ, "GUPSHUP_HOOK_SECRET": "s3cret-hook"}
    receiver = subprocess.Popen(
        [*COMMAND, "receive", "--journal", str(journal), "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    hook = f"http://127.0.0.1:{port}/hooks/gupshup"
    try:
        assert receiver.stderr is not None
        assert "receiving on" in receiver.stderr.readline()
        options = ("--callback", hook, "--callback-header", "X-Hook-Secret:s3cret-hook")
        with sandbox_process(*options) as url:
            sent = _bulk(url, recipients, message)
            assert sent.returncode == 0, sent.stderr
            deadline = time.monotonic() + 60
            while True:  # the statuses come as the sandbox posts them: sent, delivered, read
                found = json.loads(run("report", str(journal), "--json").stdout)
                if found["by_status"] == {"read": 2}:
                    break
                assert time.monotonic() < deadline, found
                time.sleep(0.2)
    finally:
        receiver.send_signal(signal.SIGINT)
        receiver.communicate(timeout=10)
