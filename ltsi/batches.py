"""Left-padded model inputs from the sequences: evaluation histories and training windows.

Batches are left-padded: the most recent event is always in the last column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ltsi.errors import LTSIError
from ltsi.sequences import PADDING_IDX, Sequences


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
