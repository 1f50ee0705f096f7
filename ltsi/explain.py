"""Why this recommendation: attention, gate, attribution, occlusion and what-if for one user's history.

Every per-user view is a tidy DataFrame with one row per past event that the model reads (the last
`max_len` events of the history; older events cannot influence the scores), ready for a heatmap;
`Explanation.timeline_for` puts those rows back into the whole history (NaN before the window):

- attention: the short-term attention of the final step, the long-term pooling weights and the gate
  (share of long-term interest), exactly as `LTSI.forward` used them;
- attribution: each event's share of a target's score, from `ltsi.attribution.integrated_gradients`
  (Layer Integrated Gradients on the three input embeddings plus the exact counts-part term per
  event). A target whose convergence delta is large is attributed again with more steps;
- occlusion: the target's score and rank after removing one event (the next event's time gap is
  recomputed, as if the removed event never happened);
- interest split: how much of a target's score comes from long-term vs short-term interest, the
  recent items' transitions and popularity (`ltsi.attribution.interest_split`);
- what-if: the top-K before and after editing the history (`what_if` removes events and/or appends
  items; `what_if_history` scores any edited history, e.g. from `ltsi.scenarios.apply_edits`).

Model-wide summaries are in `ltsi.insights`; histories in `ltsi.histories`, their batches in `ltsi.batches`;
scoring, top-K tables and item metadata in `ltsi.recommend`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ltsi.attribution import COMPONENTS, Attributions, integrated_gradients, interest_split
from ltsi.errors import LTSIError
from ltsi.evaluate import target_ranks
from ltsi.histories import History, edit_history, pad_histories
from ltsi.model import LTSI
from ltsi.recommend import last_outputs, score_histories, top_k_table, with_items
from ltsi.seen_items import seen_mask
from ltsi.sequences import Sequences


def _ranked(scores: torch.Tensor, k: int, seqs: Sequences, items: pd.DataFrame | None) -> pd.DataFrame:
    """(N,) scores -> rank, item_id, [title, category], score of the k best items (-inf never appears)."""
    table = top_k_table(scores[None], k, seqs).drop(columns=["row", "probability"])
    return with_items(table, items)


# ---------------------------------------------------------------------------------------------
# One user


@dataclass
class Explanation:
    """Why `targets` were scored as they were after `user_id`'s history."""

    user_id: str
    n_history: int  # events in the explained history
    n_window: int  # of which the model reads the last n_window (max_len); only these have rows
    gate: float  # share of long-term interest after the last event
    events: pd.DataFrame  # one row per (target, event in the window); see `explain`
    targets: pd.DataFrame  # one row per target: score, rank, baseline_score, attribution_sum, delta
    recommendations: pd.DataFrame  # top-K for this history: rank, item_id, [title, category], score
    # every event of the explained history, oldest first, window or not: position, recency, timestamp,
    # item_id, [title, category], event, in_window (True for the events the model reads); see `timeline_for`
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame)

    def for_target(self, item_id: str) -> pd.DataFrame:
        """The per-event rows of one target, oldest first (only the events the model reads)."""
        return self.events[self.events["target_item"] == str(item_id)].reset_index(drop=True)

    def timeline_for(self, item_id: str) -> pd.DataFrame:
        """The whole explained history for one target, oldest first: `timeline` plus the target's signals.

        The signal columns of `for_target` (attention, gate, attribution, occlusion, ...) are filled for
        the events the model reads and NaN for older ones: the model never saw those, so "no value" is
        the honest entry, not 0. `target_item` is the same on every row.
        """
        rows = self.for_target(item_id)
        if self.timeline.empty:  # built without a timeline: the window is all there is
            return rows.assign(in_window=True)
        signals = [c for c in rows.columns if c not in self.timeline.columns and c != "target_item"]
        whole = self.timeline.merge(rows[["position", *signals]], on="position", how="left", validate="1:1")
        whole.insert(0, "target_item", str(item_id))
        return whole

    def to_dict(self) -> dict:
        """JSON-ready: plain numbers and strings, ISO timestamps, NaN/inf as null."""
        return {
            "user_id": self.user_id,
            "n_history": self.n_history,
            "n_window": self.n_window,
            "gate": self.gate,
            "targets": records(self.targets),
            "events": records(self.events),
            "recommendations": records(self.recommendations),
            "timeline": records(self.timeline),
        }

    def to_text(self, max_events: int = 20) -> str:
        """A plain-text report: per target, its numbers and the most recent events, newest first."""
        lines = [
            f"User {self.user_id}: {self.n_history} events, the model reads the last {self.n_window}; "
            f"gate {self.gate:.2f} (share of long-term interest)"
        ]
        lines += _span_lines(self.timeline)
        for target in self.targets.itertuples(index=False):
            title = f" {target.title!r}" if "title" in self.targets.columns else ""
            lines += [
                "",
                f"Target {target.target_item}{title}: score {target.score:.4f}, rank {target.rank:g}; "
                f"baseline (all events at padding) {target.baseline_score:.4f}",
                f"  attributions sum to {target.attribution_sum:.4f} = score - baseline "
                f"{target.score - target.baseline_score:.4f} (convergence delta {target.delta:.1e}, "
                f"{target.n_steps} steps)",
                f"  from long-term interest {target.long_part:+.4f}, from short-term {target.short_part:+.4f} "
                f"(long-term share {target.long_share:.0%}), from the recent items' transitions "
                f"{target.transitions_part:+.4f}, from popularity {target.popularity_part:+.4f}",
            ]
            rows = self.for_target(target.target_item).iloc[::-1].head(max_events)
            header = (
                f"  {'pos':>5} {'item':<14} {'event':<10} {'short':>6} {'long':>6} {'attrib':>8} "
                f"{'item':>8} {'event':>8} {'gap':>8} {'trans.':>8}"
            )
            has_occlusion = "occlusion_drop" in rows.columns
            lines.append(header + (f" {'occl.drop':>9} {'rank+':>6}" if has_occlusion else ""))
            for r in rows.itertuples(index=False):
                name = str(getattr(r, "title", r.item_id))[:14]
                line = (
                    f"  {r.position:>5} {name:<14} {str(r.event)[:10]:<10} {r.short_attention:>6.3f} "
                    f"{r.long_attention:>6.3f} {r.attribution:>8.4f} {r.attribution_item:>8.4f} "
                    f"{r.attribution_event:>8.4f} {r.attribution_gap:>8.4f} {r.attribution_transitions:>8.4f}"
                )
                if has_occlusion:
                    line += f" {r.occlusion_drop:>9.4f} {r.occlusion_rank_change:>6g}"
                lines.append(line)
            if len(rows) < self.n_window:
                lines.append(f"  ... {self.n_window - len(rows)} older events not shown")
        return "\n".join(lines)


