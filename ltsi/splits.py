"""Splits of the sequences: which events train, which validate and which test (leave-one-out or by time)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ltsi.errors import LTSIError
from ltsi.sequences import Sequences


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
