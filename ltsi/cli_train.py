"""The `train` command: fit LTSI (and, if asked, its ablations) on an event log and save the run folder.

A plain function: ltsi/cli.py registers it on the Typer app. Library imports stay inside the function, so
that the command line starts fast.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ltsi.cli_shared import (
    EVENT_TYPES,
    MIN_RATING,
    SAMPLE_USERS,
    SINCE,
    SQL,
    UNTIL,
    TrainingProgress,
    check_input_file,
    metrics_text,
)
from ltsi.errors import LTSIError


def train(
    path: str = typer.Argument(
        ..., help="Event log (CSV, TSV, Parquet, JSON lines, .dat), or a folder or pattern of Parquet/CSV files."
    ),
    out: str = typer.Option(..., "--out", help="Folder for the trained run."),
    items: Optional[str] = typer.Option(None, "--items", help="Item table (item_id, title, category)."),
    epochs: Optional[int] = typer.Option(
        None,
        "--epochs",
        min=1,
        help="Most epochs (default: planned from the log's size; early stopping may end sooner).",
    ),
    budget: Optional[float] = typer.Option(
        None,
        "--budget",
        min=1,
        help="Time budget in seconds, as in the dashboard's Train view: the learning rate anneals within it.",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same model on CPU."),
    until_converged: bool = typer.Option(
        False,
        "--until-converged",
        help="Without --budget: train until the validation score stops improving (a safety cap of "
        "500 epochs), as the dashboard's time budget 0, instead of the planned schedule of about 600 steps.",
    ),
    threads: int = typer.Option(
        0,
        "--threads",
        min=0,
        help="CPU threads for training (0 = one per available core, at most 8); on a busy machine fewer are often "
        "faster.",
    ),
    max_len: Optional[int] = typer.Option(
        None, "--max-len", min=1, help="Events of history the model reads (default: planned from the log)."
    ),
    dim: int = typer.Option(64, "--dim", min=1, help="Embedding size."),
    ablations: bool = typer.Option(
        False,
        "--ablations",
        help="Also train LTSI without attention, without the "
        "long-term branch, without the gate and without the counts part.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    min_events: int = typer.Option(1, "--min-events", help="Drop users with fewer events."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder at --out."),
    since: Optional[str] = SINCE,
    until: Optional[str] = UNTIL,
    event_types: Optional[str] = EVENT_TYPES,
    min_rating: Optional[float] = MIN_RATING,
    sql: Optional[str] = SQL,
    sample_users: Optional[int] = SAMPLE_USERS,
    gpus: int = typer.Option(
        1,
        "--gpus",
        min=1,
        help="Train on this many GPUs of this machine at once (starts torchrun itself); with --device cpu, in this "
        "many CPU processes. For several machines, start torchrun yourself (see ltsi/distributed.py).",
    ),
) -> None:
    """Train LTSI on an event log (leave-one-out split) and save the run folder.

    Under torchrun (several processes), every process trains its share; only the first reports and saves.
    """
    from ltsi import distributed
    from ltsi.events import load_events
    from ltsi.filters import apply_filters, filter_from_text
    from ltsi.items import load_items
    from ltsi.pipeline import fit_run
    from ltsi.plan import plan_training
    from ltsi.runs import check_save_target, save_run
    from ltsi.sequences import build_sequences
    from ltsi.splits import leave_one_out
    from ltsi.warehouse import needs_scan, scan

    large = sql is not None or sample_users is not None or needs_scan(path)  # read through DuckDB
    if distributed.from_env().active:
        if gpus > 1:
            raise LTSIError("--gpus starts torchrun itself; under torchrun, leave --gpus out.")
    elif gpus > 1:
        if not large:
            check_input_file(path)
        check_input_file(items, "The item table")
        check_save_target(out, overwrite)  # before starting the processes
        distributed.launch(gpus, sys.argv[1:], device)
        return
    with distributed.session(device) as ctx:  # several processes under torchrun: rank 0 reports and saves
        quiet = quiet or not ctx.is_main
        if not large:
            check_input_file(path)
        check_input_file(items, "The item table")
        check_save_target(out, overwrite)  # before the training, not after it
        filters = filter_from_text(since, until, event_types, min_rating)
        if large:  # the sample's seed stays 0: another --seed retrains on the same users
            scanned = scan(path, sql=sql, filters=filters, sample_users=sample_users, min_events=min_events)
            item_table = load_items(items) if items else scanned.items
            seqs, note = scanned.seqs, scanned.report.filter_note
        else:
            log = load_events(path, items=items, min_events=min_events)
            if filters.active:
                log = apply_filters(log, filters, min_events)
            seqs, item_table, note = build_sequences(log.events), log.items, log.report.filter_note
        if filters.active and note and not quiet:
            typer.echo(note, err=True)
        split = leave_one_out(seqs)
        model_settings = {"dim": dim, **({"max_len": max_len} if max_len else {})}
        plan = plan_training(
            seqs,
            split,
            device,
            budget,
            model=model_settings,
            train={"seed": seed, "threads": threads, **({"epochs": epochs} if epochs else {})},
            until_converged=until_converged,
        )
        if not quiet:
            typer.echo(
                f"{seqs.n_events:,} events, {seqs.n_users:,} users, {len(seqs.items) - 1:,} items; "
                f"{len(split.test):,} users held out for validation and test.",
                err=True,
            )
            typer.echo("settings:\n" + "\n".join(f"  {line}" for line in plan.reasons), err=True)
        with TrainingProgress(quiet) as progress:
            run = fit_run(
                seqs,
                split,
                plan,
                items=item_table,
                ablations=ablations,
                callback=progress,
                on_stage=None if quiet else lambda _, words: progress.console.print(words),
            )
        if not ctx.is_main:
            return
    save_run(run, out, overwrite=overwrite)
    training = run.info["training"]
    typer.echo(
        f"Trained in {training['seconds']:.1f} s on {training['device']} ({training['stopped']}); best epoch "
        f"{training['best_epoch']}. Saved to {out}"
    )
    if training["advice"]:
        typer.echo(training["advice"])
    table = run.table()
    if table is not None:
        typer.echo(metrics_text(table))
        verdict = _verdict(table)
        if verdict:
            typer.echo(verdict)


def _verdict(table) -> str:
    """One line when LTSI loses to a baseline on the test cases: honest numbers under the table."""
    from ltsi.baselines import BASELINES

    rows = table.set_index("model")["NDCG@10"]
    best = max(BASELINES, key=lambda name: rows[name])
    if rows["LTSI"] >= rows[best]:
        return ""
    return (
        f"Warning: LTSI is below the {best} baseline on test NDCG@10 ({rows['LTSI']:.4f} < {rows[best]:.4f}); "
        "its explanations describe a model that a simple rule beats."
    )
