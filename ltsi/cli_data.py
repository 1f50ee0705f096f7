"""Commands that read or make event logs: `validate` (what of a log is usable) and `synth` (a synthetic log).

Plain functions: ltsi/cli.py registers them on the Typer app. Library imports stay inside the functions, so
that the command line starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ltsi.cli_shared import EVENT_TYPES, MIN_RATING, SAMPLE_USERS, SINCE, SQL, UNTIL, check_input_file
from ltsi.errors import LTSIError

if TYPE_CHECKING:
    import pandas as pd

CATEGORY_COL = typer.Option(
    None, "--category-col", help="Column of the log with the item's category (builds the item table when none)."
)


def _mapping_from_options(**columns: Optional[str]) -> dict[str, Optional[str]]:
    """Only the options the user gave; an empty string means 'do not use such a column'."""
    return {role: (col or None) for role, col in columns.items() if col is not None}


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
    check_input_file(path)
    check_input_file(items, "The item table")
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
