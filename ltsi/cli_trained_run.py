"""Commands that use a trained run folder: `explain`, `evaluate` and `recommend`.

Plain functions: ltsi/cli.py registers them on the Typer app. Library imports stay inside the functions, so
that the command line starts fast.
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from ltsi.cli_shared import counting_bar, metrics_text
from ltsi.errors import LTSIError

SEEN_CHOICES = ("auto", "hide", "show")
SEEN_HELP = (
    "Items the user already had: hide, show, or auto (hide them when users of this log rarely come back to an "
    "item, as for movie ratings; keep them when they often do, as for music or groceries)."
)


def _hide_seen(run, seen: str, exclude_seen: bool) -> tuple[bool, str]:
    """Whether to leave out items already in the user's history, and one line that says which and why.

    `seen`: auto (the log's rule, `ltsi.seen_items.seen_rule`), hide or show; `exclude_seen` is the older
    --exclude-seen flag, the same as --seen hide.
    """
    from ltsi.seen_items import seen_rule

    choice = seen.strip().lower()
    if choice not in SEEN_CHOICES:
        raise LTSIError(f"--seen must be auto, hide or show, not {seen!r}.")
    if exclude_seen and choice == "show":
        raise LTSIError("--exclude-seen and --seen show contradict each other; give one of them.")
    if exclude_seen or choice == "hide":
        hide, why = True, "Items already in the user's history are hidden (as asked)."
    elif choice == "show":
        hide, why = False, "Items already in the user's history can be recommended again (as asked)."
    else:
        rule = seen_rule(run.seqs)
        hide, why = rule.hide, rule.reason + " Use --seen hide or --seen show to choose."
    return hide, why


def explain_command(
    run_dir: str = typer.Argument(..., help="A trained run folder (from `python -m ltsi train ... --out`)."),
    user: str = typer.Option(..., "--user", help="The user to explain."),
    item: Optional[list[str]] = typer.Option(
        None, "--item", help="Item id to explain (repeat for several); default: the user's top recommendation."
    ),
    steps: int = typer.Option(
        50,
        "--steps",
        min=1,
        max=400,
        help="Integrated Gradients steps (doubled, up to 400, while the "
        "convergence delta is above 1% of score - baseline).",
    ),
    seen: str = typer.Option("auto", "--seen", help=SEEN_HELP),
    exclude_seen: bool = typer.Option(False, "--exclude-seen", help="The same as --seen hide."),
    rows: int = typer.Option(20, "--rows", min=1, help="Most recent events shown per item (text output)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full explanation as JSON."),
) -> None:
    """Why an item is recommended: attention, gate, attributions and occlusion for each past event."""
    from ltsi.explain import explain
    from ltsi.runs import load_run

    run = load_run(run_dir)
    hide, why = _hide_seen(run, seen, exclude_seen)
    result = explain(run.model, run.seqs, user, targets=item or None, items=run.items, n_steps=steps, exclude_seen=hide)
    if as_json:  # the JSON says it itself, so that stdout and stderr together are still one JSON document
        data = {**result.to_dict(), "seen_items": {"hidden": hide, "why": why}}
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        typer.echo(why, err=True)  # stderr: the explanation on stdout stays clean for a pipe
        typer.echo(result.to_text(max_events=rows))


def evaluate(
    run_dir: str = typer.Argument(..., help="A run folder written by `ltsi train`."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of {model, HR@10, ...}."),
    split: str = typer.Option("test", "--split", help="test or valid."),
    exclude_seen: bool = typer.Option(
        False, "--exclude-seen", help="Only the protocol that removes each user's history items from the ranking."
    ),
) -> None:
    """Full-ranking HR/NDCG/MRR@10,20 of the model, its stored ablations and the baselines.

    Both protocols by default, one row per model and protocol (column "history items"): the user's own
    earlier items ranked like any other, and removed from the ranking (as a recommender that hides them).
    """
    import pandas as pd

    from ltsi.runs import load_run
    from ltsi.scorers import evaluate_run

    run = load_run(run_dir)
    protocols = {"hidden": True} if exclude_seen else {"ranked": False, "hidden": True}
    parts = []
    for label, hidden in protocols.items():
        part = evaluate_run(run, split=split, exclude_seen=hidden)
        part.insert(1, "history items", label)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    if as_json:
        typer.echo(json.dumps(table.to_dict(orient="records"), indent=2))
        return
    history = (
        "history items removed from the ranking"
        if exclude_seen
        else "history items first ranked like any other, then removed from the ranking"
    )
    typer.echo(
        f"{split} split: {len(getattr(run.split, split)):,} users, full ranking over "
        f"{len(run.seqs.items) - 1:,} items, {history}."
    )
    typer.echo(metrics_text(table))


def recommend(
    run_dir: str = typer.Argument(..., help="A run folder written by `ltsi train`."),
    user: Optional[str] = typer.Option(None, "--user", help="The user id, as in the event log."),
    k: int = typer.Option(10, "--k", min=1, help="How many items."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
    seen: str = typer.Option("auto", "--seen", help=SEEN_HELP),
    exclude_seen: bool = typer.Option(False, "--exclude-seen", help="The same as --seen hide."),
    all_users: bool = typer.Option(
        False, "--all", help="Every user, streamed to --out as Parquet (user_id, rank, item_id, score)."
    ),
    out: Optional[str] = typer.Option(None, "--out", help="With --all: the .parquet file to write."),
    device: str = typer.Option("auto", "--device", help="With --all: auto (a GPU when there is one), cpu or cuda."),
    chunk_users: Optional[int] = typer.Option(
        None, "--chunk-users", min=1, help="With --all: users scored at once (default: sized to the catalogue)."
    ),
) -> None:
    """Top-K next items for a user (or, with --all, for every user), after their whole history."""
    from ltsi.recommend import recommend as top_k
    from ltsi.runs import load_run

    if all_users and (out is None or user is not None):
        raise LTSIError("--all writes every user's recommendations to --out FILE.parquet; give --out and no --user.")
    if not all_users and user is None:
        raise LTSIError("Give --user ID, or --all --out FILE.parquet for every user.")
    run = load_run(run_dir)
    hide, why = _hide_seen(run, seen, exclude_seen)
    if all_users:
        _recommend_everyone(run, out, k, hide, chunk_users, device)
        typer.echo(why, err=True)
        return
    table = top_k(run, user_id=user, k=k, exclude_seen=hide)
    typer.echo(why, err=True)  # after the work (an error stays one line); stderr keeps stdout clean for a pipe
    if as_json:
        typer.echo(table.to_json(orient="records", force_ascii=False, indent=2))
        return
    shown = [c for c in ("rank", "item_id", "title", "category", "score", "probability") if c in table]
    typer.echo(table[shown].to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _recommend_everyone(run, out: str, k: int, hide: bool, chunk_users: Optional[int], device: str) -> None:
    """`recommend --all`: stream every user's top-K to a Parquet file, with a progress bar on a terminal."""
    from ltsi.recommend import recommend_all_to_parquet

    with counting_bar("recommending", run.seqs.n_users) as progress:
        rows = recommend_all_to_parquet(
            run, out, k=k, exclude_seen=hide, chunk_users=chunk_users, device=device, progress=progress
        )
    typer.echo(f"Wrote {rows:,} recommendations for {run.seqs.n_users:,} users to {out}")
