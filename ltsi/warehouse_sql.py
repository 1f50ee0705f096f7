"""The SQL of a large-log scan: how each row's columns become canonical values, and why a row is dropped.

`detect_columns` learns the column roles from the first rows; `classify_rows` creates the view
`classified` over the view `source_rows` (see ltsi.warehouse_source): one row per event with its user,
item, event type, time in nanoseconds, value, category, and the code of its first drop reason (the
codes below; NULL when kept). `draw_user_sample` creates the table of the sampled users.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from ltsi.columns import ColumnMapping, detect_columns_with_notes
from ltsi.errors import one_line_error
from ltsi.event_log import DEFAULT_EVENT
from ltsi.filters import EventFilter
from ltsi.times import (
    DATE_HIGH_NS,
    DATE_LOW_NS,
    EPOCH_HIGH_S,
    EPOCH_LOW_S,
    UNIT_PER_SECOND,
    UNIT_RELATIVE,
    parse_times,
)

DETECT_ROWS = 2000  # rows read to detect the column roles and the time format

# Reason codes computed by the engine (small integers travel cheaper than text), in the order checked.
NO_USER, NOT_SAMPLED, NO_ITEM, NO_TIME, BAD_TIME, TIME_RANGE = 1, 2, 3, 4, 5, 6
BEFORE, AFTER, EVENT_TYPE, LOW_RATING = 7, 8, 9, 10
FILTER_CODES = (BEFORE, AFTER, EVENT_TYPE, LOW_RATING)


def sql_name(name: str) -> str:
    """A column name quoted for SQL."""
    return '"' + name.replace('"', '""') + '"'


def sql_text(text: str) -> str:
    """A text quoted as an SQL literal."""
    return "'" + text.replace("'", "''") + "'"


def text_expr(col: str, kind: str) -> str:
    """A column as trimmed text with '' as missing; whole floats as integers (196.0 -> '196')."""
    c = sql_name(col)
    if kind in ("FLOAT", "DOUBLE") or kind.startswith("DECIMAL"):
        return f"CASE WHEN {c} = floor({c}) THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END"
    return f"NULLIF(trim(CAST({c} AS VARCHAR)), '')"


def _date_window(ts: str) -> str:
    """Condition: a time inside the plausible window of written dates (1900-2100), as ltsi.times keeps."""
    low, high = DATE_LOW_NS // 1000, DATE_HIGH_NS // 1000  # make_timestamptz takes microseconds
    return f"({ts} >= make_timestamptz({low}) AND {ts} < make_timestamptz({high}))"


@dataclass
class TimeSql:
    ns: str  # nanoseconds since 1970 (NULL where the time is unusable)
    missing: str  # condition: no time
    unreadable: str  # condition: a time that cannot be read
    out_of_range: str  # condition: a time outside the plausible window
    unit: str


def time_sql(col: str, kind: str, sample: pd.Series, notes: list[str]) -> TimeSql:
    """How the engine turns the time column into nanoseconds; the format is learnt from a sample, as
    ltsi.times does for the whole column."""
    c = sql_name(col)
    if kind.startswith(("TIMESTAMP", "DATE")):
        if "TIME ZONE" not in kind:
            notes.append("Times had no time zone; they were taken as UTC.")
        ts = f"CAST({c} AS TIMESTAMPTZ)"
        window = _date_window(ts)
        return TimeSql(
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
            return TimeSql(
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
        return TimeSql(
            ns,
            f"{text} IS NULL",
            f"{text} IS NOT NULL AND {number} IS NULL",
            f"{number} IS NOT NULL AND NOT {window}",
            unit,
        )
    formats = {"datetime (YYYYMMDD numbers)": "%Y%m%d", "datetime (YYYYMMDDhhmmss numbers)": "%Y%m%d%H%M%S"}
    if unit in formats:
        ts = f"CAST(try_strptime({text}, {sql_text(formats[unit])}) AS TIMESTAMPTZ)"
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
    return TimeSql(
        f"CASE WHEN {window} THEN epoch_ns({ts}) END",
        f"{text} IS NULL",
        f"{text} IS NOT NULL AND {ts} IS NULL",
        f"{ts} IS NOT NULL AND NOT {window}",
        unit,
    )


@dataclass
class Plan:
    """The SQL of the classified rows and what it was built from."""

    cmap: ColumnMapping
    time: TimeSql | None
    example_columns: list[str]
    notes: list[str]


def detect_columns(
    con: duckdb.DuckDBPyConnection, label: str, mapping: dict | None
) -> tuple[ColumnMapping, list[str], pd.DataFrame]:
    """Column roles from the first rows of `source_rows`, as load_events detects them (names first, then content)."""
    sample = con.execute(f"SELECT * EXCLUDE (__order, __row, __file) FROM source_rows LIMIT {DETECT_ROWS}").df()
    if sample.empty:
        raise one_line_error(f"{label} contains no data rows. Choose the files with the events.")
    cmap, notes = detect_columns_with_notes(sample, mapping)
    if cmap.timestamp is None:
        raise one_line_error(
            "The large-file reader needs a time column (files have no single row order); name the time column."
        )
    return cmap, notes, sample


def classify_rows(
    con: duckdb.DuckDBPyConnection,
    types: dict[str, str],
    cmap: ColumnMapping,
    notes: list[str],
    sample: pd.DataFrame,
    filters: EventFilter | None,
    sampled: bool,
) -> Plan:
    """Creates the view `classified`: canonical columns and the code of each row's first drop reason.

    `types` are the DuckDB types of the source's columns; `sampled`: the table `__sample` holds the users kept."""
    time = time_sql(cmap.timestamp, types[cmap.timestamp], sample[cmap.timestamp], notes)
    user = text_expr(cmap.user, types[cmap.user])
    item = text_expr(cmap.item, types[cmap.item])
    event = text_expr(cmap.event, types[cmap.event]) if cmap.event else "NULL::VARCHAR"
    value = f"TRY_CAST({sql_name(cmap.value)} AS DOUBLE)" if cmap.value else "NULL::DOUBLE"
    category = text_expr(cmap.category, types[cmap.category]) if cmap.category else "NULL::VARCHAR"
    default_event = sql_text(DEFAULT_EVENT if cmap.event is None else "unknown")
    used = [c for c in (cmap.user, cmap.item, cmap.timestamp, cmap.event, cmap.value, cmap.category) if c]

    whens = [
        (NO_USER, "__user IS NULL"),
        (NOT_SAMPLED, "__user NOT IN (SELECT __user FROM __sample)" if sampled else None),
        (NO_ITEM, "__item IS NULL"),
        (NO_TIME, "__t_missing"),
        (BAD_TIME, "__t_unreadable"),
        (TIME_RANGE, "__t_out"),
    ]
    if filters is not None and filters.active:
        whens.extend(_filter_conditions(filters, cmap))
    case = "CASE " + " ".join(f"WHEN {cond} THEN {code}" for code, cond in whens if cond) + " END"
    # Example cells only for dropped rows (CASE is evaluated lazily), never for the unsampled majority.
    cells = ", ".join(f"CAST({sql_name(c)} AS VARCHAR)" for c in used)
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
            __reason, CASE WHEN __reason IS NOT NULL AND __reason <> {NOT_SAMPLED}
                THEN list_prepend(__file, list_prepend(CAST(__row AS VARCHAR), __cells)) END AS __example
        FROM (SELECT *, {case} AS __reason FROM canonical)"""
    )
    return Plan(cmap, time, used, notes)


def _filter_conditions(filters: EventFilter, cmap: ColumnMapping) -> list[tuple[int, str]]:
    """The filters' drop conditions on the canonical columns, in the order they are checked."""
    whens = []
    if filters.start is not None:
        first = pd.Timestamp(filters.start, tz="UTC").value
        whens.append((BEFORE, f"__ns < {first}"))
    if filters.end is not None:
        after_last = (pd.Timestamp(filters.end, tz="UTC") + pd.Timedelta(days=1)).value  # whole last day kept
        whens.append((AFTER, f"__ns >= {after_last}"))
    if filters.event_types is not None:
        chosen = ", ".join(sql_text(t) for t in filters.event_types)
        whens.append((EVENT_TYPE, f"__event NOT IN ({chosen})"))
    if filters.min_rating is not None:
        if cmap.value is None:
            raise one_line_error(
                "A minimum rating needs a rating column: choose the column with the ratings as the value column first."
            )
        whens.append((LOW_RATING, f"NOT coalesce(__value >= {float(filters.min_rating)!r}, false)"))
    return whens


def draw_user_sample(con: duckdb.DuckDBPyConnection, user_sql: str, n: int, seed: int) -> int:
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
