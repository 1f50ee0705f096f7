"""Model-wide summaries over many users: how far back it looks, its gate, what drives it, its item map.

Each summary is a tidy DataFrame for one dashboard chart: `attention_by_recency`,
`gate_distribution`, `event_type_attribution` and `item_map`. Users are a seeded sample
(`sample_users`), so a summary is the same on every call. `suggest_users` picks users worth a look
from a per-user overview.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ltsi.attribution import COMPONENTS, integrated_gradients
from ltsi.batches import Batch, history_batch
from ltsi.errors import LTSIError
from ltsi.histories import History, edit_history, pad_histories
from ltsi.model import LTSI
from ltsi.recommend import device_of, eval_mode, last_outputs, with_items
from ltsi.sequences import Sequences

if TYPE_CHECKING:  # ltsi.quality samples users with this module's sample_users
    from ltsi.quality import Quality


# Views over all users or items stay responsive on big logs: above these sizes they use a seeded sample (and say so).
SAMPLE_USERS = 20_000  # users a view that only runs the model (no scoring of the catalogue) reads at most
SAMPLE_ITEMS = 5_000  # points the item map draws at most (more are slow to send and draw, and say no more)
GATE_USERS = 2_000  # users the gate histogram reads at most (its 40 bins are smooth well before that)
# A view that scores every item for each user costs users x items: it scores at most this many (user, item) pairs,
# about 0.3 s per model on a 2-core CPU, so a 1M-item catalogue gets 100 users and a 2,000-item one 20,000.
SCORED_PAIRS = 100_000_000
MIN_SCORED_USERS = 100  # fewer would say little: a view scores at least this many users, whatever the catalogue


def scored_users(n_items: int, most: int = SAMPLE_USERS) -> int:
    """How many users a view that scores the whole catalogue for each user ranks at most (see SCORED_PAIRS)."""
    return int(min(most, max(MIN_SCORED_USERS, SCORED_PAIRS // max(n_items, 1))))


def sample_index(n: int, max_n: int | None, seed: int = 0) -> np.ndarray:
    """0..n-1, or a sorted seeded sample of `max_n` of them when there are more."""
    index = np.arange(n)
    if max_n is not None and n > max_n:
        index = np.sort(np.random.default_rng(seed).choice(index, max_n, replace=False))
    return index


def sample_users(seqs: Sequences, users: Sequence[str] | None, max_users: int | None, seed: int = 0) -> np.ndarray:
    """User indices: the given ones, or a seeded sample of at most `max_users` of all users."""
    if users is not None:
        return np.array([seqs.user_index(user) for user in users], dtype=np.int64)
    return sample_index(seqs.n_users, max_users, seed)


@torch.no_grad()
def model_outputs(model: LTSI, batch: Batch):
    """The model's outputs (attention, gate, interest) for a batch, in eval mode, without scoring the catalogue."""
    with eval_mode(model):
        return model(*(t.to(device_of(model)) for t in (batch.items, batch.events, batch.gaps)))


def _full_histories(seqs: Sequences, index: np.ndarray) -> list[History]:
    return [edit_history(seqs, int(u)) for u in index]


def attention_by_recency(
    model: LTSI,
    seqs: Sequences,
    users: Sequence[str] | None = None,
    max_users: int | None = 2000,
    batch_size: int = 512,
) -> pd.DataFrame:
    """How far back the model looks: mean final-step attention by recency (0 = most recent event).

    Means are over all sampled users, counting 0 where a user has no event that far back, so each
    weight column sums to 1 over recency (a distribution). Columns: recency, short_attention,
    long_attention, attention (gate-weighted mix), n_users (users with an event at that recency).
    """
    index = sample_users(seqs, users, max_users)
    L = model.config.max_len
    sums = np.zeros((3, L))
    counts = np.zeros(L)
    for start in range(0, len(index), batch_size):
        histories = _full_histories(seqs, index[start : start + batch_size])
        batch = pad_histories(histories, L)
        out = model_outputs(model, batch)  # no item is scored: only the attention and the gate are read
        width = batch.items.shape[1]
        g = out.gate[:, -1:].float().cpu()  # (b, 1)
        short = out.short_attention[:, -1].float().cpu()  # (b, T)
        long = out.long_attention[:, -1].float().cpu()  # (b, T)
        mixed = g * long + (1 - g) * short  # (b, T)
        for row, weights in enumerate((short, long, mixed)):
            sums[row, :width] += weights.sum(0).numpy()[::-1]  # column -1 is recency 0
        counts[:width] += batch.mask.sum(0).numpy()[::-1]
    n = max(len(index), 1)
    frame = pd.DataFrame(
        {
            "recency": np.arange(L),
            "short_attention": sums[0] / n,
            "long_attention": sums[1] / n,
            "attention": sums[2] / n,
            "n_users": counts.astype(np.int64),
        }
    )
    return frame[frame["n_users"] > 0].reset_index(drop=True)


