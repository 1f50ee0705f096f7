"""What loading an event log produces: the canonical event table (`EventLog`) and its `ValidationReport`.

This is the contract the later stages code against (`ltsi.events` builds it from a file, `ltsi.warehouse`
from a DuckDB scan, `ltsi.filters` narrows it), with the reasons a row is dropped, in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ltsi.columns import ROLES, ColumnMapping
from ltsi.errors import one_line_error
from ltsi.times import UNIT_WORDS

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
