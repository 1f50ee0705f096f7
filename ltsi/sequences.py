"""Events -> integer vocabularies and per-user chronological sequences.

Layout: all users' events live in flat arrays ordered by (user, timestamp, original row order);
`offsets[u]:offsets[u + 1]` is user u's slice (CSR style), so millions of events cost a few arrays,
not millions of Python lists. Index 0 of every vocabulary is padding (PADDING_IDX, defined here only).
Next stages: `ltsi.splits` (which events train and test), `ltsi.batches` (left-padded model inputs),
`ltsi.histories` (what-if histories), `ltsi.seen_items` (items a user already has).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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

    def id_of(self, token: object) -> int | None:
        """The token's id; None when it is unknown (or padding)."""
        idx = self._index.get(str(token))
        return None if idx is None or idx == PADDING_IDX else idx

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

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        """(U,) events per user (computed once: per-user loops read it a million times on a big log)."""
        return np.diff(self.offsets)

    def has_user(self, user_id: str) -> bool:
        return str(user_id) in self._user_index

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