def _span_lines(timeline: pd.DataFrame) -> list[str]:
    """One line on when the history and the part the model reads begin and end (none without timestamps)."""
    if timeline.empty or "timestamp" not in timeline:
        return []
    days = pd.to_datetime(timeline["timestamp"]).dt.strftime("%Y-%m-%d")
    first_read = days[timeline["in_window"].to_numpy()].iat[0]
    return [f"History from {days.iat[0]} to {days.iat[-1]}; the events the model reads start on {first_read}"]


def records(frame: pd.DataFrame) -> list[dict]:
    """A DataFrame as JSON-ready records (ISO timestamps; NaN and inf become null)."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def _window_events(seqs: Sequences, u: int, history: History, max_len: int, items: pd.DataFrame | None) -> pd.DataFrame:
    """position, recency, timestamp, item_id, [title, category], event of the events the model reads."""
    window = history.positions[-min(len(history), max_len) :]
    table = seqs.user_events(u).iloc[window].reset_index(drop=True)
    table.insert(1, "recency", np.arange(len(window))[::-1])  # 0 = the most recent event
    return with_items(table, items)


def _history_events(
    seqs: Sequences, u: int, history: History, max_len: int, items: pd.DataFrame | None
) -> pd.DataFrame:
    """Every event of an unedited history, oldest first: the `_window_events` columns plus in_window.

    Read from the log alone (no model pass): events before the window have no signals to compute.
    """
    table = seqs.user_events(u).iloc[history.positions].reset_index(drop=True)
    table.insert(1, "recency", np.arange(len(table))[::-1])  # 0 = the most recent event
    table["in_window"] = np.arange(len(table)) >= len(table) - min(len(table), max_len)
    return with_items(table, items)


def _attention_table(
    model: LTSI, seqs: Sequences, u: int, history: History, items: pd.DataFrame | None
) -> tuple[pd.DataFrame, torch.Tensor]:
    """The attention rows of `attention` and the scores (N,) after the history, from one forward pass."""
    table = _window_events(seqs, u, history, model.config.max_len, items)
    out, scores = last_outputs(model, pad_histories([history], model.config.max_len))
    n = len(table)
    gate = float(out.gate[0, -1])
    table["short_attention"] = out.short_attention[0, -1, -n:].float().cpu().numpy().astype(np.float64)
    table["long_attention"] = out.long_attention[0, -1, -n:].float().cpu().numpy().astype(np.float64)
    table["gate"] = gate
    table["attention"] = gate * table["long_attention"] + (1 - gate) * table["short_attention"]
    return table, scores[0].cpu()


def attention(
    model: LTSI, seqs: Sequences, user: str, end: int | None = None, items: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The attention the model used for its final step, one row per event it reads.

    Columns: position, recency (0 = most recent), timestamp, item_id, [title, category], event,
    short_attention (weights over the short window, sum 1), long_attention (pooling weights over the
    whole window, sum 1), gate (share of long-term interest, the same on every row) and attention
    = gate * long_attention + (1 - gate) * short_attention (sums to 1). Short-term attention weighs
    LSTM states, and the state at an event has read every earlier event too; the short-term branch
    also uses the current state directly. So a weight says where the model looked, not what
    mattered: the attributions and occlusion measure that.
    """
    u = seqs.user_index(user)
    table, _ = _attention_table(model, seqs, u, edit_history(seqs, u, end), items)
    return table


