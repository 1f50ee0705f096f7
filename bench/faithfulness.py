"""Are the explanations faithful? Deletion curves, planted-cause precision@3 and explanation speed.

    python bench/faithfulness.py                 # synthetic log + ML-100k, 200 test users each
    python bench/faithfulness.py --users 100 --skip-timing
    python bench/faithfulness.py --retrain       # ignore the cached models in bench/out/models/

For each sampled test user (history = all events but the last; target = see below) every method
ranks the events the model reads: attention (gate-weighted mix of the final step's short- and
long-term weights; attn-short and attn-long: each alone, ties among zero weights by recency), LIG
(Layer Integrated Gradients, total per event), occlusion (score drop when the event alone is
removed), recency (most recent first) and random (5 seeded permutations). The
top-k events (k = 1..5) are deleted together and the target's score and rank recomputed: a
faithful ranking drops the score more than random deletion. "AUC" is the mean drop over k = 1..5
(the area under the deletion curve divided by 5, in score units; for rank, in rank places).

Targets: on the synthetic log the held-out final event, which is always a planted one, so the
planted cause events give ground truth for precision@3; on ML-100k the top-1 recommendation after
the history (what the dashboard explains by default) and, as a second row, the held-out item.

Models are trained once with `ltsi.train.train` (default sizes and settings, seed 0, early stopping;
on the GPU when there is one) and cached under bench/out/models/; the explanations themselves always
run on CPU. Precision@3 needs a model that has learned the planted causes: the report warns when a
model stopped on the --train-seconds budget instead. Results go to bench/out/faithfulness.{json,txt}.
With cached models the bench takes one to four minutes on a 2-core CPU (idle to busy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ltsi import explain as ex
from ltsi.attribution import integrated_gradients
from ltsi.errors import LTSIError
from ltsi.events import load_events
from ltsi.histories import edit_history, pad_histories
from ltsi.model import LTSI
from ltsi.pipeline import fit_run
from ltsi.plan import plan_training
from ltsi.recommend import last_outputs, score_histories
from ltsi.runs import fingerprint, load_run, save_run
from ltsi.sequences import Sequences, build_sequences
from ltsi.splits import leave_one_out
from ltsi.synth import generate
from ltsi.train import StopReason

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
KS = (1, 2, 3, 4, 5)
METHODS = ("attention", "attn-short", "attn-long", "lig", "occlusion", "recency", "random")
N_RANDOM = 5
ML100K = ROOT / "data" / "ml-100k" / "ratings.csv"
SYNTHETIC = dict(n_users=1000, n_items=1000, n_categories=12, mean_events=40, seed=0)


# ---------------------------------------------------------------------------------------------
# Data and models


def load_synthetic():
    log = generate(**SYNTHETIC)
    return log.events, log.items, log.causes


def load_ml100k(path: Path = ML100K) -> pd.DataFrame:
    return load_events(path).events


def trained_model(
    name: str, seqs: Sequences, retrain: bool, train_seconds: float, log, device: str = "cpu"
) -> tuple[LTSI, dict]:
    """Train with the library's plan for the log (seed 0) once, as a run folder; reuse it afterwards."""
    folder = OUT / "models" / name
    if (folder / "config.json").exists() and not retrain:
        try:
            run = load_run(folder)
            if fingerprint(run.seqs) == fingerprint(seqs):
                return run.model, run.info["training"]
            log(f"[{name}] the cached model was trained on other data; training again")
        except LTSIError as error:
            log(f"[{name}] the cached model does not load ({error}); training again")
    split = leave_one_out(seqs)
    plan = plan_training(seqs, split, device, train_seconds, train={"seed": 0})
    log(f"[{name}] training LTSI ({seqs.n_events:,} events, budget {train_seconds:g} s) ...")
    run = fit_run(seqs, split, plan)
    save_run(run, folder, overwrite=True)
    info = run.info["training"]
    log(
        f"[{name}] trained in {info['seconds']:.0f} s, best epoch {info['best_epoch']}, "
        f"valid NDCG@10 {info['valid_metrics'].get('NDCG@10', float('nan')):.4f}"
    )
    return run.model.eval(), info


# ---------------------------------------------------------------------------------------------
# Per-user rankings of events


