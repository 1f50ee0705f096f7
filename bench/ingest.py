"""Ingestion benchmark: read + validate a 5,000,000-row CSV with ltsi.events.load_events.

    .venv/bin/python bench/ingest.py [--rows 5000000] [--keep]

The CSV (user,item,event,timestamp in epoch milliseconds) is generated with numpy + pyarrow into
a temporary folder. It is realistic rather than clean: 1% exact duplicates, and 1,000 problem
lines (wrong number of fields, missing user, unreadable time) so every drop path runs at scale.
Loading runs in a fresh child process so that its peak RSS is not inflated by the generator.
Targets (issue 2): under 30 s and under 3 GB peak RSS on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

TARGET_SECONDS = 30.0
TARGET_RSS_GB = 3.0
N_BAD = 1_000


def generate(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n_dup = rows // 100
    n_base = rows - n_dup - N_BAD
    events = np.array(["view", "cart", "purchase", "favorite"])
    table = pa.table(
        {
            "user": rng.integers(0, 200_000, n_base),
            "item": rng.integers(0, 50_000, n_base),
            "event": events[rng.choice(4, n_base, p=[0.85, 0.09, 0.03, 0.03])],
            "timestamp": 1_600_000_000_000 + rng.integers(0, 90 * 86_400_000, n_base),
        }
    )
    table = pa.concat_tables([table, table.slice(0, n_dup)])  # exact duplicates
    options = pacsv.WriteOptions(include_header=True, quoting_style="none")
    pacsv.write_csv(table, str(path), write_options=options)
    bad = []
    for i in range(N_BAD):
        kind = i % 4
        if kind in (0, 1):
            bad.append(f"{i},{i},view")  # wrong number of fields
        elif kind == 2:
            bad.append(f",{i},view,1600000000000")  # missing user
        else:
            bad.append(f"{i},{i},view,yesterday")  # unreadable time
    with open(path, "a") as fh:
        fh.write("\n".join(bad) + "\n")


def load(path: str) -> None:
    """Child process: time load_events and report peak RSS as JSON on stdout."""
    from ltsi.events import load_events

    start = time.perf_counter()
    log = load_events(path)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss  # kilobytes on Linux
    r = log.report
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "peak_rss_gb": peak_kb / 1024**2,
                "rows_read": r.rows_read,
                "rows_kept": r.rows_kept,
                "dropped": r.dropped,
                "unit": r.timestamp_unit,
                "users": r.n_users,
                "items": r.n_items,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV")
    args = parser.parse_args()
    if args.load:
        load(args.load)
        return 0

    tmp = tempfile.mkdtemp(prefix="ltsi-bench-")
    path = Path(tmp) / "events.csv"
    t0 = time.perf_counter()
    generate(path, args.rows)
    gen_s = time.perf_counter() - t0
    size_mb = path.stat().st_size / 1e6
    print(f"generated {args.rows:,} rows ({size_mb:,.0f} MB) in {gen_s:.1f} s: {path}")

    child = subprocess.run([sys.executable, __file__, "--load", str(path)], capture_output=True, text=True)
    if not args.keep:
        path.unlink()
        Path(tmp).rmdir()
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        return 1
    res = json.loads(child.stdout.strip().splitlines()[-1])
    rate = res["rows_read"] / res["seconds"]
    print(
        f"rows read:   {res['rows_read']:,}  kept: {res['rows_kept']:,}  "
        f"users: {res['users']:,}  items: {res['items']:,}  unit: {res['unit']}"
    )
    print(f"dropped:     {res['dropped']}")
    print(
        f"load time:   {res['seconds']:.1f} s  ({rate:,.0f} rows/s); CPU time "
        f"{res['cpu_seconds']:.1f} s (includes imports); machine load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"peak RSS:    {res['peak_rss_gb']:.2f} GB")
    ok = res["seconds"] < TARGET_SECONDS and res["peak_rss_gb"] < TARGET_RSS_GB
    print(f"target (< {TARGET_SECONDS:.0f} s, < {TARGET_RSS_GB:.0f} GB): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
