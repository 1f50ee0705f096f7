"""One item seen from the model's side: who gets it, what drives it, which items it sits beside, how popular it was.

- `who_gets`: the users whose top-k holds the item, with its rank and score there; the very rows of
  `ltsi.recommend.recommend_all` (the Export page's CSV), so the two always agree.
- `reach_by_history_length`: how many users of each history-length group get it.
- `item_drivers`: which past items push its score up, pooled over (a sample of) the users who get it:
  Integrated Gradients of its score, each event's attribution summed by the event's item.
- `nearest_items`: the items whose embedding points the same way (cosine similarity).
- `popularity_over_time`: its events per week (or any pandas period) in the log, by event type.

Every function takes a run (`ltsi.runs.Run`, or anything with `.model`, `.seqs`, `.items`); `who_gets` also a bare
model with its sequences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from ltsi.attribution import integrated_gradients
from ltsi.errors import LTSIError
from ltsi.histories import edit_history, pad_histories
from ltsi.model import LTSI
from ltsi.recommend import recommend_all, with_items
from ltsi.sequences import Sequences

# History-length groups of users (events in the whole log): (label, fewest, most); None = no upper end
HISTORY_GROUPS: tuple[tuple[str, int, int | None], ...] = (
    ("1-5 events", 1, 5),
    ("6-20 events", 6, 20),
    ("21+ events", 21, None),
)


def item_index(seqs: Sequences, item_id: str) -> int:
    """The item's index in the model's catalogue; an LTSIError naming it when the log has no such item."""
    if str(item_id) not in seqs.items:
        raise LTSIError(f"Unknown item {item_id!r}: there is no such item in this log.")
    return int(seqs.items.encode([str(item_id)], "item")[0])


def who_gets(
    run_or_model,
    item_id: str,
    k: int = 10,
    exclude_seen: bool = False,
    seqs: Sequences | None = None,
    recommendations: pd.DataFrame | None = None,
    batch_size: int = 512,
) -> pd.DataFrame:
    """Users whose top-k holds `item_id` after their whole history: user_id, rank, score (best rank first).

    Every user is scored, in batches, by `recommend_all` (the Export page's CSV comes from it), so the
    answer is exactly that file's rows for the item. `recommendations`: an all-users table of
    `recommend_all` with the same k and seen-items rule, when the caller already has one (no scoring).
    """
    seqs = seqs if seqs is not None else getattr(run_or_model, "seqs", None)
    if seqs is None:
        raise LTSIError("Finding who gets an item needs the sequences (the log) the model was trained on.")
    item_index(seqs, item_id)
    if recommendations is None:
        model = run_or_model if isinstance(run_or_model, LTSI) else run_or_model.model
        recommendations = recommend_all(model, seqs, k=k, exclude_seen=exclude_seen, batch_size=batch_size)
    hits = recommendations[(recommendations["item_id"] == str(item_id)) & (recommendations["rank"] <= k)]
    hits = hits[["user_id", "rank", "score"]].sort_values(["rank", "score", "user_id"], ascending=[True, False, True])
    return hits.reset_index(drop=True)


def history_group(lengths: np.ndarray) -> np.ndarray:
    """Each history length's group label (`HISTORY_GROUPS`)."""
    lengths = np.asarray(lengths)
    labels = np.full(len(lengths), HISTORY_GROUPS[-1][0], dtype=object)
    for label, fewest, most in HISTORY_GROUPS:  # the groups do not overlap
        labels[(lengths >= fewest) & (lengths <= (most if most is not None else np.inf))] = label
    return labels


def reach_by_history_length(seqs: Sequences, users: Sequence[str], among: Sequence[str] | None = None) -> pd.DataFrame:
    """How many users of each history-length group are among `users` (those who get an item).

    `among`: the users that were ranked, when only a sample was (then `users` are of them, and a group's
    users are counted in the sample); None: every user of the log.

    Columns: group, users (all users of the group), getting (of them, among `users`), share (getting /
    users: how much of the group the item reaches; 0 for an empty group), share_of_getting (the
    group's part of `users`). One row per group of `HISTORY_GROUPS`, empty groups included.
    """
    lengths = seqs.lengths if among is None else seqs.lengths[[seqs.user_index(u) for u in among]]
    all_groups = history_group(lengths)  # (U,) or (sampled users,)
    index = np.array([seqs.user_index(u) for u in users], dtype=np.int64)
    getting_groups = history_group(seqs.lengths[index])
    rows = []
    for label, _, _ in HISTORY_GROUPS:
        n_users = int((all_groups == label).sum())
        n_getting = int((getting_groups == label).sum())
        rows.append((label, n_users, n_getting))
    frame = pd.DataFrame(rows, columns=["group", "users", "getting"])
    frame["share"] = frame["getting"] / frame["users"].clip(lower=1)
    frame["share_of_getting"] = frame["getting"] / max(len(index), 1)
    return frame


def item_drivers(
    run,
    item_id: str,
    users: Sequence[str],
    max_users: int = 100,
    n_steps: int = 16,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Which past items push `item_id`'s score up, over at most `max_users` of `users` (a seeded sample).

    For each sampled user, Integrated Gradients (`ltsi.attribution.integrated_gradients`) splits the
    item's score after the whole history over the events the model reads; an event's attribution is
    credited to the event's item. Only pushes up count (an item that lowers the score does not drive
    it). Columns: item_id, [title, category], users (sampled users in whom the item pushed it up),
    push (summed upward attribution), share (push / all upward pushes: the shares sum to 1), best
    first. `frame.attrs`: n_users (sampled), of_users (given).
    """
    model, seqs = run.model, run.seqs
    target = item_index(seqs, item_id)
    index = _sample(seqs, users, max_users)
    push = np.zeros(len(seqs.items))  # summed upward attribution per past item
    reached = np.zeros(len(seqs.items), dtype=np.int64)  # users in whom that item pushed up
    for start in range(0, len(index), batch_size):
        histories = [edit_history(seqs, int(u)) for u in index[start : start + batch_size]]
        batch = pad_histories(histories, model.config.max_len)
        targets = torch.full((len(histories),), target, dtype=torch.int64)  # (b,) the same item for everyone
        per_event = integrated_gradients(model, batch, targets, n_steps).total.numpy().astype(np.float64)  # (b, T)
        items = batch.items.numpy()  # (b, T) padding is 0 and gets exactly 0
        for row in range(len(histories)):
            by_item = np.bincount(items[row], weights=per_event[row], minlength=len(seqs.items))  # (N,)
            by_item[0] = 0.0  # padding
            up = by_item > 0
            push[up] += by_item[up]  # an item seen twice counts once per user, its events summed
            reached[up] += 1
    present = np.flatnonzero(push > 0)
    present = present[np.argsort(-push[present], kind="stable")]
    frame = pd.DataFrame(
        {
            "item_id": seqs.items.decode(present),
            "users": reached[present],
            "push": push[present],
            "share": push[present] / max(push.sum(), 1e-30),
        }
    )
    frame = with_items(frame, run.items)
    frame.attrs.update(n_users=len(index), of_users=len(users))
    return frame


def _sample(seqs: Sequences, users: Sequence[str], max_users: int) -> np.ndarray:
    """Indices of at most `max_users` of `users`: all of them, or a seeded sample (the same on every call)."""
    index = np.array([seqs.user_index(u) for u in users], dtype=np.int64)
    if len(index) > max_users:
        index = np.sort(np.random.default_rng(0).choice(index, max_users, replace=False))
    return index


def nearest_items(run, item_id: str, n: int = 10) -> pd.DataFrame:
    """The `n` items whose embedding (the vector that scores them) points most the same way as this item's.

    Columns: item_id, [title, category], similarity (cosine, 1 = same direction), popularity (events
    in the log); most similar first, the item itself left out.
    """
    seqs = run.seqs
    target = item_index(seqs, item_id)
    weights = run.model.item_embedding.weight.detach().float().cpu()  # (N, D)
    norms = torch.linalg.vector_norm(weights, dim=1)  # (N,)
    similarity = (weights @ weights[target] / (norms * norms[target]).clamp(min=1e-12)).double().numpy()  # (N,)
    similarity[[0, target]] = -np.inf  # padding and the item itself are no neighbours
    n = max(min(n, len(seqs.items) - 2), 0)
    nth = -np.partition(-similarity, n - 1)[n - 1] if n else np.inf  # the n-th highest similarity
    best = np.flatnonzero(similarity >= nth)  # (>= n,) a partition, not a sort of a million items; ties kept
    order = best[np.lexsort((best, -similarity[best]))][:n]  # most similar first, ties by item index
    frame = pd.DataFrame(
        {
            "item_id": seqs.items.decode(order),
            "similarity": similarity[order],
            "popularity": np.bincount(seqs.item_ids, minlength=len(seqs.items))[order],
        }
    )
    return with_items(frame, run.items)


def popularity_over_time(run, item_id: str, freq: str = "W") -> pd.DataFrame:
    """The item's events per period (pandas frequency: "W" weeks, "D" days, "M" months), by event type.

    Tidy rows: start (the period's first day), event, events. Every period from the log's first to
    its last event is there (zero where the item had none), so the chart shows when it started and
    stopped; the events add up to the item's events in the log.
    """
    seqs = run.seqs
    target = item_index(seqs, item_id)
    if seqs.n_events == 0:
        return pd.DataFrame(columns=["start", "event", "events"])
    mine = seqs.item_ids == target  # (E,)
    to_period = lambda seconds: pd.to_datetime(seconds, unit="s").to_period(freq)  # noqa: E731 - naive UTC time
    periods = pd.period_range(to_period(seqs.timestamps.min()), to_period(seqs.timestamps.max()), freq=freq)
    events = pd.Series(seqs.event_types.decode(seqs.event_ids[mine]), name="event")
    counts = (
        pd.DataFrame({"period": pd.PeriodIndex(to_period(seqs.timestamps[mine])), "event": events})
        .groupby(["period", "event"])
        .size()
        .unstack("event", fill_value=0)
        .reindex(periods, fill_value=0)
    )
    counts.index = counts.index.start_time
    tidy = counts.rename_axis(index="start", columns="event").stack().rename("events").reset_index()
    return tidy.astype({"events": np.int64})