def occlusion(
    model: LTSI,
    seqs: Sequences,
    user: str,
    targets: Sequence[str] | None = None,
    end: int | None = None,
    remove: Sequence[Sequence[int]] | None = None,
    exclude_seen: bool = False,
) -> pd.DataFrame:
    """Score and rank of each target after removing one event (or each given set of events).

    Default: every event the model reads, one at a time. `remove` lists sets of positions instead.
    Columns: target_item, removed (tuple of positions), score, rank, occlusion_score,
    occlusion_rank, occlusion_drop (score - occlusion_score, > 0: the event supported the target),
    occlusion_rank_change (occlusion_rank - rank, > 0: the target fell).
    """
    u = seqs.user_index(user)
    history = edit_history(seqs, u, end)
    if targets is None:
        _, scores = last_outputs(model, pad_histories([history], model.config.max_len))
        if exclude_seen:
            scores = scores.cpu().masked_fill(seen_mask([history], scores.shape[1]), -math.inf)
        targets = seqs.items.decode([int(scores[0].argmax())])
    target_ids = seqs.items.encode(list(targets), "item")  # (K,)
    if remove is None:
        remove = [(int(p),) for p in history.positions[-min(len(history), model.config.max_len) :]]
    sets = [tuple(int(p) for p in r) for r in remove]
    edited = [history] + [edit_history(seqs, u, end, remove=r, allow_empty=True) for r in sets]
    scores, ranks = score_histories(model, edited, np.tile(target_ids, (len(edited), 1)), exclude_seen)  # (1 + R, K)
    K, R = len(target_ids), len(sets)
    with np.errstate(invalid="ignore"):  # a target without a rank with and without the event: inf - inf, NaN
        change = (ranks[1:].T - ranks[0][:, None]).reshape(-1)
    return pd.DataFrame(
        {
            "target_item": np.repeat(seqs.items.decode(target_ids), R),
            "removed": sets * K,
            "score": np.repeat(scores[0], R).astype(np.float64),
            "rank": np.repeat(ranks[0], R),
            "occlusion_score": scores[1:].T.reshape(-1).astype(np.float64),
            "occlusion_rank": ranks[1:].T.reshape(-1),
            "occlusion_drop": (scores[0][:, None] - scores[1:].T).reshape(-1).astype(np.float64),
            "occlusion_rank_change": change,
        }
    )


