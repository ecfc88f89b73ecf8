"""The benchmarks still run: small sizes, real processes, the local minimal server.

Their figures are not checked here (timings in tests would be noise); what is checked is that
each script runs to its table, so `nox -s bench` never finds one broken.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def run(script: str, *options: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_throughput_prints_a_row_per_client() -> None:
    out = run(
        "throughput.py",
        *("--rounds", "1", "--messages", "300", "--concurrency", "10"),
        "--clients",
        "aiohttp,httpx+aiohttp,send,send_many,send_many+journal,send_many+statuses,send+statuses",
    )
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == [
        "aiohttp",
        "httpx+aiohttp",
        "send",
        "send_many",
        "send_many+journal",
        "send_many+statuses",
        "send+statuses",
    ]
    assert all(row.count("x, ") == 2 for row in rows[1:])  # ratios to both baselines
    assert "send_many+statuses / send_many+journal:" in out  # the cost of the loop
    assert "send+statuses / send:" in out


def test_bulk_memory_prints_rss_per_size_and_the_journal_cost() -> None:
    out = run("bulk_memory.py", "--sizes", "500,1000", "--journal-items", "300")
    rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
    assert [row[0] for row in rows[:2]] == ["500", "1,000"]
    assert all(float(row[1]) > 0 for row in rows[:2])  # a peak RSS in MiB for each size
    assert rows[2][0] == "journal:"


def test_limiter_prints_every_rate_in_process_and_shared() -> None:
    out = run("limiter.py", "--seconds", "0.5")
    local, _, shared = out.partition("sharing one RedisLimiter")
    for rate in ("10", "80", "500", "1000"):
        assert any(line.split()[:2] == ["ours", rate] for line in local.splitlines()), out
    for rate in ("10", "80", "200", "500", "1000"):
        assert any(line.split()[:1] == [rate] for line in shared.splitlines()), out


def test_exact_rate_prints_what_the_server_saw_per_setup_and_rate() -> None:
    out = run("exact_rate.py", "--seconds", "1", "--rates", "20")
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ")][1:]
    assert [(row[1].strip(), row[2].strip()) for row in rows] == [
        ("1 process", "20"),
        ("4 processes + Redis", "20"),
    ]
    assert all(row[4].strip() == "20" for row in rows)  # every message sent


def test_records_compares_the_engines_in_one_table() -> None:
    out = run("records.py", "--messages", "200", "--statuses", "200", "--rounds", "1")
    rows = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")]
    assert rows[1:] == [
        "campaign, no journal",
        "campaign, SQLite journal",
        "campaign, PostgreSQL journal",
        "receiver app, SQLite, 50 callbacks at once",
        "receiver app, PostgreSQL, 50 callbacks at once",
        "receiver, SQLite, 1/commit",
        "receiver, PostgreSQL, 1/commit",
        "receiver, SQLite, 20/commit",
        "receiver, PostgreSQL, 20/commit",
    ]
