"""Campaigns against a server that enforces exactly the configured rate, as Gupshup enforces an
app's: at most ``rate`` requests in any sliding second, 429 for the rest. What the server saw:
the most requests in any second, the 429s, and the rate achieved as a share of the limit.

    python benchmarks/exact_rate.py [--seconds 10] [--rates 10,100,1000] [--processes 4]
                                    [--headroom 0.02] [--no-redis]

The server (aiohttp, its own process, pinned to CPU 0) records each request's arrival. Each
campaign is ``send_many`` with a SQLite journal on disk, the client's rate limit set to the
server's exact limit (the default 2% headroom on), ``concurrency`` 64:

- ``1 process``: one client with the in-process limiter;
- ``4 processes + Redis``: four processes (each a quarter of the campaign, its own journal)
  sharing one `RedisLimiter` on a redis-server the script starts.

Each campaign has ``rate * seconds`` messages, so it should take about ``seconds / 0.98``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

ANSWER = (
    b'{"messages":[{"id":"gBEGkYiEB1VXAglK1ZEqA1YKPrU"}],"contacts":[{"wa_id":"919876543210"}]}'
)
TOO_MANY = b'{"status":"error","message":"Too Many Requests"}'


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def most_in_one_second(times: list[float]) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


# The server -----------------------------------------------------------------------------------


async def serve(rate: float) -> None:
    from aiohttp import web

    accepted: collections.deque[float] = collections.deque()  # the last second's
    arrivals: list[tuple[float, bool]] = []

    async def message(request: web.Request) -> web.Response:
        await request.read()
        now = time.monotonic()
        while accepted and now - accepted[0] >= 1.0:
            accepted.popleft()
        if len(accepted) >= rate:
            arrivals.append((now, False))
            return web.Response(status=429, body=TOO_MANY, content_type="application/json")
        accepted.append(now)
        arrivals.append((now, True))
        return web.Response(status=202, body=ANSWER, content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        every = [t for t, _ in arrivals]
        ok = [t for t, was in arrivals if was]
        achieved = (len(ok) - 1) / (ok[-1] - ok[0]) if len(ok) > 1 else 0.0
        answer = {
            "requests": len(every),
            "refused": len(every) - len(ok),
            "most_in_1s": most_in_one_second(every),
            "achieved": achieved,
        }
        arrivals.clear()
        accepted.clear()
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_post("/{path:.*}", message)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
    print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


# The clients ----------------------------------------------------------------------------------


async def campaign(spec: dict[str, Any]) -> None:
    from gupshup_async import ButtonMessage, GupshupClient, RateLimit, RedisLimiter
    from gupshup_async.ratelimit import Limiter

    config = RateLimit(spec["rate"], headroom=spec["headroom"])
    limiter: Limiter = config.limiter()
    if spec["redis"]:
        limiter = RedisLimiter(spec["redis"], "bench-app", config)
    first, total = spec["first"], spec["total"]
    items = [
        (f"+9170{n:08d}", ButtonMessage(f"Hi customer {n}, how was the delivery?", ["Good"]))
        for n in range(first, first + total)
    ]
    client = GupshupClient("bench-app", "bench-token", base_url=spec["url"], rate_limit=limiter)
    await asyncio.sleep(max(0.0, spec["start_at"] - time.time()))
    async with client:
        run = client.send_many(items, concurrency=64, journal=spec["journal"])
        async for _ in run:
            pass
    print(json.dumps({"ok": run.stats.ok, "failed": run.stats.failed}), flush=True)
    if isinstance(limiter, RedisLimiter):
        await limiter.aclose()


def run_campaign(
    url: str,
    rate: float,
    seconds: float,
    processes: int,
    redis: str | None,
    workdir: str,
    headroom: float,
) -> dict[str, Any]:
    total = int(rate * seconds)
    start_at = time.time() + 3.0  # every process up before the first request
    children = []
    for n in range(processes):
        share = total // processes + (1 if n < total % processes else 0)
        spec = {
            "url": url,
            "rate": rate,
            "headroom": headroom,
            "redis": redis,
            "first": n * (total // processes + 1),
            "total": share,
            "journal": os.path.join(workdir, f"r{rate:g}-p{processes}-{n}.db"),
            "start_at": start_at,
        }
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, "--client", json.dumps(spec)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    ok = failed = 0
    for child in children:
        out, _ = child.communicate(timeout=seconds * 5 + 120)
        done = json.loads(out.strip().splitlines()[-1])
        ok, failed = ok + done["ok"], failed + done["failed"]
    import httpx

    seen: dict[str, Any] = httpx.get(f"{url}/stats", timeout=30).json()
    return {"ok": ok, "failed": failed, **seen}


def start_redis() -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return server, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="10,100,1000")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--no-redis", action="store_true", help="only the one-process rows")
    parser.add_argument("--headroom", type=float, default=0.02, help="RateLimit's headroom")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        pin(0)
        asyncio.run(serve(args.serve))
        return
    if args.client is not None:
        asyncio.run(campaign(json.loads(args.client)))
        return
    redis = None if args.no_redis else start_redis()
    if redis is None and not args.no_redis:
        print("(no redis-server here: the shared rows need it)")
    setups: list[tuple[str, int, str | None]] = [("1 process", 1, None)]
    if redis is not None:
        setups.append((f"{args.processes} processes + Redis", args.processes, redis[1]))
    print(
        f"| {'setup':<22} | {'rate':>5} | {'messages':>8} | {'sent':>6} | {'429s':>5} "
        f"| {'most in 1 s':>11} | {'achieved':>16} |"
    )
    print(f"|{'-' * 24}|{'-' * 7}:|{'-' * 9}:|{'-' * 7}:|{'-' * 6}:|{'-' * 12}:|{'-' * 17}:|")
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for rate in (float(r) for r in args.rates.split(",")):
                server = subprocess.Popen(
                    [sys.executable, __file__, "--serve", str(rate)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                try:
                    assert server.stdout is not None
                    url = server.stdout.readline().split()[-1]
                    for name, processes, redis_url in setups:
                        seen = run_campaign(
                            url, rate, args.seconds, processes, redis_url, workdir, args.headroom
                        )
                        share = seen["achieved"] / rate
                        print(
                            f"| {name:<22} | {rate:>5g} | {int(rate * args.seconds):>8,} "
                            f"| {seen['ok']:>6,} | {seen['refused']:>5} "
                            f"| {seen['most_in_1s']:>11} "
                            f"| {seen['achieved']:>7.1f} ({share:>5.1%}) |",
                            flush=True,
                        )
                finally:
                    server.kill()
                    server.wait()
    finally:
        if redis is not None:
            redis[0].terminate()
            redis[0].wait(timeout=10)


if __name__ == "__main__":
    main()
