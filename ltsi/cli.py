"""Command line: `python -m ltsi COMMAND ...` (the same pipeline as the dashboard, no browser).

Every command runs inside one error boundary (`_ErrorBoundary`), so a user never sees a traceback: an
LTSIError becomes its own one-line message, anything else a generic one-line message, and the
exit code is 2. To add a command, write a function below with `@app.command()` and call the
library directly; print with `typer.echo` (library code never prints).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Optional

import click
import typer
from typer.core import TyperGroup

from ltsi.errors import LTSIError

if TYPE_CHECKING:
    import pandas as pd

EXIT_USER_ERROR = 2

try:  # typer vendors its own copy of click (typer >= 0.20): its exceptions are not click's
    from typer._click import exceptions as _typer_click
except ImportError:  # pragma: no cover - an older typer uses click itself
    _typer_click = click.exceptions


class _NeverRaised(Exception):
    pass


_CLICK_MODULES = (click.exceptions, _typer_click)
_USAGE_ERRORS = tuple(m.UsageError for m in _CLICK_MODULES)
_CLICK_ERRORS = tuple(m.ClickException for m in _CLICK_MODULES)
_NO_ARGS = tuple(getattr(m, "NoArgsIsHelpError", _NeverRaised) for m in _CLICK_MODULES)  # help, not an error


def fail(message: str) -> NoReturn:
    """Print one line 'error: ...' to stderr and exit with code 2."""
    typer.echo("error: " + " ".join(str(message).split()), err=True)
    raise typer.Exit(EXIT_USER_ERROR)


def _usage_error(exc) -> NoReturn:
    """A bad option or a missing argument: one line naming it and where the options are listed."""
    hint = f" See '{exc.ctx.command_path} --help'." if exc.ctx is not None else ""
    fail(exc.format_message().rstrip(".") + "." + hint)


class _ErrorBoundary(TyperGroup):
    """The one place where a failure becomes one line on stderr and exit code 2, never a traceback.

    Usage errors (an unknown option, a missing argument, a bad value) are one line too, instead of
    click's boxed usage text; running with no arguments still shows the help.
    """

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _NO_ARGS:
            raise
        except _USAGE_ERRORS as exc:
            _usage_error(exc)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _NO_ARGS:
            raise
        except _USAGE_ERRORS as exc:
            _usage_error(exc)
        except (typer.Exit, typer.Abort, *_CLICK_ERRORS, KeyboardInterrupt):
            raise
        except LTSIError as exc:
            fail(str(exc))
        except MemoryError:
            fail(
                "Ran out of memory: the input or the settings ask for more than this machine has. Use a sample of "
                "the file or smaller settings."
            )
        except Exception as exc:  # noqa: BLE001 - the whole point: no traceback for users
            detail = " ".join(str(exc).split())[:200]
            fail(
                f"Unexpected problem ({type(exc).__name__}{': ' + detail if detail else ''}). "
                "Check the input; if it looks right, please report this with the file."
            )


app = typer.Typer(
    cls=_ErrorBoundary,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never show a traceback, even a pretty one
    help="LTSI: long- and short-term interest models of behavior logs, with explanations.",
)


@app.callback()
def _main() -> None:
    """LTSI: long- and short-term interest models of behavior logs, with explanations."""
    # A callback keeps `validate` a named sub-command even while it is the only command.


def _check_input_file(path: Optional[str], what: str = "The log") -> None:
    """Refuse a folder, named pipe, device or socket before anything opens it (a pipe would block)."""
    if path is None:
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return  # the reader explains a missing file
    except OSError as error:
        fail(f"{what} {path} cannot be read ({error.strerror or error}).")
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        kind = "a folder"
    elif stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "not a regular file"
    fail(f"{what} {path} is {kind}, not a file. Give the path of a file that holds the data.")


# Filters applied after loading, before anything else (ltsi.filters): the same options on validate and train
SINCE = typer.Option(None, "--since", help="Keep only events on or after this day (UTC), e.g. 2020-01-31.")
UNTIL = typer.Option(None, "--until", help="Keep only events on or before this day (UTC), e.g. 2020-12-31.")
EVENT_TYPES = typer.Option(
    None, "--event-types", help="Keep only these event types, separated by commas, e.g. purchase,cart."
)
MIN_RATING = typer.Option(None, "--min-rating", help="Keep only events rated at least this (the value column).")
SQL = typer.Option(
    None,
    "--sql",
    help="A query that picks the events: a SELECT over the files, read as the table 'events' "
    "(e.g. \"SELECT * FROM events WHERE country = 'DE'\"); read with DuckDB, out of memory.",
)
SAMPLE_USERS = typer.Option(
    None, "--sample-users", min=1, help="Read only this many users, chosen by a hash of their id (the same every time)."
)
CATEGORY_COL = typer.Option(
    None, "--category-col", help="Column of the log with the item's category (builds the item table when none)."
)


def _mapping_from_options(**columns: Optional[str]) -> dict[str, Optional[str]]:
    """Only the options the user gave; an empty string means 'do not use such a column'."""
    return {role: (col or None) for role, col in columns.items() if col is not None}


@app.command()
def validate(
    path: str = typer.Argument(..., help="Event log: CSV, TSV, Parquet, JSON lines, .dat; optionally gzip/zip."),
    items: Optional[str] = typer.Option(None, "--items", help="Item table (item_id, title, category/genres)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    user_col: Optional[str] = typer.Option(None, "--user-col", help="Column with the user id."),
    item_col: Optional[str] = typer.Option(None, "--item-col", help="Column with the item id."),
    time_col: Optional[str] = typer.Option(None, "--time-col", help="Column with the time."),
    event_col: Optional[str] = typer.Option(None, "--event-col", help="Column with the event type ('' for none)."),
    value_col: Optional[str] = typer.Option(None, "--value-col", help="Column with a rating/price ('' for none)."),
    dayfirst: Optional[bool] = typer.Option(
        None,
        "--dayfirst/--monthfirst",
        help="Read dates like 02/01/2026 day-first (default: decided from the data, and reported).",
    ),
    category_col: Optional[str] = CATEGORY_COL,
    min_events: int = typer.Option(1, "--min-events", help="Drop users with fewer events."),
    max_rows: int = typer.Option(50_000_000, "--max-rows", help="Refuse larger files."),
    since: Optional[str] = SINCE,
    until: Optional[str] = UNTIL,
    event_types: Optional[str] = EVENT_TYPES,
    min_rating: Optional[float] = MIN_RATING,
    sql: Optional[str] = SQL,
    sample_users: Optional[int] = SAMPLE_USERS,
) -> None:
    """Read an event log, map its columns and report what is usable (exit 2 if nothing is).

    A folder or a pattern of Parquet/CSV files, --sql or --sample-users reads through DuckDB (out of memory)."""
    from ltsi.events import load_events
    from ltsi.filters import apply_filters, filter_from_text
    from ltsi.items import load_items
    from ltsi.warehouse import needs_scan, scan

    mapping = _mapping_from_options(
        user=user_col, item=item_col, timestamp=time_col, event=event_col, value=value_col, category=category_col
    )
    filters = filter_from_text(since, until, event_types, min_rating)  # a bad date fails before any reading
    if sql is not None or sample_users is not None or needs_scan(path):
        report = scan(
            path, sql=sql, mapping=mapping or None, filters=filters, sample_users=sample_users, min_events=min_events
        ).report
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if as_json else report.to_text())
        return
    _check_input_file(path)
    _check_input_file(items, "The item table")
    if not mapping and _is_item_file(path):
        # An item table (e.g. movies.csv) is a valid upload too: report it as one.
        _print_items(path, load_items(path), as_json)
        return
    log = load_events(
        path, mapping=mapping or None, items=items, min_events=min_events, dayfirst=dayfirst, max_rows=max_rows
    )
    if filters.active:
        log = apply_filters(log, filters, min_events)
    if as_json:
        typer.echo(json.dumps(log.report.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(log.report.to_text())


def _is_item_file(path: str) -> bool:
    from ltsi.items import looks_like_item_table
    from ltsi.readers import read_table

    # The header and first lines decide it; never read a big event log twice for this.
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
        if len(head) == 1 << 20 and b"\n" in head:
            head = head[: head.rindex(b"\n") + 1]
        frame, _info = read_table(head, name=path)
    except (OSError, LTSIError):
        return False  # load_events will explain what is wrong with the file
    return looks_like_item_table(frame)


def _print_items(path: str, table: pd.DataFrame, as_json: bool) -> None:
    counts = table["main_category" if "main_category" in table else "category"].value_counts()
    summary = {
        "kind": "item table",
        "source": path,
        "n_items": int(len(table)),
        "columns": list(table.columns),
        "n_categories": int(len(counts)),
        "category_counts": {str(k): int(v) for k, v in counts.items()},
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    top = ", ".join(f"{k} {v:,}" for k, v in list(summary["category_counts"].items())[:8])
    typer.echo(
        f"Source:     {path} (item table, not an event log)\n"
        f"Items:      {summary['n_items']:,}\n"
        f"Columns:    {', '.join(summary['columns'])}\n"
        f"Categories: {summary['n_categories']:,} ({top}{', ...' if len(counts) > 8 else ''})"
    )


@app.command()
def synth(
    users: int = typer.Option(1000, "--users", help="Number of users."),
    out: str = typer.Option(
        ...,
        "--out",
        help="A .csv file for the events (items and causes are written "
        "beside it), or a folder for events.csv, items.csv, causes.csv.",
    ),
    items: int = typer.Option(2000, "--items", help="Number of items."),
    categories: int = typer.Option(12, "--categories", help="Number of item categories."),
    mean_events: int = typer.Option(50, "--mean-events", help="Average events per user."),
    min_events: int = typer.Option(
        8,
        "--min-events",
        help="Fewest events per user (2 or more): lower it for short sessions, raise it for long histories.",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same log."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files at --out."),
    events: Optional[int] = typer.Option(
        None, "--events", min=1, help="About how many events to write (users are added until the log has them)."
    ),
    fmt: str = typer.Option(
        "csv",
        "--format",
        help="csv (one file, made in memory) or parquet (a folder: events/part-*.parquet, items.parquet, "
        "causes.parquet; written in chunks, any size).",
    ),
    chunk_events: int = typer.Option(5_000_000, "--chunk-events", min=1, help="Events per Parquet part."),
) -> None:
    """Write a synthetic e-commerce log with planted long- and short-term interest."""
    from ltsi.synth import generate, write_log, write_parquet_log

    kind = fmt.strip().lower()
    if kind not in ("csv", "parquet"):
        raise LTSIError(f"--format must be csv or parquet, not {fmt!r}.")
    if kind == "parquet":
        folder = write_parquet_log(
            Path(out),
            events or users * mean_events,
            seed=seed,
            chunk_events=chunk_events,
            n_items=items,
            n_categories=categories,
            mean_events=mean_events,
            min_events=min_events,
            overwrite=overwrite,
            progress=lambda written, asked: typer.echo(f"{written:,} / {asked:,} events", err=True),
        )
        typer.echo(f"Wrote the events to {folder} (items.parquet and causes.parquet beside it)")
        return
    if events:
        users = max(1, events // mean_events)

    write_log(None, out, overwrite=overwrite)  # refuse existing files before generating
    log = generate(
        n_users=users, n_items=items, n_categories=categories, mean_events=mean_events, min_events=min_events, seed=seed
    )
    paths = write_log(log, out, overwrite=overwrite)
    typer.echo(
        f"Wrote {len(log.events):,} events of {users:,} users on {items:,} items: " + ", ".join(str(p) for p in paths)
    )


SEEN_CHOICES = ("auto", "hide", "show")
SEEN_HELP = (
    "Items the user already had: hide, show, or auto (hide them when users of this log rarely come back to an "
    "item, as for movie ratings; keep them when they often do, as for music or groceries)."
)


def _hide_seen(run, seen: str, exclude_seen: bool) -> tuple[bool, str]:
    """Whether to leave out items already in the user's history, and one line that says which and why.

    `seen`: auto (the log's rule, `ltsi.sequences.seen_rule`), hide or show; `exclude_seen` is the older
    --exclude-seen flag, the same as --seen hide.
    """
    from ltsi.sequences import seen_rule

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


@app.command("explain")
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


# ---------------------------------------------------------------------------------------------
# Model: train, evaluate, recommend


class _ProgressPrinter:
    """Training progress for the terminal: a rich progress bar on a TTY, one line per epoch otherwise.

    Use it as a context manager around the training: the bar is closed on the way out.
    """

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet, self.console, self.bar, self.task = quiet, Console(stderr=True), None, None

    def __enter__(self) -> _ProgressPrinter:
        if not self.quiet and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[message]}"),
                console=self.console,
            )
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, p) -> None:
        if self.quiet:
            return
        if self.bar is None:
            if p.metrics is not None or p.epoch == 0:
                typer.echo(p.message, err=True)
            return
        if p.epoch == 0 or self.task is None:  # a new training (LTSI, then each ablation)
            self.task = self.bar.add_task("", total=max(p.steps, 1), message="")
        self.bar.update(
            self.task,
            description=f"epoch {max(p.epoch, 1)}" + ("" if p.until_converged else f"/{p.epochs}"),
            completed=p.step,
            total=max(p.steps, 1),
            message=p.message[:60],
        )
        if p.metrics is not None:
            self.bar.console.print(p.message)


@app.command()
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
    from ltsi.sequences import build_sequences, leave_one_out
    from ltsi.warehouse import needs_scan, scan

    large = sql is not None or sample_users is not None or needs_scan(path)  # read through DuckDB
    if distributed.from_env().active:
        if gpus > 1:
            raise LTSIError("--gpus starts torchrun itself; under torchrun, leave --gpus out.")
    elif gpus > 1:
        if not large:
            _check_input_file(path)
        _check_input_file(items, "The item table")
        check_save_target(out, overwrite)  # before starting the processes
        distributed.launch(gpus, sys.argv[1:], device)
        return
    with distributed.session(device) as ctx:  # several processes under torchrun: rank 0 reports and saves
        quiet = quiet or not ctx.is_main
        if not large:
            _check_input_file(path)
        _check_input_file(items, "The item table")
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
        with _ProgressPrinter(quiet) as progress:
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
        typer.echo(_metrics_text(table))
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


def _metrics_text(table) -> str:
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}")


@app.command()
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

    from ltsi.runs import evaluate_run, load_run

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
    typer.echo(_metrics_text(table))


@app.command()
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
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ltsi.recommend import recommend_all_to_parquet

    console = Console(stderr=True)
    columns = (
        TextColumn("recommending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("", total=run.seqs.n_users)
        rows = recommend_all_to_parquet(
            run,
            out,
            k=k,
            exclude_seen=hide,
            chunk_users=chunk_users,
            device=device,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    typer.echo(f"Wrote {rows:,} recommendations for {run.seqs.n_users:,} users to {out}")


def main() -> None:
    app()
