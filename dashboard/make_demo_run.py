"""Train the dashboard's pre-trained demo model on the e-commerce demo log and save it as a run folder.

    .venv/bin/python -m dashboard.make_demo_run [--out data/demo_run] [--no-ablations] [--threads N]

`ltsi.pipeline.fit_run` with the Train page's default settings (history length and epochs planned
from the log by `ltsi.plan.plan_training`) but no time budget (training runs until early stopping):
LTSI, its ablations and the baselines, tested on each user's held-out last event. CPU training is
reproducible for a seed, so the folder can be rebuilt exactly with the same thread count. The
ablations' scores and summaries are kept, not their weights (the folder stays about 2.5 MB).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ltsi.errors import LTSIError
from ltsi.events import load_events
from ltsi.pipeline import fit_run
from ltsi.plan import plan_training
from ltsi.runs import save_run
from ltsi.sequences import build_sequences
from ltsi.splits import leave_one_out

DATA = Path(__file__).resolve().parents[1] / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default=str(DATA / "ecommerce" / "events.csv"))
    parser.add_argument("--items", default=str(DATA / "ecommerce" / "items.csv"))
    parser.add_argument("--out", default=str(DATA / "demo_run"))
    parser.add_argument("--no-ablations", action="store_true", help="LTSI and the baselines only (faster)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1 is reproducible and fast enough)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="upper bound (early stopping); default: planned from the log, as on the Train page",
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    log = load_events(args.events, items=args.items)
    seqs = build_sequences(log.events)
    split = leave_one_out(seqs)
    plan = plan_training(
        seqs,
        split,
        args.device,
        None,
        model={},
        train={"threads": args.threads, "seed": 0, **({"epochs": args.epochs} if args.epochs else {})},
    )
    print(f"LTSI on {seqs.n_users:,} users, {len(seqs.items) - 1:,} items, {seqs.n_events:,} events", flush=True)
    print("\n".join(f"  {reason}" for reason in plan.reasons), flush=True)

    def progress(p) -> None:
        if p.metrics is not None:
            print(f"  {p.elapsed_s:6.0f} s  {p.message}", flush=True)

    run = fit_run(
        seqs,
        split,
        plan,
        items=log.items,
        ablations=not args.no_ablations,
        callback=progress,
        on_stage=lambda _, words: print(words, flush=True),
    )
    print(f"  {run.info['training']['stopped']}", flush=True)
    table = run.table()
    if table is not None:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    folder = save_run(run, args.out, ablation_weights=False, overwrite=True)
    size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
    print(f"saved {folder} ({size:.1f} MB) in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except LTSIError as error:
        sys.exit(f"error: {error}")
