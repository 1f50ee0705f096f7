"""Events -> integer vocabularies, per-user chronological sequences, splits, what-if histories and padded batches.

Layout: all users' events live in flat arrays ordered by (user, timestamp, original row order);
`offsets[u]:offsets[u + 1]` is user u's slice (CSR style), so millions of events cost a few arrays,
not millions of Python lists. Index 0 of every vocabulary is padding, and batches are left-padded:
the most recent event is always in the last column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ltsi.errors import LTSIError

PADDING_IDX = 0
PAD_TOKEN = "<pad>"
# Gap buckets: 0 = padding, 1 = first event of a user (no previous event), 2.. = 2 + floor(log2(1 + seconds)).
# log2 of a century in seconds is ~31.6, so 34 buckets cover every gap a real log can have.
N_GAP_BUCKETS = 34
FIRST_EVENT_BUCKET = 1


@dataclass(frozen=True)
class Vocabulary:
    """Tokens <-> integer ids; id 0 is always padding."""

    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[0] != PAD_TOKEN:
            raise LTSIError(f"A vocabulary must start with the padding token {PAD_TOKEN!r}.")
        index = {token: i for i, token in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            raise LTSIError("A vocabulary has the same token twice.")
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_values(cls, values: list[str]) -> Vocabulary:
        return cls((PAD_TOKEN, *values))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def encode(self, values, what: str = "value") -> np.ndarray:
        """Ids of `values`; an unknown value is an LTSIError that names it."""
        out = np.empty(len(values), dtype=np.int64)
        for i, value in enumerate(values):
            idx = self._index.get(str(value))
            if idx is None or idx == PADDING_IDX:
                raise LTSIError(f"Unknown {what} {value!r}: it does not occur in the training data.")
            out[i] = idx
        return out

    def decode(self, ids) -> list[str]:
        return [self.tokens[int(i)] for i in ids]


def gap_buckets(timestamps_s: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Log2-bucketed seconds since the previous event; `first` marks each user's first event."""
    gaps = np.diff(timestamps_s, prepend=timestamps_s[:1]).astype(np.float64)  # (E,)
    gaps = np.clip(gaps, 0, None)
    buckets = 2 + np.floor(np.log2(1.0 + gaps)).astype(np.int64)
    buckets = np.minimum(buckets, N_GAP_BUCKETS - 1)
    buckets[first] = FIRST_EVENT_BUCKET
    return buckets


