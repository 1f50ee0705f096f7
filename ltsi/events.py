"""Event logs in: read a file, map its columns, validate rows, and report what was kept and dropped.

This is the stage's front door. The work is done by one module per step, in flow order:

    ltsi.sources    path/upload/bytes -> plain UTF-8 bytes (archives, non-tables, encodings)
    ltsi.readers    bytes -> raw frame (formats, delimiter, header) + ReadInfo; `read_table`
    ltsi.columns    raw frame -> which column is user / item / timestamp / event / value, and why
    ltsi.times      time column -> UTC times (epoch units, written dates, day-first choice)
    ltsi.events     all of the above + row checks -> EventLog (table + ValidationReport);
                    data-shape notes (bulk-entered bursts, sessions as users, ratings)
    ltsi.filters    a loaded log -> the events of chosen dates, event types and ratings (before training)
    ltsi.items      the optional item table: item_id, title, category (+ main_category), given as a
                    file or built from the log's own category column

Recoverable problems (bad rows) are counted in the ValidationReport with examples; unrecoverable
input raises LTSIError with a message a non-programmer can act on. Heavy lifting is vectorised
(pyarrow for parsing and string work, numpy for masks and sorting): 5M rows in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ltsi.columns import (
    ROLES,
    ColumnMapping,
    detect_columns,
    detect_columns_with_notes,
    rating_scale,
)
from ltsi.errors import one_line_error
from ltsi.items import is_item_table, items_from_events, load_items
from ltsi.readers import (
    MAX_EXAMPLES,
    REASON_BAD_JSON,
    REASON_MALFORMED,
    ReadInfo,
    read_table,
    too_many_rows,
)
from ltsi.sources import base_name
from ltsi.times import (
    UNIT_NONE,
    UNIT_RELATIVE,
    UNIT_WORDS,
    as_arrow_text,
    as_bools,
    factorize,
    parse_times,
)

__all__ = [
    "REASON_MALFORMED",
    "REASON_BAD_JSON",
    "REASON_NO_USER",
    "REASON_NO_ITEM",
    "REASON_NO_TIME",
    "REASON_BAD_TIME",
    "REASON_TIME_RANGE",
    "REASON_DUPLICATE",
    "reason_few_events",
    "reason_low_rating",
    "ROLES",
    "DEFAULT_EVENT",
    "MAX_EXAMPLES",
    "UNIT_RELATIVE",
    "UNIT_NONE",
    "ColumnMapping",
    "ValidationReport",
    "EventLog",
    "ReadInfo",
    "read_table",
    "detect_columns",
    "load_events",
    "keep_ratings_at_least",
    "plain_cell",
    "data_shape_notes",
    "burst_note",
    "session_note",
    "rating_note",
]

# ---------------------------------------------------------------------------------------------
# Reasons a row is dropped, in words a non-programmer understands. They are the keys of
# ValidationReport.dropped / .examples, so other modules and tests may refer to them.
# (The two reasons a line is dropped before it becomes a row, REASON_MALFORMED and
# REASON_BAD_JSON, live with the reader.)
REASON_NO_USER = "user is missing"
REASON_NO_ITEM = "item is missing"
REASON_NO_TIME = "timestamp is missing"
REASON_BAD_TIME = "timestamp could not be read as a date or time"
REASON_TIME_RANGE = "timestamp is outside the plausible range of dates"
REASON_DUPLICATE = "exact duplicate of an earlier row"


def reason_few_events(min_events: int) -> str:
    return f"user has fewer than {min_events} events"


def reason_low_rating(min_rating: float) -> str:
    return f"rating is below {min_rating:g} or missing"


DEFAULT_EVENT = "interaction"


# ---------------------------------------------------------------------------------------------
# Data classes (the contract other stages code against)


@dataclass
class ValidationReport:
    """What was read, what was kept, what was dropped and why."""

    source: str
    file_format: str
    encoding: str
    delimiter: str | None
    has_header: bool
    rows_read: int
    rows_kept: int
    dropped: dict[str, int]
    examples: dict[str, list[dict]]
    timestamp_unit: str
    time_min: pd.Timestamp | None
    time_max: pd.Timestamp | None
    n_users: int
    n_items: int
    event_counts: dict[str, int]
    mapping: ColumnMapping
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the source's columns as read (the mapping chooses among them)
    data_notes: list[str] = field(default_factory=list)  # what the kept events look like (bursts, sessions, ratings)
    rating_range: tuple[float, float] | None = None  # (lowest, highest) when the value column holds ratings
    min_rating: float | None = None  # "keep only ratings >= x", when it was applied
    filters: dict | None = None  # the filters applied after loading (ltsi.filters.EventFilter.to_dict)
    filter_note: str | None = None  # what they removed, in one sentence ("Filters removed 1,234 events ...")

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> dict:
        def stamp(t: pd.Timestamp | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "source": self.source,
            "file_format": self.file_format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "has_header": self.has_header,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "dropped": dict(self.dropped),
            "examples": {k: [dict(e) for e in v] for k, v in self.examples.items()},
            "timestamp_unit": self.timestamp_unit,
            "time_min": stamp(self.time_min),
            "time_max": stamp(self.time_max),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "event_counts": dict(self.event_counts),
            "mapping": self.mapping.to_dict(),
            "notes": list(self.notes),
            "data_notes": list(self.data_notes),
            "rating_range": None if self.rating_range is None else list(self.rating_range),
            "min_rating": self.min_rating,
            "filters": None if self.filters is None else dict(self.filters),
            "filter_note": self.filter_note,
        }

    def to_text(self) -> str:
        delim = {None: "", "\t": ", tab-separated", "::": ", '::'-separated"}.get(
            self.delimiter, f", delimiter '{self.delimiter}'"
        )
        header = ", header row" if self.has_header else ", no header row"
        unit = self.timestamp_unit
        if unit in UNIT_WORDS:
            unit = f"{unit} (epoch {UNIT_WORDS[unit]})"
        lines = [
            f"Source:   {self.source} ({self.file_format}, {self.encoding}{delim}{header})",
            f"Rows:     {self.rows_read:,} read, {self.rows_kept:,} kept, {self.rows_dropped:,} dropped",
            f"Users:    {self.n_users:,}",
            f"Items:    {self.n_items:,}",
            f"Time:     {_fmt_time(self.time_min)} to {_fmt_time(self.time_max)}",
            f"Unit:     {unit}",
            "Events:   " + ", ".join(f"{k} {v:,}" for k, v in self.event_counts.items()),
            "Columns:",
        ]
        for role in ROLES:
            col = getattr(self.mapping, role)
            reason = self.mapping.reasons.get(role, "")
            shown = "(none)" if col is None else col
            lines.append(f"  {role:<9} <- {shown}" + (f"   [{reason}]" if reason else ""))
        if self.dropped:
            lines.append("Dropped rows:")
            for reason, count in self.dropped.items():
                lines.append(f"  {count:>9,}  {reason}")
                for ex in self.examples.get(reason, [])[:3]:
                    lines.append("             e.g. " + _fmt_example(ex))
        if self.filter_note:
            lines.append(f"Filters:  {self.filter_note}")
        if self.notes:
            lines.append("Notes:")
            lines.extend(f"  - {note}" for note in self.notes)
        if self.data_notes:
            lines.append("What the data looks like:")
            lines.extend(f"  - {note}" for note in self.data_notes)
        return "\n".join(lines)


@dataclass
class EventLog:
    """The canonical event table (user_id, item_id, timestamp, event, value), its report and an optional item table."""

    events: pd.DataFrame
    report: ValidationReport
    items: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        ev = self.events
        if not isinstance(ev, pd.DataFrame):
            raise one_line_error("The event table must be a pandas DataFrame.")
        for col in ("user_id", "item_id", "timestamp", "event", "value"):
            if col not in ev.columns:
                raise one_line_error(f"The event table has no '{col}' column.")
        for col in ("user_id", "item_id"):
            if not pd.api.types.is_string_dtype(ev[col].dtype) or ev[col].isna().any():
                raise one_line_error(f"Column '{col}' of the event table must hold text with no gaps.")
        ts = ev["timestamp"].dtype
        if not (isinstance(ts, pd.DatetimeTZDtype) and str(ts.tz) == "UTC" and ts.unit == "ns"):
            raise one_line_error(f"Column 'timestamp' of the event table must be datetime64[ns, UTC], not {ts}.")
        if ev["timestamp"].isna().any():
            raise one_line_error("Column 'timestamp' of the event table has missing times.")
        if not isinstance(ev["event"].dtype, pd.CategoricalDtype):
            raise one_line_error("Column 'event' of the event table must be categorical.")
        if ev["value"].dtype != np.float64:
            raise one_line_error("Column 'value' of the event table must be float64.")
        if self.items is not None:
            for col in ("item_id", "title", "category"):
                if col not in self.items.columns:
                    raise one_line_error(f"The item table has no '{col}' column.")


def _parse_values(series: pd.Series, column: str, notes: list[str]) -> np.ndarray:
    """Ratings/prices as float; unreadable values are blanked (the row stays) and counted."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    arr = as_arrow_text(series)
    present = ~as_bools(arr.is_null())
    try:
        vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pd.Series(arr, dtype="str")
        vals = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        failed = present & np.isnan(vals)
        comma = text.str.fullmatch(r"[+-]?\d+,\d+").to_numpy(dtype=bool, na_value=False)
        if failed.any() and comma[failed].mean() > 0.5:
            fixed = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
            vals = np.where(failed, fixed.to_numpy(dtype="float64", na_value=np.nan), vals)
            notes.append(f"Values in '{column}' use a decimal comma (4,5); they were read as 4.5.")
    vals = np.asarray(vals, dtype="float64")
    blanked = int((present & np.isnan(vals)).sum())
    if blanked:
        notes.append(
            f"{blanked:,} values in '{column}' could not be read as numbers and were left blank (the rows were kept)."
        )
    return vals


