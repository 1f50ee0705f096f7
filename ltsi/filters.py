"""Filters applied to a loaded event log before training: a date range, event types, a minimum rating.

One `EventFilter` holds the analyst's choices; `apply_filters` returns the log with only the events
that pass. The removed rows are counted per reason in the report (with examples, as the rows dropped
at loading), users left with fewer than `min_events` events are dropped as at loading, and the
report's `filter_note` says in one sentence what the filters removed. Filter the log as loaded (the
dashboard keeps it and filters it again when the analyst changes the filters): filtering a filtered
log adds to its counts but its sentence only tells about the last filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ltsi.data_notes import data_shape_notes
from ltsi.errors import one_line_error
from ltsi.event_log import EventLog, plain_cell, reason_few_events, reason_low_rating
from ltsi.readers import MAX_EXAMPLES
from ltsi.times import UNIT_NONE

__all__ = [
    "EventFilter",
    "apply_filters",
    "effective_filter",
    "filter_from_text",
    "log_days",
    "reason_before",
    "reason_after",
    "reason_event_type",
]

NAMES_SHOWN = 5  # event types named in a reason or sentence; more are counted ("and 3 more")


def reason_before(start: dt.date) -> str:
    return f"event is before {start.isoformat()}, the first day chosen"


def reason_after(end: dt.date) -> str:
    return f"event is after {end.isoformat()}, the last day chosen"


def reason_event_type(left_out: Iterable[str]) -> str:
    return f"event type is not one of those chosen ({_quoted(left_out)})"


@dataclass(frozen=True)
class EventFilter:
    """What to keep: events from `start` to `end` (whole days in UTC, both included), of `event_types`
    (None keeps every type), rated `min_rating` or more (None keeps every event). All None keeps all."""

    start: dt.date | None = None
    end: dt.date | None = None
    event_types: tuple[str, ...] | None = None
    min_rating: float | None = None

    def __post_init__(self) -> None:
        # frozen: normalised values are set through object.__setattr__
        object.__setattr__(self, "start", _day(self.start, "first"))
        object.__setattr__(self, "end", _day(self.end, "last"))
        if self.start is not None and self.end is not None and self.start > self.end:
            raise one_line_error(
                f"The first day ({self.start.isoformat()}) is after the last day ({self.end.isoformat()}): "
                "choose a first day on or before the last one."
            )
        if self.event_types is not None:
            if isinstance(self.event_types, str):  # one type given as text, not its letters
                raise one_line_error(f"Give the event types as a list, not as the text {self.event_types!r}.")
            types = tuple(sorted({str(t) for t in self.event_types}))  # order does not change what is kept
            if not types:
                raise one_line_error("Choose at least one event type to keep.")
            object.__setattr__(self, "event_types", types)
        if self.min_rating is not None:
            rating = self.min_rating
            if isinstance(rating, bool) or not isinstance(rating, (int, float, np.integer, np.floating)):
                raise one_line_error(f"The minimum rating must be a number, not {rating!r}.")
            if not np.isfinite(rating):
                raise one_line_error(f"The minimum rating must be a finite number, not {rating}.")
            object.__setattr__(self, "min_rating", float(rating))

    @property
    def active(self) -> bool:
        """Whether the filter removes anything at all (a filter of all None keeps every event)."""
        return any(v is not None for v in (self.start, self.end, self.event_types, self.min_rating))

    def key(self) -> str:
        """A short text that is the same for the same filter (for cache keys); '' when it keeps everything."""
        parts = [
            f"from {self.start.isoformat()}" if self.start else "",
            f"to {self.end.isoformat()}" if self.end else "",
            "types " + "|".join(self.event_types) if self.event_types else "",
            f"rating {self.min_rating!r}" if self.min_rating is not None else "",
        ]
        return "; ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "event_types": None if self.event_types is None else list(self.event_types),
            "min_rating": self.min_rating,
        }


def filter_from_text(
    since: str | None, until: str | None, event_types: str | None, min_rating: float | None = None
) -> EventFilter:
    """The filter of the command line's --since / --until (dates like 2020-01-31), --event-types
    (names separated by commas) and --min-rating."""
    types = None
    if event_types is not None:
        types = tuple(t.strip() for t in event_types.split(",") if t.strip())
        if not types:
            raise one_line_error("--event-types needs at least one event type, e.g. --event-types purchase,cart.")
    start, end = _date_from_text(since, "--since"), _date_from_text(until, "--until")
    return EventFilter(start=start, end=end, event_types=types, min_rating=min_rating)


def log_days(log: EventLog) -> tuple[dt.date, dt.date]:
    """The first and last day (UTC) of the log's events: the widest date range a filter can choose."""
    times = log.events["timestamp"]
    return times.min().date(), times.max().date()


