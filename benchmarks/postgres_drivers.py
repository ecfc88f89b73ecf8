"""Why psycopg 3: the two well-kept async PostgreSQL drivers on the journal's write pattern.

    python benchmarks/postgres_drivers.py [--transactions 400] [--rounds 3]

Each driver runs the same upsert a journal's commit makes, on the same throwaway cluster
(``tests/postgres_server.py``, its defaults: every commit waits for the write-ahead log on
disk), in four shapes: one row a transaction (a campaign at ``concurrency=1``), five rows sent
one by one (a receiver's callback: a few statements), fifty rows a transaction through each
driver's ``executemany`` (a busy journal's batch), and fifty statements in psycopg's pipeline
mode (how the journal and the receiver send theirs). Transactions a second, best of ``--rounds``;
the ratio is asyncpg's against psycopg's in the same run. Needs the ``bench`` extra (asyncpg).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import psycopg

from tests.postgres_server import PostgresServer

TABLE = (
    "DROP TABLE IF EXISTS bench; CREATE TABLE bench (key text PRIMARY KEY, recipient text, "
    "state text, attempts integer, updated double precision)"
)
UPSERT = (
    "INSERT INTO bench (key, recipient, state, attempts, updated) VALUES ({}) "
    "ON CONFLICT (key) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, "
    "updated = excluded.updated"
)


def rows(count: int, start: int) -> list[tuple[Any, ...]]:
    return [(f"k{start + n}", "+917000000000", "sent", 1, time.time()) for n in range(count)]


async def with_psycopg(url: str, transactions: int, size: int, batched: bool | None) -> float:
    """``batched`` None: the statements one by one in pipeline mode, as the journal's commit
    and the receiver send them.
    """
    statement = UPSERT.format("%s, %s, %s, %s, %s")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        await db.execute(TABLE)
        started = time.perf_counter()
        for n in range(transactions):
            async with db.transaction():
                if batched is None:
                    async with db.pipeline():
                        for row in rows(size, n * size):
                            await db.execute(statement, row)
                elif batched:
                    async with db.cursor() as cursor:
                        await cursor.executemany(statement, rows(size, n * size))
                else:
                    for row in rows(size, n * size):
                        await db.execute(statement, row)
        return transactions / (time.perf_counter() - started)


async def with_asyncpg(url: str, transactions: int, size: int, batched: bool | None) -> float:
    statement = UPSERT.format("$1, $2, $3, $4, $5")
    db = await asyncpg.connect(url)
    try:
        await db.execute(TABLE)
        started = time.perf_counter()
        for n in range(transactions):
            async with db.transaction():
                if batched is not False:  # asyncpg has no pipeline of its own: executemany
                    await db.executemany(statement, rows(size, n * size))
                else:
                    for row in rows(size, n * size):
                        await db.execute(statement, *row)
        return transactions / (time.perf_counter() - started)
    finally:
        await db.close()


async def measure(url: str, transactions: int, rounds: int) -> None:
    print("| shape | psycopg tx/s | asyncpg tx/s | asyncpg / psycopg |")
    print("|---|---:|---:|---:|")
    for label, size, batched in (
        ("1 row a transaction", 1, False),
        ("5 rows one by one", 5, False),
        ("50 rows, executemany", 50, True),
        ("50 rows, psycopg's pipeline (asyncpg: executemany)", 50, None),
    ):
        best = {"psycopg": 0.0, "asyncpg": 0.0}
        for _ in range(rounds):
            best["psycopg"] = max(
                best["psycopg"], await with_psycopg(url, transactions, size, batched)
            )
            best["asyncpg"] = max(
                best["asyncpg"], await with_asyncpg(url, transactions, size, batched)
            )
        ratio = best["asyncpg"] / best["psycopg"]
        print(f"| {label} | {best['psycopg']:,.0f} | {best['asyncpg']:,.0f} | {ratio:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    server = PostgresServer()
    server.start()
    try:
        asyncio.run(measure(server.new_database(), options.transactions, options.rounds))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
