"""Acceptance benchmark of issue 15 (not in CI): reading a 100M-event Parquet log through DuckDB.

Generates (or reuses) a synthetic Parquet log with ltsi.synth.write_parquet_log, then measures, each in a
child process of its own (wall time, and peak memory from /proc/self/status VmHWM):

- `ltsi.warehouse.scan` with a sample of users (default 1,000,000) and of the whole log;
- the in-memory path (`load_events` + `build_sequences`) on the first 1M, 5M and 10M events (one file each).

Targets on a 2-core machine: the sample < 3 min and < 6 GB; the whole 100M < 10 min and < 8 GB.
Writes bench/out/scale.json and prints one table, with the machine's load (uptime) beside the numbers.

    .venv/bin/python bench/scale.py                           # 100M events (generation takes a while)
    .venv/bin/python bench/scale.py --events 20000000 --sample-users 100000 --memory-sizes 1000000,5000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def peak_rss_gb() -> float:
    """This process's peak resident memory (VmHWM), in GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20  # kB -> GB
    return float("nan")


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def ensure_log(n_events: int) -> Path:
    """The folder of Parquet parts of a synthetic log of `n_events` events, written once and reused."""
    from ltsi.synth import write_parquet_log

    folder = OUT / f"scale_{n_events}"
    events = folder / "events"
    if (folder / "items.parquet").exists():  # written last: the log is complete
        return events
    started = time.perf_counter()
    write_parquet_log(folder, n_events, overwrite=True)
    print(f"generated {n_events:,} events in {time.perf_counter() - started:.0f} s ({load()})", flush=True)
    return events


def ensure_prefix_file(events: Path, n_events: int) -> Path:
    """The first `n_events` events of the log as one Parquet file, for the in-memory path."""
    import duckdb

    path = OUT / f"scale_prefix_{n_events}.parquet"
    if not path.exists():
        pattern, target = (str(p).replace("'", "''") for p in (events / "*.parquet", path))
        duckdb.execute(f"COPY (SELECT * FROM read_parquet('{pattern}') LIMIT {n_events}) TO '{target}'")
    return path


def child(kind: str, path: str, sample_users: int | None) -> dict:
    """One measurement, run in a fresh process so that its peak memory is its own."""
    started = time.perf_counter()
    if kind == "scan":
        from ltsi.warehouse import scan

        result = scan(path, sample_users=sample_users)
        seqs, rows_read = result.seqs, result.report.rows_read
    else:
        from ltsi.events import load_events
        from ltsi.sequences import build_sequences

        log = load_events(path, max_rows=200_000_000)
        seqs, rows_read = build_sequences(log.events), log.report.rows_read
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_gb": round(peak_rss_gb(), 2),
        "rows_read": rows_read,
        "events": seqs.n_events,
        "users": seqs.n_users,
        "items": len(seqs.items) - 1,
    }


def measure(name: str, kind: str, path: Path, sample_users: int | None, timeout_s: int) -> dict:
    # always said: the child's --sample-users default would otherwise sample the "whole log" case too
    command = [sys.executable, __file__, "--child", kind, "--path", str(path), "--sample-users", str(sample_users or 0)]
    before = load()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"case": name, "error": f"over {timeout_s} s", "load_before": before}
    if done.returncode != 0:
        return {"case": name, "error": done.stderr.strip().splitlines()[-1:], "load_before": before}
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    row = {"case": name, **measured, "load_before": before, "load_after": load()}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--sample-users", type=int, default=1_000_000)
    parser.add_argument("--memory-sizes", default="1000000,5000000,10000000")
    parser.add_argument("--skip-full", action="store_true", help="leave out the scan of the whole log")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per case")
    parser.add_argument("--child", choices=("scan", "memory"))
    parser.add_argument("--path")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path, args.sample_users or None)))  # 0: every user
        return

    OUT.mkdir(parents=True, exist_ok=True)
    events = ensure_log(args.events)
    rows = [measure(f"scan, sample of {args.sample_users:,} users", "scan", events, args.sample_users, args.timeout)]
    if not args.skip_full:
        rows.append(measure(f"scan, all {args.events:,} events", "scan", events, None, args.timeout))
    for size in (int(s) for s in args.memory_sizes.split(",") if s):
        prefix = ensure_prefix_file(events, size)
        rows.append(measure(f"in memory, {size:,} events", "memory", prefix, None, args.timeout))
    result = {"cpus": os.cpu_count(), "events": args.events, "rows": rows}
    (OUT / "scale.json").write_text(json.dumps(result, indent=2))
    print(f"\n{'case':<40} {'wall s':>8} {'peak GB':>8} {'events':>13} {'users':>10}  load before")
    for row in rows:
        if "error" in row:
            print(f"{row['case']:<40} failed: {row['error']}")
            continue
        print(
            f"{row['case']:<40} {row['wall_s']:>8} {row['peak_gb']:>8} {row['events']:>13,} {row['users']:>10,}  "
            f"{row['load_before'].split('load average:')[-1].strip()}"
        )


if __name__ == "__main__":
    main()
