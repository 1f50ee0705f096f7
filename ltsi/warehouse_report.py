"""What a large-log scan dropped and why: the engine's tally of the classified rows (one pass), the
report's reason texts and examples, and the sentence about the filters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ltsi.event_log import (
    REASON_BAD_TIME,
    REASON_NO_ITEM,
    REASON_NO_TIME,
    REASON_NO_USER,
    REASON_TIME_RANGE,
    plain_cell,
    reason_low_rating,
)
from ltsi.filters import EventFilter, reason_after, reason_before, reason_event_type
from ltsi.readers import MAX_EXAMPLES
from ltsi.warehouse_sql import (
    AFTER,
    BAD_TIME,
    BEFORE,
    EVENT_TYPE,
    FILTER_CODES,
    LOW_RATING,
    NO_ITEM,
    NO_TIME,
    NO_USER,
    NOT_SAMPLED,
    TIME_RANGE,
)


@dataclass
class Tally:
    rows_read: int
    counts: dict[int, int]  # reason code -> rows
    examples: dict[int, list[list[str | None]]]  # reason code -> [file, row, cells...] of the first rows
    known_types: list[str]  # event types of the rows that pass the checks of loading
    kept_types: list[str]  # event types of the rows left for the duplicate and minimum-events checks
    candidates: int  # rows left for the duplicate and minimum-events checks
    blank_events: int  # of those, rows without an event type


def tally_rows(con: duckdb.DuckDBPyConnection) -> Tally:
    """Counts the rows of the view `classified` by drop reason, with the first examples of each."""
    filter_codes = ", ".join(str(c) for c in FILTER_CODES)
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
    return Tally(
        rows_read=sum(int(r[2]) for r in rows),
        counts=counts,
        examples=examples,
        known_types=sorted(known),
        kept_types=sorted(kept),
        candidates=candidates,
        blank_events=blank,
    )


def reason_texts(filters: EventFilter | None, known_types: list[str], not_sampled: str) -> dict[int, str]:
    """The report's text of each reason code; `not_sampled` is the text of the users left out of the sample."""
    texts = {
        NO_USER: REASON_NO_USER,
        NOT_SAMPLED: not_sampled,
        NO_ITEM: REASON_NO_ITEM,
        NO_TIME: REASON_NO_TIME,
        BAD_TIME: REASON_BAD_TIME,
        TIME_RANGE: REASON_TIME_RANGE,
    }
    if filters is not None:
        if filters.start is not None:
            texts[BEFORE] = reason_before(filters.start)
        if filters.end is not None:
            texts[AFTER] = reason_after(filters.end)
        if filters.event_types is not None:
            texts[EVENT_TYPE] = reason_event_type([t for t in known_types if t not in filters.event_types])
        if filters.min_rating is not None:
            texts[LOW_RATING] = reason_low_rating(filters.min_rating)
    return texts


def _filter_phrases(filters: EventFilter, known_types: list[str]) -> dict[int, str]:
    """The words of the report's filter sentence, as ltsi.filters writes them."""
    left_out = [t for t in known_types if t not in (filters.event_types or ())]
    quoted = ", ".join(f"'{t}'" for t in left_out)
    return {
        BEFORE: f"before {filters.start.isoformat()}" if filters.start else "",
        AFTER: f"after {filters.end.isoformat()}" if filters.end else "",
        EVENT_TYPE: f"of event type{'s' if len(left_out) > 1 else ''} {quoted}",
        LOW_RATING: f"rated below {filters.min_rating:g} or not rated" if filters.min_rating is not None else "",
    }


def filter_note(filters: EventFilter, tally: Tally) -> str:
    """The report's sentence on what the filters removed, as ltsi.filters writes it."""
    removed = {code: tally.counts[code] for code in FILTER_CODES if tally.counts.get(code)}
    total = sum(removed.values())
    if not total:
        return "The filters removed no events: every event passes them."
    before_filters = total + tally.candidates
    share = total / before_filters
    percent = "under 1%" if share < 0.01 else f"{share:.0%}"
    phrases = _filter_phrases(filters, tally.known_types)
    parts = ", ".join(f"{n:,} {phrases[code]}" for code, n in removed.items())
    return f"Filters removed {total:,} event{'' if total == 1 else 's'} ({percent}): {parts}."


def engine_example(shown: list[str | None], columns: list[str], several_files: bool) -> dict:
    """A dropped row as the report shows it: its file line (and file name when there are several), then its cells."""
    file, row, *cells = shown
    example: dict[str, Any] = {} if row is None else {"row": int(row)}
    if several_files and file is not None:
        example["file"] = Path(file).name
    example.update({col: plain_cell(cell) for col, cell in zip(columns, cells)})
    return example
