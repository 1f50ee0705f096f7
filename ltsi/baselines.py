"""Non-neural baselines behind the same `score(batch) -> (B, N)` interface as the model.

Both learn from the training part of the split only (events [0, train_ends[u]) of each user), so
validation and test targets never leak into them.

- `MostPopular`: every user gets the items by training frequency.
- `LastItemTransitions`: item-to-item transitions; the score of item j after a history ending in i
  is how often j directly followed i in training, with popularity breaking ties (and filling in for
  items never seen as a predecessor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ltsi.batches import Batch
from ltsi.errors import LTSIError
from ltsi.sequences import PADDING_IDX, Sequences
from ltsi.splits import Split


def _first_events(seqs: Sequences, counts: np.ndarray) -> np.ndarray:
    """(E,) True for the first counts[u] events of each user u (0 <= counts <= lengths).

    One np.repeat of per-user runs (counts[u] True, then the rest False): no per-event index arrays,
    which on a big log cost more than the counting they feed.
    """
    runs = np.empty(2 * seqs.n_users, dtype=np.int64)  # (2U,) alternating lengths of the True and False runs
    runs[0::2], runs[1::2] = counts, seqs.lengths - counts
    return np.repeat(np.tile(np.array([True, False]), seqs.n_users), runs)


def _train_mask(seqs: Sequences, split: Split) -> np.ndarray:
    """(E,) True for events in the training part of the split."""
    return _first_events(seqs, split.train_ends)


def training_popularity(seqs: Sequences, split: Split) -> np.ndarray:
    """(N,) float64 training events of each item (padding: 0); no pairs counted, so cheap on a big log."""
    counts = np.bincount(seqs.item_ids[_train_mask(seqs, split)], minlength=len(seqs.items)).astype(np.float64)
    counts[PADDING_IDX] = 0
    return counts


@dataclass(frozen=True)
class TrainingCounts:
    """How often each item occurs, and each item directly follows another, in the training events."""

    n_items: int
    items: np.ndarray  # (N,) float64 occurrences of each item (padding: 0)
    keys: np.ndarray  # (P,) int64 previous item * N + next item, sorted, one per observed pair
    transitions: np.ndarray  # (P,) float64 occurrences of each pair

    def __post_init__(self) -> None:
        if self.items.shape != (self.n_items,) or self.keys.shape != self.transitions.shape:
            raise LTSIError("Training counts: items must have one count per item and every pair one count.")
        if len(self.keys) and (
            np.any(np.diff(self.keys) <= 0) or self.keys[0] < 0 or self.keys[-1] >= self.n_items * self.n_items
        ):
            raise LTSIError("Training counts: pair keys must be unique, sorted and within the catalogue.")


def training_counts(
    seqs: Sequences, split: Split, max_successors: int | None = None, sources: np.ndarray | None = None
) -> TrainingCounts:
    """Item and item-to-next-item counts over the training part of the split.

    A pair (event e, event e + 1) counts when both are training events of the same user. With
    `max_successors`, each item keeps only its that-many most frequent successors (ties: lower
    item index), which bounds the memory a history's successors take in a batch. With `sources`
    (item indices), only the pairs from those items are counted: exact for them, and on a big log
    far cheaper than sorting every pair when a view needs the successors of a few items only.
    """
    n = len(seqs.items)
    # event e -> e + 1 is a training transition when both are training events of one user: e is among the user's
    # first train_ends - 1 events (so a user's last event, never followed by one of theirs, is never a source)
    pair = _first_events(seqs, np.maximum(split.train_ends - 1, 0))  # (E,)
    src, dst = seqs.item_ids[pair], seqs.item_ids[1:][pair[:-1]]  # (P',) each; pair[-1] is always False
    if sources is not None:
        wanted = np.zeros(n, dtype=bool)  # (N,) a lookup table: one pass over the pairs
        wanted[sources] = True
        keep = wanted[src]  # (P',)
        src, dst = src[keep], dst[keep]
    keys, counts = _counted(src * n + dst)  # sorted by (src, dst)
    if max_successors is not None and len(keys):
        order = np.lexsort((keys % n, -counts, keys // n))  # per previous item: most frequent first
        first = np.searchsorted(keys[order] // n, keys[order] // n)  # (P,) start of each item's group
        kept = order[np.arange(len(order)) - first < max_successors]
        kept.sort()
        keys, counts = keys[kept], counts[kept]
    return TrainingCounts(n, training_popularity(seqs, split), keys.astype(np.int64), counts.astype(np.float64))


def _counted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, return_counts=True) by one sort and its run boundaries (a third faster on 10M keys)."""
    ordered = np.sort(keys)  # (P,)
    first = np.ones(len(ordered), dtype=bool)  # (P,)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)  # (K,) where each run of equal keys begins
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


