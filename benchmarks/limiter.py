"""How exactly the rate limiter holds its rate, in real time: the achieved rate and the largest
burst seen in any 100 ms and any 1 s window, at configured rates of 10, 80, 500 and 1,000 a
second (target: within 2% of the configured rate, and no burst above it); then the same for 4
processes sharing one RedisLimiter, from 10 to 1,000 a second (a redis-server it starts itself).

    python benchmarks/limiter.py [--seconds 10] [--processes 4] [--no-redis]

Many tasks compete for the limiter, as the workers of a bulk send do; each records the loop
time at which it was let through.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

from gupshup_async import RateLimit


def largest_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class AiolimiterShape:
    """aiolimiter's public ``AsyncLimiter`` in the two shapes its API allows for a rate: a
    bucket of one request per interval (evenly spaced), or a second's worth per second.
    """

    def __init__(self, rate: float, *, per_second_bucket: bool) -> None:
        from aiolimiter import AsyncLimiter

        self.bucket = AsyncLimiter(rate, 1.0) if per_second_bucket else AsyncLimiter(1, 1 / rate)

    async def acquire(self, recipient: str, ready: Any = None) -> None:
        await self.bucket.acquire()


async def measure(rate: float, seconds: float, shape: str = "ours") -> tuple[float, int, int]:
    limiter: Any = RateLimit(per_second=rate).limiter()
    if shape != "ours":
        limiter = AiolimiterShape(rate, per_second_bucket=shape == "aiolimiter(rate, 1s)")
    loop = asyncio.get_running_loop()
    times: list[float] = []
    deadline = loop.time() + seconds

    async def task(n: int) -> None:
        while loop.time() < deadline:
            await limiter.acquire(f"r{n}")
            times.append(loop.time())

    await asyncio.gather(*(task(n) for n in range(64)))
    times.sort()
    achieved = (len(times) - 1) / (times[-1] - times[0])
    return achieved, largest_in_window(times, 0.1), largest_in_window(times, 1.0)


async def shared_worker(redis_url: str, rate: float, seconds: float, start_at: float) -> None:
    """One of several processes on one RedisLimiter: prints the wall times it was let through."""
    from gupshup_async import RedisLimiter

    limiter = RedisLimiter(redis_url, "bench-app", RateLimit(per_second=rate))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    times: list[float] = []

    async def task(n: int) -> None:
        while time.time() < deadline:
            await limiter.acquire(f"r{n}")
            times.append(time.time())

    await asyncio.gather(*(task(n) for n in range(16)))
    await limiter.aclose()
    print(json.dumps([t for t in times if t < deadline]))


def measure_shared(redis_url: str, rate: float, seconds: float, processes: int) -> list[float]:
    start_at = time.time() + 3.0  # all start together, once every process is up
    command = [sys.executable, __file__, "--worker", redis_url, str(rate), str(seconds)]
    workers = [
        subprocess.Popen([*command, str(start_at)], stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    times: list[float] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=seconds + 60)
        times += json.loads(out)
    return sorted(times)


def redis_rows(seconds: float, processes: int) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        print("(no redis-server here: the shared rows need it)")
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        url = f"redis://127.0.0.1:{port}/0"
        print(f"\n{processes} processes x 16 tasks sharing one RedisLimiter:")
        for rate in (10.0, 80.0, 200.0, 500.0, 1000.0):
            times = measure_shared(url, rate, seconds, processes)
            if len(times) < 2:
                print(f"{rate:>6.0f} (too short a run to measure)")
                continue
            achieved = (len(times) - 1) / (times[-1] - times[0])
            error = achieved / rate - 1
            in_100ms, in_1s = largest_in_window(times, 0.1), largest_in_window(times, 1.0)
            print(f"{rate:>6.0f} {achieved:>9.1f} {error:>+7.2%} {in_100ms:>10} {in_1s:>7}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--no-redis", action="store_true", help="only the in-process rows")
    parser.add_argument(
        "--aiolimiter",
        action="store_true",
        help="also aiolimiter's AsyncLimiter (the bench extra installs it) in both shapes",
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        url, rate, seconds, start_at = args.worker
        asyncio.run(shared_worker(url, float(rate), float(seconds), float(start_at)))
        return
    shapes = ["ours"]
    if args.aiolimiter:
        shapes += ["aiolimiter(1, 1/rate)", "aiolimiter(rate, 1s)"]
    header = f"{'limiter':>22} {'rate':>6} {'achieved':>9} {'error':>7} {'max/100ms':>10}"
    print(f"{header} {'max/1s':>7}")
    for shape in shapes:
        for rate in (10.0, 80.0, 500.0, 1000.0):
            achieved, in_100ms, in_1s = asyncio.run(measure(rate, args.seconds, shape))
            error = achieved / rate - 1
            row = f"{shape:>22} {rate:>6.0f} {achieved:>9.1f} {error:>+7.2%} {in_100ms:>10}"
            print(f"{row} {in_1s:>7}")
    if not args.no_redis:
        redis_rows(args.seconds, args.processes)


if __name__ == "__main__":
    main()