@dataclass
class Sequences:
    """Every user's chronological events as flat arrays (see module docstring)."""

    users: tuple[str, ...]  # user ids, position = user index
    items: Vocabulary
    event_types: Vocabulary
    offsets: np.ndarray  # (U + 1,) int64, user u's events are offsets[u]:offsets[u + 1]
    item_ids: np.ndarray  # (E,) int64 item index, never padding
    event_ids: np.ndarray  # (E,) int64 event-type index, never padding
    gap_ids: np.ndarray  # (E,) int64 gap bucket, never padding
    timestamps: np.ndarray  # (E,) int64 seconds since the epoch
    _user_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n_events = len(self.item_ids)
        for name in ("event_ids", "gap_ids", "timestamps"):
            if len(getattr(self, name)) != n_events:
                raise LTSIError(f"Sequences: '{name}' has {len(getattr(self, name))} entries, expected {n_events}.")
        if len(self.offsets) != len(self.users) + 1 or self.offsets[0] != 0 or self.offsets[-1] != n_events:
            raise LTSIError("Sequences: 'offsets' must start at 0, end at the number of events, one per user + 1.")
        if np.any(np.diff(self.offsets) <= 0):
            raise LTSIError("Sequences: every user needs at least one event ('offsets' must increase).")
        if n_events and (self.item_ids.min() <= PADDING_IDX or self.item_ids.max() >= len(self.items)):
            raise LTSIError("Sequences: 'item_ids' must lie in 1..len(items) - 1 (0 is padding).")
        if n_events and (self.event_ids.min() <= PADDING_IDX or self.event_ids.max() >= len(self.event_types)):
            raise LTSIError("Sequences: 'event_ids' must lie in 1..len(event_types) - 1 (0 is padding).")
        self._user_index = {user: u for u, user in enumerate(self.users)}

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_events(self) -> int:
        return len(self.item_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def user_index(self, user_id: str) -> int:
        u = self._user_index.get(str(user_id))
        if u is None:
            raise LTSIError(f"Unknown user {user_id!r}: there is no such user in this log.")
        return u

    def user_events(self, u: int) -> pd.DataFrame:
        """One row per event of user u, in order: position, timestamp, item_id, event."""
        s = slice(self.offsets[u], self.offsets[u + 1])
        return pd.DataFrame(
            {
                "position": np.arange(s.stop - s.start),
                "timestamp": pd.to_datetime(self.timestamps[s], unit="s", utc=True),
                "item_id": self.items.decode(self.item_ids[s]),
                "event": self.event_types.decode(self.event_ids[s]),
            }
        )


def build_sequences(events: pd.DataFrame) -> Sequences:
    """Vocabularies and chronological per-user sequences from a canonical event table.

    Events of a user are ordered by timestamp; ties keep the table's row order (stable sort).
    Item ids are numbered by popularity (most frequent first, ties by id) so that the numbering
    is deterministic and independent of row order.
    """
    for column in ("user_id", "item_id", "timestamp"):
        if column not in events.columns:
            raise LTSIError(f"The event table has no '{column}' column.")
    if events.empty:
        raise LTSIError("The event table is empty.")
    frame = pd.DataFrame(
        {
            "user_id": events["user_id"].astype(str).to_numpy(),
            "item_id": events["item_id"].astype(str).to_numpy(),
            "timestamp": _epoch_seconds(events["timestamp"]),
            "event": (events["event"].astype(str).to_numpy() if "event" in events else "interaction"),
        }
    )
    frame = frame.sort_values(["user_id", "timestamp"], kind="stable")  # stable: ties keep row order

    item_counts = frame["item_id"].value_counts()
    item_order = sorted(item_counts.index, key=lambda item: (-item_counts[item], item))
    items = Vocabulary.from_values(item_order)
    event_types = Vocabulary.from_values(sorted(frame["event"].unique()))

    user_codes, users = pd.factorize(frame["user_id"], sort=True)
    lengths = np.bincount(user_codes, minlength=len(users))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    item_ids = pd.Categorical(frame["item_id"], categories=items.tokens).codes.astype(np.int64)
    event_ids = pd.Categorical(frame["event"], categories=event_types.tokens).codes.astype(np.int64)
    timestamps = frame["timestamp"].to_numpy(np.int64)
    first = np.zeros(len(frame), dtype=bool)
    first[offsets[:-1]] = True
    return Sequences(
        users=tuple(str(u) for u in users),
        items=items,
        event_types=event_types,
        offsets=offsets,
        item_ids=item_ids,
        event_ids=event_ids,
        gap_ids=gap_buckets(timestamps, first),
        timestamps=timestamps,
    )


def _epoch_seconds(timestamps: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(timestamps):
        return (timestamps.astype("datetime64[ns, UTC]").astype("int64") // 1_000_000_000).to_numpy()
    return pd.to_numeric(timestamps).to_numpy(np.int64)


# ---------------------------------------------------------------------------------------------
# Splits


@dataclass
class EvalCases:
    """Next-item cases: predict event `ends[i]` of user `users[i]` from its events [0, ends[i])."""

    users: np.ndarray  # (N,) user index
    ends: np.ndarray  # (N,) number of history events; the target is the event at this position
    targets: np.ndarray  # (N,) item index of the target

    def __post_init__(self) -> None:
        if not (len(self.users) == len(self.ends) == len(self.targets)):
            raise LTSIError("EvalCases: 'users', 'ends' and 'targets' must have the same length.")
        if len(self.ends) and self.ends.min() < 1:
            raise LTSIError("EvalCases: every case needs at least one history event ('ends' >= 1).")

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class Split:
    """Which events train, which validate and which test."""

    protocol: str  # "leave-one-out" or "time"
    train_ends: np.ndarray  # (U,) user u trains on its events [0, train_ends[u])
    valid: EvalCases
    test: EvalCases
    cutoff: pd.Timestamp | None = None


def _cases(seqs: Sequences, users: np.ndarray, ends: np.ndarray) -> EvalCases:
    return EvalCases(users=users, ends=ends, targets=seqs.item_ids[seqs.offsets[users] + ends])


def leave_one_out(seqs: Sequences) -> Split:
    """Last event of each user = test target, the one before = validation target, the rest = training.

    Users with fewer than 3 events are used for training only. The test history includes the
    validation event, as in SASRec/RecBole.
    """
    lengths = seqs.lengths
    evaluated = np.flatnonzero(lengths >= 3)
    train_ends = lengths.copy()
    train_ends[evaluated] -= 2
    return Split(
        protocol="leave-one-out",
        train_ends=train_ends,
        valid=_cases(seqs, evaluated.copy(), lengths[evaluated] - 2),  # own array: no aliasing between parts
        test=_cases(seqs, evaluated, lengths[evaluated] - 1),
    )


def time_split(seqs: Sequences, cutoff: pd.Timestamp | str) -> Split:
    """Events at or after `cutoff` are test: each user's first such event is its test target.

    Before the cutoff, a user's last event is its validation target (users with >= 3 such events).
    Users with no event before the cutoff cannot be tested (no history) and are left out.
    """
    cutoff = pd.Timestamp(cutoff)
    cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff.tz_convert("UTC")
    cut_s = int(cutoff.timestamp())
    before = np.add.reduceat((seqs.timestamps < cut_s).astype(np.int64), seqs.offsets[:-1])  # (U,)
    lengths = seqs.lengths
    tested = np.flatnonzero((before >= 1) & (before < lengths))
    validated = np.flatnonzero(before >= 3)
    train_ends = before.copy()
    train_ends[validated] -= 1
    if len(tested) == 0:
        raise LTSIError(f"No user has events both before and after {cutoff.date()}; choose another cut-off date.")
    return Split(
        protocol="time",
        train_ends=train_ends,
        valid=_cases(seqs, validated, before[validated] - 1),
        test=_cases(seqs, tested, before[tested]),
        cutoff=cutoff,
    )


# ---------------------------------------------------------------------------------------------
# Batches


@dataclass
class Batch:
    """Left-padded model inputs; column -1 is the most recent event."""

    items: torch.Tensor  # (B, L) int64, PADDING_IDX where there is no event
    events: torch.Tensor  # (B, L) int64
    gaps: torch.Tensor  # (B, L) int64

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in (self.items, self.events, self.gaps)))

    @property
    def mask(self) -> torch.Tensor:
        return self.items != PADDING_IDX  # (B, L)


def _window_index(seqs: Sequences, users: np.ndarray, ends: np.ndarray, max_len: int):
    """Flat event index of the last `max_len` events before `ends`, and where they are real."""
    lengths = np.minimum(ends, max_len)  # (B,)
    cols = np.arange(max_len)  # (L,)
    valid = cols[None, :] >= (max_len - lengths)[:, None]  # (B, L)
    index = (seqs.offsets[users] + ends)[:, None] - max_len + cols[None, :]  # (B, L)
    return np.where(valid, index, 0), valid


def _gather(values: np.ndarray, index: np.ndarray, valid: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.where(valid, values[index], PADDING_IDX))


def history_batch(seqs: Sequences, users: np.ndarray, ends: np.ndarray, max_len: int) -> Batch:
    """The last `max_len` events before position `ends[i]` of each user, left-padded."""
    users, ends = np.asarray(users, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    index, valid = _window_index(seqs, users, ends, max_len)
    return Batch(
        _gather(seqs.item_ids, index, valid),
        _gather(seqs.event_ids, index, valid),
        _gather(seqs.gap_ids, index, valid),
    )


# ---------------------------------------------------------------------------------------------
# Histories: one user's events (possibly edited) or a list of items no user has, before padding


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


def seen_mask(histories: Sequence[History], n_items: int) -> torch.Tensor:
    """(B, N) True where the item occurs in history i, older events than the model reads included."""
    lengths = np.array([len(h) for h in histories], dtype=np.int64)  # (B,)
    items = np.concatenate([h.items for h in histories]) if len(histories) else np.zeros(0, np.int64)  # (H,)
    return _item_mask(np.repeat(np.arange(len(histories)), lengths), items, len(histories), n_items)


def history_mask(seqs: Sequences, users: np.ndarray, ends: np.ndarray, n_items: int) -> torch.Tensor:
    """(B, N) True where the item occurs in events [0, ends[i]) of user users[i] (no History objects needed)."""
    starts = seqs.offsets[users]  # (B,)
    rows = np.repeat(np.arange(len(users)), ends)  # (H,)
    flat = np.repeat(starts - np.concatenate([[0], np.cumsum(ends)[:-1]]), ends) + np.arange(np.sum(ends))  # (H,)
    return _item_mask(rows, seqs.item_ids[flat], len(users), n_items)


def _item_mask(rows: np.ndarray, items: np.ndarray, n_rows: int, n_items: int) -> torch.Tensor:
    """(n_rows, n_items) True at each (row, item) pair; the one way the seen-items masks are made."""
    mask = torch.zeros(n_rows, n_items, dtype=torch.bool)
    mask[torch.from_numpy(rows), torch.from_numpy(np.asarray(items, dtype=np.int64))] = True
    return mask


def custom_history(
    seqs: Sequences,
    item_ids: list[str],
    max_len: int,
    events: list[str] | None = None,
    timestamps: list[pd.Timestamp] | None = None,
) -> Batch:
    """A batch of one, `max_len` wide, for a what-if history of item ids (see `new_history`)."""
    return pad_histories([new_history(seqs, item_ids, events, timestamps)], max_len, full=True)


class NextItemDataset(torch.utils.data.Dataset):
    """Training windows that predict every next event (causal, all positions).

    A user's training events [0, train_end) are cut, from the end backwards, into windows of
    `max_len + 1` events that overlap by one, so every training event is a target exactly once
    (except each user's first event, which has no history). Item i = `batch(idx)` gives whole
    batches in one vectorised step; `__getitem__` serves a standard DataLoader.
    """

    def __init__(self, seqs: Sequences, train_ends: np.ndarray, max_len: int) -> None:
        if max_len < 1:
            raise LTSIError("max_len must be at least 1.")
        users, ends = [], []
        for u, end in enumerate(train_ends):
            while end >= 2:  # a window needs one input event and one target
                users.append(u)
                ends.append(end)
                end -= max_len
        self.seqs, self.max_len = seqs, max_len
        self.users = np.asarray(users, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)  # window targets are events [end - L, end)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_targets(self) -> int:
        return int(np.minimum(self.ends - 1, self.max_len).sum())

    def batch(self, idx: np.ndarray) -> tuple[Batch, torch.Tensor]:
        """Inputs (B, L) and next-item targets (B, L) with PADDING_IDX where there is no target."""
        users, ends = self.users[idx], self.ends[idx]
        inputs = history_batch(self.seqs, users, ends - 1, self.max_len)
        index, valid = _window_index(self.seqs, users, ends - 1, self.max_len)
        targets = _gather(self.seqs.item_ids, index + 1, valid)  # (B, L) the event after each input
        return inputs, targets

    def __getitem__(self, i: int) -> tuple[Batch, torch.Tensor]:
        inputs, targets = self.batch(np.array([i]))
        return Batch(inputs.items[0], inputs.events[0], inputs.gaps[0]), targets[0]


# ---------------------------------------------------------------------------------------------
# Items a user already has: hide them from recommendations or not (one rule, from the data)

# Below this share of repeat events, an item already in the history is hidden by default. Why 10%: the
# share of events that repeat an earlier item of the same user bounds how often the true next item is one
# the user already has, so hiding costs at most that share of the hits while freeing the slots that a
# rating log (movies, books: ~0% repeats, each item is rated once) would waste on items the user is done
# with. Music, groceries and shop sessions (view -> cart -> buy) repeat far more (30-60%), and there an
# already-seen item is often the right next one, so it is kept.
REPEAT_SHARE_TO_HIDE = 0.10
REPEAT_SAMPLE_USERS = 20_000  # users read to measure the share: the rule needs ~1% precision, not every event


@dataclass(frozen=True)
class SeenRule:
    """Whether recommendations should leave out the items a user already has, and why (plain words)."""

    hide: bool
    repeat_share: float  # share of events whose item the same user already had earlier
    reason: str


def repeat_share(seqs: Sequences, max_users: int = REPEAT_SAMPLE_USERS) -> float:
    """Share of events whose item the same user already had at an earlier event (0 for an empty log).

    Logs with more than `max_users` users are measured on a fixed random sample of users (seed 0), so
    the answer is the same on every call.
    """
    users = np.arange(seqs.n_users)  # (U,)
    if seqs.n_users > max_users:
        users = np.sort(np.random.default_rng(0).choice(seqs.n_users, max_users, replace=False))
    lengths = seqs.lengths[users]  # (S,)
    if lengths.sum() == 0:
        return 0.0
    owner = np.repeat(np.arange(len(users)), lengths)  # (E_s,) position of the event's user in the sample
    starts = np.repeat(seqs.offsets[users] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    flat = starts + np.arange(lengths.sum())  # (E_s,) flat index of each sampled event
    pairs = owner * len(seqs.items) + seqs.item_ids[flat]  # (E_s,) one number per (user, item)
    first_times = len(np.unique(pairs))  # each (user, item) pair's first event is not a repeat
    return float(1.0 - first_times / len(pairs))


def _percent(share: float) -> str:
    """'41%', '3%', 'under 1%' (a handful of repeats is not 'none'), '0%'."""
    return "under 1%" if 0 < share < 0.005 else f"{share:.0%}"


def seen_rule(seqs: Sequences) -> SeenRule:
    """Hide items already in a user's history when users of this log rarely come back to an item."""
    share = repeat_share(seqs)
    measured = f"{_percent(share)} of events repeat an item the same user had before"
    if share < REPEAT_SHARE_TO_HIDE:
        reason = (
            f"Users rarely come back to an item here ({measured}), so items already in the history are hidden "
            "by default."
        )
        return SeenRule(hide=True, repeat_share=share, reason=reason)
    reason = (
        f"Users come back to items here ({measured}), so items already in the history are kept by default: "
        "the next item may well be one the user already had."
    )
    return SeenRule(hide=False, repeat_share=share, reason=reason)