def explain(
    model: LTSI,
    seqs: Sequences,
    user: str,
    targets: Sequence[str] | str | None = None,
    end: int | None = None,
    items: pd.DataFrame | None = None,
    n_steps: int = 50,
    with_occlusion: bool = True,
    exclude_seen: bool = False,
    k: int = 10,
    internal_batch_size: int | None = None,
    max_relative_delta: float | None = 0.01,
    max_steps: int = 400,
) -> Explanation:
    """Attention, gate, LIG attribution and occlusion for one user's history and 1+ target items.

    `targets`: item ids (one call attributes all of them in one batch); default: the top
    recommendation. `end`: explain the state after the first `end` events (default: all).
    `exclude_seen`: rank and recommend as a recommender that hides seen items.
    `n_steps` IG steps to start with; a target whose |convergence delta| exceeds
    `max_relative_delta` * |score - baseline_score| is attributed again with twice the steps, up to
    `max_steps` (None: never). Why: the path from all-padding inputs can be steep near its start
    (layer norms of an almost-zero interest), and a fixed step count then under-resolves it.

    `Explanation.events` columns, one row per (target, event the model reads), oldest first:
    target_item, position, recency, timestamp, item_id, [title, category], event,
    short_attention, long_attention, gate, attention (see `attention`),
    attribution (sum of the four below), attribution_item, attribution_event, attribution_gap
    (LIG over the interest part), attribution_transitions (the event's exact counts-part term),
    and with occlusion: occlusion_score, occlusion_rank, occlusion_drop, occlusion_rank_change.
    `Explanation.timeline`: every event of the explained history (see `Explanation`), read from the
    log without another model pass; `Explanation.timeline_for(item)` adds that target's columns.
    `Explanation.targets` columns: target_item, [title, category], score, rank, baseline_score,
    attribution_sum, delta, n_steps (the steps actually used for that target), and the interest
    split (see `interest_split`): long_part, short_part, long_share, transitions_part, popularity_part
    and empty_score (they add up to score - empty_score).
    """
    u = seqs.user_index(user)
    history = edit_history(seqs, u, end)
    table, scores = _attention_table(model, seqs, u, history, items)  # rows per event; scores (N,)
    n = len(table)
    if exclude_seen:
        scores = scores.masked_fill(seen_mask([history], len(scores))[0], -math.inf)
    recommendations = _ranked(scores, k, seqs, items)
    if targets is None:
        targets = [recommendations["item_id"].iat[0]]
    elif isinstance(targets, str):
        targets = [targets]
    if not len(targets):
        raise LTSIError("Choose at least one item to explain.")
    target_ids = seqs.items.encode(list(targets), "item")  # (K,)
    names = seqs.items.decode(target_ids)
    K = len(target_ids)

    attributions, steps = _adaptive_ig(
        model, history, target_ids, n_steps, internal_batch_size, max_relative_delta, max_steps
    )
    ranks = torch.stack([target_ranks(scores[None], torch.tensor([t]))[0] for t in target_ids]).numpy()  # (K,)

    parts = []
    components = attributions.components.numpy().astype(np.float64)  # (K, n, 3)
    for j in range(K):
        part = table.copy()
        part.insert(0, "target_item", names[j])
        part["attribution"] = components[j].sum(-1)
        for c, name in enumerate(COMPONENTS):
            part[f"attribution_{name}"] = components[j, :, c]
        parts.append(part)
    events = pd.concat(parts, ignore_index=True)

    if with_occlusion:
        occluded = occlusion(model, seqs, user, names, end, exclude_seen=exclude_seen)
        for column in ("occlusion_score", "occlusion_rank", "occlusion_drop", "occlusion_rank_change"):
            events[column] = occluded[column].to_numpy()  # same (target, position) order as `events`

    split = interest_split(model, pad_histories([history] * K, model.config.max_len), target_ids)
    target_frame = pd.DataFrame(
        {
            "target_item": names,
            "score": attributions.score.numpy().astype(np.float64),
            "rank": ranks,
            "baseline_score": attributions.baseline_score.numpy().astype(np.float64),
            "attribution_sum": components.sum((1, 2)),
            "delta": attributions.delta.numpy().astype(np.float64),
            "n_steps": steps,
            "long_part": split.long.numpy().astype(np.float64),
            "short_part": split.short.numpy().astype(np.float64),
            "long_share": split.long_share.numpy().astype(np.float64),
            "transitions_part": split.transitions.numpy().astype(np.float64),
            "popularity_part": split.popularity.numpy().astype(np.float64),
            "empty_score": split.empty_score.numpy().astype(np.float64),
        }
    )
    return Explanation(
        user_id=seqs.users[u],
        n_history=len(history),
        n_window=n,
        gate=float(table["gate"].iat[0]),
        events=events,
        targets=with_items(target_frame, items, "target_item"),
        recommendations=recommendations,
        timeline=_history_events(seqs, u, history, model.config.max_len, items),
    )


