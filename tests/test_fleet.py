"""A fleet on one PostgreSQL database and one Redis, every part its own process, as users run
it: two receivers behind the sandbox's callbacks (taken in turn, as through a load balancer),
four campaign shards, one of them killed and resumed. Driven through the command line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer, free_port
from tests.servers import sandbox_process

COMMAND = [sys.executable, "-m", "gupshup_async"]
SECRET = "fleet-hook-secret-1"
TOTAL = 5000
GONE = "+917300000007"  # a receiver learnt before the campaign that nobody is there


def _wait_listening(port: int) -> None:
    for _ in range(300):
        try:
            httpx.post(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"no receiver on port {port}")


def _items(url: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT count(*) FROM gupshup_items").fetchone()
    return int(row[0]) if row else 0


def _report(url: str, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [*COMMAND, "report", "--campaign", "fleet", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_two_receivers_four_shards_one_database_one_redis_nobody_twice(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    url = postgres_server.new_database()
    env = {
        **os.environ,
        "GUPSHUP_HOOK_SECRET": SECRET,
        "GUPSHUP_JOURNAL": url,
        "GUPSHUP_APP_TOKEN": SANDBOX_TOKEN,
        "COLUMNS": "120",
    }
    rows = [f"+9173{n:08d}" for n in range(TOTAL)]
    (tmp_path / "people.csv").write_text("phone\n" + "".join(f"{to}\n" for to in rows))
    (tmp_path / "message.json").write_text(
        json.dumps(
            {
                "type": "button",
                "body": {"text": "Your order shipped. Rate us?"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "ok", "title": "OK"}}]},
            }
        )
    )
    ports = [free_port(), free_port()]
    receivers = [
        subprocess.Popen(
            [*COMMAND, "receive", "--port", str(port)],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    shards: list[subprocess.Popen[str]] = []
    try:
        for port in ports:
            _wait_listening(port)
        hooks = [f"http://127.0.0.1:{port}/hooks" for port in ports]
        # Before the campaign, a status says nobody is at one of its numbers any more.
        gone = {
            "entry": [{"changes": [{"field": "messages", "value": {"statuses": [{
                "id": "wamid.gone", "gs_id": "gs-gone", "status": "failed", "timestamp": "1",
                "recipient_id": GONE.lstrip("+"),
                "errors": [{"code": 131026, "title": "Message undeliverable"}],
            }]}}]}],
        }  # fmt: skip
        answer = httpx.post(hooks[1], json=gone, headers={"X-Hook-Secret": SECRET}, timeout=10)
        assert answer.status_code == 200
        callbacks = [arg for hook in hooks for arg in ("--callback", hook)]
        with sandbox_process(
            *callbacks, "--callback-header", f"X-Hook-Secret:{SECRET}", "--status-delay", "0.05"
        ) as sandbox:
            bulk = [
                *COMMAND, "bulk", str(tmp_path / "people.csv"), "--message",
                str(tmp_path / "message.json"), "--campaign", "fleet", "--rate", "400",
                "--concurrency", "16", "--redis", redis_server.url, "--base-url", sandbox,
                "--app-id", SANDBOX_APP_ID, "--json",
                # An attempt whose answer never came waits for its status before a retry.
                "--confirm-within", "30",
            ]  # fmt: skip
            shards = [
                subprocess.Popen(
                    [*bulk, "--shard", f"{i}/4"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for i in range(4)
            ]
            deadline = time.monotonic() + 120
            while _items(url) < 800:  # a sixth of the campaign is under way
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert shards[0].poll() is None  # killed in the middle of its run
            os.kill(shards[0].pid, signal.SIGKILL)
            shards[0].communicate(timeout=10)  # what it printed, and its pipes closed
            ended = [shard.communicate(timeout=300) for shard in shards[1:]]
            assert [s.returncode for s in shards[1:]].count(0) >= 2, ended
            # Every status of every message the sandbox took is stored (acknowledged) before
            # the resume: then an uncertain item no status names never reached it. (A loaded
            # machine delays callbacks by seconds; the default --unconfirmed-after is 600 s.)
            deadline = time.monotonic() + 300
            while True:
                taken = httpx.get(f"{sandbox}/sandbox/account", timeout=30).json()
                given_up = taken["faults"].get("callback_failed", 0)
                if sum(taken["callbacks"].values()) + given_up >= 4 * taken["processed"]:
                    break
                assert time.monotonic() < deadline, taken["callbacks"]
                time.sleep(0.2)
            assert given_up == 0, taken["faults"]  # every status was stored
            # The killed shard again: what it left uncertain that no status names after 3 s
            # never arrived, and goes again; what a status names was sent.
            resumed = subprocess.run(
                [*bulk, "--shard", "0/4", "--resend-unconfirmed", "--unconfirmed-after", "3"],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert resumed.returncode in (0, 1), resumed.stderr
            deadline = time.monotonic() + 180
            while True:
                report = _report(url, env)
                if report["by_status"] == {"read": TOTAL - 1}:
                    break
                assert time.monotonic() < deadline, json.dumps(report)
                time.sleep(0.5)
            account = httpx.get(f"{sandbox}/sandbox/account", timeout=30).json()
    finally:
        for process in [*shards, *receivers]:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in [*shards, *receivers]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    counts = {to: len(items) for to, items in account["by_recipient"].items()}
    assert [to for to, n in counts.items() if n > 1] == []  # nobody messaged twice
    assert set(counts) == {to.lstrip("+") for to in rows} - {GONE.lstrip("+")}  # nobody lost
    # The number a receiver (another process) learnt was gone was skipped by its shard.
    assert GONE.lstrip("+") not in counts
    # Every final status in one report, the shards together; both receivers stored them.
    assert report["accepted"] == TOTAL - 1
    assert report["duplicated"] == 0
    assert report["uncertain"] == 0
    taken = account["callbacks"]
    assert set(taken) == set(hooks)
    assert all(n > TOTAL for n in taken.values())  # four statuses a message, in turn
