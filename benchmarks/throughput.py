"""Messages per second and client CPU per message: send_many against hand-written clients.

    python benchmarks/throughput.py [--rounds 3] [--messages 20000] [--concurrency 100]
                                    [--server minimal|sandbox] [--clients ...]

A server runs in its own process pinned to CPU 0: ``minimal`` is aiohttp's web server with one
handler that reads the body and answers a fixed Gupshup-shaped 202 (so the clients, not the
server, are what is measured); ``sandbox`` is the library's sandbox (which also validates every
message). Each client runs in a fresh process pinned to CPU 1, one after the other, in rounds
whose order rotates, and sends the same campaign: one personalised button message per
recipient, distinct recipients.

The baselines are what a user would write by hand: a pool of workers pulling from one
iterator, posting the JSON payload and parsing the answer's JSON.

- ``aiohttp``: ``session.post(url, json=payload)``, ``await response.json()``.
- ``httpx``: the same on ``httpx.AsyncClient`` with its default transport (httpcore).
- ``httpx+aiohttp``: the same on httpx-aiohttp's client: the engine this library uses.
- ``send``: ``GupshupClient.send`` from the same pool of workers: the path a request handler
  takes.
- ``send_many``: ``GupshupClient.send_many`` with the default retry policy and the rate limit
  off; every message object is built (and so validated) per item, inside the measured run.
- ``send_many+limiter``: the same with the limiter on at a rate too high to throttle.
- ``send_many+journal``: the same with a SQLite journal (every in-flight mark made durable
  before its request leaves).
- ``send_many+statuses``: ``send_many+journal`` with the journal's statuses wired as the status
  source (``statuses=JournalStatuses(journal)``): every request tagged per attempt, ready to
  wait for a status; with no faults, nothing waits. ``send+statuses``: ``send`` with a
  ``MemoryStatuses`` wired: each send gets a tag of its own. The cost of the loop when all goes
  well (the ratio line under the table).
- ``send_many+window``: the same with a window store in memory (half of the recipients wrote
  lately) and ``WindowPolicy.template_instead``: the other half get a template made per
  recipient; ``send_many+window-sqlite``: the same store in SQLite, as a receiver in another
  process keeps it.

``--pace RATE`` sends every client at an even RATE a second instead of as fast as it can (the
baselines through a plain pacer, ours through its own rate limiter): the table then gives the
CPU each spends, as a share of one core, to hold that rate (Meta's highest tier is 1,000 a
second per number).

The table gives medians over rounds; the ratios are what count on a shared, noisy machine.
Latency is per request (from the request leaving to its answer being read).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from gupshup_async import (
    ButtonMessage,
    GupshupClient,
    JournalStatuses,
    MemoryStatuses,
    MemoryWindowStore,
    Message,
    RateLimit,
    SendHooks,
    SendResult,
    SqliteWindowStore,
    TemplateMessage,
    TemplateQuickReply,
    WindowPolicy,
    WindowStore,
)
from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN

CLIENTS = (
    "aiohttp",
    "httpx",
    "httpx+aiohttp",
    "send",
    "send_many",
    "send_many+limiter",
    "send_many+journal",
    "send_many+statuses",
    "send+statuses",
    "send_many+window",
    "send_many+window-sqlite",
)
PATH = f"/partner/app/{SANDBOX_APP_ID}/v3/message"
ANSWER = (
    b'{"messages":[{"id":"gBEGkYiEB1VXAglK1ZEqA1YKPrU"}],"contacts":[{"wa_id":"919876543210"}]}'
)


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


# The minimal server ---------------------------------------------------------------------------


async def serve_minimal() -> None:
    from aiohttp import web

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202, body=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{path:.*}", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
    print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


# The clients ------------------------------------------------------------------------------


def campaign(total: int) -> Iterator[tuple[str, str]]:
    for n in range(total):
        yield f"+9170{n:08d}", f"Hi customer {n}, your order has shipped. How was the delivery?"


def payload(to: str, text: str) -> dict[str, Any]:
    """The request body a hand-written client builds per message."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.lstrip("+"),
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": text},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "great", "title": "Great"}},
                    {"type": "reply", "reply": {"id": "not-great", "title": "Not great"}},
                ]
            },
        },
    }


#: Requests a second for every client (``--pace``), or None for as fast as each can.
PACE: float | None = None


