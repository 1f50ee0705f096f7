"""Where a large-log scan reads from: the DuckDB connection, the files of a path or URL, and the view
`source_rows` over them (the source's own columns plus a sort key for file order and the file line).

A local source is a file, a folder (every Parquet file under it, or every CSV file when it has none) or
a glob. A remote source (s3://, https://, hf://, ... see ltsi.remote_sources) goes straight to DuckDB:
its format comes from its name, and a pattern is listed by the engine.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ltsi.errors import one_line_error
from ltsi.remote_sources import is_remote, shown_url
from ltsi.warehouse_sql import sql_text

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".csv.zst")
# The engine's memory: a quarter of the machine, at most 4 GB; it spills to disk beyond that, so the
# Python arrays (about 25 bytes per kept event) and the engine fit together in well under 8 GB.
MEMORY_SHARE = 0.25
MEMORY_CAP_BYTES = 4 * 2**30


@dataclass
class SourceView:
    """The source as a view named `source_rows` (its own columns plus `__order`, `__row` and `__file`)."""

    label: str
    file_format: str
    delimiter: str | None
    has_header: bool
    columns: list[str]
    types: dict[str, str]
    several_files: bool


def engine_settings() -> dict[str, Any]:
    """DuckDB settings for a big scan: bounded memory, spill folder, all cores, no insertion order."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = min(MEMORY_CAP_BYTES, int(total * MEMORY_SHARE))
    return {"memory_limit": f"{limit // 2**20}MB", "threads": os.cpu_count() or 1}