# ---------------------------------------------------------------------------------------------
# Loading


class _Drops:
    """Applies drop reasons in order; each row is counted under the first reason it hits."""

    def __init__(self, frame: pd.DataFrame, lines: np.ndarray, columns: list[str]):
        self.frame, self.lines, self.columns = frame, lines, columns
        self.keep = np.ones(len(frame), dtype=bool)
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[dict]] = {}

    def drop(self, reason: str, mask: np.ndarray) -> None:
        hit = mask & self.keep
        count = int(hit.sum())
        if not count:
            return
        self.keep &= ~hit
        self.counts[reason] = self.counts.get(reason, 0) + count
        rows = np.flatnonzero(hit)[:MAX_EXAMPLES]
        self.examples.setdefault(reason, []).extend(self._example(i) for i in rows)

    def _example(self, i: int) -> dict:
        ex: dict[str, Any] = {"row": int(self.lines[i])}
        for col in self.columns:
            ex[col] = plain_cell(self.frame[col].iloc[i])
        return ex


def load_events(
    source: Any,
    *,
    name: str | None = None,
    mapping: dict[str, str] | None = None,
    items: Any = None,
    min_events: int = 1,
    dayfirst: bool | None = None,
    max_rows: int = 50_000_000,
    min_rating: float | None = None,
) -> EventLog:
    """Read, map, convert and validate an event log; see the module docstring.

    `min_rating` keeps only events whose value (rating) is at least that much; see keep_ratings_at_least.
    Without an item table, a mapped category column builds one (the most frequent category per item).
    """
    if not isinstance(min_events, (int, np.integer)) or min_events < 1:
        raise one_line_error(f"The minimum number of events per user must be 1 or more, not {min_events}.")
    hints = tuple(str(v) for v in (mapping or {}).values() if v)
    frame, info = read_table(source, name, hint_names=hints, max_rows=max_rows)
    source_columns = [str(c) for c in frame.columns]  # as read, for a column mapping to choose from
    notes: list[str] = list(info.notes)
    malformed = info.malformed
    rows_read = info.rows_read
    if rows_read > max_rows:
        raise too_many_rows(rows_read, max_rows)
    if len(frame) == 0:
        if malformed:
            raise one_line_error(
                f"No usable rows: all {rows_read:,} rows were dropped because "
                f"'{info.malformed_reason}'. {_hint(info.malformed_reason, None, info)}"
            )
        raise one_line_error(f"{base_name(info.source)} contains no data rows. Choose the file with the events.")

    cmap, mapping_notes = detect_columns_with_notes(frame, mapping)
    notes.extend(mapping_notes)
    used = [c for c in (cmap.user, cmap.item, cmap.timestamp, cmap.event, cmap.value, cmap.category) if c]
    drops = _Drops(frame, info.lines, used)
    if malformed:
        drops.counts[info.malformed_reason] = malformed
        drops.examples[info.malformed_reason] = list(info.malformed_examples)

    user_arr = as_arrow_text(frame[cmap.user])
    item_arr = as_arrow_text(frame[cmap.item])
    drops.drop(REASON_NO_USER, as_bools(user_arr.is_null()))
    drops.drop(REASON_NO_ITEM, as_bools(item_arr.is_null()))

    if cmap.timestamp is None:
        ns = np.arange(len(frame), dtype=np.int64) * 10**9
        unit = UNIT_NONE
        notes.append("No time column was used: the order of rows in the file is the time order.")
    else:
        times = parse_times(frame[cmap.timestamp], dayfirst, notes)
        drops.drop(REASON_NO_TIME, times.missing)
        drops.drop(REASON_BAD_TIME, times.unparseable)
        drops.drop(REASON_TIME_RANGE, times.out_of_range)
        ns, unit = times.ns, times.unit

    if cmap.event is not None:
        ev_arr = as_arrow_text(frame[cmap.event])
        n_blank = int((drops.keep & as_bools(ev_arr.is_null())).sum())
        if n_blank:
            notes.append(f"{n_blank:,} rows have no event type; they were given the type 'unknown'.")
            ev_arr = pc.fill_null(ev_arr, "unknown")
        ev_codes, ev_names = factorize(ev_arr, sort=True)
        ev_names = [str(x) for x in ev_names.to_pylist()]
    else:
        ev_codes, ev_names = np.zeros(len(frame), dtype=np.int64), [DEFAULT_EVENT]

    values = (
        _parse_values(frame[cmap.value], cmap.value, notes) if cmap.value is not None else np.full(len(frame), np.nan)
    )

    u_codes, u_names = factorize(user_arr, sort=True)
    i_codes, _ = factorize(item_arr, sort=False)

    # Stable sort of the rows still kept by (user, time): ties keep file order.
    kept = np.flatnonzero(drops.keep)
    by = pa.table({"u": u_codes[kept], "t": ns[kept]})
    order = kept[pc.sort_indices(by, sort_keys=[("u", "ascending"), ("t", "ascending")]).to_numpy()]
    del by

    # Exact duplicates share user and time, so only rows in a (user, time) tie can be one.
    su, st = u_codes[order], ns[order]
    tie = np.zeros(len(order), dtype=bool)
    if len(order) > 1:
        same = (su[1:] == su[:-1]) & (st[1:] == st[:-1])
        tie[1:] |= same
        tie[:-1] |= same
    cand = order[tie]
    if len(cand):
        key = pd.DataFrame(
            {"u": u_codes[cand], "t": ns[cand], "i": i_codes[cand], "e": ev_codes[cand], "v": values[cand]}
        )
        dup_mask = np.zeros(len(frame), dtype=bool)
        dup_mask[cand[key.duplicated(keep="first").to_numpy()]] = True
        drops.drop(REASON_DUPLICATE, dup_mask)

    if min_events > 1:
        counts = np.bincount(u_codes[drops.keep], minlength=len(u_names))
        few = drops.keep & (counts[np.maximum(u_codes, 0)] < min_events)
        drops.drop(reason_few_events(min_events), few)

    final = order[drops.keep[order]]
    if len(final) == 0:
        main = max(drops.counts, key=drops.counts.get)
        raise one_line_error(
            f"No usable rows: all {rows_read:,} rows were dropped, mostly because '{main}' "
            f"({drops.counts[main]:,} rows). {_hint(main, cmap, info, min_events)}"
        )

    events = pd.DataFrame(
        {
            "user_id": pd.Series(user_arr.take(pa.array(final)), dtype="str"),
            "item_id": pd.Series(item_arr.take(pa.array(final)), dtype="str"),
            "timestamp": pd.Series(ns[final].view("M8[ns]")).dt.tz_localize("UTC"),
            "event": _categorical(ev_codes[final], ev_names),
            "value": values[final],
        }
    )
    event_counts = {str(k): int(v) for k, v in events["event"].value_counts().items() if v}

    items_table = None
    if items is None and cmap.category is not None:
        items_table = items_from_events(events["item_id"], frame[cmap.category].take(final))
        named = int((items_table["category"] != "unknown").sum())
        notes.append(
            f"Item categories come from the column '{cmap.category}' (the one each item's events name most "
            f"often); {named:,} of the {len(items_table):,} items have one."
        )
    elif items is not None:
        items_table = items if is_item_table(items) else load_items(items)
        distinct = pd.Index(events["item_id"].unique())
        covered = int(distinct.isin(items_table["item_id"]).sum())
        notes.append(
            f"Item table: {len(items_table):,} items; {covered:,} of the {len(distinct):,} items "
            "in the events have a title."
        )

    report = ValidationReport(
        source=info.source,
        file_format=info.file_format,
        encoding=info.encoding,
        delimiter=info.delimiter,
        has_header=bool(info.has_header),
        rows_read=rows_read,
        rows_kept=len(events),
        dropped={k: v for k, v in drops.counts.items() if v},
        examples={k: v for k, v in drops.examples.items() if drops.counts.get(k)},
        timestamp_unit=unit,
        time_min=events["timestamp"].min(),
        time_max=events["timestamp"].max(),
        n_users=int(np.count_nonzero(np.bincount(u_codes[final], minlength=1))),
        n_items=int(np.count_nonzero(np.bincount(i_codes[final], minlength=1))),
        event_counts=event_counts,
        mapping=cmap,
        notes=notes,
        columns=source_columns,
        rating_range=rating_scale(events["value"].to_numpy(), cmap.value),
    )
    report.data_notes = data_shape_notes(events, report)
    log = EventLog(events=events, report=report, items=items_table)
    return log if min_rating is None else keep_ratings_at_least(log, min_rating, min_events)