class Pacer:
    """The plainest even pacing a hand-written client would use: request n leaves at
    start + n / rate.
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.start: float | None = None
        self.n = 0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        slot = self.start + self.n * self.interval
        self.n += 1
        delay = slot - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


def our_rate_limit() -> RateLimit | None:
    return RateLimit(per_second=PACE) if PACE is not None else None


async def pool(
    total: int, concurrency: int, post: Callable[[dict[str, Any]], Awaitable[str]]
) -> list[float]:
    """A pool of workers pulling from one iterator: what a careful hand-written client does."""
    items = campaign(total)
    latencies: list[float] = []
    pacer = Pacer(PACE) if PACE is not None else None

    async def worker() -> None:
        for to, text in items:
            if pacer is not None:
                await pacer.wait()
            body = payload(to, text)
            start = time.perf_counter()
            message_id = await post(body)
            latencies.append(time.perf_counter() - start)
            assert message_id

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def run_aiohttp(base_url: str, total: int, concurrency: int) -> list[float]:
    import aiohttp

    url = base_url + PATH
    headers = {"Authorization": SANDBOX_TOKEN}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(body: dict[str, Any]) -> str:
            async with session.post(url, json=body, headers=headers) as response:
                response.raise_for_status()
                data = await response.json()
                return str(data["messages"][0]["id"])

        return await pool(total, concurrency, post)


async def run_httpx(
    base_url: str, total: int, concurrency: int, *, on_aiohttp: bool
) -> list[float]:
    import httpx
    from httpx_aiohttp import HttpxAiohttpClient

    url = base_url + PATH
    headers = {"Authorization": SANDBOX_TOKEN}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    kind = HttpxAiohttpClient if on_aiohttp else httpx.AsyncClient
    async with kind(limits=limits) as client:

        async def post(body: dict[str, Any]) -> str:
            response = await client.post(url, json=body, headers=headers)
            response.raise_for_status()
            return str(response.json()["messages"][0]["id"])

        return await pool(total, concurrency, post)


class _Clock(SendHooks):
    """Request latency through the client's hooks: from the attempt leaving to its result."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.latencies: list[float] = []

    def attempt(self, to: str, attempt: int) -> None:
        self.started[to] = time.perf_counter()

    def success(self, result: SendResult) -> None:
        self.latencies.append(time.perf_counter() - self.started.pop(result.to))


async def run_send(
    base_url: str, total: int, concurrency: int, *, statuses: bool = False
) -> list[float]:
    items = campaign(total)
    latencies: list[float] = []
    async with GupshupClient(
        SANDBOX_APP_ID,
        SANDBOX_TOKEN,
        base_url=base_url,
        rate_limit=our_rate_limit(),
        max_connections=concurrency,
        statuses=MemoryStatuses() if statuses else None,
    ) as client:

        async def worker() -> None:
            for to, text in items:
                message = ButtonMessage(text, [("great", "Great"), ("not-great", "Not great")])
                start = time.perf_counter()
                result = await client.send(to, message)
                latencies.append(time.perf_counter() - start)
                assert result.message_id

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def reminder(to: str, message: Message) -> TemplateMessage:
    return TemplateMessage(
        "appointment_reminder",
        "en",
        body=[f"customer {to[-4:]}", "Friday 8pm"],
        buttons=[TemplateQuickReply(0, "yes"), TemplateQuickReply(1, "later")],
    )


def half_wrote(store: WindowStore, total: int) -> WindowStore:
    now = time.time()
    for n, (to, _) in enumerate(campaign(total)):
        if n % 2 == 0:
            store.user_wrote(to, now)
    return store


async def run_send_many(
    base_url: str,
    total: int,
    concurrency: int,
    *,
    limiter: bool = False,
    journal: bool = False,
    statuses: bool = False,
    windows: WindowStore | None = None,
) -> list[float]:
    clock = _Clock()
    policy = WindowPolicy.template_instead(reminder) if windows is not None else WindowPolicy()
    rate_limit = RateLimit(per_second=10_000_000.0) if limiter else our_rate_limit()
    items = (
        (to, ButtonMessage(text, [("great", "Great"), ("not-great", "Not great")]))
        for to, text in campaign(total)
    )
    async with GupshupClient(
        SANDBOX_APP_ID,
        SANDBOX_TOKEN,
        base_url=base_url,
        rate_limit=rate_limit,
        max_connections=concurrency,
        hooks=clock,
        windows=windows,
        window_policy=policy,
    ) as client:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder, "campaign.db") if journal or statuses else None
            source = JournalStatuses(path) if path is not None and statuses else None
            run = client.send_many(items, concurrency=concurrency, journal=path, statuses=source)
            async with run:
                async for outcome in run:
                    assert outcome.ok, outcome.error
            if source is not None:
                source.close()
    return clock.latencies