def gate_distribution(
    model: LTSI,
    seqs: Sequences,
    users: Sequence[str] | None = None,
    max_users: int | None = SAMPLE_USERS,
    batch_size: int = 512,
) -> pd.DataFrame:
    """The gate (share of long-term interest) after each user's last event, for every user or a seeded sample
    of `max_users` (None: all).

    Columns: user_id, gate, n_events (length of the user's history). `frame.attrs["of_users"]`: how many users
    the log has (more than the rows when sampled). Only the model's forward pass runs: no item is scored.
    """
    index = sample_users(seqs, users, max_users)
    gates = []
    for start in range(0, len(index), batch_size):
        part = index[start : start + batch_size]
        out = model_outputs(model, history_batch(seqs, part, seqs.lengths[part], model.config.max_len))
        gates.append(out.gate[:, -1].float().cpu().numpy())  # (b,) after the last event
    frame = pd.DataFrame(
        {
            "user_id": [seqs.users[u] for u in index],
            "gate": np.concatenate(gates).astype(np.float64) if gates else np.zeros(0),
            "n_events": seqs.lengths[index],
        }
    )
    frame.attrs["of_users"] = seqs.n_users if users is None else len(index)
    return frame


def event_type_attribution(
    model: LTSI,
    seqs: Sequences,
    users: Sequence[str] | None = None,
    max_users: int | None = 100,
    n_steps: int = 16,
    batch_size: int = 32,
) -> pd.DataFrame:
    """Which event types drive the top recommendation: share of absolute LIG attribution per type.

    For each sampled user, the top-1 item after the full history is attributed; the absolute
    attributions of the events the model reads are pooled by event type. Columns: event, n_events,
    event_share (share of events), attribution_share (share of total |attribution|; compare with
    event_share), mean_attribution (signed, per event), and item_part / event_part / gap_part /
    transitions_part: how that type's |attribution| splits over the item, event-type and time-gap
    embeddings and the counts part's transitions (sum 1).
    """
    index = sample_users(seqs, users, max_users)
    n_types = len(seqs.event_types)
    abs_total = np.zeros(n_types)
    signed = np.zeros(n_types)
    count = np.zeros(n_types)
    by_component = np.zeros((n_types, len(COMPONENTS)))
    for start in range(0, len(index), batch_size):
        histories = _full_histories(seqs, index[start : start + batch_size])
        batch = pad_histories(histories, model.config.max_len)
        _, scores = last_outputs(model, batch)
        targets = scores.argmax(1).cpu()  # (b,) top-1 item
        result = integrated_gradients(model, batch, targets, n_steps)
        types = batch.events.numpy().reshape(-1)  # (b * T,)
        comps = result.components.numpy().reshape(-1, len(COMPONENTS)).astype(np.float64)  # (b * T, 4)
        real = batch.mask.numpy().reshape(-1)
        np.add.at(abs_total, types[real], np.abs(comps[real].sum(1)))
        np.add.at(signed, types[real], comps[real].sum(1))
        np.add.at(count, types[real], 1)
        np.add.at(by_component, types[real], np.abs(comps[real]))
    present = np.flatnonzero(count > 0)
    component_total = by_component[present].sum(1, keepdims=True)
    component_total[component_total == 0] = 1
    shares = by_component[present] / component_total
    return pd.DataFrame(
        {
            "event": seqs.event_types.decode(present),
            "n_events": count[present].astype(np.int64),
            "event_share": count[present] / max(count.sum(), 1),
            "attribution_share": abs_total[present] / max(abs_total.sum(), 1e-30),
            "mean_attribution": signed[present] / count[present],
            "item_part": shares[:, 0],
            "event_part": shares[:, 1],
            "gap_part": shares[:, 2],
            "transitions_part": shares[:, 3],
        }
    )


