"""Scores and top-K recommendations: for a known user, for a what-if history, or for every user (export).

All of them score with `last_outputs`: the model in eval mode (every module's own train/eval flag
comes back after), the interest part and, when the model has it, the counts part. A user's
recommendations come from their whole history (every event in the log, the held-out validation
and test events included: this is serving, not evaluation). Each row has the rank, the item id, the
model's score (inner product of interest and item embedding, plus the counts part), the probability
the model gives the item as the next event (softmax over the whole catalogue), and the item's
metadata (title, category, ...) when an item table is known.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from ltsi.batches import Batch, history_batch
from ltsi.devices import pick_device
from ltsi.errors import LTSIError
from ltsi.evaluate import target_ranks
from ltsi.histories import History, new_history, pad_histories
from ltsi.model import LTSI, LTSIOutput
from ltsi.seen_items import history_mask, seen_mask
from ltsi.sequences import Sequences

# ---------------------------------------------------------------------------------------------
# Scoring


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode for the duration; afterwards every module gets back its own train/eval flag."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode  # per module, so a mixed state comes back exactly


@torch.no_grad()
def last_outputs(model: LTSI, batch: Batch) -> tuple[LTSIOutput, torch.Tensor]:
    """The model's outputs and its scores (B, N) after the last event of each row, on the model's device.

    Scores = interest part + counts part (when the model has one); the padding column is -inf.
    """
    with eval_mode(model):
        items, events, gaps = (t.to(device_of(model)) for t in (batch.items, batch.events, batch.gaps))
        out = model(items, events, gaps)
        scores = model.scores(out.interest[:, -1]).float()  # (B, N) padding column is -inf
        if model.config.transitions:
            model.add_counts(scores, model.count_sources(items)[:, -1])  # (B, N)
    return out, scores


def score_histories(
    model: LTSI,
    histories: Sequence[History],
    targets: np.ndarray,
    exclude_seen: bool = False,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """Score and rank (1 = best) of `targets[i, k]` after history i; targets (B,) or (B, K).

    With `exclude_seen`, items of each history are left out of the ranking (a seen target gets
    rank inf), as a recommender that hides them would; scores are the model's either way.
    """
    targets = np.asarray(targets, dtype=np.int64)
    squeeze = targets.ndim == 1
    targets = targets.reshape(len(histories), -1)  # (B, K)
    scores_out, ranks_out = [], []
    for start in range(0, len(histories), batch_size):
        chunk = histories[start : start + batch_size]
        _, scores = last_outputs(model, pad_histories(chunk, model.config.max_len))  # (b, N)
        scores = scores.cpu()
        t = torch.from_numpy(targets[start : start + len(chunk)])  # (b, K)
        scores_out.append(scores.gather(1, t))  # (b, K) the model's score, seen or not
        if exclude_seen:
            scores = scores.masked_fill(seen_mask(chunk, scores.shape[1]), -math.inf)
        ranks_out.append(torch.stack([target_ranks(scores, t[:, k]) for k in range(t.shape[1])], 1))  # (b, K)
    s, r = torch.cat(scores_out).numpy(), torch.cat(ranks_out).numpy()
    return (s[:, 0], r[:, 0]) if squeeze else (s, r)


# ---------------------------------------------------------------------------------------------
# Item metadata


TITLE_COLUMNS = ("title", "name", "movie_title", "product_name")  # an item table's title, the first one present
CATEGORY_COLUMNS = ("category", "categories", "genre", "genres", "main_category")  # its category, likewise


def category_column(items: pd.DataFrame | None) -> str | None:
    """The item table's column `item_info` takes the categories from; None without one (or without item_id)."""
    columns = getattr(items, "columns", ())
    return next((name for name in CATEGORY_COLUMNS if name in columns), None) if "item_id" in columns else None


def item_info(items: pd.DataFrame | None, only: Collection[str] | None = None) -> pd.DataFrame | None:
    """title / category per item id (string index) from an items table, whatever its column names.

    Accepts title or name for the title, category / categories / genre / genres for the category. A multi-valued
    genres field ("Action|Comedy") is kept whole as the category ("Action | Comedy"); its first value is the
    main_category (one value per item, for colours and counts). With `only`, just the rows of those item ids
    are read: a million-item table then costs one hash lookup (Arrow's), not a parse of every row.
    """
    if items is None or "item_id" not in getattr(items, "columns", ()):
        return None
    if only is not None:
        table_ids = pa.array(items["item_id"].astype(str), pa.string())
        wanted = pc.is_in(table_ids, value_set=pa.array([str(i) for i in only], pa.string()))
        items = items[wanted.to_numpy(zero_copy_only=False)]
    out = pd.DataFrame(index=pd.Index(items["item_id"].astype(str), name="item_id"))
    for name in TITLE_COLUMNS:
        if name in items.columns:
            out["title"] = items[name].astype(str).to_numpy()
            break
    name = category_column(items)
    if name is not None:
        # Arrow's string kernels: pandas' .str methods loop in Python (3 s for a 1M-item catalogue)
        values = pa.array(items[name].astype("string").fillna(""), pa.large_string())
        out["category"] = pc.replace_substring_regex(values, r"\s*\|\s*", " | ").to_pandas().array
        if "main_category" in items.columns:
            out["main_category"] = items["main_category"].astype("string").fillna("").to_numpy()
        else:
            first = pc.list_element(pc.split_pattern(values, "|"), 0)
            out["main_category"] = pc.utf8_trim_whitespace(first).to_pandas().array
    out = out[~out.index.duplicated()]
    return out if len(out.columns) else None