def effective_filter(filters: EventFilter, log: EventLog) -> EventFilter | None:
    """Only the parts of `filters` that can remove events of `log`; None when none can.

    For choices made on widgets that default to the whole log: a first day on or before the log's
    first day, a last day on or after its last day, every event type of the log, or a minimum rating
    at the bottom of its rating scale keep everything, and are left out (so the data stays "the log as
    read"). Event types the log does not have are left out too: the choice was made before the event
    column was changed.
    """
    first, last = log_days(log)
    known = {str(t) for t in log.events["event"].cat.categories}
    types = None if filters.event_types is None else [t for t in filters.event_types if t in known]
    scale = log.report.rating_range
    effective = EventFilter(
        start=filters.start if filters.start is not None and filters.start > first else None,
        end=filters.end if filters.end is not None and filters.end < last else None,
        event_types=tuple(types) if types and set(types) != known else None,
        min_rating=(
            filters.min_rating
            if filters.min_rating is not None and scale is not None and filters.min_rating > scale[0]
            else None
        ),
    )
    return effective if effective.active else None


def apply_filters(log: EventLog, filters: EventFilter, min_events: int = 1) -> EventLog:
    """The log with only the events that pass `filters`; see the module docstring.

    Each removed row is counted under the first reason it hits, in the order: before the first day,
    after the last day, event type, rating, then users left with fewer than `min_events` events.
    Raises LTSIError when a filter cannot apply (no time or rating column, an event type the log does
    not have) or when no event is left.
    """
    if not isinstance(min_events, (int, np.integer)) or min_events < 1:
        raise one_line_error(f"The minimum number of events per user must be 1 or more, not {min_events}.")
    if not filters.active:
        return log
    report, events = log.report, log.events
    _check_applicable(log, filters)
    removed = _Removals(events)
    times = events["timestamp"]
    if filters.start is not None:
        first = pd.Timestamp(filters.start, tz="UTC")
        removed.drop(reason_before(filters.start), f"before {filters.start.isoformat()}", (times < first).to_numpy())
    if filters.end is not None:
        after_last = pd.Timestamp(filters.end, tz="UTC") + pd.Timedelta(days=1)  # the whole last day is kept
        removed.drop(reason_after(filters.end), f"after {filters.end.isoformat()}", (times >= after_last).to_numpy())
    if filters.event_types is not None:
        left_out = [t for t in events["event"].cat.categories if t not in filters.event_types]
        phrase = f"of event type{'s' if len(left_out) > 1 else ''} {_quoted(left_out)}"
        unchosen = ~events["event"].isin(filters.event_types).to_numpy()
        removed.drop(reason_event_type(left_out), phrase, unchosen)
    if filters.min_rating is not None:
        low = ~(events["value"].to_numpy() >= filters.min_rating)  # NaN compares False: no rating is not >= x
        removed.drop(reason_low_rating(filters.min_rating), f"rated below {filters.min_rating:g} or not rated", low)
    if min_events > 1:
        users = pd.factorize(events["user_id"])[0]  # (rows,) user codes
        per_user = np.bincount(users[removed.keep], minlength=users.max() + 1 if len(users) else 0)  # (users,)
        few = per_user[users] < min_events  # (rows,)
        removed.drop(reason_few_events(min_events), f"of users left with fewer than {min_events} events", few)
    if not removed.keep.any():
        raise one_line_error(_nothing_left(filters, min_events))

    kept = events[removed.keep].reset_index(drop=True)
    kept["event"] = kept["event"].cat.remove_unused_categories()
    dropped, examples = dict(report.dropped), {k: list(v) for k, v in report.examples.items()}
    for reason, count in removed.counts.items():
        dropped[reason] = dropped.get(reason, 0) + count
        examples.setdefault(reason, []).extend(removed.examples[reason])
    n_users = int(kept["user_id"].nunique())
    filtered = replace(
        report,
        rows_kept=len(kept),
        dropped=dropped,
        examples=examples,
        time_min=kept["timestamp"].min(),
        time_max=kept["timestamp"].max(),
        n_users=n_users,
        n_items=int(kept["item_id"].nunique()),
        event_counts={str(k): int(v) for k, v in kept["event"].value_counts().items() if v},
        notes=list(report.notes),
        min_rating=filters.min_rating,
        filters=filters.to_dict(),
        filter_note=removed.sentence(len(events), report.n_users - n_users),
    )
    filtered.data_notes = data_shape_notes(kept, filtered)
    return EventLog(events=kept, report=filtered, items=log.items)


