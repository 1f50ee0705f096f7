"""Training and evaluation throughput of LTSI on CPU and, when one is present, on a GPU.

    python bench/speed.py                       # ML-100k + a 1M-event / 50k-item synthetic log, every device
    python bench/speed.py --devices cpu --synthetic-events 0 --full
    python bench/speed.py --json speed.json

For each data set and device it times training epochs through `ltsi.train.train` (the real loop,
default settings, validation included but timed apart) and a full-ranking evaluation of the test
cases, and prints sequences/s (training windows of up to max_len events) and events/s (next-item
targets, i.e. positions trained). The first epoch includes warm-up (CUDA kernels, allocator), so the
figures are from the second epoch when there is one. On a slow device an epoch can be cut short with
--max-epoch-seconds; throughput is then measured over the batches done. --full also trains to early
stopping with the defaults and reports the total time, the best epoch and test NDCG@10.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from ltsi.batches import NextItemDataset
from ltsi.evaluate import evaluate
from ltsi.events import load_events
from ltsi.model import ModelConfig
from ltsi.sequences import build_sequences
from ltsi.splits import leave_one_out
from ltsi.synth import generate
from ltsi.train import train
from ltsi.train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
ML100K = [ROOT / "data/ml-100k/ratings.csv", ROOT.parent / "shared/data/ml-100k/ratings.csv"]


def time_epochs(seqs, split, device: str, epochs: int, max_epoch_seconds: float | None) -> dict:
    """Train `epochs` epochs; throughput of the last one (or of the batches done when cut short)."""
    config = ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types))
    tc = TrainConfig(epochs=epochs, patience=epochs + 1, device=device, window_jitter=False, log_every=5)
    dataset = NextItemDataset(seqs, split.train_ends, config.max_len)
    marks: list[tuple[int, int, float]] = []  # (epoch, batches done, elapsed) at each progress report
    deadline = {}

    def callback(p):
        marks.append((p.epoch, p.step, p.elapsed_s))
        if p.epoch >= 1 and p.epoch not in deadline:
            deadline[p.epoch] = time.perf_counter() + (max_epoch_seconds or float("inf"))

    def should_stop():
        return bool(deadline) and time.perf_counter() > deadline[max(deadline)]

    result = train(seqs, split, config, tc, callback=callback, should_stop=should_stop)
    last = result.history.iloc[-1]
    full_epoch = not result.stopped.startswith("stopped")
    if full_epoch:
        seconds, windows, targets = last["seconds"], len(dataset), dataset.n_targets
    else:  # throughput over the batches done in the cut-short epoch
        done = [m for m in marks if m[0] == int(last["epoch"]) and m[1] > 0]
        batches = done[-1][1]
        seconds = last["seconds"]
        windows = min(batches * tc.batch_size, len(dataset))
        targets = int(dataset.n_targets * windows / len(dataset))
    model = result.model.to(device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    metrics = evaluate(model, seqs, split.test, config.max_len)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {
        "epoch_s": round(float(seconds) * len(dataset) / windows, 2),
        "full_epoch": full_epoch,
        "sequences_per_s": round(windows / float(seconds)),
        "events_per_s": round(targets / float(seconds)),
        "eval_s": round(time.perf_counter() - t, 2),
        "eval_cases": len(split.test),
        "test_NDCG@10_after_timing": round(metrics["NDCG@10"], 4),
    }


def full_run(seqs, split, device: str) -> dict:
    config = ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types))
    result = train(seqs, split, config, TrainConfig(device=device))
    test = evaluate(result.model, seqs, split.test, config.max_len)
    return {
        "train_s": round(result.seconds, 1),
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "test_HR@10": round(test["HR@10"], 4),
        "test_NDCG@10": round(test["NDCG@10"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=Path, default=next((p for p in ML100K if p.exists()), None))
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--synthetic-events", type=int, default=1_000_000)
    parser.add_argument("--synthetic-items", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--max-epoch-seconds",
        type=float,
        default=None,
        help="cut CPU epochs on the synthetic log short after this many seconds",
    )
    parser.add_argument("--full", action="store_true", help="also train ML-100k to early stopping")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    data = {}
    if args.ratings is not None and args.ratings.exists():
        seqs = build_sequences(load_events(args.ratings).events)
        data["ml-100k"] = (seqs, leave_one_out(seqs))
    if args.synthetic_events:
        t = time.perf_counter()
        n_users = max(1, args.synthetic_events // 50)
        log = generate(n_users=n_users, n_items=args.synthetic_items, n_categories=16, mean_events=50, seed=0)
        seqs = build_sequences(log.events)
        data["synthetic"] = (seqs, leave_one_out(seqs))
        print(
            f"synthetic log: {seqs.n_events:,} events, {len(seqs.items) - 1:,} items, {seqs.n_users:,} users "
            f"({time.perf_counter() - t:.0f} s to generate)",
            flush=True,
        )

    rows = []
    for name, (seqs, split) in data.items():
        for device in args.devices.split(","):
            cut = args.max_epoch_seconds if (name == "synthetic" and device == "cpu") else None
            row = {
                "data": name,
                "device": device,
                "events": seqs.n_events,
                "items": len(seqs.items) - 1,
                **time_epochs(seqs, split, device, args.epochs if cut is None else 1, cut),
            }
            if args.full and name == "ml-100k":
                row.update(full_run(seqs, split, device))
            if device.startswith("cuda"):
                row["gpu"] = torch.cuda.get_device_name()
            print(json.dumps(row), flush=True)
            rows.append(row)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
