"""Data-shape notes: plain sentences, with numbers, about what the kept events look like.

Bulk-entered bursts (whose order is unknown), user ids that look like sessions, and ratings (what a minimum
rating would keep, or what it removed). `ltsi.events` and `ltsi.warehouse` add them to a loaded log's report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltsi.event_log import ValidationReport, reason_low_rating
from ltsi.times import UNIT_NONE

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
