"""Large event logs through DuckDB: folders and globs of Parquet/CSV files (or a SQL query over them)
straight to Sequences, without one in-memory table of the whole log.

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
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ltsi.columns import ColumnMapping, detect_columns_with_notes, rating_scale
from ltsi.errors import one_line_error
from ltsi.events import (
    DEFAULT_EVENT,
    MAX_EXAMPLES,
    REASON_BAD_TIME,
    REASON_DUPLICATE,
    REASON_NO_ITEM,
    REASON_NO_TIME,
    REASON_NO_USER,
    REASON_TIME_RANGE,
    ValidationReport,
    plain_cell,
    rating_note,
    reason_few_events,
    reason_low_rating,
)
from ltsi.filters import EventFilter, reason_after, reason_before, reason_event_type
from ltsi.sequences import PAD_TOKEN, Sequences, Vocabulary, gap_buckets
from ltsi.times import (
    DATE_HIGH_NS,
    DATE_LOW_NS,
    EPOCH_HIGH_S,
    EPOCH_LOW_S,
    UNIT_PER_SECOND,
    UNIT_RELATIVE,
    parse_times,
)

__all__ = ["ScanResult", "scan", "needs_scan", "reason_not_sampled", "resolve_files", "engine_settings"]

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".csv.zst")
DETECT_ROWS = 2000  # rows read to detect the column roles and the time format
FETCH_ROWS = 1_000_000  # rows per Arrow batch when the sorted events come back
GAP_CHUNK = 5_000_000  # events per gap-bucket step (keeps the float temporaries small)
# The engine's memory: a quarter of the machine, at most 4 GB; it spills to disk beyond that, so the
# Python arrays (about 25 bytes per kept event) and the engine fit together in well under 8 GB.
MEMORY_SHARE = 0.25
MEMORY_CAP_BYTES = 4 * 2**30

# Reason codes computed by the engine (small integers travel cheaper than text).
_NO_USER, _NOT_SAMPLED, _NO_ITEM, _NO_TIME, _BAD_TIME, _TIME_RANGE = 1, 2, 3, 4, 5, 6
_BEFORE, _AFTER, _EVENT_TYPE, _LOW_RATING = 7, 8, 9, 10
_FILTER_CODES = (_BEFORE, _AFTER, _EVENT_TYPE, _LOW_RATING)


def reason_not_sampled(n_users: int) -> str:
    return f"user is not among the {n_users:,} users sampled"


@dataclass
class ScanResult:
    """What `scan` returns: the sequences, the report, and an item table when the log names categories."""

    seqs: Sequences
    report: ValidationReport
    items: pd.DataFrame | None = None


@dataclass
class _Source:
    """The source as a view named `source_rows` (its own columns plus `__order` and `__row`)."""

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


def _connect(spill: Path, allowed_folders: Sequence[Path] | None = None) -> duckdb.DuckDBPyConnection:
    settings = engine_settings()
    con = duckdb.connect(config={"threads": settings["threads"]})
    con.execute(f"SET memory_limit = '{settings['memory_limit']}'")
    con.execute(f"SET temp_directory = {_literal(str(spill))}")
    con.execute("SET TimeZone = 'UTC'")  # times without a zone are UTC, as in load_events
    con.execute("SET enable_progress_bar = false")
    con.execute("SET python_enable_replacements = false")  # a query cannot read the caller's variables by name
    if allowed_folders is not None:  # a second fence behind ltsi.server_sources' checks: the engine itself refuses
        folders = ", ".join(_literal(str(folder)) for folder in [*allowed_folders, spill])
        con.execute(f"SET allowed_directories = [{folders}]")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET enable_external_access = false")
    return con


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def needs_scan(source: str) -> bool:
    """Whether a source is for `scan` rather than load_events: a folder, or a pattern like data/*.parquet."""
    return Path(source).is_dir() or glob.has_magic(source)


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


def _register_source(con: duckdb.DuckDBPyConnection, source: str | None, sql: str | None) -> _Source:
    """Creates the view `source_rows`: the rows to read, with a sort key for file order."""
    label, fmt, delimiter, header, several = str(source or "query"), "", None, True, False
    if source:
        files, fmt = resolve_files(source)
        several = len(files) > 1
        listing = "[" + ", ".join(_literal(f) for f in files) + "]"
        if fmt == "parquet":
            con.execute(
                "CREATE TEMP TABLE __files AS SELECT * FROM (VALUES "
                + ", ".join(f"({_literal(f)}, {i})" for i, f in enumerate(files))
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
            sniff = con.execute(f"SELECT Delimiter, HasHeader FROM sniff_csv({_literal(files[0])})").fetchone()
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
    return _Source(label, fmt, delimiter, header, list(types), types, several)


def _text_expr(col: str, kind: str) -> str:
    """A column as trimmed text with '' as missing; whole floats as integers (196.0 -> '196')."""
    c = _ident(col)
    if kind in ("FLOAT", "DOUBLE") or kind.startswith("DECIMAL"):
        return f"CASE WHEN {c} = floor({c}) THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END"
    return f"NULLIF(trim(CAST({c} AS VARCHAR)), '')"


def _date_window(ts: str) -> str:
    """Condition: a time inside the plausible window of written dates (1900-2100), as ltsi.times keeps."""
    low, high = DATE_LOW_NS // 1000, DATE_HIGH_NS // 1000  # make_timestamptz takes microseconds
    return f"({ts} >= make_timestamptz({low}) AND {ts} < make_timestamptz({high}))"


@dataclass
class _TimeSql:
    ns: str  # nanoseconds since 1970 (NULL where the time is unusable)
    missing: str  # condition: no time
    unreadable: str  # condition: a time that cannot be read
    out_of_range: str  # condition: a time outside the plausible window
    unit: str


def _time_sql(col: str, kind: str, sample: pd.Series, notes: list[str]) -> _TimeSql:
    """How the engine turns the time column into nanoseconds; the format is learnt from a sample, as
    ltsi.times does for the whole column."""
    c = _ident(col)
    if kind.startswith(("TIMESTAMP", "DATE")):
        if "TIME ZONE" not in kind:
            notes.append("Times had no time zone; they were taken as UTC.")
        ts = f"CAST({c} AS TIMESTAMPTZ)"
        window = _date_window(ts)
        return _TimeSql(
            ns=f"CASE WHEN {window} THEN epoch_ns({ts}) END",
            missing=f"{c} IS NULL",
            unreadable="false",
            out_of_range=f"NOT {window}",
            unit="datetime (stored as dates)",
        )
    sample_notes: list[str] = []
    unit = parse_times(sample, None, sample_notes).unit
    text = f"NULLIF(trim(CAST({c} AS VARCHAR)), '')"
    if unit in UNIT_PER_SECOND or unit == UNIT_RELATIVE:
        number = f"TRY_CAST({text} AS DOUBLE)" if kind == "VARCHAR" else f"CAST({c} AS DOUBLE)"
        whole = (
            f"TRY_CAST({text} AS BIGINT)"
            if kind == "VARCHAR"
            else (f"CAST({c} AS BIGINT)" if kind.endswith("INT") else "NULL::BIGINT")
        )
        if unit == UNIT_RELATIVE:
            notes.extend(sample_notes)
            return _TimeSql(
                f"CAST(round({number} * 1e9) AS BIGINT)",
                f"{text} IS NULL",
                f"{text} IS NOT NULL AND {number} IS NULL",
                "false",
                unit,
            )
        per_s = UNIT_PER_SECOND[unit]
        factor = 10**9 // per_s
        window = f"({number} >= {EPOCH_LOW_S * per_s} AND {number} < {EPOCH_HIGH_S * per_s})"
        ns = f"CASE WHEN {window} THEN coalesce({whole} * {factor}, CAST(round({number} * {factor}) AS BIGINT)) END"
        return _TimeSql(
            ns,
            f"{text} IS NULL",
            f"{text} IS NOT NULL AND {number} IS NULL",
            f"{number} IS NOT NULL AND NOT {window}",
            unit,
        )
    formats = {"datetime (YYYYMMDD numbers)": "%Y%m%d", "datetime (YYYYMMDDhhmmss numbers)": "%Y%m%d%H%M%S"}
    if unit in formats:
        ts = f"CAST(try_strptime({text}, {_literal(formats[unit])}) AS TIMESTAMPTZ)"
    elif unit.startswith("datetime (ISO"):
        ts = f"TRY_CAST({text} AS TIMESTAMPTZ)"
        notes.extend(n for n in sample_notes if "time zone" in n)
    else:
        raise one_line_error(
            f"The time column '{col}' holds dates written like {sample.dropna().astype(str).iloc[0]!r}, which the "
            "large-file reader cannot read; write times as ISO dates (2020-01-31 13:45:00) or epoch numbers, "
            "or load the file on its own (ltsi validate FILE)."
        )
    window = _date_window(ts)
    return _TimeSql(
        f"CASE WHEN {window} THEN epoch_ns({ts}) END",
        f"{text} IS NULL",
        f"{text} IS NOT NULL AND {ts} IS NULL",
        f"{ts} IS NOT NULL AND NOT {window}",
        unit,
    )


@dataclass
class _Plan:
    """The SQL of the classified rows and what it was built from."""

    cmap: ColumnMapping
    time: _TimeSql | None
    example_columns: list[str]
    notes: list[str]


def _detect(
    con: duckdb.DuckDBPyConnection, src: _Source, mapping: dict | None
) -> tuple[ColumnMapping, list[str], pd.DataFrame]:
    """Column roles from the first rows, as load_events detects them (names first, then content)."""
    sample = con.execute(f"SELECT * EXCLUDE (__order, __row, __file) FROM source_rows LIMIT {DETECT_ROWS}").df()
    if sample.empty:
        raise one_line_error(f"{src.label} contains no data rows. Choose the files with the events.")
    cmap, notes = detect_columns_with_notes(sample, mapping)
    if cmap.timestamp is None:
        raise one_line_error(
            "The large-file reader needs a time column (files have no single row order); name the time column."
        )
    return cmap, notes, sample


def _classify(
    con: duckdb.DuckDBPyConnection,
    src: _Source,
    cmap: ColumnMapping,
    notes: list[str],
    sample: pd.DataFrame,
    filters: EventFilter | None,
    sampled: bool,
) -> _Plan:
    """Creates the view `classified`: canonical columns and the code of each row's first drop reason."""
    time = _time_sql(cmap.timestamp, src.types[cmap.timestamp], sample[cmap.timestamp], notes)
    user = _text_expr(cmap.user, src.types[cmap.user])
    item = _text_expr(cmap.item, src.types[cmap.item])
    event = _text_expr(cmap.event, src.types[cmap.event]) if cmap.event else "NULL::VARCHAR"
    value = f"TRY_CAST({_ident(cmap.value)} AS DOUBLE)" if cmap.value else "NULL::DOUBLE"
    category = _text_expr(cmap.category, src.types[cmap.category]) if cmap.category else "NULL::VARCHAR"
    default_event = _literal(DEFAULT_EVENT if cmap.event is None else "unknown")
    used = [c for c in (cmap.user, cmap.item, cmap.timestamp, cmap.event, cmap.value, cmap.category) if c]

    whens = [
        (_NO_USER, "__user IS NULL"),
        (_NOT_SAMPLED, "__user NOT IN (SELECT __user FROM __sample)" if sampled else None),
        (_NO_ITEM, "__item IS NULL"),
        (_NO_TIME, "__t_missing"),
        (_BAD_TIME, "__t_unreadable"),
        (_TIME_RANGE, "__t_out"),
    ]
    if filters is not None and filters.active:
        if filters.start is not None:
            first = pd.Timestamp(filters.start, tz="UTC").value
            whens.append((_BEFORE, f"__ns < {first}"))
        if filters.end is not None:
            after_last = (pd.Timestamp(filters.end, tz="UTC") + pd.Timedelta(days=1)).value  # whole last day kept
            whens.append((_AFTER, f"__ns >= {after_last}"))
        if filters.event_types is not None:
            chosen = ", ".join(_literal(t) for t in filters.event_types)
            whens.append((_EVENT_TYPE, f"__event NOT IN ({chosen})"))
        if filters.min_rating is not None:
            if cmap.value is None:
                raise one_line_error(
                    "A minimum rating needs a rating column: choose the column with the ratings as the value "
                    "column first."
                )
            whens.append((_LOW_RATING, f"NOT coalesce(__value >= {float(filters.min_rating)!r}, false)"))
    case = "CASE " + " ".join(f"WHEN {cond} THEN {code}" for code, cond in whens if cond) + " END"
    # Example cells only for dropped rows (CASE is evaluated lazily), never for the unsampled majority.
    cells = ", ".join(f"CAST({_ident(c)} AS VARCHAR)" for c in used)
    con.execute(
        f"""CREATE TEMP VIEW canonical AS SELECT
            {user} AS __user, {item} AS __item, {event} AS __event_raw,
            coalesce({event}, {default_event}) AS __event, {time.ns} AS __ns, {value} AS __value,
            {category} AS __category, coalesce({time.missing}, false) AS __t_missing,
            coalesce({time.unreadable}, false) AS __t_unreadable, coalesce({time.out_of_range}, false) AS __t_out,
            __order, __row, __file, [{cells}] AS __cells
        FROM source_rows"""
    )
    con.execute(
        f"""CREATE TEMP VIEW classified AS SELECT * EXCLUDE (__cells, __reason),
            __reason, CASE WHEN __reason IS NOT NULL AND __reason <> {_NOT_SAMPLED}
                THEN list_prepend(__file, list_prepend(CAST(__row AS VARCHAR), __cells)) END AS __example
        FROM (SELECT *, {case} AS __reason FROM canonical)"""
    )
    return _Plan(cmap, time, used, notes)


def _sample_users(con: duckdb.DuckDBPyConnection, user_sql: str, n: int, seed: int) -> int:
    """Creates `__sample`: the `n` users with the smallest hash of (id, seed); returns how many users there are.

    Bottom-n by a hash is the same users every time, and a smaller sample is part of a larger one."""
    con.execute(f"CREATE TEMP TABLE __all_users AS SELECT DISTINCT {user_sql} AS __user FROM source_rows")
    con.execute("DELETE FROM __all_users WHERE __user IS NULL")
    con.execute(
        f"CREATE TEMP TABLE __sample AS SELECT __user FROM __all_users "
        f"ORDER BY hash(__user, {int(seed)}::BIGINT), __user LIMIT {int(n)}"
    )
    (total,) = con.execute("SELECT count(*) FROM __all_users").fetchone()
    con.execute("DROP TABLE __all_users")
    return int(total)


# ---------------------------------------------------------------------------------------------
# Counting what is dropped (one pass of the engine)


@dataclass
class _Tally:
    rows_read: int
    counts: dict[int, int]  # reason code -> rows
    examples: dict[int, list[list[str | None]]]  # reason code -> [file, row, cells...] of the first rows
    known_types: list[str]  # event types of the rows that pass the checks of loading
    kept_types: list[str]  # event types of the rows left for the duplicate and minimum-events checks
    candidates: int  # rows left for the duplicate and minimum-events checks
    blank_events: int  # of those, rows without an event type


def _tally(con: duckdb.DuckDBPyConnection) -> _Tally:
    filter_codes = ", ".join(str(c) for c in _FILTER_CODES)
    rows = con.execute(
        f"""SELECT __reason, CASE WHEN __reason IS NULL OR __reason IN ({filter_codes}) THEN __event END,
            count(*), min_by(__example, __order, {MAX_EXAMPLES}), count_if(__event_raw IS NULL)
        FROM classified GROUP BY ALL"""
    ).fetchall()
    counts: dict[int, int] = {}
    examples: dict[int, list] = {}
    known, kept = set(), set()
    candidates = blank = 0
    for code, event, n, shown, blanks in rows:
        if event is not None:
            known.add(event)
        if code is None:
            kept.add(event)
            candidates += int(n)
            blank += int(blanks)
            continue
        counts[code] = counts.get(code, 0) + int(n)
        examples.setdefault(code, []).extend(shown or [])
    for code, shown in examples.items():  # several event types of one filter reason: the first rows overall
        shown.sort(key=lambda ex: (ex[0] or "", int(ex[1]) if ex[1] is not None else 0))
        examples[code] = shown[:MAX_EXAMPLES]
    return _Tally(
        rows_read=sum(int(r[2]) for r in rows),
        counts=counts,
        examples=examples,
        known_types=sorted(known),
        kept_types=sorted(kept),
        candidates=candidates,
        blank_events=blank,
    )


def _reason_texts(filters: EventFilter | None, known_types: list[str], n_sampled: int) -> dict[int, str]:
    texts = {
        _NO_USER: REASON_NO_USER,
        _NOT_SAMPLED: reason_not_sampled(n_sampled),
        _NO_ITEM: REASON_NO_ITEM,
        _NO_TIME: REASON_NO_TIME,
        _BAD_TIME: REASON_BAD_TIME,
        _TIME_RANGE: REASON_TIME_RANGE,
    }
    if filters is not None:
        if filters.start is not None:
            texts[_BEFORE] = reason_before(filters.start)
        if filters.end is not None:
            texts[_AFTER] = reason_after(filters.end)
        if filters.event_types is not None:
            texts[_EVENT_TYPE] = reason_event_type([t for t in known_types if t not in filters.event_types])
        if filters.min_rating is not None:
            texts[_LOW_RATING] = reason_low_rating(filters.min_rating)
    return texts


def _filter_phrases(filters: EventFilter, known_types: list[str]) -> dict[int, str]:
    """The words of the report's filter sentence, as ltsi.filters writes them."""
    left_out = [t for t in known_types if t not in (filters.event_types or ())]
    quoted = ", ".join(f"'{t}'" for t in left_out)
    return {
        _BEFORE: f"before {filters.start.isoformat()}" if filters.start else "",
        _AFTER: f"after {filters.end.isoformat()}" if filters.end else "",
        _EVENT_TYPE: f"of event type{'s' if len(left_out) > 1 else ''} {quoted}",
        _LOW_RATING: f"rated below {filters.min_rating:g} or not rated" if filters.min_rating is not None else "",
    }


def _filter_note(filters: EventFilter, tally: _Tally) -> str:
    removed = {code: tally.counts[code] for code in _FILTER_CODES if tally.counts.get(code)}
    total = sum(removed.values())
    if not total:
        return "The filters removed no events: every event passes them."
    before_filters = total + tally.candidates
    share = total / before_filters
    percent = "under 1%" if share < 0.01 else f"{share:.0%}"
    phrases = _filter_phrases(filters, tally.known_types)
    parts = ", ".join(f"{n:,} {phrases[code]}" for code, n in removed.items())
    return f"Filters removed {total:,} event{'' if total == 1 else 's'} ({percent}): {parts}."


def _engine_example(shown: list[str | None], columns: list[str], several_files: bool) -> dict:
    file, row, *cells = shown
    example: dict[str, Any] = {} if row is None else {"row": int(row)}
    if several_files and file is not None:
        example["file"] = Path(file).name
    example.update({col: plain_cell(cell) for col, cell in zip(columns, cells)})
    return example


# ---------------------------------------------------------------------------------------------
# The kept rows, sorted by the engine, as integer arrays


@dataclass
class _Rows:
    users: np.ndarray  # (E,) int32 user code, codes in user-id order
    items: np.ndarray  # (E,) int32 item code, codes in item-id order
    events: np.ndarray  # (E,) int16 event-type code, 1-based in name order
    ns: np.ndarray  # (E,) int64 nanoseconds since 1970
    values: np.ndarray | None  # (E,) float64, when there is a value column
    user_names: np.ndarray  # (U0,) object: user id of each code
    item_names: np.ndarray  # (I0,) object: item id of each code
    event_names: list[str]  # event type of codes 1.. (code 0 is padding)


def _fetch_rows(con: duckdb.DuckDBPyConnection, tally: _Tally, with_values: bool) -> _Rows:
    """Dense codes for users and items (one pass), then the kept rows ordered by (user, time, file order)."""
    con.execute(
        """CREATE TEMP TABLE __keys AS SELECT __user, __item FROM classified WHERE __reason IS NULL
        GROUP BY GROUPING SETS ((__user), (__item))"""
    )
    con.execute(
        "CREATE TEMP TABLE __users AS SELECT __user, (row_number() OVER (ORDER BY __user) - 1)::INTEGER AS __u "
        "FROM __keys WHERE __user IS NOT NULL"
    )
    con.execute(
        "CREATE TEMP TABLE __items AS SELECT __item, (row_number() OVER (ORDER BY __item) - 1)::INTEGER AS __i "
        "FROM __keys WHERE __item IS NOT NULL"
    )
    con.execute("DROP TABLE __keys")
    names = tally.kept_types
    con.execute(
        "CREATE TEMP TABLE __events AS SELECT * FROM (VALUES "
        + ", ".join(f"({_literal(name)}, {code + 1})" for code, name in enumerate(names))
        + ") t(__event, __e)"
    )
    user_names = con.execute("SELECT __user FROM __users ORDER BY __u").fetchnumpy()["__user"]
    item_names = con.execute("SELECT __item FROM __items ORDER BY __i").fetchnumpy()["__item"]

    n = tally.candidates
    users, items = np.empty(n, np.int32), np.empty(n, np.int32)  # (E,) each
    events, ns = np.empty(n, np.int16), np.empty(n, np.int64)  # (E,) each
    values = np.empty(n, np.float64) if with_values else None  # (E,)
    value_sql = ", c.__value" if with_values else ""
    reader = con.sql(
        f"""SELECT u.__u, i.__i, e.__e::SMALLINT, c.__ns{value_sql}
        FROM classified c JOIN __users u USING (__user) JOIN __items i USING (__item) JOIN __events e USING (__event)
        WHERE c.__reason IS NULL
        ORDER BY u.__u, c.__ns, c.__order, i.__i, e.__e"""
    ).to_arrow_reader(batch_size=FETCH_ROWS)
    at = 0
    for batch in reader:
        m = batch.num_rows
        users[at : at + m] = batch.column(0).to_numpy()
        items[at : at + m] = batch.column(1).to_numpy()
        events[at : at + m] = batch.column(2).to_numpy()
        ns[at : at + m] = batch.column(3).to_numpy()
        if values is not None:
            values[at : at + m] = batch.column(4).to_numpy(zero_copy_only=False)
        at += m
    if at != n:
        raise one_line_error(f"The source changed while it was read ({at:,} rows instead of {n:,}); read it again.")
    return _Rows(users, items, events, ns, values, user_names, item_names, names)


def _row_example(rows: _Rows, k: int) -> dict:
    """A dropped row in canonical columns (no file line: it was dropped after sorting)."""
    return {
        "user_id": str(rows.user_names[rows.users[k]]),
        "item_id": str(rows.item_names[rows.items[k]]),
        "timestamp": pd.Timestamp(int(rows.ns[k]), tz="UTC").isoformat(),
        "event": rows.event_names[rows.events[k] - 1],
        "value": None if rows.values is None else plain_cell(rows.values[k]),
    }


def _drop_in_memory(rows: _Rows, min_events: int) -> tuple[dict[str, int], dict[str, list[dict]]]:
    """Exact duplicates, then users below `min_events`; compacts `rows` in place of the arrays."""
    n = len(rows.users)
    keep = np.ones(n, dtype=bool)  # (E,)
    counts: dict[str, int] = {}
    examples: dict[str, list[dict]] = {}

    def drop(reason: str, hit: np.ndarray) -> None:
        if len(hit):
            keep[hit] = False
            counts[reason] = len(hit)
            examples[reason] = [_row_example(rows, int(k)) for k in hit[:MAX_EXAMPLES]]

    # Exact duplicates share user and time, so only rows in a (user, time) tie can be one (as in load_events).
    same = (rows.users[1:] == rows.users[:-1]) & (rows.ns[1:] == rows.ns[:-1])  # (E-1,)
    tie = np.zeros(n, dtype=bool)  # (E,)
    tie[1:] |= same
    tie[:-1] |= same
    cand = np.flatnonzero(tie)
    del same, tie
    if len(cand):
        key = pd.DataFrame(
            {
                "u": rows.users[cand],
                "t": rows.ns[cand],
                "i": rows.items[cand],
                "e": rows.events[cand],
                "v": np.nan if rows.values is None else rows.values[cand],
            }
        )
        drop(REASON_DUPLICATE, cand[key.duplicated(keep="first").to_numpy()])
    if min_events > 1:
        per_user = np.bincount(rows.users[keep], minlength=len(rows.user_names))  # (U0,)
        drop(reason_few_events(min_events), np.flatnonzero(keep & (per_user[rows.users] < min_events)))
    if not keep.all():
        for name in ("users", "items", "events", "ns", "values"):  # one array at a time: a small peak
            array = getattr(rows, name)
            if array is not None:
                setattr(rows, name, array[keep])
    return counts, examples


def _gap_ids(seconds: np.ndarray, first: np.ndarray) -> np.ndarray:
    """ltsi.sequences.gap_buckets in steps, each with the event before it, so temporaries stay small."""
    out = np.empty(len(seconds), dtype=np.int64)  # (E,)
    for start in range(0, len(seconds), GAP_CHUNK):
        stop = min(start + GAP_CHUNK, len(seconds))
        lead = 1 if start else 0  # the previous event gives the first gap of the step
        out[start:stop] = gap_buckets(seconds[start - lead : stop], first[start - lead : stop])[lead:]
    return out


def _sequences(rows: _Rows) -> Sequences:
    """Sequences numbered as build_sequences numbers them: users by id, items by popularity then id,
    event types by name (only those that occur)."""
    per_user = np.bincount(rows.users, minlength=len(rows.user_names))  # (U0,)
    present = np.flatnonzero(per_user)  # (U,) users left after the in-memory drops
    offsets = np.concatenate([[0], np.cumsum(per_user[present])]).astype(np.int64)  # (U + 1,)

    item_counts = np.bincount(rows.items, minlength=len(rows.item_names))  # (I0,)
    seen = np.flatnonzero(item_counts)  # codes are in id order, so the code breaks ties by id
    order = seen[np.lexsort((seen, -item_counts[seen]))]  # (I,) most frequent first
    item_id = np.zeros(len(rows.item_names), dtype=np.int64)  # (I0,) code -> vocabulary index
    item_id[order] = np.arange(1, len(order) + 1)

    event_counts = np.bincount(rows.events, minlength=len(rows.event_names) + 1)  # (T0 + 1,)
    used = np.flatnonzero(event_counts[1:]) + 1  # (T,) codes that occur
    event_id = np.zeros(len(event_counts), dtype=np.int64)
    event_id[used] = np.arange(1, len(used) + 1)

    seconds = np.floor_divide(rows.ns, 10**9)  # (E,) as build_sequences stores times
    first = np.zeros(len(seconds), dtype=bool)  # (E,) each user's first event
    first[offsets[:-1]] = True
    return Sequences(
        users=tuple(str(u) for u in rows.user_names[present]),
        items=Vocabulary((PAD_TOKEN, *(str(x) for x in rows.item_names[order]))),
        event_types=Vocabulary((PAD_TOKEN, *(rows.event_names[c - 1] for c in used))),
        offsets=offsets,
        item_ids=item_id[rows.items],
        event_ids=event_id[rows.events],
        gap_ids=_gap_ids(seconds, first),
        timestamps=seconds,
    )


def _items_table(con: duckdb.DuckDBPyConnection, seqs: Sequences) -> pd.DataFrame:
    """item_id, title (the id), category: each item's most named category, as ltsi.items.items_from_events."""
    named = con.execute(
        "SELECT __item AS item_id, __category AS category, count(*) AS n FROM classified "
        "WHERE __reason IS NULL AND __category IS NOT NULL GROUP BY ALL"
    ).df()
    named = named.sort_values(["item_id", "n", "category"], ascending=[True, False, True], kind="stable")
    top = named.drop_duplicates("item_id", keep="first").set_index("item_id")["category"]
    every = pd.Index(seqs.items.tokens[1:], name="item_id")
    category = top.reindex(every).fillna("unknown").to_numpy()
    table = pd.DataFrame({"item_id": every, "title": every, "category": category})
    return table.astype("str").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The front door


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
    """Sequences and report of a large log: a file, folder or glob of Parquet/CSV files (see the module docstring).

    `sql` is a SELECT whose rows are the events; it may read the source as the view `events` (or read
    files itself, with `source` empty). `sample_users` keeps that many users, chosen by a hash of their id
    and `seed` (the same users every time). `allowed_folders`: the engine may read nothing outside them (the
    dashboard's server sources). Raises LTSIError for input a person can fix.
    """
    if not isinstance(min_events, (int, np.integer)) or min_events < 1:
        raise one_line_error(f"The minimum number of events per user must be 1 or more, not {min_events}.")
    if sample_users is not None and (not isinstance(sample_users, (int, np.integer)) or sample_users < 1):
        raise one_line_error(f"The number of users to sample must be 1 or more, not {sample_users}.")
    if not source and sql is None:
        raise one_line_error("Name the files to read (a file, a folder or a pattern like data/*.parquet) or a query.")
    spill = Path(tempfile.mkdtemp(prefix="ltsi-duckdb-"))  # the engine's overflow folder, removed afterwards
    con = _connect(spill, allowed_folders)
    try:
        return _scan(con, source, sql, mapping, filters, sample_users, min_events, seed)
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise one_line_error(f"Could not read {source or 'the query'}: {first_line}") from None
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
    src = _register_source(con, source, sql)
    cmap, notes, sample = _detect(con, src, mapping)
    n_sampled = 0
    if sample_users is not None:
        total = _sample_users(con, _text_expr(cmap.user, src.types[cmap.user]), sample_users, seed)
        n_sampled = min(total, sample_users)
        notes.append(
            f"A sample of {n_sampled:,} of the {total:,} users was read (chosen by their id with seed {seed}: "
            "the same users every time); the other users' events were left out."
        )
    active = filters if filters is not None and filters.active else None
    plan = _classify(con, src, cmap, notes, sample, active, sample_users is not None)
    tally = _tally(con)
    if active is not None and active.event_types is not None:
        unknown = [t for t in active.event_types if t not in tally.known_types]
        if unknown:
            raise one_line_error(
                f"The log has no event type {' or '.join(repr(t) for t in unknown)}; its event types are "
                f"{', '.join(repr(t) for t in tally.known_types)}."
            )
    texts = _reason_texts(active, tally.known_types, n_sampled)
    dropped = {texts[code]: tally.counts[code] for code in sorted(tally.counts)}
    examples = {
        texts[code]: [_engine_example(ex, plan.example_columns, src.several_files) for ex in shown]
        for code, shown in sorted(tally.examples.items())
    }
    if tally.candidates == 0:
        _nothing_left(tally.rows_read, dropped)
    if tally.blank_events and cmap.event is not None:
        notes.append(f"{tally.blank_events:,} rows have no event type; they were given the type 'unknown'.")

    rows = _fetch_rows(con, tally, with_values=cmap.value is not None)
    more_counts, more_examples = _drop_in_memory(rows, min_events)
    dropped.update(more_counts)
    examples.update(more_examples)
    if len(rows.users) == 0:
        _nothing_left(tally.rows_read, dropped)
    time_min, time_max = (pd.Timestamp(int(t), tz="UTC") for t in (rows.ns.min(), rows.ns.max()))
    values = rows.values
    seqs = _sequences(rows)
    del rows  # the sequences hold what is needed; free the codes before the item table

    items = None
    if cmap.category is not None:
        items = _items_table(con, seqs)
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
        filter_note=None if active is None else _filter_note(active, tally),
    )
    return ScanResult(seqs=seqs, report=report, items=items)


def _nothing_left(rows_read: int, dropped: dict[str, int]) -> None:
    main = max(dropped, key=dropped.get)
    raise one_line_error(
        f"No usable rows: all {rows_read:,} rows were dropped, mostly because '{main}' ({dropped[main]:,} rows)."
    )
