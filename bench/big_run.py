"""A valid run folder with 1,000,000 users and 1,000,000 items, written in minutes (no long training).

    .venv/bin/python bench/big_run.py [--users N] [--items N] [--out bench/out/big_run]

For timing the dashboard at scale (bench/big_dashboard.py), not for judging recommendations:
- events: 8-20 per user, Zipf-like item popularity (item P0000001 the most popular), two event
  types ("view", "purchase"), timestamps over 2024 with exponential gaps;
- split: leave-one-out (ltsi.splits.leave_one_out);
- model: planned by ltsi.plan.plan_training with dim 32, LEFT AT ITS INITIAL WEIGHTS (full training
  on this size is hours on 2 cores), with its counts part set from the training events, as
  ltsi.train.train does (so its scores follow item-to-item transitions, like a trained one's);
- metrics: LTSI and the baselines on a seeded sample of --metric-users test users (full ranking),
  labelled so in the run's training summary, with their ranks (test_ranks.safetensors); history.csv
  is empty (no epochs were run).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ltsi.baselines import training_counts
from ltsi.devices import set_seed
from ltsi.evaluate import compare_ranks, metric_names, metrics_table
from ltsi.model import LTSI
from ltsi.plan import plan_training
from ltsi.runs import Run, save_run
from ltsi.scorers import model_scorers
from ltsi.sequences import Sequences, Vocabulary, gap_buckets
from ltsi.splits import EvalCases, leave_one_out
from ltsi.train import MAX_SUCCESSORS

ROOT = Path(__file__).resolve().parents[1]
START_S = 1_704_067_200  # 2024-01-01 UTC
YEAR_S = 365 * 86_400


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: KiB


def zipf_items(n_events: int, n_items: int, rng: np.random.Generator, exponent: float = 0.8) -> np.ndarray:
    """(E,) item indices 1..n_items drawn with popularity ~ 1 / rank**exponent (index 1 the most popular)."""
    cdf = np.cumsum(1.0 / np.arange(1, n_items + 1) ** exponent)  # (N,)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(n_events), side="right").clip(0, n_items - 1) + 1


def big_sequences(n_users: int, n_items: int, seed: int = 0) -> Sequences:
    """Per-user chronological events straight into the flat layout (no event table, no sorting)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 21, n_users)  # (U,) 8-20 events each
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)  # (U + 1,)
    n_events = int(offsets[-1])
    item_ids = zipf_items(n_events, n_items, rng)  # (E,)
    # every item occurs at least once, as in a real catalogue built from a log
    item_ids[rng.choice(n_events, n_items, replace=False)] = np.arange(1, n_items + 1)
    event_ids = np.where(rng.random(n_events) < 0.1, 2, 1).astype(np.int64)  # (E,) 1 = view, 2 = purchase
    gaps = rng.exponential(6 * 3600, n_events).astype(np.int64)  # (E,) seconds since the previous event
    first = np.zeros(n_events, dtype=bool)
    first[offsets[:-1]] = True
    gaps[first] = 0
    starts = START_S + rng.integers(0, YEAR_S // 2, n_users)  # (U,)
    timestamps = np.repeat(starts, lengths) + _cumsum_per_user(gaps, offsets)  # (E,)
    width = len(str(max(n_users, n_items)))
    return Sequences(
        users=tuple(f"U{u + 1:0{width}d}" for u in range(n_users)),
        items=Vocabulary.from_values([f"P{i + 1:0{width}d}" for i in range(n_items)]),
        event_types=Vocabulary.from_values(["view", "purchase"]),
        offsets=offsets,
        item_ids=item_ids.astype(np.int64),
        event_ids=event_ids,
        gap_ids=gap_buckets(timestamps, first),
        timestamps=timestamps.astype(np.int64),
    )


def _cumsum_per_user(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(E,) running sum of `values` restarting at each user's first event."""
    total = np.cumsum(values)
    before = np.concatenate([[0], total[offsets[1:-1] - 1]])  # (U,) sum before each user's first event
    return total - np.repeat(before, np.diff(offsets))


def item_table(n_items: int) -> pd.DataFrame:
    categories = np.array(["books", "garden", "kitchen", "toys", "music", "sports", "beauty", "tools"])
    index = np.arange(n_items)
    width = len(str(n_items))
    ids = pd.Series(index + 1).astype(str).str.zfill(width)
    return pd.DataFrame({"item_id": "P" + ids, "title": "Item " + ids, "category": categories[index % len(categories)]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--metric-users", type=int, default=1_000, help="test users the metrics are computed on")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "big_run"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    set_seed(0)

    seqs = big_sequences(args.users, args.items)
    split = leave_one_out(seqs)
    print(
        f"sequences: {seqs.n_users:,} users, {len(seqs.items) - 1:,} items, {seqs.n_events:,} events "
        f"({time.perf_counter() - t0:.0f} s, peak {peak_rss_gb():.1f} GB)",
        flush=True,
    )

    plan = plan_training(seqs, split, device="cpu", model={"dim": 32})
    model = LTSI(plan.model_config)
    model.set_counts(training_counts(seqs, split, MAX_SUCCESSORS))  # as ltsi.train.train does
    model.eval()
    print(f"model at its initial weights, counts set ({time.perf_counter() - t0:.0f} s)", flush=True)

    rng = np.random.default_rng(1)
    picked = np.sort(rng.choice(len(split.test), min(args.metric_users, len(split.test)), replace=False))
    sample = EvalCases(split.test.users[picked], split.test.ends[picked], split.test.targets[picked])
    ranks = compare_ranks(model_scorers(model, {}, seqs, split), seqs, sample, plan.model_config.max_len, batch_size=64)
    ranks.index = pd.Index(picked, name="case")  # kept with the run: positions in all the test cases
    table = metrics_table(ranks)
    metrics = [{"model": row.pop("model"), "split": "test", **row} for row in table.to_dict(orient="records")]
    print(table.to_string(index=False), flush=True)
    print(f"metrics on {len(sample):,} sampled test users ({time.perf_counter() - t0:.0f} s)", flush=True)

    info = {
        "training": {
            "best_epoch": 0,
            "valid_metrics": {},
            "stopped": True,
            "stop_reason": "requested",
            "still_improving": False,
            "advice": f"Benchmark run: the model was left at its initial weights; metrics on {len(sample):,} "
            "sampled test users.",
            "seconds": 0.0,
            "device": "cpu",
        },
        "ablations": {},
    }
    history = pd.DataFrame(columns=["epoch", "loss", "lr", *metric_names(), "seconds", "eval_seconds"])
    items = item_table(args.items)
    run = Run(model, plan.model_config, plan.train_config, seqs, split, items, metrics, history, {}, info, ranks)
    path = save_run(run, args.out, overwrite=True)
    print(f"saved {path} in {time.perf_counter() - t0:.0f} s, peak RSS {peak_rss_gb():.1f} GB", flush=True)


if __name__ == "__main__":
    main()
