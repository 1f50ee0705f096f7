"""Event logs in: read a file, map its columns, validate rows, and report what was kept and dropped.

This is the stage's front door (`load_events`). The work is done by one module per step, in flow order:

    ltsi.sources    path/upload/bytes -> plain UTF-8 bytes (archives, non-tables, encodings)
    ltsi.readers    bytes -> raw frame (formats, delimiter, header) + ReadInfo; `read_table`
    ltsi.columns    raw frame -> which column is user / item / timestamp / event / value, and why
    ltsi.column_names   the known header names of each role
    ltsi.column_content what a column's values look like (times, IDs, event words, ratings)
    ltsi.times      time column -> UTC times (epoch units, written dates, day-first choice)
    ltsi.events     all of the above + row checks -> EventLog (table + ValidationReport)
    ltsi.event_log  what comes out: EventLog, ValidationReport, the reasons a row is dropped
    ltsi.data_notes data-shape notes on the kept events (bulk-entered bursts, sessions as users, ratings)
    ltsi.filters    a loaded log -> the events of chosen dates, event types and ratings (before training)
    ltsi.items      the optional item table: item_id, title, category (+ main_category), given as a
                    file or built from the log's own category column

Recoverable problems (bad rows) are counted in the ValidationReport with examples; unrecoverable
input raises LTSIError with a message a non-programmer can act on. Heavy lifting is vectorised
(pyarrow for parsing and string work, numpy for masks and sorting): 5M rows in seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ltsi.column_content import rating_scale
from ltsi.columns import ColumnError, ColumnMapping, detect_columns_with_notes
from ltsi.data_notes import data_shape_notes
from ltsi.errors import one_line_error
from ltsi.event_log import (
    DEFAULT_EVENT,
    REASON_BAD_TIME,
    REASON_DUPLICATE,
    REASON_NO_ITEM,
    REASON_NO_TIME,
    REASON_NO_USER,
    REASON_TIME_RANGE,
    EventLog,
    ValidationReport,
    plain_cell,
    reason_few_events,
)
from ltsi.filters import EventFilter, apply_filters
from ltsi.items import is_item_table, items_from_events, load_items
from ltsi.readers import MAX_EXAMPLES, REASON_BAD_JSON, REASON_MALFORMED, ReadInfo, read_table, too_many_rows
from ltsi.sources import base_name
from ltsi.times import UNIT_NONE, as_arrow_text, as_bools, factorize, parse_times


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
        message = (
            f"No usable rows: all {rows_read:,} rows were dropped, mostly because '{main}' "
            f"({drops.counts[main]:,} rows). {_hint(main, cmap, info, min_events)}"
        )
        if main in ROLE_OF_REASON:  # another column may be the right one: the caller says how to choose it
            raise ColumnError(message, ROLE_OF_REASON[main], source_columns, cmap.columns())
        raise one_line_error(message)

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
    return apply_filters(log, EventFilter(min_rating=min_rating), min_events)


def _categorical(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """Categorical with only the categories that occur (cheaper than remove_unused_categories)."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return pd.Categorical.from_codes(remap[codes], categories=[names[i] for i in used])


# The drop reasons that blame one column: when every row is dropped for one of them, another column may be right
ROLE_OF_REASON = {
    REASON_NO_TIME: "timestamp",
    REASON_BAD_TIME: "timestamp",
    REASON_TIME_RANGE: "timestamp",
    REASON_NO_USER: "user",
    REASON_NO_ITEM: "item",
}
ROLE_WORDS = {"timestamp": "time", "user": "user", "item": "item"}


def _hint(reason: str, cmap: ColumnMapping | None, info: ReadInfo, min_events: int = 1) -> str:
    if reason == REASON_BAD_JSON:
        return "Check that every line is one JSON object, or save the events as CSV."
    if reason == REASON_MALFORMED:
        delim = info.delimiter
        words = {"\t": "tab", None: "none"}.get(delim, f"'{delim}'")
        return f"Check that every line has as many fields as the first line (fields were split on {words})."
    if reason in ROLE_OF_REASON:  # how to choose another column is the caller's to say (ColumnError.role)
        role = ROLE_OF_REASON[reason]
        col = getattr(cmap, role) if cmap else "?"
        return f"Check the {ROLE_WORDS[role]} column '{col}', or choose another one."
    if reason == reason_few_events(min_events):
        return f"Lower the minimum number of events per user (now {min_events})."
    return "Check the file."
