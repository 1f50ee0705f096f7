"""Validation NDCG@10 of LTSI against wall-clock time, and when it first passes each baseline.

    python bench/time_to_quality.py                          # the demo log and ML-100k, default budget, CPU
    python bench/time_to_quality.py data/ml-100k/ratings.csv --budget 0 --device cuda
    python bench/time_to_quality.py --threads 2 --json bench/out/ttq.json

Each log is trained as the dashboard's Train view trains it: `ltsi.plan.plan_training` with the
view's default time budget (`ltsi.plan.DEFAULT_BUDGET_S`; --budget 0 = no budget, until early
stopping) and the view's CPU threads (all cores but one). Every epoch ends with a validation pass;
the curve is (seconds since the start, validation NDCG@10) per epoch, evaluation time included, so
the times are what an analyst waits. For each baseline the table gives the first time LTSI's
validation NDCG@10 is above the baseline's, and at the end the test NDCG@10 of the kept weights
beside the baselines'. The curves go to bench/out/time_to_quality.html (Plotly) and the numbers to
--json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import plotly.graph_objects as go

from ltsi.baselines import fit_baselines
from ltsi.devices import default_threads, pick_device
from ltsi.evaluate import evaluate
from ltsi.events import load_events
from ltsi.pipeline import fit_run
from ltsi.plan import DEFAULT_BUDGET_S, plan_training
from ltsi.sequences import build_sequences
from ltsi.splits import leave_one_out

ROOT = Path(__file__).resolve().parents[1]
LOGS = [ROOT / "data" / "ecommerce" / "events.csv", ROOT / "data" / "ml-100k" / "ratings.csv"]


def run(path: Path, args) -> dict:
    seqs = build_sequences(load_events(path).events)
    split = leave_one_out(seqs)
    plan = plan_training(
        seqs,
        split,
        device=args.device,
        max_seconds=args.budget or None,
        train={"threads": args.threads, "seed": args.seed, "patience": 10_000 if args.budget else 10},
    )
    curve, epochs = [], set()

    def on_progress(p) -> None:
        if p.metrics is not None and p.epoch not in epochs:  # the closing report repeats the best epoch's metrics
            epochs.add(p.epoch)
            curve.append((round(p.elapsed_s, 2), p.metrics["NDCG@10"]))

    run = fit_run(seqs, split, plan, callback=on_progress)
    training = run.info["training"]
    max_len = plan.model_config.max_len
    baselines = {}
    for name, baseline in fit_baselines(seqs, split).items():
        valid = evaluate(baseline, seqs, split.valid, max_len)["NDCG@10"]
        first = next((t for t, v in curve if v > valid), None)
        baselines[name] = {
            "valid": valid,
            "test": evaluate(baseline, seqs, split.test, max_len)["NDCG@10"],
            "first_passed_s": first,
        }
    return {
        "log": path.name if path.parent.name in ("", ".") else f"{path.parent.name}/{path.name}",
        "shape": f"{seqs.n_users:,} users, {len(seqs.items) - 1:,} items, {seqs.n_events:,} events",
        "device": training["device"],
        "threads": args.threads,
        "budget_s": args.budget or None,
        "stopped": training["stopped"],
        "seconds": round(training["seconds"], 1),
        "curve": curve,
        "test": float(run.table().set_index("model").loc["LTSI", "NDCG@10"]),
        "baselines": baselines,
    }


def figure(rows: list[dict]) -> go.Figure:
    fig = go.Figure()
    for row in rows:
        times, values = zip(*row["curve"]) if row["curve"] else ((), ())
        fig.add_scatter(x=times, y=values, mode="lines+markers", name=f"LTSI · {row['log']} ({row['device']})")
        for name, b in row["baselines"].items():
            fig.add_hline(
                y=b["valid"], line_dash="dot", annotation_text=f"{name} · {row['log']}", annotation_position="top left"
            )
    fig.update_layout(
        xaxis_title="seconds since Train",
        yaxis_title="validation NDCG@10",
        title="Time to quality (validation NDCG@10, evaluation time included)",
    )
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="*", type=Path, default=LOGS)
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds; 0 = none")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=default_threads(reserve=1),
        help="CPU threads (default: as the Train view, all cores but one)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--html", type=Path, default=ROOT / "bench" / "out" / "time_to_quality.html")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(
        f"device {device}, {args.threads} CPU threads, budget {args.budget or 'none'} s, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    rows = []
    for path in args.logs:
        row = run(path, args)
        rows.append(row)
        print(f"\n{row['log']} ({row['shape']}): {row['stopped']} in {row['seconds']} s on {row['device']}")
        print("  curve (s, valid NDCG@10): " + ", ".join(f"({t:g}, {v:.4f})" for t, v in row["curve"]))
        for name, b in row["baselines"].items():
            when = f"{b['first_passed_s']:g} s" if b["first_passed_s"] is not None else "never in this run"
            print(f"  passes {name} (valid {b['valid']:.4f}) at: {when}")
        tests = ", ".join(f"{name} {b['test']:.4f}" for name, b in row["baselines"].items())
        print(f"  test NDCG@10: LTSI {row['test']:.4f}; {tests}")
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    args.html.parent.mkdir(parents=True, exist_ok=True)
    figure(rows).write_html(args.html, include_plotlyjs=True)
    print(f"curves: {args.html}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
