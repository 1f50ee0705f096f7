"""Top-K recommendations: for a known user, for a what-if history, or for every user (export).

A user's recommendations come from their whole history (every event in the log, the held-out
validation and test events included: this is serving, not evaluation). Each row has the rank, the
item id, the model's score (inner product of interest and item embedding), the probability the
model gives the item as the next event (softmax over the whole catalogue), and the item's metadata
(title, category, ...) when an item table is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ltsi.errors import LTSIError
from ltsi.evaluate import history_mask
from ltsi.model import LTSI
from ltsi.sequences import PADDING_IDX, Batch, Sequences, custom_history, history_batch


def _unpack(run_or_model, seqs: Sequences | None, items: pd.DataFrame | None):
    """(model, seqs, items) from a Run or from a model + sequences."""
    if isinstance(run_or_model, LTSI):
        model = run_or_model
    elif hasattr(run_or_model, "model") and hasattr(run_or_model, "seqs"):
        model = run_or_model.model
        seqs = seqs if seqs is not None else run_or_model.seqs
        items = items if items is not None else getattr(run_or_model, "items", None)
    else:
        raise LTSIError(f"Cannot recommend with a {type(run_or_model).__name__}; give a run or an LTSI model.")
    if seqs is None:
        raise LTSIError("Recommending needs the sequences (the log) the model was trained on.")
    if model.config.n_items != len(seqs.items):
        raise LTSIError("The model and the log do not match: they have different item catalogues.")
    return model, seqs, items


@torch.no_grad()
def _scores(model: LTSI, batch: Batch) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    return model.last_scores(batch.to(device)).float().cpu()  # (B, N) padding is -inf


def _top_k(scores: torch.Tensor, k: int, excluded: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """Top-k (values, indices, probabilities) per row of (B, N) scores; excluded items never appear."""
    probabilities = torch.softmax(scores, dim=-1)  # (B, N) over the whole catalogue
    if excluded is not None:
        scores = scores.masked_fill(excluded, float("-inf"))  # (B, N)
    k = min(k, scores.size(1) - 1)
    values, indices = scores.topk(k, dim=-1)  # (B, k)
    return values, indices, probabilities.gather(1, indices)


def _table(seqs: Sequences, values, indices, probabilities, items: pd.DataFrame | None) -> pd.DataFrame:
    keep = torch.isfinite(values)  # fewer candidates than k when most items are excluded
    frame = pd.DataFrame({
        "rank": np.arange(1, int(keep.sum()) + 1),
        "item_id": seqs.items.decode(indices[keep].tolist()),
        "score": values[keep].numpy().astype(np.float64),
        "probability": probabilities[keep].numpy().astype(np.float64),
    })
    return _with_metadata(frame, items)


def _with_metadata(frame: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame:
    if items is None or "item_id" not in items.columns:
        return frame
    meta = items.drop_duplicates("item_id").assign(item_id=lambda t: t["item_id"].astype(str))
    meta = meta[[c for c in meta.columns if c not in ("rank", "score", "probability", "user_id")]]
    return frame.merge(meta, on="item_id", how="left")


def recommend(
    run_or_model,
    seqs: Sequences | None = None,
    user_id: str | None = None,
    k: int = 10,
    exclude_seen: bool = False,
    items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Top-k next items for `user_id` after their whole history: rank, item_id, score, probability, metadata."""
    model, seqs, items = _unpack(run_or_model, seqs, items)
    if user_id is None:
        raise LTSIError("Say which user to recommend for.")
    if k < 1:
        raise LTSIError("k must be at least 1.")
    u = np.array([seqs.user_index(user_id)])
    ends = seqs.lengths[u]
    scores = _scores(model, history_batch(seqs, u, ends, model.config.max_len))  # (1, N)
    excluded = history_mask(seqs, u, ends, len(seqs.items)) if exclude_seen else None
    return _table(seqs, *(t[0] for t in _top_k(scores, k, excluded)), items)


def recommend_history(
    run_or_model,
    seqs: Sequences | None = None,
    item_ids: list[str] | None = None,
    events: list[str] | None = None,
    k: int = 10,
    exclude_seen: bool = False,
    items: pd.DataFrame | None = None,
    timestamps: list | None = None,
) -> pd.DataFrame:
    """Top-k next items after an arbitrary (what-if) history of item ids, oldest first."""
    model, seqs, items = _unpack(run_or_model, seqs, items)
    if k < 1:
        raise LTSIError("k must be at least 1.")
    batch = custom_history(seqs, list(item_ids or []), model.config.max_len, events=events, timestamps=timestamps)
    scores = _scores(model, batch)  # (1, N)
    excluded = None
    if exclude_seen:
        excluded = torch.zeros_like(scores, dtype=torch.bool)  # (1, N)
        excluded[0, torch.from_numpy(seqs.items.encode(list(item_ids), "item"))] = True
    return _table(seqs, *(t[0] for t in _top_k(scores, k, excluded)), items)


def recommend_all(
    run_or_model,
    seqs: Sequences | None = None,
    users: list[str] | None = None,
    k: int = 10,
    exclude_seen: bool = False,
    items: pd.DataFrame | None = None,
    batch_size: int = 512,
) -> pd.DataFrame:
    """Top-k for many users (all by default), batched: user_id, rank, item_id, score, probability, metadata."""
    model, seqs, items = _unpack(run_or_model, seqs, items)
    if k < 1:
        raise LTSIError("k must be at least 1.")
    index = np.arange(seqs.n_users) if users is None else np.array([seqs.user_index(u) for u in users], dtype=np.int64)
    k = min(k, len(seqs.items) - 1)
    parts = []
    for start in range(0, len(index), batch_size):
        u = index[start : start + batch_size]
        ends = seqs.lengths[u]
        scores = _scores(model, history_batch(seqs, u, ends, model.config.max_len))  # (B, N)
        excluded = history_mask(seqs, u, ends, len(seqs.items)) if exclude_seen else None
        values, indices, probabilities = _top_k(scores, k, excluded)  # (B, k) each
        keep = torch.isfinite(values).flatten()
        parts.append(pd.DataFrame({
            "user_id": np.repeat(np.asarray(seqs.users, dtype=object)[u], k)[keep.numpy()],
            "rank": np.tile(np.arange(1, k + 1), len(u))[keep.numpy()],
            "item_index": indices.flatten()[keep].numpy(),
            "score": values.flatten()[keep].numpy().astype(np.float64),
            "probability": probabilities.flatten()[keep].numpy().astype(np.float64),
        }))
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(2, "item_id", np.asarray(seqs.items.tokens, dtype=object)[frame.pop("item_index").to_numpy()])
    return _with_metadata(frame, items)
