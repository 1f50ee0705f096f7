"""What-if scenarios: a user's history edited by removing, adding and moving events or cutting it at a date.

An `Edit` names events by their position in the user's chronological sequence (the `#` the dashboard
and `ltsi.explain` show), so an edit reads the same whatever came before it: "move event #12 to just
before event #20". Added events have no such position (-1 in the result) and cannot be referred to by
later edits; undo the edit instead. `apply_edits` applies a list of edits in order to the history
[0, end) and returns a `ltsi.histories.History` the model can score; `describe_edits` says each edit
in plain words.

Every event carries a timestamp while edits are applied, so time gaps stay those of a real history:
an added or moved event gets the time half-way between its new neighbours (the log's usual gap
before the first or after the last event), and the gap buckets are recomputed from those times,
exactly as `edit_history` does after a removal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ltsi.errors import LTSIError
from ltsi.histories import History, edit_history
from ltsi.sequences import Sequences, gap_buckets

KINDS = ("remove", "insert", "move", "truncate")
FALLBACK_GAP_S = 60  # a log whose users never have two events at different times: one minute apart


@dataclass(frozen=True)
class Edit:
    """One change to a history. Build it with `Edit.remove`, `Edit.insert`, `Edit.move` or `Edit.truncate`.

    `position`: remove / move: the event's position in the user's sequence; insert: the new event goes
    just before this event (the history's length: after the last event). `to`: move: just before this
    event (the history's length: after the last). `time`: truncate: keep events at or before it (UTC).
    """

    kind: str
    position: int | None = None
    item_id: str | None = None
    event: str | None = None  # insert: the event type (None: the log's most common one)
    to: int | None = None
    time: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LTSIError(f"Unknown kind of change {self.kind!r}: use one of {', '.join(KINDS)}.")
        needs = {"remove": ("position",), "insert": ("position", "item_id"), "move": ("position", "to")}
        missing = [name for name in needs.get(self.kind, ("time",)) if getattr(self, name) is None]
        if missing:
            raise LTSIError(f"A '{self.kind}' change needs its {' and '.join(missing)}.")
        if self.time is not None:  # one timezone, so that equal times compare (and hash) equal
            stamp = pd.Timestamp(self.time)
            utc = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
            object.__setattr__(self, "time", utc)
        for name in ("position", "to"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))

    @classmethod
    def remove(cls, position: int) -> Edit:
        return cls("remove", position=position)

    @classmethod
    def insert(cls, position: int, item_id: str, event: str | None = None) -> Edit:
        return cls("insert", position=position, item_id=str(item_id), event=event)

    @classmethod
    def move(cls, position: int, to: int) -> Edit:
        return cls("move", position=position, to=to)

    @classmethod
    def truncate(cls, time: pd.Timestamp | str) -> Edit:
        return cls("truncate", time=pd.Timestamp(time))


@dataclass(frozen=True)
class Scenario:
    """A named list of edits of one user's history, applied in order."""

    name: str
    edits: tuple[Edit, ...]

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise LTSIError("Give the scenario a name.")
        object.__setattr__(self, "name", str(self.name).strip())
        object.__setattr__(self, "edits", tuple(self.edits))


@dataclass
class _Event:
    """One event while edits are applied (position -1: added)."""

    position: int
    item: int
    event: int
    seconds: int


def usual_gap_seconds(seqs: Sequences) -> int:
    """The median time between two consecutive events of the same user (seconds, at least 1)."""
    gaps = np.diff(seqs.timestamps)  # (E - 1,)
    same_user = np.ones(len(gaps), dtype=bool)
    same_user[seqs.offsets[1:-1] - 1] = False  # the step from one user's last event to the next user's first
    within = gaps[same_user & (gaps > 0)]
    return int(np.median(within)) if len(within) else FALLBACK_GAP_S


def _index_of(events: list[_Event], position: int, n: int) -> int:
    """Where event #position is now in the edited list; a plain error when it is not there."""
    if not 0 <= position < n:
        raise LTSIError(f"Event #{position} is not in this history: choose an event from #0 to #{n - 1}.")
    for i, e in enumerate(events):
        if e.position == position:
            return i
    raise LTSIError(
        f"Event #{position} is no longer in the edited history (an earlier change removed it or cut it off)."
    )


def _slot(events: list[_Event], before: int, n: int) -> int:
    """The list index "just before event #before" (#n: after the last event)."""
    if before == n:
        return len(events)
    if not 0 <= before < n:
        raise LTSIError(f"Place it just before an event from #0 to #{n - 1}, or at the end (#{n}).")
    return _index_of(events, before, n)


def _time_at(events: list[_Event], slot: int, gap: int) -> int:
    """A timestamp for an event put at `slot`: half-way between its neighbours, or one usual gap beyond the only one."""
    previous = events[slot - 1].seconds if slot > 0 else None
    following = events[slot].seconds if slot < len(events) else None
    if previous is not None and following is not None:
        return (previous + following) // 2
    if previous is not None:
        return previous + gap
    if following is not None:
        return following - gap
    return 0  # the only event: its gap is "first event" whatever its time


def apply_edits(seqs: Sequences, user: str, edits: Sequence[Edit], end: int | None = None) -> History:
    """User `user`'s events [0, end) after `edits`, in order, as model inputs (positions: -1 for added events).

    Without edits this is `edit_history(seqs, u, end)` itself. Raises an LTSIError in plain words for an
    event that is not (or no longer) in the history, an unknown item or event type, and an empty result.
    """
    u = seqs.user_index(user)
    real = edit_history(seqs, u, end)  # checks `end`
    if not len(edits):
        return real
    n = len(real)
    flat = seqs.offsets[u] + real.positions  # (n,) the events in the flat arrays
    events = [
        _Event(int(p), int(i), int(e), int(t))
        for p, i, e, t in zip(real.positions, real.items, real.events, seqs.timestamps[flat])
    ]
    gap = usual_gap_seconds(seqs)
    common_event = int(np.bincount(seqs.event_ids).argmax())
    for edit in edits:
        if edit.kind == "remove":
            del events[_index_of(events, edit.position, n)]
        elif edit.kind == "move":
            if edit.to == edit.position:
                raise LTSIError(f"Event #{edit.position} cannot be moved to just before itself: choose another place.")
            was = _index_of(events, edit.position, n)
            moved = events.pop(was)
            slot = _slot(events, edit.to, n)
            if slot == was:  # e.g. just before the event that already follows it
                raise LTSIError(f"Event #{edit.position} is already there: choose another place.")
            moved.seconds = _time_at(events, slot, gap)
            events.insert(slot, moved)
        elif edit.kind == "insert":
            item = int(seqs.items.encode([edit.item_id], "item")[0])
            kind = common_event if edit.event is None else int(seqs.event_types.encode([edit.event], "event type")[0])
            slot = _slot(events, edit.position, n)
            events.insert(slot, _Event(-1, item, kind, _time_at(events, slot, gap)))
        else:  # truncate
            cut = int(edit.time.timestamp())
            events = [e for e in events if e.seconds <= cut]
            if not events:
                when = f"{edit.time:%Y-%m-%d %H:%M}"
                raise LTSIError(f"Cutting the history at {when} leaves no event: choose a later time.")
    if not events:
        raise LTSIError("The edited history is empty: keep or add at least one event.")
    seconds = np.array([e.seconds for e in events], dtype=np.int64)  # (m,)
    first = np.zeros(len(events), dtype=bool)
    first[0] = True
    return History(
        np.array([e.position for e in events], dtype=np.int64),
        np.array([e.item for e in events], dtype=np.int64),
        np.array([e.event for e in events], dtype=np.int64),
        gap_buckets(seconds, first),
    )


def describe_edits(
    seqs: Sequences,
    user: str,
    edits: Sequence[Edit],
    end: int | None = None,
    name: Callable[[str], str] = str,
) -> list[str]:
    """Each edit in plain words, e.g. "Added Red sneaker (P7) as a view just before event #12".

    `name`: item id -> how a person reads it (default: the id). Plain text, not escaped.
    """
    table = seqs.user_events(seqs.user_index(user))
    n = len(table) if end is None else int(end)

    def event_words(position: int) -> str:
        if not 0 <= position < n:
            return f"event #{position}"
        row = table.iloc[position]
        return f"event #{position} ({name(str(row['item_id']))}, {row['event']}, {row['timestamp']:%Y-%m-%d})"

    def place(before: int) -> str:
        return "at the end" if before == n else f"just before event #{before}"

    lines = []
    for edit in edits:
        if edit.kind == "remove":
            lines.append(f"Removed {event_words(edit.position)}")
        elif edit.kind == "insert":
            kind = f" as a {edit.event}" if edit.event else ""
            lines.append(f"Added {name(str(edit.item_id))}{kind} {place(edit.position)}")
        elif edit.kind == "move":
            lines.append(f"Moved {event_words(edit.position)} {'to the end' if edit.to == n else place(edit.to)}")
        else:
            lines.append(f"Cut the history after {edit.time:%Y-%m-%d %H:%M}: later events are left out")
    return lines
