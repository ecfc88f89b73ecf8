"""A campaign from a CSV file: one templated message per row, resumable, with a summary.

    export GUPSHUP_APP_ID=... GUPSHUP_APP_TOKEN=...
    python examples/campaign_csv.py examples/recipients.csv examples/shipped.json --rate 10

Run it again with the same journal to resume: whatever was sent is skipped, even if the file was
re-sorted or rows were added. The command line does the same (`gupshup-async bulk`); this is
the same thing in thirty lines of Python, to start your own from.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys

from gupshup_async import GupshupClient, Journal, RateLimit
from gupshup_async.recipients import RowMessage, read_rows, row_items, scan_rows


async def run(recipients: str, template_file: str, rate: float, journal: str) -> int:
    template = RowMessage.load(template_file)
    total = scan_rows(recipients, template).rows  # every row checked before anything is sent
    items = row_items(template, read_rows(recipients))
    failures: collections.Counter[str] = collections.Counter()
    async with GupshupClient.from_env(rate_limit=RateLimit(rate)) as client:
        async with client.send_many(items, journal=Journal(journal)) as campaign:
            async for outcome in campaign:
                if not outcome.ok:
                    failures[type(outcome.error).__name__] += 1
                    print(f"{outcome.to}: {outcome.error}", file=sys.stderr)
        stats = campaign.stats
    print(f"{total} rows: {stats.ok - stats.already_sent} sent now, {stats.already_sent} before,")
    print(f"{stats.failed} failed {dict(failures)}")
    return 1 if stats.failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipients")
    parser.add_argument("template")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--journal", default="campaign.journal.db")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.recipients, args.template, args.rate, args.journal)))


if __name__ == "__main__":
    main()