def _adaptive_ig(
    model: LTSI,
    history: History,
    target_ids: np.ndarray,
    n_steps: int,
    internal_batch_size: int | None,
    max_relative_delta: float | None,
    max_steps: int,
) -> tuple[Attributions, np.ndarray]:
    """LIG of one history for K targets; rows with a large delta are redone with doubled steps."""
    K = len(target_ids)
    batch = pad_histories([history] * K, model.config.max_len)  # (K, n) the same history once per target
    result = integrated_gradients(model, batch, target_ids, n_steps, internal_batch_size)
    steps = np.full(K, n_steps, dtype=np.int64)  # (K,)
    while max_relative_delta is not None:
        span = (result.score - result.baseline_score).abs().clamp(min=1e-6)  # (K,)
        redo = (result.delta.abs() > max_relative_delta * span).numpy() & (steps < max_steps)  # (K,)
        if not redo.any():
            break
        n = int(min(max_steps, 2 * steps[redo].max()))
        rows = torch.from_numpy(np.flatnonzero(redo))
        again = integrated_gradients(
            model,
            pad_histories([history] * len(rows), model.config.max_len),
            target_ids[rows.numpy()],
            n,
            internal_batch_size,
        )
        for name in ("components", "score", "baseline_score", "delta"):
            getattr(result, name)[rows] = getattr(again, name)
        steps[redo] = n
    return result, steps


# ---------------------------------------------------------------------------------------------
# What-if


@dataclass
class WhatIf:
    """Top-K before and after editing a history, and what happened to one chosen item."""

    before: pd.DataFrame  # rank, item_id, [title, category], score for the real history
    after: pd.DataFrame  # the same for the edited history
    changes: pd.DataFrame  # items in either list: item_id, [title, category], rank_before, rank_after,
    #                        score_before, score_after, rank_change (> 0: fell), status (kept/new/dropped)
    history: pd.DataFrame  # the edited history: position (-1 = added), item_id, [title, category], event
    item: dict | None  # chosen item: item_id, rank_before, rank_after, rank_change, score_before, score_after,
    #                    score_change

    def to_dict(self) -> dict:
        return {
            "item": self.item,
            "before": records(self.before),
            "after": records(self.after),
            "changes": records(self.changes),
            "history": records(self.history),
        }