def child(name: str, base_url: str, total: int, concurrency: int) -> None:
    # The window stores are filled before the clock starts: a receiver fills them beforehand.
    store: WindowStore | None = None
    if name == "send_many+window":
        store = half_wrote(MemoryWindowStore(), total)
    elif name == "send_many+window-sqlite":
        store = half_wrote(SqliteWindowStore(tempfile.mkdtemp() + "/w.db"), total)
    runs: dict[str, Callable[[], Awaitable[list[float]]]] = {
        "aiohttp": lambda: run_aiohttp(base_url, total, concurrency),
        "httpx": lambda: run_httpx(base_url, total, concurrency, on_aiohttp=False),
        "httpx+aiohttp": lambda: run_httpx(base_url, total, concurrency, on_aiohttp=True),
        "send": lambda: run_send(base_url, total, concurrency),
        "send_many": lambda: run_send_many(base_url, total, concurrency),
        "send_many+limiter": lambda: run_send_many(base_url, total, concurrency, limiter=True),
        "send_many+journal": lambda: run_send_many(base_url, total, concurrency, journal=True),
        "send_many+statuses": lambda: run_send_many(base_url, total, concurrency, statuses=True),
        "send+statuses": lambda: run_send(base_url, total, concurrency, statuses=True),
        "send_many+window": lambda: run_send_many(base_url, total, concurrency, windows=store),
        "send_many+window-sqlite": lambda: run_send_many(
            base_url, total, concurrency, windows=store
        ),
    }
    cpu, wall = time.process_time(), time.perf_counter()
    latencies = asyncio.run(runs[name]())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert len(latencies) == total, (name, len(latencies))
    latencies.sort()
    print(
        json.dumps(
            {
                "per_s": total / wall,
                "cpu_share": cpu / wall,
                "cpu_us": cpu / total * 1e6,
                "p50_ms": latencies[len(latencies) // 2] * 1e3,
                "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
                "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


# The conductor --------------------------------------------------------------------------


def start_server(kind: str) -> tuple[subprocess.Popen[str], str]:
    if kind == "sandbox":
        command = [sys.executable, "-m", "gupshup_async", "sandbox", "--port", "0"]
    else:
        command = [sys.executable, __file__, "--serve"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: pin(0))
    assert server.stdout is not None
    line = server.stdout.readline()
    port = re.search(r"127\.0\.0\.1:(\d+)", line)
    if port is None:
        server.terminate()
        raise SystemExit(f"the {kind} server did not start: {line!r}")
    return server, f"http://127.0.0.1:{port.group(1)}"


def measure(name: str, base_url: str, total: int, concurrency: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--run", name, "--base-url", base_url]
    command += ["--messages", str(total), "--concurrency", str(concurrency)]
    if PACE is not None:
        command += ["--pace", str(PACE)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, preexec_fn=lambda: pin(1)
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument(
        "--httpx-messages", type=int, default=5_000, help="raw httpx is slow: fewer for it"
    )
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--server", choices=("minimal", "sandbox"), default="minimal")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--pace", type=float, help="send every client at this even rate a second")
    args = parser.parse_args()
    global PACE
    PACE = args.pace
    if args.serve:
        asyncio.run(serve_minimal())
        return
    if args.run:
        child(args.run, args.base_url, args.messages, args.concurrency)
        return

    names = [name for name in args.clients.split(",") if name]
    unknown = set(names) - set(CLIENTS)
    if unknown:
        raise SystemExit(f"unknown clients: {', '.join(sorted(unknown))}")
    server, base_url = start_server(args.server)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    try:
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                total = args.httpx_messages if name == "httpx" else args.messages
                results[name].append(measure(name, base_url, total, args.concurrency))
                print(f"round {round_ + 1}: {name:<18} {results[name][-1]}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait()
    report(results, args)


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    median = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    print(
        f"\n{args.server} server on CPU 0, each client on CPU 1; concurrency {args.concurrency}; "
        f"{args.messages:,} messages ({args.httpx_messages:,} for httpx); "
        f"medians of {args.rounds} rounds\n"
    )
    if args.pace is not None:
        print(f"paced at {args.pace:,.0f} messages a second:\n")
        print(f"| {'client':<18} | msgs/s | CPU, share of a core | CPU us/msg | p50 ms |")
        print("|---|---|---|---|---|")
        for name, m in median.items():
            print(
                f"| {name:<18} | {m['per_s']:>6,.0f} | {m['cpu_share']:>19.0%} "
                f"| {m['cpu_us']:>10,.0f} | {m['p50_ms']:>6.1f} |"
            )
        return
    header = f"| {'client':<18} | msgs/s | CPU us/msg | p50 ms | p99 ms | peak RSS MiB |"
    baselines = [b for b in ("aiohttp", "httpx", "httpx+aiohttp") if b in median]
    header += "".join(f" vs {b} (msgs/s, CPU) |" for b in baselines)
    print(header)
    print("|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|")
    for name, m in median.items():
        line = (
            f"| {name:<18} | {m['per_s']:>6,.0f} | {m['cpu_us']:>10,.0f} | {m['p50_ms']:>6.1f} "
            f"| {m['p99_ms']:>6.1f} | {m['rss_mib']:>12.1f} |"
        )
        for b in baselines:
            speed = m["per_s"] / median[b]["per_s"]
            cpu = median[b]["cpu_us"] / m["cpu_us"]
            line += f" {speed:.2f}x, {cpu:.2f}x |"
        print(line)
    print("\nCPU ratio: the baseline's CPU per message over this client's (above 1: cheaper).")
    for wired, plain in (("send_many+statuses", "send_many+journal"), ("send+statuses", "send")):
        if wired in median and plain in median:
            speed = median[wired]["per_s"] / median[plain]["per_s"]
            print(f"{wired} / {plain}: {speed:.2f} of the rate (status source wired / not)")


if __name__ == "__main__":
    main()