def with_items(frame: pd.DataFrame, items: pd.DataFrame | None, column: str = "item_id") -> pd.DataFrame:
    """Insert title / category (`item_info` of the item table `items`) right after `column` when known; in place.
    Only the table's rows of the frame's items are read (`item_info`'s `only`)."""
    ids = frame[column].astype(str)
    info = item_info(items, only=ids.unique())
    if info is None:
        return frame
    at = frame.columns.get_loc(column) + 1
    looked_up = info.reindex(ids)
    for offset, name in enumerate(looked_up.columns):
        frame.insert(at + offset, name, looked_up[name].to_numpy())
    return frame


def _with_metadata(frame: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame:
    """Every column of the item table, joined on item_id at the end (the exports keep them all)."""
    if items is None or "item_id" not in items.columns:
        return frame
    meta = items.drop_duplicates("item_id").assign(item_id=lambda t: t["item_id"].astype(str))
    meta = meta[[c for c in meta.columns if c not in ("rank", "score", "probability", "user_id")]]
    return frame.merge(meta, on="item_id", how="left")


# ---------------------------------------------------------------------------------------------
# Top-K


def _best(scores: torch.Tensor, k: int, excluded: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and item indices (B, k') of the best items of each row of (B, N) scores, on their device.

    k' = min(k, N - 1) (the padding column never counts); excluded items get -inf, so a row whose
    candidates run out ends with -inf values the caller drops.
    """
    if excluded is not None:
        scores = scores.masked_fill(excluded, -math.inf)  # (B, N)
    return scores.topk(min(k, scores.size(1) - 1), dim=-1)  # (B, k')


def top_k_table(scores: torch.Tensor, k: int, seqs: Sequences, excluded: torch.Tensor | None = None) -> pd.DataFrame:
    """The k best items of each row of (B, N) CPU scores: row, rank, item_id, score, probability.

    The probability is the softmax over the whole catalogue, excluded items included. Excluded
    items and -inf scores (padding, items masked out by the caller) never appear, so a row can have
    fewer than k items.
    """
    probabilities = torch.softmax(scores, dim=-1)  # (B, N) over the whole catalogue
    values, indices = _best(scores, k, excluded)  # (B, k)
    k = values.size(1)
    keep = torch.isfinite(values).flatten().numpy()  # fewer candidates than k when most items are excluded
    n_rows = scores.size(0)
    return pd.DataFrame(
        {
            "row": np.repeat(np.arange(n_rows), k)[keep],
            "rank": np.tile(np.arange(1, k + 1), n_rows)[keep],
            "item_id": np.asarray(seqs.items.tokens, dtype=object)[indices.flatten().numpy()[keep]],
            "score": values.flatten().numpy()[keep].astype(np.float64),
            "probability": probabilities.gather(1, indices).flatten().numpy()[keep].astype(np.float64),
        }
    )


# ---------------------------------------------------------------------------------------------
# Recommendations


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


def _one(model: LTSI, seqs: Sequences, batch: Batch, k: int, excluded, items) -> pd.DataFrame:
    """rank, item_id, score, probability, metadata of the one row of `batch`."""
    _, scores = last_outputs(model, batch)
    return _with_metadata(top_k_table(scores.cpu(), k, seqs, excluded).drop(columns="row"), items)


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
    excluded = history_mask(seqs, u, ends, len(seqs.items)) if exclude_seen else None
    return _one(model, seqs, history_batch(seqs, u, ends, model.config.max_len), k, excluded, items)


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
    history = new_history(seqs, list(item_ids or []), events, timestamps)
    excluded = seen_mask([history], len(seqs.items)) if exclude_seen else None
    return _one(model, seqs, pad_histories([history], model.config.max_len, full=True), k, excluded, items)


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
    user_ids = np.asarray(seqs.users, dtype=object)
    parts = []
    for start in range(0, len(index), batch_size):
        u = index[start : start + batch_size]
        ends = seqs.lengths[u]
        _, scores = last_outputs(model, history_batch(seqs, u, ends, model.config.max_len))  # (B, N)
        excluded = history_mask(seqs, u, ends, len(seqs.items)) if exclude_seen else None
        part = top_k_table(scores.cpu(), k, seqs, excluded)
        part.insert(0, "user_id", user_ids[u][part.pop("row").to_numpy()])
        parts.append(part)
    return _with_metadata(pd.concat(parts, ignore_index=True), items)


# ---------------------------------------------------------------------------------------------
# Every user, streamed to Parquet

RECOMMENDATIONS_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("rank", pa.int64()), ("item_id", pa.string()), ("score", pa.float64())]
)
SCORES_BYTES_PER_CHUNK = 128 * 2**20  # the (users, items) float32 scores of one chunk stay about this size


def chunk_users_for(n_items: int) -> int:
    """Users per chunk so that one chunk's (users, items) scores take about SCORES_BYTES_PER_CHUNK; 16..8192."""
    return int(np.clip(SCORES_BYTES_PER_CHUNK // (4 * max(n_items, 1)), 16, 8192))


def _model_on(model: LTSI, device: torch.device) -> LTSI:
    """The model on `device`: itself when it is there already, else a copy (the caller's model stays put)."""
    return model if device_of(model) == device else copy.deepcopy(model).to(device)


def _recommendations_table(
    users: np.ndarray, values: torch.Tensor, indices: torch.Tensor, user_ids: pa.Array, item_ids: pa.Array
) -> pa.Table:
    """user_id, rank, item_id, score rows of the (B, k) best `values` / item `indices` of `users`, -inf dropped."""
    values, indices = values.cpu(), indices.cpu()
    n_users, k = values.shape
    keep = torch.isfinite(values).flatten().numpy()  # (B * k,) fewer candidates than k when most are excluded
    return pa.table(
        [
            user_ids.take(np.repeat(users, k)[keep]),
            pa.array(np.tile(np.arange(1, k + 1, dtype=np.int64), n_users)[keep]),
            item_ids.take(indices.flatten().numpy()[keep]),
            pa.array(values.flatten().numpy()[keep].astype(np.float64)),
        ],
        schema=RECOMMENDATIONS_SCHEMA,
    )


def recommend_all_to_parquet(
    run_or_model,
    out: str | Path,
    k: int = 10,
    exclude_seen: bool = False,
    chunk_users: int | None = None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    seqs: Sequences | None = None,
) -> int:
    """Top-k for every user, written to the Parquet file `out` (user_id, rank, item_id, score); returns the rows.

    The same rows as `recommend_all` (without probability and item metadata), but scored
    `chunk_users` users at a time (default: `chunk_users_for` the catalogue) and written chunk by
    chunk, so memory follows the chunk, never the users x items matrix. Scores on `device`
    (`ltsi.devices.pick_device`: a GPU when there is one); a model elsewhere is copied there.
    `progress(users_done, n_users)` is called after each chunk. The file appears only when complete
    (written beside it under a temporary name, then renamed).
    """
    model, seqs, _ = _unpack(run_or_model, seqs, None)
    if k < 1:
        raise LTSIError("k must be at least 1.")
    chunk_users = chunk_users_for(len(seqs.items)) if chunk_users is None else chunk_users
    if chunk_users < 1:
        raise LTSIError("chunk_users must be at least 1.")
    out = Path(out)
    if out.is_dir():
        raise LTSIError(f"Cannot write the recommendations to {out}: it is a folder; give a .parquet file name.")
    folder = out.absolute().parent
    if not folder.is_dir():
        raise LTSIError(f"Cannot write the recommendations to {out}: the folder {folder} does not exist.")
    model = _model_on(model, pick_device(device))
    user_ids, item_ids = pa.array(list(seqs.users), pa.string()), pa.array(list(seqs.items.tokens), pa.string())
    partial = out.with_name(out.name + ".partial")
    rows = 0
    try:
        with pq.ParquetWriter(partial, RECOMMENDATIONS_SCHEMA) as writer:
            for start in range(0, seqs.n_users, chunk_users):
                users = np.arange(start, min(start + chunk_users, seqs.n_users))  # (B,)
                ends = seqs.lengths[users]  # (B,) whole histories: this is serving
                _, scores = last_outputs(model, history_batch(seqs, users, ends, model.config.max_len))  # (B, N)
                if exclude_seen:  # in place: a masked copy would double the chunk's largest tensor
                    scores.masked_fill_(history_mask(seqs, users, ends, len(seqs.items)).to(scores.device), -math.inf)
                table = _recommendations_table(users, *_best(scores, k, None), user_ids, item_ids)
                writer.write_table(table)
                rows += table.num_rows
                if progress is not None:
                    progress(int(users[-1]) + 1, seqs.n_users)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return rows