def method_scores(
    model: LTSI,
    seqs: Sequences,
    users: np.ndarray,
    ends: np.ndarray,
    targets: np.ndarray,
    n_steps: int,
    chunk: int = 16,
) -> list[dict]:
    """For every case: window positions and one importance score per event for each method."""
    L = model.config.max_len
    rows = []
    for start in range(0, len(users), chunk):
        us, es, ts = users[start : start + chunk], ends[start : start + chunk], targets[start : start + chunk]
        histories = [edit_history(seqs, int(u), int(e)) for u, e in zip(us, es)]
        batch = pad_histories(histories, L)
        out, _ = last_outputs(model, batch)
        lig = integrated_gradients(model, batch, ts, n_steps=n_steps)
        width = batch.items.shape[1]
        for i, h in enumerate(histories):
            n = min(len(h), L)
            g = float(out.gate[i, -1])
            short = out.short_attention[i, -1, -n:].float().cpu().numpy().astype(np.float64)
            long = out.long_attention[i, -1, -n:].float().cpu().numpy().astype(np.float64)
            rows.append(
                {
                    "user": int(us[i]),
                    "end": int(es[i]),
                    "target": int(ts[i]),
                    "positions": h.positions[-n:],
                    "attention": g * long + (1 - g) * short,
                    "attn-short": short,
                    "attn-long": long,
                    "lig": lig.total[i, width - n :].numpy().astype(np.float64),
                    "delta": float(lig.delta[i]),
                    "span": float(lig.score[i] - lig.baseline_score[i]),
                    "score": float(lig.score[i]),
                }
            )
    # occlusion: remove each event alone, all cases in one batched pass
    histories, owner = [], []
    for r, row in enumerate(rows):
        for p in row["positions"]:
            histories.append(edit_history(seqs, row["user"], row["end"], remove=[int(p)], allow_empty=True))
            owner.append(r)
    targets_flat = np.array([rows[r]["target"] for r in owner])
    scores, _ = score_histories(model, histories, targets_flat)
    owner = np.array(owner)
    for r, row in enumerate(rows):
        row["occlusion"] = row["score"] - scores[owner == r].astype(np.float64)
    return rows


