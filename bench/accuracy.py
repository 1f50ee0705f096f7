"""Accuracy of LTSI, its ablations and the baselines on one log, with fixed seeds.

    python bench/accuracy.py data/ml-100k/ratings.csv            # a real log (any format ltsi reads)
    python bench/accuracy.py synthetic                           # the demo shop log (data/ecommerce), regenerated
    python bench/accuracy.py synthetic --users 4000 --items 1000 --json out.json

Protocol (as `ltsi.evaluate`): leave-one-out, full ranking over every item, history items ranked
like any other (unless --exclude-seen), HR/NDCG/MRR at 10 and 20 on the test users. Every model is
trained with the library's plan for the log (`ltsi.plan.plan_training`; only --epochs / --device /
--seed change it) and early-stopped on validation NDCG@10; the table shows validation NDCG@10, best
epoch and training time beside the test metrics. Test numbers are for reporting only: nothing here is tuned on them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ltsi.baselines import fit_baselines
from ltsi.evaluate import evaluate
from ltsi.pipeline import fit_run
from ltsi.plan import plan_training
from ltsi.sequences import build_sequences
from ltsi.splits import leave_one_out


def load(args) -> tuple[pd.DataFrame, str]:
    if args.data == "synthetic":
        from ltsi.synth import generate

        log = generate(
            n_users=args.users,
            n_items=args.items_n,
            n_categories=args.categories,
            mean_events=args.mean_events,
            seed=args.data_seed,
        )
        return log.events, (
            f"synthetic ({args.users} users, {args.items_n} items, {args.categories} categories, "
            f"{args.mean_events} events per user on average, seed {args.data_seed})"
        )
    from ltsi.events import load_events

    return load_events(args.data).events, args.data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="an event log file, or 'synthetic'")
    parser.add_argument("--users", type=int, default=1000, help="synthetic: users")
    parser.add_argument("--items", dest="items_n", type=int, default=2000, help="synthetic: items")
    parser.add_argument("--categories", type=int, default=12, help="synthetic: categories")
    parser.add_argument("--mean-events", type=int, default=50, help="synthetic: events per user")
    parser.add_argument("--data-seed", type=int, default=2026, help="synthetic: generator seed (2026 = data/ecommerce)")
    parser.add_argument("--epochs", type=int, default=None, help="override TrainConfig.epochs")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = library default)")
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--exclude-seen", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    events, name = load(args)
    seqs = build_sequences(events)
    split = leave_one_out(seqs)
    print(
        f"{name}: {seqs.n_events:,} events, {seqs.n_users:,} users, {len(seqs.items) - 1:,} items, "
        f"{len(split.test):,} test users",
        flush=True,
    )
    plan = plan_training(
        seqs,
        split,
        args.device,
        train={"seed": args.seed, "threads": args.threads, **({"epochs": args.epochs} if args.epochs else {})},
    )
    print("\n".join(f"  plan: {reason}" for reason in plan.reasons), flush=True)
    run = fit_run(
        seqs, split, plan, ablations=not args.no_ablations, on_stage=lambda _, words: print(words, flush=True)
    )
    max_len = plan.model_config.max_len
    models = {
        "LTSI": (run.model, run.info["training"]),
        **{f"LTSI ({k})": (m, run.info["ablations"][k]) for k, m in run.ablations.items()},
    }
    rows = []
    for label, (model, summary) in models.items():  # evaluated here: --exclude-seen is not the run's protocol
        test = evaluate(model, seqs, split.test, max_len, exclude_seen=args.exclude_seen)
        rows.append(
            {
                "model": label,
                **test,
                "valid NDCG@10": summary["valid_metrics"].get("NDCG@10"),
                "best epoch": summary["best_epoch"],
                "train s": summary["seconds"],
                "device": summary["device"],
            }
        )
    for label, baseline in fit_baselines(seqs, split).items():
        test = evaluate(baseline, seqs, split.test, max_len, exclude_seen=args.exclude_seen)
        valid = evaluate(baseline, seqs, split.valid, max_len, exclude_seen=args.exclude_seen)
        rows.append(
            {
                "model": label,
                **test,
                "valid NDCG@10": valid["NDCG@10"],
                "best epoch": None,
                "train s": 0.0,
                "device": "cpu",
            }
        )
    table = pd.DataFrame(rows)
    history = "history items excluded" if args.exclude_seen else "history items ranked like any other"
    print(f"\n{name}: test split, full ranking, {history}")
    with pd.option_context("display.width", 220, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.json:
        args.json.write_text(json.dumps({"data": name, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