# ---------------------------------------------------------------------------------------------
# Keep only ratings >= x (applied to a loaded log, before sequences are built)


def keep_ratings_at_least(log: EventLog, min_rating: float, min_events: int = 1) -> EventLog:
    """The log with only the events rated `min_rating` or more; rows without a rating go too.

    The rating filter of ltsi.filters.apply_filters on its own: the removed rows are counted under
    reason_low_rating, then users left with fewer than `min_events` events are dropped.
    """
    from ltsi.filters import EventFilter, apply_filters  # here: ltsi.filters builds on this module

    return apply_filters(log, EventFilter(min_rating=min_rating), min_events)


# ---------------------------------------------------------------------------------------------
# Data-shape notes: plain sentences, with numbers, about what the kept events look like

BURST_SIZE = 11  # an event and at least 10 others of the same user in the same minute
BURST_SHARE = 0.02  # noted when at least this share of the events is in such bursts
SESSION_SPAN = pd.Timedelta(hours=1)  # a typical user id spanning less than this ...
SESSION_LENGTH = 10  # ... with fewer events than this looks like one visit
MIN_USERS_FOR_SHAPE = 10  # fewer users with 2+ events than this say nothing about the log's shape


def data_shape_notes(events: pd.DataFrame, report: ValidationReport) -> list[str]:
    """The notes that apply: bulk-entered bursts, sessions as users, ratings (in that order)."""
    time_known = report.timestamp_unit != UNIT_NONE  # file order: times are invented, 1 s apart
    removed = report.dropped.get(reason_low_rating(report.min_rating), 0) if report.min_rating is not None else 0
    notes = [
        burst_note(events) if time_known else None,
        session_note(events) if time_known else None,
        rating_note(events["value"].to_numpy(), report.mapping.value, report.rating_range, report.min_rating, removed),
    ]
    return [note for note in notes if note]


