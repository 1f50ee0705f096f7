"""Memory and speed of `ltsi recommend RUN --all` (every user's top-K, streamed to Parquet) on a big run.

    .venv/bin/python bench/big_run.py --items 50000 --out bench/out/big_run_50k   # once: 1M users
    .venv/bin/python bench/recommend_all.py bench/out/big_run_50k [--k 100] [--device auto]

Prints the process's resident memory after the run is loaded (Python, torch, the model, the users'
sequences) and its peak while every user is scored, the model's own size (its parameters and
buffers), and users per second. The goal (issue 15): the peak stays under 2 GB above the model's size
for 1M users, because scores are computed and written a chunk of users at a time.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from ltsi.recommend import chunk_users_for, recommend_all_to_parquet
from ltsi.runs import load_run


def rss_gb() -> float:
    """Resident memory now (GB), from /proc."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None, help="the Parquet file (default: a temporary one)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    run = load_run(args.run)
    model_gb = sum(t.numel() * t.element_size() for t in run.model.state_dict().values()) / 1e9
    loaded_gb = rss_gb()
    n_users, n_items = run.seqs.n_users, len(run.seqs.items)
    print(
        f"run {args.run}: {n_users:,} users, {n_items:,} items; loaded in {time.perf_counter() - t0:.1f} s, "
        f"RSS {loaded_gb:.2f} GB (model {model_gb:.3f} GB); {chunk_users_for(n_items):,} users per chunk",
        flush=True,
    )
    last = [time.perf_counter()]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 30 or done == total:
            last[0] = time.perf_counter()
            print(f"  {done:,} / {total:,} users, RSS {rss_gb():.2f} GB", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "recs.parquet"
        t0 = time.perf_counter()
        rows = recommend_all_to_parquet(run, out, k=args.k, device=args.device, progress=progress)
        seconds = time.perf_counter() - t0
        size_mb = out.stat().st_size / 1e6
        assert pq.ParquetFile(out).metadata.num_rows == rows
    peak = peak_rss_gb()
    print(
        f"top-{args.k} for {n_users:,} users: {rows:,} rows ({size_mb:,.0f} MB) in {seconds:.0f} s "
        f"({n_users / seconds:,.0f} users/s); peak RSS {peak:.2f} GB = {peak - model_gb:.2f} GB above the model, "
        f"{peak - loaded_gb:.2f} GB above the loaded run; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
