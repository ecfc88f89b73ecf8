"""How exactly the rate limiter holds its rate, in real time: the achieved rate and the largest
burst seen in any 100 ms and any 1 s window, at configured rates of 10, 80, 500 and 1,000 a
second (target: within 2% of the configured rate, and no burst above it).

    python benchmarks/limiter.py [--seconds 10]

Many tasks compete for the limiter, as the workers of a bulk send do; each records the loop
time at which it was let through.
"""

from __future__ import annotations

import argparse
import asyncio

from gupshup_async import RateLimit


def largest_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def measure(rate: float, seconds: float) -> tuple[float, int, int]:
    limiter = RateLimit(per_second=rate).limiter()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{'rate':>6} {'achieved':>9} {'error':>7} {'max/100ms':>10} {'max/1s':>7}")
    for rate in (10.0, 80.0, 500.0, 1000.0):
        achieved, in_100ms, in_1s = asyncio.run(measure(rate, args.seconds))
        error = achieved / rate - 1
        print(f"{rate:>6.0f} {achieved:>9.1f} {error:>+7.2%} {in_100ms:>10} {in_1s:>7}")


if __name__ == "__main__":
    main()