def orderings(row: dict, rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Event positions, most important first, per method (random: N_RANDOM permutations)."""
    positions = row["positions"]
    newest_first = positions[::-1]

    def by(values: np.ndarray) -> list[np.ndarray]:  # ties (zero short-term weights) go to the most recent
        return [newest_first[np.argsort(-values[::-1], kind="stable")]]

    return {
        "attention": by(row["attention"]),
        "attn-short": by(row["attn-short"]),
        "attn-long": by(row["attn-long"]),
        "lig": by(row["lig"]),
        "occlusion": by(row["occlusion"]),
        "recency": [positions[::-1]],
        "random": [rng.permutation(positions) for _ in range(N_RANDOM)],
    }


def deletion_curves(model: LTSI, seqs: Sequences, rows: list[dict], seed: int = 0):
    """Mean drop of the target's score and rank after deleting the top-k events, per method and k."""
    rng = np.random.default_rng(seed)
    histories, meta = [], []  # meta: (case, method, k)
    orders = []
    for c, row in enumerate(rows):
        order = orderings(row, rng)
        orders.append(order)
        histories.append(edit_history(seqs, row["user"], row["end"]))
        meta.append((c, "original", 0))
        for method, perms in order.items():
            for perm in perms:
                for k in KS:
                    histories.append(edit_history(seqs, row["user"], row["end"], remove=perm[:k], allow_empty=True))
                    meta.append((c, method, k))
    targets = np.array([rows[c]["target"] for c, _, _ in meta])
    scores, ranks = score_histories(model, histories, targets)
    frame = pd.DataFrame(meta, columns=["case", "method", "k"])
    frame["score"], frame["rank"] = scores.astype(np.float64), ranks.astype(np.float64)
    original = frame[frame["method"] == "original"].set_index("case")
    frame = frame[frame["method"] != "original"].copy()
    frame["score_drop"] = original.loc[frame["case"], "score"].to_numpy() - frame["score"]
    frame["rank_drop"] = frame["rank"] - original.loc[frame["case"], "rank"].to_numpy()  # places lost
    per_case = frame.groupby(["method", "k", "case"], as_index=False)[["score_drop", "rank_drop"]].mean()
    curves = per_case.groupby(["method", "k"])[["score_drop", "rank_drop"]].mean().reset_index()
    for c, rank in original["rank"].items():
        rows[c]["rank"] = float(rank)  # the target's rank before any deletion
    return curves, per_case, orders


def precision_at_3(rows: list[dict], orders: list[dict], causes: pd.DataFrame, seqs: Sequences) -> pd.DataFrame:
    """How often the planted cause is among each method's top-3 events (synthetic log only)."""
    by_user = causes.set_index("user_id")
    records = []
    for row, order in zip(rows, orders):
        cause = by_user.loc[seqs.users[row["user"]]]
        planted = set(int(p) for p in cause["cause_positions"])
        in_window = bool(planted & set(row["positions"].tolist()))
        for method, perms in order.items():
            hit = np.mean([bool(planted & set(perm[:3].tolist())) for perm in perms])
            precision = np.mean([len(planted & set(perm[:3].tolist())) / 3 for perm in perms])
            records.append(
                {
                    "method": method,
                    "kind": cause["kind"],
                    "in_window": in_window,
                    "top20": row["rank"] <= 20,
                    "hit@3": hit,
                    "precision@3": precision,
                }
            )
    return pd.DataFrame(records)


# ---------------------------------------------------------------------------------------------
# Timing


def timing(model: LTSI, seqs: Sequences, repeats: int = 5) -> dict:
    """Seconds to explain one user with >= 50 events (50 IG steps), one target and ten targets."""
    u = int(np.flatnonzero(seqs.lengths >= model.config.max_len + 1)[0])
    user = seqs.users[u]
    history = edit_history(seqs, u)
    scores = last_outputs(model, pad_histories([history], model.config.max_len))[1][0]
    top10 = seqs.items.decode(torch.topk(scores.cpu(), 10).indices.tolist())

    def best(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    batch1 = pad_histories([history], model.config.max_len)
    batch10 = pad_histories([history] * 10, model.config.max_len)
    ids10 = seqs.items.encode(top10, "item")
    gpu = {}
    if torch.cuda.is_available():
        on_gpu = LTSI(model.config).cuda().eval()
        on_gpu.load_state_dict(model.state_dict())

        def synced(fn):
            return lambda: (fn(), torch.cuda.synchronize())

        gpu = {
            "cuda_lig_1_target_s": best(synced(lambda: integrated_gradients(on_gpu, batch1, ids10[:1], n_steps=50))),
            "cuda_lig_10_targets_s": best(synced(lambda: integrated_gradients(on_gpu, batch10, ids10, n_steps=50))),
            "cuda_explain_10_targets_s": best(synced(lambda: ex.explain(on_gpu, seqs, user, targets=top10))),
        }
    return {
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "lig_1_target_s": best(lambda: integrated_gradients(model, batch1, ids10[:1], n_steps=50)),
        "lig_10_targets_s": best(lambda: integrated_gradients(model, batch10, ids10, n_steps=50)),
        "explain_1_target_s": best(lambda: ex.explain(model, seqs, user, targets=top10[:1], n_steps=50)),
        "explain_10_targets_s": best(lambda: ex.explain(model, seqs, user, targets=top10, n_steps=50)),
        "explain_1_target_no_occlusion_s": best(
            lambda: ex.explain(model, seqs, user, targets=top10[:1], n_steps=50, with_occlusion=False)
        ),
        **gpu,
    }


def timings(model: LTSI, seqs: Sequences) -> dict:
    """Timing with torch's default thread count and with one thread.

    On a busy 2-core machine two intra-op threads can make these small operations several times
    slower (the threads wait for each other); one thread is steadier. Both are reported.
    """
    out = {"timing": timing(model, seqs)}
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
        try:
            out["timing_1_thread"] = timing(model, seqs)
        finally:
            torch.set_num_threads(threads)
    return out


# ---------------------------------------------------------------------------------------------
# Report


def summarise(name: str, target: str, curves: pd.DataFrame, rows: list[dict]) -> dict:
    table = curves.pivot(index="method", columns="k", values="score_drop").reindex(list(METHODS))
    ranks = curves.pivot(index="method", columns="k", values="rank_drop").reindex(list(METHODS))
    random = table.loc["random"]
    deltas = np.array([abs(r["delta"]) for r in rows])
    spans = np.array([abs(r["span"]) for r in rows])
    return {
        "log": name,
        "target": target,
        "cases": len(rows),
        "score_drop": {m: [round(float(v), 4) for v in table.loc[m]] for m in METHODS},
        "rank_drop": {m: [round(float(v), 1) for v in ranks.loc[m]] for m in METHODS},
        "auc_score_drop": {m: round(float(table.loc[m].mean()), 4) for m in METHODS},
        "auc_rank_drop": {m: round(float(ranks.loc[m].mean()), 1) for m in METHODS},
        "beats_random_every_k": {m: bool((table.loc[m] > random).all()) for m in METHODS if m != "random"},
        "lig_delta": {
            "median_abs": float(np.median(deltas)),
            "max_abs": float(deltas.max()),
            "median_relative": float(np.median(deltas / np.maximum(spans, 1e-12))),
        },
    }


def format_report(results: dict) -> str:
    lines = []
    for block in results["curves"]:
        lines.append(f"\n== {block['log']}: target = {block['target']}, {block['cases']} test users ==")
        lines.append("mean score drop after deleting the top-k events (higher = more faithful)")
        lines.append(
            f"{'method':<10}" + "".join(f"{'k=' + str(k):>9}" for k in KS) + f"{'AUC':>9}   "
            f"{'rank AUC':>9}  beats random at every k"
        )
        for m in METHODS:
            beats = block["beats_random_every_k"].get(m, "")
            lines.append(
                f"{m:<10}"
                + "".join(f"{v:>9.4f}" for v in block["score_drop"][m])
                + f"{block['auc_score_drop'][m]:>9.4f}   {block['auc_rank_drop'][m]:>9.1f}  {beats}"
            )
        d = block["lig_delta"]
        lines.append(
            f"LIG convergence delta: median |delta| {d['median_abs']:.2e}, max {d['max_abs']:.2e}, "
            f"median relative to |score - baseline| {d['median_relative']:.2e}"
        )
    if "precision" in results:
        p = results["precision"]
        lines.append(
            f"\n== synthetic: planted cause among the top-3 events ({p['cases']} users; cause inside the "
            f"model's window for {p['in_window']:.0%}) =="
        )
        lines.append(
            "hit@3: the planted cause is among the method's top-3 events; prec@3 = |top-3 and causes| / 3 "
            "(at most 1/3: one cause per user)"
        )
        lines.append(f"{'method':<10}{'hit@3':>8}{'prec@3':>8}{'short-term':>12}{'long-term':>11}{'target top-20':>15}")
        for m in METHODS:
            r = p["methods"][m]
            lines.append(
                f"{m:<10}{r['hit@3']:>8.3f}{r['precision@3']:>8.3f}{r['hit@3 short-term']:>12.3f}"
                f"{r['hit@3 long-term']:>11.3f}{r['hit@3 target in top 20']:>15.3f}"
            )
        lines.append(
            f"(target top-20: hit@3 on the {p['target_in_top20']} users whose held-out item the model ranks "
            "in its top 20, i.e. where it has learned the planted pattern)"
        )
        n = p["cases"]
        se = {m: (p["methods"][m]["hit@3"] * (1 - p["methods"][m]["hit@3"]) / max(n, 1)) ** 0.5 for m in METHODS}
        paired = results.get("precision_paired", {})
        lines.append(
            f"standard error of hit@3 ~ {se['lig']:.3f}; paired, LIG finds the cause and recency does not "
            f"for {paired.get('lig_only')} users, the reverse for {paired.get('recency_only')}"
        )
    for name in ("timing", "timing_1_thread"):
        if name not in results:
            continue
        t = results[name]
        lines.append(
            f"\n== timing (one user, 50 events, 50 IG steps, dim 64; {t['threads']} torch threads, "
            f"{t['cpu_count']} CPUs, load average {t['load_average']}) =="
        )
        for key in (
            "lig_1_target_s",
            "lig_10_targets_s",
            "explain_1_target_no_occlusion_s",
            "explain_1_target_s",
            "explain_10_targets_s",
            "cuda_lig_1_target_s",
            "cuda_lig_10_targets_s",
            "cuda_explain_10_targets_s",
        ):
            if key in t:
                lines.append(f"{key:<34}{t[key]:>8.3f} s")
    return "\n".join(lines)


def run_log(
    name: str, seqs: Sequences, model: LTSI, n_users: int, n_steps: int, target: str, log, seed: int = 0
) -> tuple[dict, list[dict], list[dict]]:
    split = leave_one_out(seqs)
    cases = split.test
    eligible = np.flatnonzero(cases.ends >= 6)  # k = 5 deletions still leave an event
    pick = np.sort(np.random.default_rng(seed).choice(eligible, min(n_users, len(eligible)), replace=False))
    users, ends = cases.users[pick], cases.ends[pick]
    if target == "held-out item":
        targets = cases.targets[pick]
    else:  # top-1 recommendation after the history
        histories = [edit_history(seqs, int(u), int(e)) for u, e in zip(users, ends)]
        targets = np.concatenate(
            [
                last_outputs(model, pad_histories(histories[i : i + 256], model.config.max_len))[1]
                .argmax(1)
                .cpu()
                .numpy()
                for i in range(0, len(histories), 256)
            ]
        )
    t0 = time.perf_counter()
    rows = method_scores(model, seqs, users, ends, targets, n_steps)
    curves, _, orders = deletion_curves(model, seqs, rows, seed)
    log(f"[{name}, {target}] {len(rows)} users explained and deletion curves done in {time.perf_counter() - t0:.0f} s")
    return summarise(name, target, curves, rows), rows, orders


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200, help="test users sampled per log")
    parser.add_argument("--n-steps", type=int, default=50, help="Integrated Gradients steps")
    parser.add_argument("--train-seconds", type=float, default=900.0, help="training budget per model")
    parser.add_argument("--retrain", action="store_true", help="ignore cached models")
    parser.add_argument("--skip-ml100k", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--timing-only", action="store_true", help="only the speed figures (cached synthetic model)")
    parser.add_argument("--device", default="auto", help="device for training the models (explanations run on CPU)")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    results: dict = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "users": args.users,
        "n_steps": args.n_steps,
        "synthetic": SYNTHETIC,
        "curves": [],
        "models": {},
    }

    events, items, causes = load_synthetic()
    seqs = build_sequences(events)
    model, info = trained_model("synthetic", seqs, args.retrain, args.train_seconds, log, args.device)
    results["models"]["synthetic"] = info
    if args.timing_only:
        results.update(timings(model, seqs))
        print(format_report({"curves": [], **results}))
        (OUT / "timing.json").write_text(json.dumps({k: results[k] for k in ("timing", "timing_1_thread")}, indent=2))
        return results
    summary, rows, orders = run_log("synthetic", seqs, model, args.users, args.n_steps, "held-out item", log)
    results["curves"].append(summary)
    precision = precision_at_3(rows, orders, causes, seqs)
    methods = {}
    for m in METHODS:
        sub = precision[precision["method"] == m]
        methods[m] = {
            "hit@3": float(sub["hit@3"].mean()),
            "precision@3": float(sub["precision@3"].mean()),
            "hit@3 short-term": float(sub.loc[sub["kind"] == "short-term", "hit@3"].mean()),
            "hit@3 long-term": float(sub.loc[sub["kind"] == "long-term", "hit@3"].mean()),
            "hit@3 target in top 20": float(sub.loc[sub["top20"], "hit@3"].mean()),
        }
    hits = precision.pivot_table(index=precision.groupby("method").cumcount(), columns="method", values="hit@3")
    results["precision_paired"] = {  # per user: LIG finds the cause and recency does not, and the reverse
        "lig_only": int(((hits["lig"] == 1) & (hits["recency"] == 0)).sum()),
        "recency_only": int(((hits["lig"] == 0) & (hits["recency"] == 1)).sum()),
    }
    results["precision"] = {
        "cases": int(precision["method"].eq("lig").sum()),
        "target_in_top20": int(precision.loc[precision["method"] == "lig", "top20"].sum()),
        "in_window": float(precision.loc[precision["method"] == "lig", "in_window"].mean()),
        "methods": methods,
    }
    if not args.skip_timing:
        results.update(timings(model, seqs))

    if not args.skip_ml100k:
        ml_seqs = build_sequences(load_ml100k())
        ml_model, info = trained_model("ml100k", ml_seqs, args.retrain, args.train_seconds, log, args.device)
        results["models"]["ml100k"] = info
        for target in ("top-1 recommendation", "held-out item"):
            summary, _, _ = run_log("ml-100k", ml_seqs, ml_model, args.users, args.n_steps, target, log)
            results["curves"].append(summary)

    results["seconds"] = round(time.perf_counter() - t_start, 1)
    checks = {
        f"{b['log']} ({b['target']}): {m} beats random at every k": b["beats_random_every_k"][m]
        for b in results["curves"]
        for m in ("lig", "occlusion")
    }
    checks["synthetic: LIG hit@3 above recency"] = (
        results["precision"]["methods"]["lig"]["hit@3"] > results["precision"]["methods"]["recency"]["hit@3"]
    )
    results["acceptance"] = checks
    report = format_report(results)
    report += "\n\n== acceptance ==\n" + "\n".join(f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in checks.items())
    report += f"\n\nmodels: {json.dumps(results['models'])}\nbench time: {results['seconds']} s"
    if any(info.get("stop_reason") == StopReason.BUDGET.value for info in results["models"].values()):
        report += (
            "\nWARNING: a model stopped on the training time budget, not on early stopping. An under-trained "
            "model has not learned the planted causes, so precision@3 then measures the model as much as the "
            "explanations; rerun with --retrain --train-seconds N (or on a GPU)."
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "faithfulness.json").write_text(json.dumps(results, indent=2))
    (OUT / "faithfulness.txt").write_text(report + "\n")
    print(report)
    return results


if __name__ == "__main__":
    main()
