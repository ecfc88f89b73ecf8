"""Setting the app's webhook from the library: `client.subscribe` and `gupshup-async subscribe`
against the sandbox, which then posts its callbacks where the subscription says, with its
secret header, to a real receiver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gupshup_async import (
    ButtonMessage,
    GupshupClient,
    Receiver,
    StatusUpdate,
    ValidationError,
)
from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from tests.servers import sandbox_process, under_uvicorn, until

SECRET = "hook-secret-subscribe"
COMMAND = [sys.executable, "-m", "gupshup_async"]


async def test_subscribe_points_the_sandbox_at_a_receiver_with_its_secret() -> None:
    seen: list[object] = []
    receiver = Receiver(SECRET, handlers=[seen.append])
    async with under_uvicorn(receiver, "/hooks/gupshup") as hook:
        async with Sandbox(status_delay=0.01) as sandbox:
            async with GupshupClient(
                sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
            ) as client:
                made = await client.subscribe(hook, secret=SECRET, tag="orders")
                listed = await client.subscriptions()
                await client.send("+919876543210", ButtonMessage("Hi", ["OK"]))
                await until(lambda: any(isinstance(e, StatusUpdate) for e in seen))
                await client.unsubscribe(made.id)
                assert await client.subscriptions() == []
        await receiver.aclose()
    assert (made.url, made.tag, made.version, made.active) == (hook, "orders", 3, True)
    assert listed == [made]
    assert SECRET not in repr(made)
    assert receiver.stats["refused_401"] == 0  # every callback carried the secret


@pytest.mark.parametrize(
    ("url", "secret", "path"),
    [
        ("ftp://hooks.example.com", "s", "url"),
        ("not a url", "s", "url"),
        ("https://h/x", "", "meta"),
    ],
)
async def test_a_bad_subscription_is_refused_before_anything_is_sent(
    url: str, secret: str, path: str
) -> None:
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            with pytest.raises(ValidationError) as refused:
                await client.subscribe(url, secret=secret)
    assert refused.value.path == path
    assert sandbox.account.subscriptions == {}


def test_the_subscribe_command_sets_lists_and_removes() -> None:
    env = {**os.environ, "GUPSHUP_APP_TOKEN": SANDBOX_TOKEN, "GUPSHUP_HOOK_SECRET": SECRET}
    with sandbox_process() as url:
        base = ["--base-url", url, "--app-id", SANDBOX_APP_ID]

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*COMMAND, "subscribe", *args, *base],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )

        made = run("--url", "https://hooks.example.com/gupshup", "--json")
        assert made.returncode == 0, made.stderr
        subscription = json.loads(made.stdout)
        listed = run("--list", "--json")
        again = run("--url", "https://hooks.example.com/other", "--json")  # the same tag
        bad = run("--url", "https://hooks.example.com/x", "--list")
        removed = run("--remove", subscription["id"])
        after = run("--list", "--json")
    assert subscription["version"] == 3
    assert [s["url"] for s in json.loads(listed.stdout)] == ["https://hooks.example.com/gupshup"]
    assert SECRET not in made.stdout + listed.stdout
    assert again.returncode == 1  # Gupshup refuses a second subscription with the same tag
    assert len(again.stderr.strip().splitlines()) == 1
    assert "tag must be unique" in again.stderr
    assert bad.returncode == 2
    assert "give one of --url, --list or --remove" in bad.stderr
    assert removed.returncode == 0
    assert json.loads(after.stdout) == []
