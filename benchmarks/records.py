"""What the engine under the records costs: a campaign's items per second with its journal in
SQLite and in PostgreSQL, and a receiver's statuses stored per second in each, in one run.

    python benchmarks/records.py [--messages 3000] [--statuses 3000] [--rounds 3]

The campaign sends through `gupshup_mock` (answers made in process, no sockets), so what is
left is the library's own path and its journal; a run without a journal is the baseline. The
receiver's figure is `record_new` as a `Receiver` calls it from its writer's thread: one
callback a commit (callbacks one at a time) and 20 a commit (callbacks that arrive together).
PostgreSQL is a throwaway cluster on 127.0.0.1 (``tests/postgres_server.py``), with its
defaults (``synchronous_commit=on``: each commit waits for its write-ahead log on disk), as the
SQLite journal waits for its own (``synchronous=FULL``). Best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gupshup_async import ButtonMessage, GupshupClient, Journal, StatusUpdate
from gupshup_async.stores import open_delivery_store
from gupshup_async.testing import gupshup_mock
from tests.postgres_server import PostgresServer


async def campaign(total: int, journal: str | None) -> float:
    items = [(f"+9174{n:08d}", ButtonMessage("Your order shipped", ["OK"])) for n in range(total)]
    with gupshup_mock():
        async with GupshupClient("app", "token", rate_limit=None) as client:
            book = Journal(journal, name="bench") if journal is not None else None
            started = time.perf_counter()
            async for outcome in client.send_many(items, concurrency=64, journal=book):
                assert outcome.ok
            return total / (time.perf_counter() - started)


def statuses(where: str, total: int, per_commit: int) -> float:
    store = open_delivery_store(where)
    events = [
        StatusUpdate(f"wamid.{n}", "delivered", f"9174{n:08d}", n, gs_id=f"gs-{where[-6:]}-{n}")
        for n in range(total)
    ]
    try:
        started = time.perf_counter()
        for start in range(0, total, per_commit):
            store.record_new([[event] for event in events[start : start + per_commit]])
        return total / (time.perf_counter() - started)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--statuses", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    server = PostgresServer()
    server.start()
    rows: list[tuple[str, float, float]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            best: dict[str, float] = {}

            def keep(name: str, value: float) -> None:
                best[name] = max(best.get(name, 0.0), value)

            for n in range(options.rounds):
                keep("campaign, no journal", asyncio.run(campaign(options.messages, None)))
                sqlite = str(Path(folder) / f"c{n}.db")
                keep("campaign, SQLite journal", asyncio.run(campaign(options.messages, sqlite)))
                database = server.new_database()
                keep(
                    "campaign, PostgreSQL journal",
                    asyncio.run(campaign(options.messages, database)),
                )
                for per in (1, 20):
                    file = str(Path(folder) / f"r{n}-{per}.db")
                    keep(f"receiver, SQLite, {per}/commit", statuses(file, options.statuses, per))
                    url = server.new_database()
                    keep(
                        f"receiver, PostgreSQL, {per}/commit", statuses(url, options.statuses, per)
                    )
            base = best["campaign, no journal"]
            for name in (
                "campaign, no journal",
                "campaign, SQLite journal",
                "campaign, PostgreSQL journal",
            ):
                rows.append((name, best[name], best[name] / base))
            for per in (1, 20):
                sqlite_rate = best[f"receiver, SQLite, {per}/commit"]
                rows.append((f"receiver, SQLite, {per}/commit", sqlite_rate, 1.0))
                pg = best[f"receiver, PostgreSQL, {per}/commit"]
                rows.append((f"receiver, PostgreSQL, {per}/commit", pg, pg / sqlite_rate))
    finally:
        server.stop()
    print("| what | per second | ratio |")
    print("|---|---:|---:|")
    for name, rate, ratio in rows:
        print(f"| {name} | {rate:,.0f} | {ratio:.2f} |")
    print(
        "\nratio: campaigns against no journal; receivers, PostgreSQL against SQLite at the "
        "same callbacks per commit."
    )


if __name__ == "__main__":
    main()