def connect_engine(spill: Path, allowed_folders: Sequence[Path] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for one scan, spilling to `spill`; with `allowed_folders`, fenced to them."""
    settings = engine_settings()
    con = duckdb.connect(config={"threads": settings["threads"]})
    con.execute(f"SET memory_limit = '{settings['memory_limit']}'")
    # Its allocator gives freed memory back from a background thread; without it the peak of a 100M-event scan
    # varied from 6.7 to 9.8 GB between identical runs (freed pages kept), with it 7.0 GB every time.
    con.execute("SET allocator_background_threads = true")
    con.execute(f"SET temp_directory = {sql_text(str(spill))}")
    con.execute("SET TimeZone = 'UTC'")  # times without a zone are UTC, as in load_events
    con.execute("SET enable_progress_bar = false")
    con.execute("SET python_enable_replacements = false")  # a query cannot read the caller's variables by name
    if allowed_folders is not None:  # a second fence behind ltsi.server_sources' checks: the engine itself refuses
        folders = ", ".join(sql_text(str(folder)) for folder in [*allowed_folders, spill])
        con.execute(f"SET allowed_directories = [{folders}]")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET enable_external_access = false")
    return con


def file_format(name: str) -> str | None:
    """'parquet' or 'csv' from a file name's ending; None for another ending."""
    lowered = name.lower()
    if lowered.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return "csv" if lowered.endswith(CSV_SUFFIXES) else None


def resolve_files(source: str) -> tuple[list[str], str]:
    """The files of a file, folder or glob, sorted, and their format ('parquet' or 'csv').

    A folder means every Parquet file under it (hive partitions included), or every CSV file when
    it has no Parquet file. Mixed formats in one glob are refused.
    """
    path = Path(source)
    if path.is_file():
        files = [str(path)]
    elif path.is_dir():
        every = sorted(str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
        parquet = [f for f in every if f.lower().endswith(PARQUET_SUFFIXES)]
        files = parquet or [f for f in every if f.lower().endswith(CSV_SUFFIXES)]
        if not files:
            raise one_line_error(f"The folder {source} has no Parquet or CSV files; choose the folder with the events.")
    else:
        files = sorted(f for f in glob.glob(source, recursive=True) if Path(f).is_file())
        if not files:
            raise one_line_error(
                f"No file matches {source}; check the path (a file, a folder or a pattern like *.csv)."
            )
    kinds = {"parquet" if f.lower().endswith(PARQUET_SUFFIXES) else "csv" for f in files}
    if len(kinds) > 1:
        raise one_line_error(f"{source} mixes Parquet and CSV files; choose files of one format.")
    return files, kinds.pop()


def resolve_remote_files(con: duckdb.DuckDBPyConnection, url: str) -> tuple[list[str], str]:
    """The files of a remote URL or pattern (listed by the engine, whose extension is loaded), and their format.

    The format comes from the name's ending (before any ?query); a pattern is listed by the engine, which
    S3, Google Cloud Storage, Hugging Face and Azure allow (plain http(s) addresses have no listing)."""
    shown = shown_url(url)
    fmt = file_format(shown)
    if fmt is None:
        raise one_line_error(
            f"{shown} does not end in .parquet or .csv, so its format is unknown; read it with a query instead, "
            f"e.g. --sql \"SELECT * FROM read_parquet('{shown}')\" (or read_csv)."
        )
    if not glob.has_magic(shown):
        return [url], fmt
    files = [str(row[0]) for row in con.execute("SELECT file FROM glob(?) ORDER BY file", [url]).fetchall()]
    if not files:
        raise one_line_error(f"No file matches {shown}; check the address and the pattern.")
    return files, fmt


def register_source(con: duckdb.DuckDBPyConnection, source: str | None, sql: str | None) -> SourceView:
    """Creates the view `source_rows`: the rows to read, with a sort key for file order.

    The files of `source` are also the view `events`, which `sql` (a SELECT) may read."""
    label, fmt, delimiter, header, several = str(source or "query"), "", None, True, False
    if source:
        remote = is_remote(source)
        files, fmt = resolve_remote_files(con, source) if remote else resolve_files(source)
        label = shown_url(source) if remote else label
        several = len(files) > 1
        listing = "[" + ", ".join(sql_text(f) for f in files) + "]"
        if fmt == "parquet":
            con.execute(
                "CREATE TEMP TABLE __files AS SELECT * FROM (VALUES "
                + ", ".join(f"({sql_text(f)}, {i})" for i, f in enumerate(files))
                + ") t(__file, __fi)"
            )
            reader = (
                f"read_parquet({listing}, union_by_name = true, hive_partitioning = true, "
                "filename = '__file', file_row_number = true)"
            )
            # file index in the high bits, row in file below: the order of the files, then of their rows
            body = (
                f"SELECT s.* EXCLUDE (__file, file_row_number), (f.__fi::BIGINT << 40) + s.file_row_number AS __order, "
                f"s.file_row_number + 1 AS __row, s.__file AS __file FROM {reader} s JOIN __files f USING (__file)"
            )
        else:
            reader = f"read_csv({listing}, union_by_name = true, header = true, filename = '__file')"
            body = (
                f"SELECT * EXCLUDE (__file, ordinality), ordinality AS __order, ordinality AS __row, "
                f"__file FROM (SELECT * FROM {reader} WITH ORDINALITY)"
            )
            sniff = con.execute(f"SELECT Delimiter, HasHeader FROM sniff_csv({sql_text(files[0])})").fetchone()
            delimiter, header = (sniff[0], bool(sniff[1])) if sniff else (",", True)
        con.execute(f"CREATE TEMP VIEW events AS SELECT * EXCLUDE (__order, __row, __file) FROM ({body})")
        if sql is None:
            con.execute(f"CREATE TEMP VIEW source_rows AS {body}")
    if sql is not None:
        fmt = f"query over {fmt} files" if source else "query"
        # A query has no file order: ties in time are broken by item and event type instead.
        con.execute(
            f"CREATE TEMP VIEW source_rows AS SELECT *, 0::BIGINT AS __order, NULL::BIGINT AS __row, "
            f"NULL::VARCHAR AS __file FROM ({sql})"
        )
    described = con.execute("DESCRIBE SELECT * EXCLUDE (__order, __row, __file) FROM source_rows").fetchall()
    types = {str(row[0]): str(row[1]) for row in described}
    return SourceView(label, fmt, delimiter, header, list(types), types, several)