def burst_note(events: pd.DataFrame) -> str | None:
    """Share of events entered in bulk: 11+ events of one user in the same minute, whose order is unknown."""
    if len(events) == 0:
        return None
    users = pd.factorize(events["user_id"])[0]  # (rows,)
    nanoseconds = pd.DatetimeIndex(events["timestamp"]).as_unit("ns").asi8  # (rows,) whatever unit came in
    minutes = nanoseconds // (60 * 10**9)  # (rows,) whole minutes since 1970
    sizes = pd.Series(np.ones(len(events), dtype=np.int64)).groupby([users, minutes]).transform("size").to_numpy()
    in_bursts = int((sizes >= BURST_SIZE).sum())
    share = in_bursts / len(events)
    if share < BURST_SHARE:
        return None
    return (
        f"{share:.0%} of the events ({in_bursts:,} of {len(events):,}) come in bursts of {BURST_SIZE} or more "
        "events of the same user within one minute, as when ratings are entered in bulk. The order inside such "
        "bursts is unknown; the model takes them in the order of the file."
    )


def session_note(events: pd.DataFrame) -> str | None:
    """Says the log looks like sessions when the typical user id is short and spans under an hour."""
    times = events.groupby("user_id", sort=False)["timestamp"]
    length, span = times.size(), times.max() - times.min()
    several = length >= 2  # a single event has no span: it says nothing about sessions
    if several.sum() < MIN_USERS_FOR_SHAPE:
        return None
    typical_length = float(length[several].median())
    typical_span = span[several].median()
    if not (typical_span < SESSION_SPAN and typical_length < SESSION_LENGTH):
        return None
    return (
        f"The log looks like sessions rather than people: half of the {int(several.sum()):,} user ids with two or "
        f"more events have at most {typical_length:g} events, within {_duration_words(typical_span)}. If each "
        "user id is one visit, 'long-term interest' means earlier in the same visit, not earlier weeks."
    )


