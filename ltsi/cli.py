"""Command line: `python -m ltsi COMMAND ...` (the same pipeline as the dashboard, no browser).

Every command runs its work through `run_or_exit`, so a user never sees a traceback: an
LTSIError becomes its own one-line message, anything else a generic one-line message, and the
exit code is 2. To add a command, write a function below with `@app.command()` and call the
library through `run_or_exit(...)`; print with `typer.echo` (library code never prints).
"""

from __future__ import annotations

import json
from typing import Any, Callable, NoReturn, Optional, TypeVar

import typer

from ltsi.errors import LTSIError

T = TypeVar("T")
EXIT_USER_ERROR = 2

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never show a traceback, even a pretty one
    help="LTSI: long- and short-term interest models of behavior logs, with explanations.",
)


@app.callback()
def _main() -> None:
    """LTSI: long- and short-term interest models of behavior logs, with explanations."""
    # A callback keeps `validate` a named sub-command even while it is the only command.


def fail(message: str) -> NoReturn:
    """Print one line 'error: ...' to stderr and exit with code 2."""
    typer.echo("error: " + " ".join(str(message).split()), err=True)
    raise typer.Exit(EXIT_USER_ERROR)


def run_or_exit(action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `action(*args, **kwargs)`; turn any failure into one line on stderr and exit 2."""
    try:
        return action(*args, **kwargs)
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except LTSIError as exc:
        fail(str(exc))
    except MemoryError:
        fail("Ran out of memory. Use a smaller file or a sample of it.")
    except Exception as exc:  # noqa: BLE001 - the whole point: no traceback for users
        detail = " ".join(str(exc).split())[:200]
        fail(
            f"Unexpected problem ({type(exc).__name__}{': ' + detail if detail else ''}). "
            "Check the input; if it looks right, please report this with the file."
        )


def _mapping_from_options(**columns: Optional[str]) -> dict[str, Optional[str]]:
    """Only the options the user gave; an empty string means 'do not use such a column'."""
    return {role: (col or None) for role, col in columns.items() if col is not None}


@app.command()
def validate(
    path: str = typer.Argument(..., help="Event log: CSV, TSV, Parquet, JSON lines, .dat; "
                                         "optionally gzip/zip."),
    items: Optional[str] = typer.Option(None, "--items", help="Item table (item_id, title, "
                                                              "category/genres)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    user_col: Optional[str] = typer.Option(None, "--user-col", help="Column with the user id."),
    item_col: Optional[str] = typer.Option(None, "--item-col", help="Column with the item id."),
    time_col: Optional[str] = typer.Option(None, "--time-col", help="Column with the time."),
    event_col: Optional[str] = typer.Option(None, "--event-col",
                                            help="Column with the event type ('' for none)."),
    value_col: Optional[str] = typer.Option(None, "--value-col",
                                            help="Column with a rating/price ('' for none)."),
    dayfirst: Optional[bool] = typer.Option(None, "--dayfirst/--monthfirst",
                                            help="Read dates like 02/01/2026 day-first "
                                                 "(default: decided from the data, and reported)."),
    min_events: int = typer.Option(1, "--min-events", help="Drop users with fewer events."),
    max_rows: int = typer.Option(50_000_000, "--max-rows", help="Refuse larger files."),
) -> None:
    """Read an event log, map its columns and report what is usable (exit 2 if nothing is)."""
    from ltsi.events import load_events, load_items

    mapping = _mapping_from_options(user=user_col, item=item_col, timestamp=time_col,
                                    event=event_col, value=value_col)
    if not mapping and run_or_exit(_is_item_file, path):
        # An item table (e.g. movies.csv) is a valid upload too: report it as one.
        _print_items(path, run_or_exit(load_items, path), as_json)
        return
    log = run_or_exit(load_events, path, mapping=mapping or None, items=items,
                      min_events=min_events, dayfirst=dayfirst, max_rows=max_rows)
    if as_json:
        typer.echo(json.dumps(log.report.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(log.report.to_text())


def _is_item_file(path: str) -> bool:
    from ltsi.events import looks_like_item_table, read_table

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


def _print_items(path: str, table: Any, as_json: bool) -> None:
    counts = table["category"].value_counts()
    summary = {
        "kind": "item table", "source": path, "n_items": int(len(table)),
        "columns": list(table.columns), "n_categories": int(len(counts)),
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
    out: str = typer.Option(..., "--out", help="A .csv file for the events (items and causes are written "
                                               "beside it), or a folder for events.csv, items.csv, causes.csv."),
    items: int = typer.Option(2000, "--items", help="Number of items."),
    categories: int = typer.Option(12, "--categories", help="Number of item categories."),
    mean_events: int = typer.Option(50, "--mean-events", help="Average events per user."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same log."),
) -> None:
    """Write a synthetic e-commerce log with planted long- and short-term interest."""
    from ltsi.synth import generate, write_log

    log = run_or_exit(generate, n_users=users, n_items=items, n_categories=categories,
                      mean_events=mean_events, seed=seed)
    paths = run_or_exit(write_log, log, out)
    typer.echo(f"Wrote {len(log.events):,} events of {users:,} users on {items:,} items: "
               + ", ".join(str(p) for p in paths))


def main() -> None:
    app()
