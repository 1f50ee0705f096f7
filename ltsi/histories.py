"""Histories: one user's events (possibly edited) or a list of items no user has, before and after padding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ltsi.batches import Batch
from ltsi.errors import LTSIError
from ltsi.sequences import FIRST_EVENT_BUCKET, Sequences, gap_buckets


@dataclass
class History:
    """One history, oldest first, as model inputs before padding (see `edit_history`, `new_history`)."""

    positions: np.ndarray  # (n,) position in the user's chronological sequence; -1 for an added event
    items: np.ndarray  # (n,) item index
    events: np.ndarray  # (n,) event-type index
    gaps: np.ndarray  # (n,) gap bucket

    def __len__(self) -> int:
        return len(self.items)


def _history_end(seqs: Sequences, u: int, end: int | None) -> int:
    length = int(seqs.lengths[u])
    if end is None:
        return length
    if not 1 <= end <= length:
        raise LTSIError(f"User {seqs.users[u]!r} has {length} events; the history must keep 1 to {length} of them.")
    return int(end)


def _added(
    seqs: Sequences, item_ids: Sequence[str], events: Sequence[str] | None, first: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item, event-type and gap indices of items added without timestamps; (n,) each.

    Event types default to the log's most common one, and every gap is the log's median bucket, so
    the model sees an ordinary rhythm; `first`: nothing comes before them (first gap = first event).
    """
    items = seqs.items.encode(list(item_ids), "item")
    if events is None:
        event_ids = np.full(len(items), np.bincount(seqs.event_ids).argmax(), dtype=np.int64)
    else:
        if len(events) != len(item_ids):
            raise LTSIError("Give one event type per appended item (or none to use the most common type).")
        event_ids = seqs.event_types.encode(list(events), "event type")
    gaps = np.full(len(items), int(np.median(seqs.gap_ids)), dtype=np.int64)
    if first and len(gaps):
        gaps[0] = FIRST_EVENT_BUCKET
    return items, event_ids, gaps


def edit_history(
    seqs: Sequences,
    u: int,
    end: int | None = None,
    remove: Sequence[int] = (),
    append: Sequence[str] = (),
    append_events: Sequence[str] | None = None,
    allow_empty: bool = False,
) -> History:
    """User u's events [0, end) without the positions in `remove`, then the items in `append`.

    Time gaps are recomputed from the timestamps of the kept events, so the event after a removed
    one sees the gap to its new predecessor. Appended items have no timestamp: they get the most
    common event type (unless `append_events` is given) and the log's median gap, as in
    `new_history`. An empty result is an error unless `allow_empty` (occlusion of a one-event
    history: the model then scores from no events at all).
    """
    end = _history_end(seqs, u, end)
    keep = np.ones(end, dtype=bool)
    remove = np.asarray(list(remove), dtype=np.int64)
    if remove.size and (remove.min() < 0 or remove.max() >= end):
        raise LTSIError(f"Events to remove must be positions 0 to {end - 1} of this user's history.")
    keep[remove] = False
    kept = np.flatnonzero(keep)  # (n,)
    flat = seqs.offsets[u] + kept
    items, events = seqs.item_ids[flat], seqs.event_ids[flat]
    if len(kept) and not len(remove):
        gaps = seqs.gap_ids[flat]  # untouched history: the stored buckets (identical to recomputing)
    elif len(kept):
        first = np.zeros(len(kept), dtype=bool)
        first[0] = True
        gaps = gap_buckets(seqs.timestamps[flat], first)
    else:
        gaps = np.zeros(0, dtype=np.int64)
    positions = kept
    if len(append):
        added, added_events, added_gaps = _added(seqs, append, append_events, first=not len(kept))
        items = np.concatenate([items, added])
        events = np.concatenate([events, added_events])
        gaps = np.concatenate([gaps, added_gaps])
        positions = np.concatenate([positions, np.full(len(added), -1, dtype=np.int64)])
    if not len(items) and not allow_empty:
        raise LTSIError("The edited history is empty: keep or add at least one event.")
    return History(positions.astype(np.int64), items.astype(np.int64), events.astype(np.int64), gaps.astype(np.int64))


def new_history(
    seqs: Sequences,
    item_ids: Sequence[str],
    events: Sequence[str] | None = None,
    timestamps: Sequence[pd.Timestamp] | None = None,
) -> History:
    """A what-if history of item ids, oldest first, that belongs to no user (every position is -1).

    Event types default to the most common one; without timestamps every gap is the median bucket
    of the log (see `edit_history`), with them the gaps are bucketed as in the log.
    """
    if not len(item_ids):
        raise LTSIError("The history is empty: keep or add at least one event.")
    items, event_ids, gaps = _added(seqs, item_ids, events, first=True)
    if timestamps is not None:
        if len(timestamps) != len(item_ids):
            raise LTSIError("Give one timestamp per item (or none to use the log's usual gap).")
        seconds = np.array([pd.Timestamp(t).timestamp() for t in timestamps], dtype=np.int64)
        first = np.zeros(len(seconds), dtype=bool)
        first[0] = True
        gaps = gap_buckets(seconds, first)
    return History(np.full(len(items), -1, dtype=np.int64), items, event_ids, gaps)


def pad_histories(histories: Sequence[History], max_len: int, full: bool = False) -> Batch:
    """Left-padded batch of the last `max_len` events of each history.

    The batch is only as wide as its longest row (<= max_len), unless `full` (always max_len): the
    all-padding columns change nothing in LTSI (masked attention, packed LSTM) and only cost time.
    """
    width = max_len if full else max(1, min(max_len, max(len(h) for h in histories)))  # empty: one padding column
    out = np.zeros((3, len(histories), width), dtype=np.int64)  # items, events, gaps
    for i, h in enumerate(histories):
        n = min(len(h), width)
        if n:
            out[0, i, width - n :] = h.items[-n:]
            out[1, i, width - n :] = h.events[-n:]
            out[2, i, width - n :] = h.gaps[-n:]
    return Batch(*(torch.from_numpy(a) for a in out))


def custom_history(
    seqs: Sequences,
    item_ids: list[str],
    max_len: int,
    events: list[str] | None = None,
    timestamps: list[pd.Timestamp] | None = None,
) -> Batch:
    """A batch of one, `max_len` wide, for a what-if history of item ids (see `new_history`)."""
    return pad_histories([new_history(seqs, item_ids, events, timestamps)], max_len, full=True)
