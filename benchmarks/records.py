"""What the engine under the records costs: a campaign's items per second with its journal in
SQLite and in PostgreSQL, and a receiver's statuses stored per second in each, in one run.

    python benchmarks/records.py [--messages 3000] [--statuses 3000] [--rounds 3]

The campaign sends through `gupshup_mock` (answers made in process, no sockets), so what is
left is the library's own path and its journal; a run without a journal is the baseline. The
receiver's figures: the `Receiver` itself (through httpx's ASGI transport, 50 callbacks at
once: parsing, shared commits and all), and its store's `record_new` as the `Receiver` calls it
from its writer's thread, one callback a commit and 20 a commit.
PostgreSQL is a throwaway cluster on 127.0.0.1 (``tests/postgres_server.py``), with its
defaults (``synchronous_commit=on``: each commit waits for its write-ahead log on disk), as the
SQLite journal waits for its own (``synchronous=FULL``). Best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from gupshup_async import ButtonMessage, GupshupClient, Journal, Receiver, StatusUpdate
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


def callback(n: int, tag: str) -> bytes:
    status = {
        "id": f"wamid.{tag}-{n}", "gs_id": f"gs-{tag}-{n}", "status": "delivered",
        "timestamp": str(1_790_000_000 + n), "recipient_id": f"9174{n:08d}",
    }  # fmt: skip
    value = {"messaging_product": "whatsapp", "statuses": [status]}
    return json.dumps({"entry": [{"changes": [{"field": "messages", "value": value}]}]}).encode()


async def receiver(where: str, total: int, concurrency: int = 50) -> float:
    """Statuses a second through the `Receiver` itself (parsing, shared commits, the 200),
    ``concurrency`` callbacks in the air at once, as a busy campaign's come.
    """
    app = Receiver("bench-secret", store=where)
    headers = {"X-Hook-Secret": "bench-secret"}
    bodies = iter([callback(n, where[-6:]) for n in range(total)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:

        async def post() -> None:
            for body in bodies:
                answer = await http.post("/", content=body, headers=headers)
                assert answer.status_code == 200

        started = time.perf_counter()
        await asyncio.gather(*(post() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    await app.aclose()
    return total / elapsed


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
                file = str(Path(folder) / f"app{n}.db")
                keep("receiver app, SQLite", asyncio.run(receiver(file, options.statuses)))
                url = server.new_database()
                keep("receiver app, PostgreSQL", asyncio.run(receiver(url, options.statuses)))
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
            app = best["receiver app, SQLite"]
            rows.append(("receiver app, SQLite, 50 callbacks at once", app, 1.0))
            pg = best["receiver app, PostgreSQL"]
            rows.append(("receiver app, PostgreSQL, 50 callbacks at once", pg, pg / app))
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
