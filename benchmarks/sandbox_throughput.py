"""How fast the sandbox answers, against how fast GupshupClient sends to it, one core each.

The sandbox reads and validates every message as Gupshup would (about 60 us each), so its
headroom over a fast client is small: to measure a client, benchmarks/throughput.py uses a
minimal fixed-answer server instead.

    python benchmarks/sandbox_throughput.py [--seconds 5] [--connections 50]

The sandbox runs in its own process pinned to CPU 0; the load runs here, pinned to CPU 1.
The load is a hand-written aiohttp loop (one request in flight per connection, a prebuilt
body), the fastest client measured here, so it shows how much the sandbox can take. Then
GupshupClient sends to the same sandbox, rate limit off. Both figures come from the same run:
the ratio is what counts on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time

from gupshup_async import ButtonMessage, GupshupClient
from gupshup_async.messages import encode_payload
from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN

MESSAGE = ButtonMessage("Your order has shipped. How was the delivery?", ["Great", "Not great"])


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


async def raw_load(port: int, seconds: float, connections: int) -> float:
    """A hand-written aiohttp loop: one prebuilt body, keep-alive, no library layers."""
    import aiohttp

    body = encode_payload("919876543210", MESSAGE)
    url = f"http://127.0.0.1:{port}/partner/app/{SANDBOX_APP_ID}/v3/message"
    headers = {"Authorization": SANDBOX_TOKEN, "Content-Type": "application/json"}
    done = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def connection() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(connections)))
        return done / (time.perf_counter() - start)


async def client_load(base_url: str, seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    async with GupshupClient(
        SANDBOX_APP_ID, SANDBOX_TOKEN, base_url=base_url, rate_limit=None
    ) as client:

        async def worker(n: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < deadline:
                await client.send(f"+9170{n:04d}{i:04d}", MESSAGE)
                i += 1
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "gupshup_async", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: pin(0),
    )
    try:
        assert server.stdout is not None
        port = int(re.search(r":(\d+)", server.stdout.readline()).group(1))  # type: ignore[union-attr]
        pin(1)
        raw = asyncio.run(raw_load(port, args.seconds, args.connections))
        ours = asyncio.run(client_load(f"http://127.0.0.1:{port}", args.seconds, args.connections))
    finally:
        server.terminate()
        server.wait()
    print(f"{'load':<34}{'requests/s':>12}")
    print(f"{'hand-written aiohttp loop':<34}{raw:>12,.0f}")
    print(f"{'GupshupClient (rate limit off)':<34}{ours:>12,.0f}")
    print("(each load saturates its own core: the sandbox's ceiling is above both figures)")


if __name__ == "__main__":
    main()