def item_map(
    model: LTSI, seqs: Sequences, items: pd.DataFrame | None = None, max_items: int | None = SAMPLE_ITEMS
) -> pd.DataFrame:
    """2-D PCA map of the item embeddings (the same vectors that score items).

    Columns: item_id, [title, category], x, y (first two principal components), popularity (events
    in the log). `frame.attrs["explained_variance"]` holds the two components' variance shares.
    PCA by SVD of the centred embeddings; each axis' sign is fixed (largest loading positive) so
    the map does not flip between calls. The PCA is of every item; with more than `max_items` items
    (None: no limit) the rows are a seeded sample of them, and `frame.attrs["of_items"]` says of how many.
    """
    weights = model.item_embedding.weight.detach().float().cpu().numpy()[1:]  # (N - 1, D) padding left out
    if len(weights) < 2:
        raise LTSIError("An item map needs at least two items.")
    mean = weights.mean(0, dtype=np.float64)  # (D,)
    # the axes from the (D, D) scatter matrix: the SVD's, at a fraction of its cost on a million items. W'W by
    # float32 BLAS minus n mean mean' (no centred copy of a million rows); embeddings sit near the origin next
    # to their spread, so the subtraction keeps the digits a 2-D map needs
    scatter = (weights.T @ weights).astype(np.float64) - len(weights) * np.outer(mean, mean)  # (D, D)
    eigenvalues, vectors = np.linalg.eigh(scatter)  # (D,), (D, D)
    order = np.argsort(eigenvalues)[::-1]
    s, vt = np.sqrt(np.clip(eigenvalues[order], 0, None)), vectors[:, order].T  # singular values, (D, D) axes
    vt = vt[:2] * np.sign(vt[:2][np.arange(min(2, len(vt))), np.abs(vt[:2]).argmax(1)])[:, None]  # (2, D)
    shown = sample_index(len(weights), max_items)  # (M,) rows of the map
    xy = (weights[shown].astype(np.float64) - mean) @ vt.T  # (M, 2) only the drawn rows, centred
    variance = s**2 / max((s**2).sum(), 1e-30)
    tokens = seqs.items.tokens
    frame = pd.DataFrame(
        {
            "item_id": [tokens[i + 1] for i in shown],
            "x": xy[:, 0],
            "y": xy[:, 1] if xy.shape[1] > 1 else 0.0,
            "popularity": np.bincount(seqs.item_ids, minlength=len(seqs.items))[1:][shown],
        }
    )
    frame = with_items(frame, items)
    frame.attrs["explained_variance"] = [float(v) for v in variance[:2]]
    frame.attrs["of_items"] = len(weights)
    return frame


SHORT_TERM_BURST = "Short-term burst"
LONG_TERM_TASTE = "Long-term taste"
TEST_HIT = "Test hit"
TEST_MISS = "Test miss"


def suggest_users(overview: pd.DataFrame, quality: Quality) -> dict[str, tuple[str, str]]:
    """Up to four users worth a look: {label: (user_id, why)}.

    `overview` has one row per tested user: user_id, n_events, gate (share of long-term interest
    after the history before the held-out event), short_peak (largest short-term attention weight
    there) and heldout_rank. "Short-term burst" and "Long-term taste" are offered only when
    `quality.separates_interest`: a model whose gate is the same for everyone would offer an
    arbitrary user under those labels. "Test hit" / "Test miss": a user whose held-out item was in
    the top 10, and one whose was not (the one nearest the median rank of the misses).
    """
    table = overview
    if table.empty:
        return {}
    for minimum in (15, 8, 1):  # prefer timelines long enough to show both kinds of interest
        if (table["n_events"] >= minimum).sum() >= 20:
            table = table[table["n_events"] >= minimum]
            break
    out = {}
    if quality.separates_interest:
        burst = table.assign(s=(1 - table["gate"]) * table["short_peak"]).nlargest(1, "s").iloc[0]
        out[SHORT_TERM_BURST] = (
            burst["user_id"],
            f"{1 - burst['gate']:.0%} short-term; one recent event carries "
            f"{burst['short_peak']:.0%} of the short-term attention",
        )
        longest = table.nlargest(1, "gate").iloc[0]
        out[LONG_TERM_TASTE] = (longest["user_id"], f"{longest['gate']:.0%} long-term interest")
    hits = table[table["heldout_rank"] <= 10]
    if len(hits):
        hit = hits.sort_values(["heldout_rank", "n_events"], ascending=[True, False]).iloc[0]
        out[TEST_HIT] = (hit["user_id"], f"the held-out next item was ranked #{int(hit['heldout_rank'])}")
    misses = table[table["heldout_rank"] > 10]
    if len(misses):
        miss = misses.iloc[(misses["heldout_rank"] - misses["heldout_rank"].median()).abs().argsort().iloc[0]]
        out[TEST_MISS] = (miss["user_id"], f"the held-out next item was ranked {_rank_words(miss['heldout_rank'])}")
    return out


def _rank_words(rank: float) -> str:
    """'#1,204', or 'not ranked' for an infinite rank (as dashboard.text.fmt_rank words it)."""
    return f"#{int(rank):,}" if math.isfinite(rank) else "not ranked"