class MostPopular:
    """Score = log(1 + training count) of each item, the same for every user."""

    name = "most popular"

    def fit(self, seqs: Sequences, split: Split) -> MostPopular:
        self.counts = training_popularity(seqs, split)  # (N,)
        self.log_counts = torch.from_numpy(np.log1p(self.counts)).float()  # (N,)
        return self

    def score(self, batch: Batch) -> torch.Tensor:
        if not hasattr(self, "log_counts"):
            raise LTSIError("The most-popular baseline has not been fitted yet.")
        return self.log_counts[None, :].expand(batch.items.size(0), -1).clone()  # (B, N)


class LastItemTransitions:
    """Score of j after last item i = count(i -> j in training) + popularity(j) / (max popularity + 1).

    The popularity term is < 1, so it only orders items with equal transition counts. Transitions
    are kept as CSR arrays (rows = previous item), so a 50k-item catalogue costs the observed pairs,
    not 50k x 50k.
    """

    name = "last-item transitions"

    def fit(self, seqs: Sequences, split: Split, sources: np.ndarray | None = None) -> LastItemTransitions:
        """Counts from the training part; with `sources`, only the successors of those items (then a history
        ending in another item is refused: its scores would be missing its transitions)."""
        counts = training_counts(seqs, split, sources=sources)
        n = counts.n_items
        self.n_items = n
        self.covered = None if sources is None else np.zeros(n, dtype=bool)  # (N,) the items fitted, None: all
        if self.covered is not None:
            self.covered[sources] = True
        self.indptr = np.searchsorted(counts.keys // n, np.arange(n + 1)).astype(np.int64)  # (N + 1,)
        self.indices = (counts.keys % n).astype(np.int64)  # (P,)
        self.values = counts.transitions.astype(np.float32)  # (P,)
        popularity = counts.items
        self.prior = torch.from_numpy(popularity / (popularity.max() + 1.0)).float()  # (N,) in [0, 1)
        return self

    def score(self, batch: Batch) -> torch.Tensor:
        if not hasattr(self, "indptr"):
            raise LTSIError("The last-item transition baseline has not been fitted yet.")
        last = batch.items[:, -1].numpy()  # (B,) most recent item (left padding: last column)
        if self.covered is not None and not self.covered[last].all():
            raise LTSIError("The last-item transitions were fitted for other last items than this batch's.")
        starts, stops = self.indptr[last], self.indptr[last + 1]  # (B,)
        lengths = stops - starts
        rows = np.repeat(np.arange(len(last)), lengths)  # (P_b,)
        flat = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
        scores = self.prior[None, :].repeat(len(last), 1)  # (B, N)
        scores[torch.from_numpy(rows), torch.from_numpy(self.indices[flat])] += torch.from_numpy(self.values[flat])
        return scores  # (B, N)


BASELINES = {"most popular": MostPopular, "last-item transitions": LastItemTransitions}


def fit_baselines(seqs: Sequences, split: Split, last_items: np.ndarray | None = None) -> dict[str, object]:
    """Every baseline, fitted on the training part: {name: fitted baseline}. With `last_items`, for histories
    ending in those items only (the transitions of other items are not counted)."""
    return {
        MostPopular.name: MostPopular().fit(seqs, split),
        LastItemTransitions.name: LastItemTransitions().fit(seqs, split, sources=last_items),
    }