def what_if(
    model: LTSI,
    seqs: Sequences,
    user: str,
    remove: Sequence[int] = (),
    append: Sequence[str] = (),
    append_events: Sequence[str] | None = None,
    item: str | None = None,
    k: int = 10,
    end: int | None = None,
    items: pd.DataFrame | None = None,
    exclude_seen: bool = False,
) -> WhatIf:
    """How the top-K list (and `item`'s rank and score) change when events are removed or items appended.

    `remove`: positions in the user's sequence (as in `Explanation.events.position`);
    `append`: item ids added after the last event, oldest first. Default `item`: the current top-1.
    Any other edit (add an item anywhere, move an event, cut at a date): `ltsi.scenarios.apply_edits`
    and `what_if_history`.
    """
    edited = edit_history(seqs, seqs.user_index(user), end, remove=remove, append=append, append_events=append_events)
    return what_if_history(model, seqs, user, edited, item, k, end, items, exclude_seen)


def what_if_history(
    model: LTSI,
    seqs: Sequences,
    user: str,
    edited: History,
    item: str | None = None,
    k: int = 10,
    end: int | None = None,
    items: pd.DataFrame | None = None,
    exclude_seen: bool = False,
) -> WhatIf:
    """The top-K list (and `item`'s rank and score) after the user's history [0, end) and after `edited`.

    `edited`: any edited history of this user (`ltsi.scenarios.apply_edits`, `edit_history`).
    Default `item`: the top-1 of the real history. With `exclude_seen`, each list leaves out the items
    of its own history.
    """
    u = seqs.user_index(user)
    real = edit_history(seqs, u, end)
    _, scores = last_outputs(model, pad_histories([real, edited], model.config.max_len))
    raw = scores.cpu()  # (2, N) the model's scores
    scores = raw.masked_fill(seen_mask([real, edited], raw.shape[1]), -math.inf) if exclude_seen else raw
    before, after = _ranked(scores[0], k, seqs, items), _ranked(scores[1], k, seqs, items)

    union = list(dict.fromkeys([*before["item_id"], *after["item_id"]]))
    ids = torch.from_numpy(seqs.items.encode(union, "item"))  # (M,)
    ranks = torch.stack([target_ranks(scores, torch.full((2,), int(i))) for i in ids], 1).numpy()  # (2, M)
    values = raw[:, ids].numpy().astype(np.float64)  # (2, M)
    in_before, in_after = np.isin(union, before["item_id"]), np.isin(union, after["item_id"])
    changes = pd.DataFrame(
        {
            "item_id": union,
            "rank_before": ranks[0],
            "rank_after": ranks[1],
            "score_before": values[0],
            "score_after": values[1],
            "rank_change": ranks[1] - ranks[0],
            "status": np.where(in_before & in_after, "kept", np.where(in_after, "new", "dropped")),
        }
    ).sort_values(["rank_after", "rank_before"], kind="stable", ignore_index=True)

    chosen = item if item is not None else before["item_id"].iat[0]
    t = int(seqs.items.encode([chosen], "item")[0])
    r = target_ranks(scores, torch.full((2,), t)).numpy()
    chosen_change = {
        "item_id": str(chosen),
        "rank_before": float(r[0]),
        "rank_after": float(r[1]),
        "rank_change": float(r[1] - r[0]),
        "score_before": float(raw[0, t]),
        "score_after": float(raw[1, t]),
        "score_change": float(raw[1, t] - raw[0, t]),
    }
    history = pd.DataFrame(
        {
            "position": edited.positions,
            "item_id": seqs.items.decode(edited.items),
            "event": seqs.event_types.decode(edited.events),
        }
    )
    return WhatIf(
        before=before,
        after=after,
        changes=with_items(changes, items),
        history=with_items(history, items),
        item=chosen_change,
    )