class _Removals:
    """Rows removed by the filters: each counted under its first reason, with examples and a short phrase."""

    def __init__(self, events: pd.DataFrame) -> None:
        self.events = events
        self.keep = np.ones(len(events), dtype=bool)  # (rows,)
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[dict]] = {}
        self.phrases: dict[str, str] = {}  # reason -> the words in the report's sentence ("before 2020-01-01")

    def drop(self, reason: str, phrase: str, mask: np.ndarray) -> None:
        hit = mask & self.keep
        count = int(hit.sum())
        if not count:
            return
        self.keep &= ~hit
        self.counts[reason], self.phrases[reason] = count, phrase
        shown = self.events.iloc[np.flatnonzero(hit)[:MAX_EXAMPLES]]
        # no file line: the rows were validated before the filters
        self.examples[reason] = [
            {col: plain_cell(row[col]) for col in ("user_id", "item_id", "timestamp", "event", "value")}
            for _, row in shown.iterrows()
        ]

    def sentence(self, rows_before: int, users_removed: int) -> str:
        """'Filters removed 1,234 events (5%) and 56 users: 1,100 before 2020-01-01, 134 of event type 'view'.'"""
        total = sum(self.counts.values())
        if not total:
            return "The filters removed no events: every event passes them."
        share = total / rows_before
        percent = "under 1%" if share < 0.01 else f"{share:.0%}"
        users = f"{users_removed:,} user{'' if users_removed == 1 else 's'}"
        parts = ", ".join(f"{count:,} {self.phrases[reason]}" for reason, count in self.counts.items())
        return f"Filters removed {total:,} event{'' if total == 1 else 's'} ({percent}) and {users}: {parts}."


def _check_applicable(log: EventLog, filters: EventFilter) -> None:
    """Refuses a filter the log has no column for, or an event type it does not have."""
    report = log.report
    if (filters.start is not None or filters.end is not None) and report.timestamp_unit == UNIT_NONE:
        raise one_line_error(
            "The log has no time column (its order is the file's), so it cannot be filtered by date: "
            "choose the time column first."
        )
    if filters.min_rating is not None and report.mapping.value is None:
        raise one_line_error(
            "A minimum rating needs a rating column: choose the column with the ratings as the value column first."
        )
    if filters.event_types is not None:
        known = [str(t) for t in log.events["event"].cat.categories]
        unknown = [t for t in filters.event_types if t not in known]
        if unknown:
            raise one_line_error(
                f"The log has no event type {_quoted(unknown, ' or ')}; its event types are {_quoted(known)}."
            )


def _nothing_left(filters: EventFilter, min_events: int) -> str:
    """Why no event passes the filters, and what to change."""
    conditions, advice = [], []
    if filters.start is not None or filters.end is not None:
        first = filters.start.isoformat() if filters.start else "the start"
        last = filters.end.isoformat() if filters.end else "the end"
        conditions.append(f"is from {first} to {last}")
        advice.append("widen the dates")
    if filters.event_types is not None:
        conditions.append(f"is of event type {_quoted(filters.event_types, ' or ')}")
        advice.append("choose more event types")
    if filters.min_rating is not None:
        conditions.append(f"has a rating of at least {filters.min_rating:g}")
        advice.append("lower the minimum rating")
    users = f" from a user with {min_events} or more such events" if min_events > 1 else ""
    advice_words = ", ".join(advice[:-1]) + (" or " if len(advice) > 1 else "") + advice[-1]
    return f"No usable rows: no event {' and '.join(conditions)}{users}. {advice_words[0].upper()}{advice_words[1:]}."


def _day(value: Any, which: str) -> dt.date | None:
    """A date from a date or a date-time (its day); None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):  # pd.Timestamp too: both are dates with a time
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise one_line_error(f"The {which} day must be a date, not {value!r}.")


def _date_from_text(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise one_line_error(f"{option} must be a date like 2020-01-31, not {text!r}.") from None


def _quoted(names: Iterable[str], joiner: str = ", ") -> str:
    """'a', 'b', 'c' (at most NAMES_SHOWN named, then 'and 3 more')."""
    names = [str(n) for n in names]
    shown = joiner.join(f"'{n}'" for n in names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")
