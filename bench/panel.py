"""LTSI with the library defaults and the baselines on a panel of logs of different shapes.

    python bench/panel.py                                       # every log: LTSI + baselines, one table
    python bench/panel.py --baselines-only                      # shapes and baselines only (fast)
    python bench/panel.py --logs synth-tiny,ml-100k --epochs 1  # a smoke run on two small logs
    python bench/panel.py --budget 600 --device cuda --json panel.json --markdown

The panel is for choosing and checking training defaults on more than one shape of log, not a
benchmark to tune to. Logs: ML-100k (data/), every log in ../shared/data/ beside the repository
(--shared DIR; skipped with a note when missing) and logs of the library's generator
(ltsi.synth.generate, as `python -m ltsi synth` writes them) in five regimes, written once to
bench/out/panel/ and read back through ltsi.events.load_events like any user's file.

Protocol as bench/accuracy.py: leave-one-out, full ranking, history items ranked like any other.
LTSI is configured by ltsi.plan.plan_training, the library's own defaults for the log (its reasons
are printed per log); only --epochs and --seed change them, --budget is its time budget. The best
baseline is the one with the best *validation* NDCG@10; "wins" compares test NDCG@10 with it.
--baselines-only evaluates the baselines with the default ModelConfig.max_len.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

import ltsi.plan as plan_module
from ltsi.baselines import fit_baselines
from ltsi.devices import pick_device
from ltsi.evaluate import evaluate
from ltsi.events import load_events
from ltsi.model import ModelConfig
from ltsi.pipeline import fit_run
from ltsi.plan import Plan, plan_training
from ltsi.sequences import build_sequences
from ltsi.splits import leave_one_out
from ltsi.synth import generate, write_log

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench/out/panel"
DATA_SEED = 1
EVENT_FILES = ("events.csv", "checkins.csv", "ratings.csv", "interactions.csv")  # a shared log's file, first found
# name -> generate() arguments (seed DATA_SEED), one per regime
SYNTHETIC = {
    "synth-sparse": {"n_users": 7000, "n_items": 500_000, "n_categories": 16, "mean_events": 12},  # ~57k items seen
    "synth-short": {"n_users": 15_000, "n_items": 3000, "mean_events": 6, "min_events": 2},  # ~5 events per user
    "synth-long": {"n_users": 100, "n_items": 2000, "mean_events": 900, "min_events": 500},  # 500+ events per user
    "synth-events": {"n_users": 1000, "n_items": 2000, "mean_events": 50},  # the default view/cart/purchase shop
    "synth-tiny": {"n_users": 55, "n_items": 300, "n_categories": 6, "mean_events": 30},
}


def synthetic_file(name: str) -> tuple[Path, str]:
    """The cached events file of a synthetic regime, (re)generated when missing or made with other arguments."""
    params = {**SYNTHETIC[name], "seed": DATA_SEED}
    folder = CACHE / name
    stamp = folder / "params.json"
    if stamp.exists() and (folder / "events.csv").exists() and json.loads(stamp.read_text()) == params:
        return folder / "events.csv", "cached"
    t = time.perf_counter()
    log = generate(**params)
    seconds = time.perf_counter() - t
    write_log(log, folder)
    stamp.write_text(json.dumps(params))
    return folder / "events.csv", f"generated in {seconds:.1f} s"


def panel_logs(shared: Path) -> dict[str, Path | None]:
    """name -> events file (None for a synthetic log, made on first use), in panel order."""
    logs: dict[str, Path | None] = {"ml-100k": ROOT / "data/ml-100k/ratings.csv"}
    if not shared.is_dir():
        print(f"note: no shared data at {shared}: its logs are skipped (--shared DIR)")
    else:
        for folder in sorted(p for p in shared.iterdir() if p.is_dir()):
            found = next((folder / f for f in EVENT_FILES if (folder / f).exists()), None)
            if folder.name in logs:
                print(f"note: {folder} is skipped: {folder.name} is already in the panel")
            elif found is None:
                print(f"note: {folder} is skipped: none of {', '.join(EVENT_FILES)} in it")
            else:
                logs[folder.name] = found
    return {**logs, **dict.fromkeys(SYNTHETIC)}


def plan_for(seqs, split, args) -> Plan:
    """LTSI's configuration for one log: the library's plan, with only --epochs and --seed chosen here."""
    chosen = {"seed": args.seed, **({"epochs": args.epochs} if args.epochs else {}), **settings(args.train)}
    return plan_training(
        seqs, split, device=args.device, max_seconds=args.budget, train=chosen, model=settings(args.model)
    )


def settings(pairs: list[str]) -> dict:
    """["lr=0.001", "transitions=false"] -> {"lr": 0.001, "transitions": False}: a candidate setting to compare."""
    out = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        out[key] = {"true": True, "false": False}.get(text.lower(), None)
        if out[key] is None:
            out[key] = float(text) if any(c in text for c in ".e") else int(text)
    return out


def shape(seqs) -> dict:
    return {
        "users": seqs.n_users,
        "items": len(seqs.items) - 1,
        "events": seqs.n_events,
        "median/user": float(np.median(seqs.lengths)),
        "event types": len(seqs.event_types) - 1,
    }


def baselines(seqs, split, max_len: int) -> dict[str, dict]:
    out = {}
    for label, baseline in fit_baselines(seqs, split).items():
        test = evaluate(baseline, seqs, split.test, max_len)
        out[label] = {
            "valid NDCG@10": evaluate(baseline, seqs, split.valid, max_len)["NDCG@10"],
            "test NDCG@10": test["NDCG@10"],
            "test HR@10": test["HR@10"],
        }
    return out


def run_log(name: str, path: Path, args) -> list[dict]:
    t = time.perf_counter()
    seqs = build_sequences(load_events(path).events)
    split = leave_one_out(seqs)
    info = {"log": name, **shape(seqs)}
    print(
        f"\n{name} ({path}): {info['users']:,} users, {info['items']:,} items, {info['events']:,} events, "
        f"median {info['median/user']:g} per user, {len(split.test):,} test users "
        f"(loaded in {time.perf_counter() - t:.1f} s)",
        flush=True,
    )
    if args.baselines_only:
        base = baselines(seqs, split, ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types)).max_len)
        return [{**info, "baseline": label, **m} for label, m in base.items()]
    plan = plan_for(seqs, split, args)
    for reason in plan.reasons:
        print(f"  plan: {reason}")
    run = fit_run(seqs, split, plan)
    training, test = run.info["training"], run.table().set_index("model").loc["LTSI"].astype(float).to_dict()
    base = baselines(seqs, split, plan.model_config.max_len)
    best = max(base, key=lambda label: base[label]["valid NDCG@10"])
    row = {
        **info,
        "LTSI valid NDCG@10": training["valid_metrics"].get("NDCG@10", float("nan")),
        "LTSI test NDCG@10": test["NDCG@10"],
        "LTSI test HR@10": test["HR@10"],
        "best baseline": best,
        "base test NDCG@10": base[best]["test NDCG@10"],
        "base test HR@10": base[best]["test HR@10"],
        "LTSI wins": bool(test["NDCG@10"] > base[best]["test NDCG@10"]),
        "train s": round(training["seconds"], 1),
        "best epoch": training["best_epoch"],
        "epochs": len(run.history),
        "stopped": training["stopped"],
        "device": training["device"],
        "baselines": base,
        "plan": plan.reasons,
    }
    print("  " + json.dumps({k: v for k, v in row.items() if k not in ("plan", "baselines")}), flush=True)
    return [row]


def machine(device: str) -> str:
    dev = pick_device(device)
    gpu = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), load average {load}, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, device {dev}{gpu}"
    )


def table_text(rows: list[dict], markdown: bool) -> str:
    columns = [c for c in rows[0] if c not in ("plan", "baselines", "stopped", "device", "event types")]

    def cell(v, column: str) -> str:
        if isinstance(v, float):
            return f"{v:.1f}" if column.endswith(" s") or column.startswith("median") else f"{v:.4f}"
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)

    cells = [[cell(r[c], c) for c in columns] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in [columns, *cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", default=None, help="comma-separated log names (default: every log)")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="the shared logs")
    parser.add_argument("--budget", type=float, default=None, help="seconds per LTSI training (default: none)")
    parser.add_argument("--epochs", type=int, default=None, help="override the planned epochs")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument(
        "--train",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a TrainConfig setting to compare with the plan's (repeatable)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a ModelConfig setting to compare with the plan's (repeatable)",
    )
    parser.add_argument(
        "--target-steps",
        type=int,
        default=None,
        help="compare another ltsi.plan.TARGET_STEPS (the schedule length the plan aims at)",
    )
    parser.add_argument("--baselines-only", action="store_true", help="shapes and baselines only, no LTSI")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    if args.target_steps:
        plan_module.TARGET_STEPS = args.target_steps

    logs = panel_logs(args.shared)
    if args.logs:
        wanted = [n.strip() for n in args.logs.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in logs]
        if unknown:
            parser.error(f"unknown log(s) {', '.join(unknown)}; the panel has {', '.join(logs)}")
        logs = {n: logs[n] for n in wanted}
    print(machine(args.device), flush=True)
    rows = []
    for name, path in logs.items():
        if path is None:
            path, how = synthetic_file(name)
            print(f"{name}: {SYNTHETIC[name]}, seed {DATA_SEED}: {how}")
        rows.extend(run_log(name, path, args))
    what = "baselines" if args.baselines_only else "LTSI (library defaults) vs the best baseline by validation NDCG@10"
    print(f"\n{what}; leave-one-out, full ranking\n{machine(args.device)}\n{table_text(rows, args.markdown)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine(args.device), "rows": rows}, indent=2, default=str))


if __name__ == "__main__":
    main()
