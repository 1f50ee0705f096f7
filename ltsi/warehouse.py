"""Large event logs through DuckDB: folders and globs of Parquet/CSV files, remote files (s3://, https://,
hf://, ... on the command line), or a SQL query over them, straight to Sequences, without one in-memory
table of the whole log.

`scan` does what `load_events` + `apply_filters` + `build_sequences` do, with the same report: the
engine reads only the columns it needs, parses times, applies the filters and the user sample before
anything is materialised, counts each dropped row under its first reason (with up to 5 examples), and
sorts the kept rows by (user, time, file order). Python then receives plain integer arrays (dense ids
in the same numbering as `build_sequences`), and each user's and item's text id exactly once (the
vocabularies), so memory grows with the kept events, not with the text of the log.

Reasons a row is dropped, in the order they are checked: user missing, user not in the sample, item
missing, time missing / unreadable / out of range, the filters (before the first day, after the last
day, event type, rating), exact duplicates, users with fewer than `min_events` events. Unlike loading
then filtering in memory, the filters come before the duplicate and minimum-events checks, so the
minimum counts the events left by the filters (one check instead of two).

The steps, one module each: ltsi.warehouse_source (the connection, the files, the view of their rows),
ltsi.warehouse_sql (column roles, times and drop reasons in SQL), ltsi.warehouse_report (the tally of
dropped rows), ltsi.warehouse_rows (the kept rows as arrays, then Sequences); ltsi.remote_sources loads
the extensions and credentials for remote files.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ltsi.column_content import rating_scale
from ltsi.data_notes import rating_note
from ltsi.errors import one_line_error
from ltsi.event_log import ValidationReport, reason_low_rating
from ltsi.filters import EventFilter
from ltsi.remote_sources import is_remote, load_extensions, remote_urls_in, shown_url
from ltsi.sequences import Sequences
from ltsi.warehouse_report import engine_example, filter_note, reason_texts, tally_rows
from ltsi.warehouse_rows import drop_in_memory, fetch_rows, items_table, sequences_from_rows
from ltsi.warehouse_source import connect_engine, register_source
from ltsi.warehouse_sql import classify_rows, detect_columns, draw_user_sample, text_expr

__all__ = ["ScanResult", "scan", "needs_scan", "reason_not_sampled"]


def reason_not_sampled(n_users: int) -> str:
    return f"user is not among the {n_users:,} users sampled"


@dataclass
class ScanResult:
    """What `scan` returns: the sequences, the report, and an item table when the log names categories."""

    seqs: Sequences
    report: ValidationReport
    items: pd.DataFrame | None = None


def needs_scan(source: str) -> bool:
    """Whether a source is for `scan` rather than load_events: a folder, a pattern like data/*.parquet, or a
    remote URL (s3://, https://, ...)."""
    return is_remote(source) or Path(source).is_dir() or glob.has_magic(source)


def scan(
    source: str,
    *,
    sql: str | None = None,
    mapping: dict | None = None,
    filters: EventFilter | None = None,
    sample_users: int | None = None,
    min_events: int = 1,
    seed: int = 0,
    allowed_folders: Sequence[Path] | None = None,
) -> ScanResult:
    """Sequences and report of a large log: a file, folder or glob of Parquet/CSV files, or a remote URL
    (see the module docstring).

    `sql` is a SELECT whose rows are the events; it may read the source as the view `events` (or read
    files itself, remote ones included, with `source` empty). `sample_users` keeps that many users, chosen
    by a hash of their id and `seed` (the same users every time). `allowed_folders`: the engine may read
    nothing outside them, and no remote URL (the dashboard's server sources). Raises LTSIError for input a
    person can fix.
    """
    if not isinstance(min_events, (int, np.integer)) or min_events < 1:
        raise one_line_error(f"The minimum number of events per user must be 1 or more, not {min_events}.")
    if sample_users is not None and (not isinstance(sample_users, (int, np.integer)) or sample_users < 1):
        raise one_line_error(f"The number of users to sample must be 1 or more, not {sample_users}.")
    if not source and sql is None:
        raise one_line_error("Name the files to read (a file, a folder or a pattern like data/*.parquet) or a query.")
    remote = ([source] if is_remote(source) else []) + remote_urls_in(sql)
    if remote and allowed_folders is not None:
        raise one_line_error(
            f"Files on the web or in cloud storage, such as {shown_url(remote[0])}, can be read only with the "
            "command line (ltsi validate or ltsi train), not here; copy them into a folder the dashboard may read."
        )
    spill = Path(tempfile.mkdtemp(prefix="ltsi-duckdb-"))  # the engine's overflow folder, removed afterwards
    con = connect_engine(spill, allowed_folders)
    try:
        load_extensions(con, remote, os.environ)
        return _scan(con, source, sql, mapping, filters, sample_users, min_events, seed)
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        for url in remote:  # the engine quotes whole URLs; a presigned link's ?query holds its signature
            first_line = first_line.replace(url, shown_url(url))
        shown = shown_url(source) if source else "the query"
        raise one_line_error(f"Could not read {shown}: {first_line}") from None
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _scan(
    con: duckdb.DuckDBPyConnection,
    source: str,
    sql: str | None,
    mapping: dict | None,
    filters: EventFilter | None,
    sample_users: int | None,
    min_events: int,
    seed: int,
) -> ScanResult:
    src = register_source(con, source, sql)
    cmap, notes, sample = detect_columns(con, src.label, mapping)
    n_sampled = 0
    if sample_users is not None:
        total = draw_user_sample(con, text_expr(cmap.user, src.types[cmap.user]), sample_users, seed)
        n_sampled = min(total, sample_users)
        notes.append(
            f"A sample of {n_sampled:,} of the {total:,} users was read (chosen by their id with seed {seed}: "
            "the same users every time); the other users' events were left out."
        )
    active = filters if filters is not None and filters.active else None
    plan = classify_rows(con, src.types, cmap, notes, sample, active, sample_users is not None)
    tally = tally_rows(con)
    if active is not None and active.event_types is not None:
        unknown = [t for t in active.event_types if t not in tally.known_types]
        if unknown:
            raise one_line_error(
                f"The log has no event type {' or '.join(repr(t) for t in unknown)}; its event types are "
                f"{', '.join(repr(t) for t in tally.known_types)}."
            )
    texts = reason_texts(active, tally.known_types, reason_not_sampled(n_sampled))
    dropped = {texts[code]: tally.counts[code] for code in sorted(tally.counts)}
    examples = {
        texts[code]: [engine_example(ex, plan.example_columns, src.several_files) for ex in shown]
        for code, shown in sorted(tally.examples.items())
    }
    if tally.candidates == 0:
        _nothing_left(tally.rows_read, dropped)
    if tally.blank_events and cmap.event is not None:
        notes.append(f"{tally.blank_events:,} rows have no event type; they were given the type 'unknown'.")

    rows = fetch_rows(con, tally, with_values=cmap.value is not None)
    more_counts, more_examples = drop_in_memory(rows, min_events)
    dropped.update(more_counts)
    examples.update(more_examples)
    if len(rows.users) == 0:
        _nothing_left(tally.rows_read, dropped)
    time_min, time_max = (pd.Timestamp(int(t), tz="UTC") for t in (rows.ns.min(), rows.ns.max()))
    values = rows.values
    seqs = sequences_from_rows(rows)
    del rows  # the sequences hold what is needed; free the codes before the item table

    items = None
    if cmap.category is not None:
        items = items_table(con, seqs)
        named = int((items["category"] != "unknown").sum())
        notes.append(
            f"Item categories come from the column '{cmap.category}' (the one each item's events name most "
            f"often); {named:,} of the {len(items):,} items have one."
        )
    event_counts = np.bincount(seqs.event_ids, minlength=len(seqs.event_types))[1:]  # (T,)
    scale = rating_scale(values, cmap.value) if values is not None else None
    min_rating = active.min_rating if active is not None else None
    removed_low = dropped.get(reason_low_rating(min_rating), 0) if min_rating is not None else 0
    note = rating_note(values, cmap.value, scale, min_rating, removed_low) if values is not None else None
    report = ValidationReport(
        source=src.label,
        file_format=src.file_format,
        encoding="utf-8",
        delimiter=src.delimiter,
        has_header=src.has_header,
        rows_read=tally.rows_read,
        rows_kept=seqs.n_events,
        dropped=dropped,
        examples=examples,
        timestamp_unit=plan.time.unit if plan.time else "",
        time_min=time_min,
        time_max=time_max,
        n_users=seqs.n_users,
        n_items=len(seqs.items) - 1,
        event_counts={
            seqs.event_types.tokens[k + 1]: int(event_counts[k]) for k in np.argsort(-event_counts, kind="stable")
        },
        mapping=cmap,
        notes=notes,
        columns=src.columns,
        data_notes=[note] if note else [],
        rating_range=scale,
        min_rating=min_rating,
        filters=None if active is None else active.to_dict(),
        filter_note=None if active is None else filter_note(active, tally),
    )
    return ScanResult(seqs=seqs, report=report, items=items)


def _nothing_left(rows_read: int, dropped: dict[str, int]) -> None:
    main = max(dropped, key=dropped.get)
    raise one_line_error(
        f"No usable rows: all {rows_read:,} rows were dropped, mostly because '{main}' ({dropped[main]:,} rows)."
    )
