"""Peak RSS of send_many over generated items, and what the journal costs: figures from one run.

    python benchmarks/bulk_memory.py [--sizes 10000,100000,1000000] [--journal-items 20000]

Each size runs in a fresh process (peak RSS is per process) pinned to CPU 1, sending over real
sockets through the client's own transport to benchmarks/throughput.py's minimal server on
CPU 0, which answers 202 at once: what is measured is the library's own memory and speed on the
path campaigns take. RSS must stay flat from the smallest size to the largest: items are pulled
lazily and at most 4 x concurrency are held at once. The journal's cost is the ratio of items
per second with and without it, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throughput import pin, start_server

from gupshup_async import ButtonMessage, GupshupClient


async def campaign(base_url: str, total: int, journal: str | None) -> float:
    message = ButtonMessage("Your order has shipped.", [("ok", "Thanks")])
    items = ((f"+9170{n:08d}", message) for n in range(total))
    async with GupshupClient("app", "token-123456", base_url=base_url, rate_limit=None) as client:
        start = time.perf_counter()
        async with client.send_many(items, concurrency=64, journal=journal) as run:
            async for _ in run:
                pass
        assert run.stats.ok == total, run.stats
        elapsed = time.perf_counter() - start
    return total / elapsed


def child(base_url: str, total: int) -> None:
    rate = asyncio.run(campaign(base_url, total, None))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"items": total, "peak_rss_mib": peak_mib, "items_per_s": rate}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--journal-items", type=int, default=20000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.base_url, args.child)
        return
    server, base_url = start_server("minimal")
    try:
        print(f"{'items':>10} {'peak RSS MiB':>13} {'items/s':>9}")
        for size in (int(s) for s in args.sizes.split(",")):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(size), "--base-url", base_url],
                capture_output=True,
                text=True,
                check=True,
                preexec_fn=lambda: pin(1),
            ).stdout
            row = json.loads(out)
            print(f"{row['items']:>10,} {row['peak_rss_mib']:>13.1f} {row['items_per_s']:>9,.0f}")
        pin(1)
        with tempfile.TemporaryDirectory() as scratch:
            n = args.journal_items
            without = asyncio.run(campaign(base_url, n, None))
            with_journal = asyncio.run(campaign(base_url, n, str(Path(scratch) / "j.db")))
    finally:
        server.terminate()
        server.wait()
    print(
        f"journal: {with_journal:,.0f} items/s with, {without:,.0f} without: "
        f"{with_journal / without:.2f}x"
    )


if __name__ == "__main__":
    main()