def rating_note(
    values: np.ndarray,
    column: str | None,
    scale: tuple[float, float] | None,
    min_rating: float | None,
    removed: int,
) -> str | None:
    """Says the value column holds ratings and what a minimum rating would keep, or what it removed."""
    if min_rating is not None:
        return (
            f"Only ratings of at least {min_rating:g} are kept: {removed:,} events with a lower or no rating "
            "were removed."
        )
    if scale is None or column is None:
        return None
    low, high = scale
    present = values[np.isfinite(values)]
    # A suggestion near the top quarter of the scale: 4 of 1-5, 8 of 1-10 (the lowest such rating used).
    suggested = float(present[present >= low + 0.75 * (high - low)].min())
    kept = float((values >= suggested).mean())
    return (
        f"The column '{column}' holds ratings from {low:g} to {high:g}. Every rating counts as an interaction, "
        "a low one as much as a high one; to learn only from what people liked, keep only ratings of at least "
        f"a chosen value (at least {suggested:g} would keep {kept:.0%} of the events)."
    )


def _duration_words(span: pd.Timedelta) -> str:
    seconds = span.total_seconds()
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    return f"{seconds / 60:.0f} minutes"


def _categorical(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """Categorical with only the categories that occur (cheaper than remove_unused_categories)."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return pd.Categorical.from_codes(remap[codes], categories=[names[i] for i in used])


def _hint(reason: str, cmap: ColumnMapping | None, info: ReadInfo, min_events: int = 1) -> str:
    if reason == REASON_BAD_JSON:
        return "Check that every line is one JSON object, or save the events as CSV."
    if reason == REASON_MALFORMED:
        delim = info.delimiter
        words = {"\t": "tab", None: "none"}.get(delim, f"'{delim}'")
        return f"Check that every line has as many fields as the first line (fields were split on {words})."
    if reason in (REASON_NO_TIME, REASON_BAD_TIME, REASON_TIME_RANGE):
        col = cmap.timestamp if cmap else "?"
        return f"Check the time column '{col}', or choose another one (--time-col)."
    if reason == REASON_NO_USER:
        col = cmap.user if cmap else "?"
        return f"Check the user column '{col}', or choose another (--user-col)."
    if reason == REASON_NO_ITEM:
        col = cmap.item if cmap else "?"
        return f"Check the item column '{col}', or choose another (--item-col)."
    if reason.startswith("user has fewer than"):
        return f"Lower the minimum number of events per user (now {min_events})."
    return "Check the file."


# ---------------------------------------------------------------------------------------------
# Small helpers


def plain_cell(v: Any) -> Any:
    """A JSON-friendly version of one cell for the examples."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v if isinstance(v, (int, float, str, bool)) else str(v)


def _fmt_time(t: pd.Timestamp | None) -> str:
    return "-" if t is None else t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_example(ex: dict) -> str:
    parts = [f"row {ex['row']}"] if "row" in ex else []  # rows dropped after validation have no file line
    parts += [f"{k}={v!r}" for k, v in ex.items() if k != "row"]
    return ", ".join(parts)[:160]
