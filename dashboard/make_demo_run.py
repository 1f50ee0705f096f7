"""Train the dashboard's pre-trained demo model on the e-commerce demo log and save it as a run folder.

    .venv/bin/python -m dashboard.make_demo_run [--out data/demo_run] [--no-ablations] [--threads N]

Same steps as the Train page with its default settings (history length and epochs planned from the
log by `ltsi.plan.plan_training`), but without a time budget (training runs until early stopping):
LTSI, its ablations (`ltsi.model.ABLATIONS`, reported as "LTSI (no attention)" ...) and the two
baselines, tested on each user's held-out last event. CPU training is reproducible for a seed, so the folder can be rebuilt exactly
with the same thread count. The folder holds safetensors + JSON + CSV only (about 2.5 MB: the ablations' scores are kept, not their weights).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ltsi.errors import LTSIError  # noqa: E402
from ltsi.evaluate import compare  # noqa: E402
from ltsi.events import load_events  # noqa: E402
from ltsi.model import ABLATIONS, ModelConfig  # noqa: E402
from ltsi.runs import model_scorers, save_run  # noqa: E402
from ltsi.sequences import build_sequences, leave_one_out  # noqa: E402
from ltsi.plan import plan_training  # noqa: E402
from ltsi.train import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default=str(ROOT / "data" / "ecommerce" / "events.csv"))
    parser.add_argument("--items", default=str(ROOT / "data" / "ecommerce" / "items.csv"))
    parser.add_argument("--out", default=str(ROOT / "data" / "demo_run"))
    parser.add_argument("--no-ablations", action="store_true", help="LTSI and the baselines only (faster)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1 is reproducible and fast enough)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=None,
                        help="upper bound (early stopping); default: planned from the log, as on the Train page")
    args = parser.parse_args()

    log = load_events(args.events, items=args.items)
    seqs = build_sequences(log.events)
    split = leave_one_out(seqs)
    plan = plan_training(seqs, split, args.device, None, model={},
                         train={"threads": args.threads, "seed": 0, **({"epochs": args.epochs} if args.epochs else {})})
    model_config, train_config = plan.model_config, plan.train_config

    def progress(p) -> None:
        if p.metrics is not None:
            print(f"  {p.elapsed_s:6.0f} s  {p.message}", flush=True)

    t0 = time.perf_counter()
    print(f"LTSI on {seqs.n_users:,} users, {len(seqs.items) - 1:,} items, {seqs.n_events:,} events", flush=True)
    print("\n".join(f"  {reason}" for reason in plan.reasons), flush=True)
    result = train(seqs, split, model_config, train_config, callback=progress)
    print(f"  {result.stopped}", flush=True)
    ablations = {}
    if not args.no_ablations:
        for name, switches in ABLATIONS.items():
            print(f"LTSI ({name})", flush=True)
            config = ModelConfig(**{**model_config.to_dict(), **switches})
            ablations[name] = train(seqs, split, config, train_config, callback=progress)
    scorers = model_scorers(result.model, {name: r.model for name, r in ablations.items()}, seqs, split)
    table = compare(scorers, seqs, split.test, model_config.max_len)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    # The ablations' scores go into metrics.json; their weights stay out (the dashboard does not use them,
    # and the folder stays small).
    folder = save_run(args.out, result, seqs, split, items_table=log.items,
                      metrics=table.assign(split="test"))
    size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
    print(f"saved {folder} ({size:.1f} MB) in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except LTSIError as error:
        sys.exit(f"error: {error}")
