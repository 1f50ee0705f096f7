"""What drives a slice's recommendations: the attributions of a group of users' recommendations, pooled.

`segment_drivers` explains each user's top recommendation (or held-out item) after the history before the
held-out event, and pools the shares by event type, item category, recency and interest part, so that groups
of users (`ltsi.slices`) can be told apart by what their recommendations rely on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from ltsi.attribution import integrated_gradients, interest_split
from ltsi.errors import LTSIError
from ltsi.histories import History, edit_history, pad_histories
from ltsi.recommend import category_column, last_outputs
from ltsi.runs import Run
from ltsi.slices import OTHER, TOP_CATEGORIES, binned, item_categories

RECENCY_GROUPS = ((0, "the last event"), (2, "the 2nd-3rd last"), (9, "the 4th-10th last"))
RECENCY_OLDER = "the 11th last and older"
INTEREST_LABELS = {
    "long": "long-term interest",
    "short": "short-term interest",
    "transitions": "items that often follow the recent ones",
    "popularity": "popularity",
}
TARGETS = ("top", "held-out")


def _slice_histories(run: Run, index: np.ndarray) -> tuple[list[History], np.ndarray]:
    """Each user's history before the held-out event (whole history if untested) and held-out item (0: none)."""
    seqs, cases = run.seqs, run.split.test
    at = np.minimum(np.searchsorted(cases.users, index), max(len(cases) - 1, 0))  # (K,) cases list users in order
    tested = (cases.users[at] == index) if len(cases) else np.zeros(len(index), dtype=bool)  # (K,)
    histories, heldout = [], np.zeros(len(index), dtype=np.int64)
    for row, u in enumerate(index):
        case = int(at[row]) if tested[row] else None
        histories.append(edit_history(seqs, int(u), None if case is None else int(cases.ends[case])))
        if case is not None:
            heldout[row] = cases.targets[case]
    return histories, heldout


def segment_drivers(
    run: Run,
    users: Sequence[str],
    max_users: int = 200,
    n_steps: int = 16,
    target: str = "top",
    batch_size: int = 32,
    seed: int = 0,
) -> pd.DataFrame:
    """What drives a group of users' recommendations, pooled: one row per (group, label) with its share.

    For each user (a seeded sample of at most `max_users`), the model reads the history before the
    held-out event (the whole history for an untested user) and its top recommendation is explained
    (`target="held-out"`: the held-out item, for tested users only). Groups:
    "event type", "category" (of the event's item; only with item categories), "recency" (the last
    event, the 2nd-3rd last, the 4th-10th last, older): each a share of the absolute per-event
    attribution (Integrated Gradients over item, event type and gap plus the exact transition term,
    `ltsi.attribution.integrated_gradients`), over the events the model reads; and "interest": the
    shares of |long-term|, |short-term|, |transitions| and |popularity| parts of the explained score
    (`ltsi.attribution.interest_split`). Shares within a group sum to 1. Columns: group, label,
    share; `frame.attrs["n_users"]` is how many users were explained.
    """
    if target not in TARGETS:
        raise LTSIError(f"Explain the 'top' recommendation or the 'held-out' item, not {target!r}.")
    seqs, model = run.seqs, run.model
    index = np.array([seqs.user_index(u) for u in dict.fromkeys(users)], dtype=np.int64)
    if len(index) > max_users:
        index = np.sort(np.random.default_rng(seed).choice(index, max_users, replace=False))
    histories, heldout = _slice_histories(run, index)
    if target == "held-out":
        keep = heldout > 0
        histories, heldout, index = [h for h, k in zip(histories, keep) if k], heldout[keep], index[keep]
    if not histories:
        raise LTSIError("None of these users can be explained (no held-out event to explain).")
    with_categories = category_column(run.items) is not None
    sums: dict[str, dict[str, float]] = {"event type": {}, "category": {}, "recency": {}, "interest": {}}
    for start in range(0, len(histories), batch_size):
        chunk = histories[start : start + batch_size]
        batch = pad_histories(chunk, model.config.max_len)
        if target == "top":
            _, scores = last_outputs(model, batch)
            targets = scores.argmax(1).cpu()  # (b,) top-1 item
        else:
            targets = torch.from_numpy(heldout[start : start + len(chunk)])  # (b,)
        per_event = integrated_gradients(model, batch, targets, n_steps).total.abs().numpy()  # (b, T)
        real = batch.mask.numpy()  # (b, T)
        width = real.shape[1]
        back = np.broadcast_to(np.arange(width)[::-1], real.shape)  # (b, T) events back: column -1 is 0
        _add(
            sums["event type"],
            np.array(seqs.event_types.tokens, dtype=object)[batch.events.numpy()[real]],
            per_event[real],
        )
        if with_categories:
            _add(sums["category"], item_categories(run, batch.items.numpy()[real]), per_event[real])
        _add(
            sums["recency"], np.array(binned(back[real], RECENCY_GROUPS, RECENCY_OLDER), dtype=object), per_event[real]
        )
        split = interest_split(model, batch, targets, n_steps)
        for part, label in INTEREST_LABELS.items():
            sums["interest"][label] = sums["interest"].get(label, 0.0) + float(getattr(split, part).abs().sum())
    order = {
        "recency": [label for _, label in RECENCY_GROUPS] + [RECENCY_OLDER],
        "interest": list(INTEREST_LABELS.values()),
    }
    rows = []
    for group, totals in sums.items():
        total = sum(totals.values())
        if not totals or total <= 0:
            continue
        if group == "category" and len(totals) > TOP_CATEGORIES + 1:  # the biggest by name, the rest as one
            ranked = sorted(totals, key=lambda name: (-totals[name], name))
            totals = {
                **{name: totals[name] for name in ranked[:TOP_CATEGORIES]},
                OTHER: sum(totals[name] for name in ranked[TOP_CATEGORIES:]),
            }
        labels = order.get(group) or sorted(totals, key=lambda name: (name == OTHER, -totals[name], name))
        rows += [{"group": group, "label": name, "share": totals[name] / total} for name in labels if name in totals]
    frame = pd.DataFrame(rows, columns=["group", "label", "share"])
    frame.attrs["n_users"] = len(histories)
    return frame


def _add(totals: dict[str, float], labels: np.ndarray, amounts: np.ndarray) -> None:
    """totals[label] += the amounts of that label (in place)."""
    for label, amount in pd.Series(amounts).groupby(pd.Series(labels, dtype=object)).sum().items():
        totals[str(label)] = totals.get(str(label), 0.0) + float(amount)
