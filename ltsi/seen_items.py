"""Items a user already has: the masks that hide them from recommendations, and the one rule (from the data)
that says whether to hide them by default."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ltsi.histories import History
from ltsi.sequences import Sequences


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
