"""Why this recommendation: attention, gate, Integrated Gradients, occlusion and what-if for LTSI.

Every per-user view is a tidy DataFrame with one row per past event that the model reads (the last
`max_len` events of the history; older events cannot influence the scores), ready for a heatmap:

- attention: the short-term attention of the final step, the long-term pooling weights and the gate
  (share of long-term interest), exactly as `LTSI.forward` used them;
- attribution: Captum Layer Integrated Gradients on the three input embeddings (item, event type,
  time gap), target = the score of one item, plus each event's exact term of the counts part (how
  often the target followed that event's item in training). Baseline = padding: every event's three embeddings
  move from the padding vector (zero in a model trained by `ltsi.train`) to their real value,
  while the sequence keeps its length and order (the LSTM and the attention masks see the real
  events). By completeness the attributions sum to score(history) - score(baseline) up to the
  convergence delta, which is reported;
- occlusion: the target's score and rank after removing one event (the next event's time gap is
  recomputed, as if the removed event never happened);
- interest split: how much of a target's score comes from long-term vs short-term interest:
  Integrated Gradients over the two gated parts (gate * long-term, (1 - gate) * short-term) that
  the model adds up, from an empty interest (both zero). The gate is one number per user; the split
  is per item, and it is what changed that item's score. Beside them, the counts part's two exact
  terms: the recent items' transitions and the target's popularity;
- what-if: the top-K before and after removing events and/or appending items.

Global views (`attention_by_recency`, `gate_distribution`, `event_type_attribution`, `item_map`)
summarise the model over many users. Lower-level pieces (`History`, `edit_history`,
`pad_histories`, `score_histories`, `integrated_gradients`) work on batches and serve the
faithfulness bench.

Attribution runs the model in eval mode (no dropout), restores every module's train/eval flag
after, and on CUDA switches cuDNN off for the attribution only (cuDNN's RNN backward refuses eval
mode). The cuDNN switch is process-wide: attributions serialise it among themselves, and a GPU
training thread running meanwhile only gets the slower native kernels. Embedding hooks are
registered on the model for the duration of an attribution, so do not run the same model object
from another thread meanwhile (the dashboard holds a per-run lock for that).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ltsi.errors import LTSIError
from ltsi.evaluate import target_ranks
from ltsi.model import LTSI
from ltsi.sequences import FIRST_EVENT_BUCKET, PADDING_IDX, Batch, Sequences, gap_buckets

# what each past event's attribution is made of: its three input embeddings (Integrated Gradients)
# and its item's training successors (the counts part, exact: it is a sum over events)
COMPONENTS = ("item", "event", "gap", "transitions")


# ---------------------------------------------------------------------------------------------
# Model state


def _device(model: torch.nn.Module) -> torch.device:
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


_CUDNN_LOCK = threading.Lock()  # the cuDNN switch is process-wide: one switched-off region at a time


@contextlib.contextmanager
def _no_cudnn(device: torch.device) -> Iterator[None]:
    """cuDNN off on CUDA only: its RNN backward raises in eval mode; the native LSTM kernels don't.

    Serialised by a lock, so two overlapping attributions cannot restore the flag in the wrong
    order and leave cuDNN off. A training thread running meanwhile only gets slower kernels.
    """
    if device.type == "cuda":
        with _CUDNN_LOCK, torch.backends.cudnn.flags(enabled=False):
            yield
    else:
        yield


# ---------------------------------------------------------------------------------------------
# Histories: a user's events (possibly edited) before windowing and padding


@dataclass
class History:
    """One user history, oldest first, as model inputs before padding."""

    positions: np.ndarray  # (n,) position in the user's chronological sequence; -1 for an appended event
    items: np.ndarray  # (n,) item index
    events: np.ndarray  # (n,) event-type index
    gaps: np.ndarray  # (n,) gap bucket

    def __len__(self) -> int:
        return len(self.items)


def _user(seqs: Sequences, user: str) -> int:
    return seqs.user_index(str(user))


def _end(seqs: Sequences, u: int, end: int | None) -> int:
    length = int(seqs.lengths[u])
    if end is None:
        return length
    if not 1 <= end <= length:
        raise LTSIError(f"User {seqs.users[u]!r} has {length} events; the history must keep 1 to {length} of them.")
    return int(end)


def edit_history(
    seqs: Sequences,
    u: int,
    end: int | None = None,
    remove: Sequence[int] = (),
    append: Sequence[str] = (),
    append_events: Sequence[str] | None = None,
    allow_empty: bool = False,
) -> History:
    """User u's events [0, end) without the positions in `remove`, then the items in `append`.

    Time gaps are recomputed from the timestamps of the kept events, so the event after a removed
    one sees the gap to its new predecessor. Appended items have no timestamp: they get the most
    common event type (unless `append_events` is given) and the log's median gap, like
    `sequences.custom_history`. An empty result is an error unless `allow_empty` (occlusion of a
    one-event history: the model then scores from no events at all).
    """
    end = _end(seqs, u, end)
    keep = np.ones(end, dtype=bool)
    remove = np.asarray(list(remove), dtype=np.int64)
    if remove.size and (remove.min() < 0 or remove.max() >= end):
        raise LTSIError(f"Events to remove must be positions 0 to {end - 1} of this user's history.")
    keep[remove] = False
    kept = np.flatnonzero(keep)  # (n,)
    flat = seqs.offsets[u] + kept
    items, events = seqs.item_ids[flat], seqs.event_ids[flat]
    if len(kept) and not len(remove):
        gaps = seqs.gap_ids[flat]  # untouched history: the stored buckets (identical to recomputing)
    elif len(kept):
        first = np.zeros(len(kept), dtype=bool)
        first[0] = True
        gaps = gap_buckets(seqs.timestamps[flat], first)
    else:
        gaps = np.zeros(0, dtype=np.int64)
    positions = kept
    if len(append):
        added = seqs.items.encode(list(append), "item")
        if append_events is None:
            added_events = np.full(len(added), np.bincount(seqs.event_ids).argmax(), dtype=np.int64)
        else:
            if len(append_events) != len(append):
                raise LTSIError("Give one event type per appended item (or none to use the most common type).")
            added_events = seqs.event_types.encode(list(append_events), "event type")
        added_gaps = np.full(len(added), int(np.median(seqs.gap_ids)), dtype=np.int64)
        if not len(kept):
            added_gaps[0] = FIRST_EVENT_BUCKET
        items = np.concatenate([items, added])
        events = np.concatenate([events, added_events])
        gaps = np.concatenate([gaps, added_gaps])
        positions = np.concatenate([positions, np.full(len(added), -1, dtype=np.int64)])
    if not len(items) and not allow_empty:
        raise LTSIError("The edited history is empty: keep or add at least one event.")
    return History(positions.astype(np.int64), items.astype(np.int64), events.astype(np.int64), gaps.astype(np.int64))


def pad_histories(histories: Sequence[History], max_len: int) -> Batch:
    """Left-padded batch of the last `max_len` events of each history.

    The batch is only as wide as its longest row (<= max_len): all-padding columns change nothing
    in LTSI (masked attention, packed LSTM) and only cost time.
    """
    width = max(1, min(max_len, max(len(h) for h in histories)))  # an empty history is one padding column
    out = np.zeros((3, len(histories), width), dtype=np.int64)  # items, events, gaps
    for i, h in enumerate(histories):
        n = min(len(h), width)
        if n:
            out[0, i, width - n :] = h.items[-n:]
            out[1, i, width - n :] = h.events[-n:]
            out[2, i, width - n :] = h.gaps[-n:]
    return Batch(*(torch.from_numpy(a) for a in out))


def _history_mask(histories: Sequence[History], n_items: int) -> torch.Tensor:
    """(B, N) True where the item occurs in the history (for `exclude_seen`)."""
    mask = torch.zeros(len(histories), n_items, dtype=torch.bool)
    for i, h in enumerate(histories):
        mask[i, torch.from_numpy(h.items)] = True
    return mask


@torch.no_grad()
def _last_outputs(model: LTSI, batch: Batch):
    with eval_mode(model):
        items, events, gaps = (t.to(_device(model)) for t in (batch.items, batch.events, batch.gaps))
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
        _, scores = _last_outputs(model, pad_histories(chunk, model.config.max_len))  # (b, N)
        scores = scores.cpu()
        t = torch.from_numpy(targets[start : start + len(chunk)])  # (b, K)
        scores_out.append(scores.gather(1, t))  # (b, K) the model's score, seen or not
        if exclude_seen:
            scores = scores.masked_fill(_history_mask(chunk, scores.shape[1]), -math.inf)
        ranks_out.append(torch.stack([target_ranks(scores, t[:, k]) for k in range(t.shape[1])], 1))  # (b, K)
    s, r = torch.cat(scores_out).numpy(), torch.cat(ranks_out).numpy()
    return (s[:, 0], r[:, 0]) if squeeze else (s, r)


# ---------------------------------------------------------------------------------------------
# Layer Integrated Gradients


@dataclass
class Attributions:
    """Attribution of a batch of (history, target) rows to each past event (see `integrated_gradients`)."""

    components: torch.Tensor  # (B, T, 4) per position: item / event type / gap embedding (LIG), transitions
    score: torch.Tensor  # (B,) target score for the real history
    baseline_score: torch.Tensor  # (B,) target score with no history: embeddings at padding (zero), no successors
    delta: torch.Tensor  # (B,) convergence delta: sum of attributions - (score - baseline_score)

    @property
    def total(self) -> torch.Tensor:
        return self.components.sum(-1)  # (B, T)


@contextlib.contextmanager
def _embeddings_of(model: LTSI, ids: tuple[torch.Tensor, ...]) -> Iterator[None]:
    """Make the three embedding layers output the embeddings of `ids` instead of their own input.

    The model still runs on the real ids, so its padding mask and sequence lengths are the real
    ones; only the event vectors change. The hooks are prepended so that Captum's own hooks on the
    same layers (which capture or replace the output) run after them.
    """
    layers = (model.item_embedding, model.event_embedding, model.gap_embedding)
    handles = []
    try:
        for layer, layer_ids in zip(layers, ids):
            def hook(module, _inputs, _output, layer_ids=layer_ids):
                return F.embedding(layer_ids, module.weight, module.padding_idx)
            handles.append(layer.register_forward_hook(hook, prepend=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _target_score(model: LTSI, items, events, gaps, real_items, real_events, real_gaps, targets) -> torch.Tensor:
    """Interest part of `targets`' (B,) score after the last event, with embeddings of (items, events, gaps); (B,)."""
    with _embeddings_of(model, (items, events, gaps)):
        out = model(real_items, real_events, real_gaps)
    scores = model.scores(out.interest[:, -1], mask_padding=False)  # (B, N)
    return scores.gather(1, targets[:, None]).squeeze(1).float()  # (B,)


def integrated_gradients(
    model: LTSI,
    batch: Batch,
    targets: torch.Tensor | np.ndarray | Sequence[int],
    n_steps: int = 50,
    internal_batch_size: int | None = None,
    method: str = "gausslegendre",
) -> Attributions:
    """Each row's target score split over its past events: LIG over the item, event and gap
    embeddings for the interest part, and the exact per-event share of the counts part.

    The interest part moves from its value with every embedding at padding to its real value
    (Layer Integrated Gradients). The counts part is w_k * log(1 + #(item k events back -> target))
    per event plus a popularity term that needs no history: each event gets its own term, and the
    popularity term is part of the baseline score. So the four components of all events add up to
    score - baseline_score up to the LIG convergence delta.

    Rows may be different users or the same history repeated with different targets (that is how
    several targets go in one call). Padding positions get exactly zero: their input and baseline
    embeddings are both the zero padding vector, and padding has no successors.
    """
    from captum.attr import LayerIntegratedGradients  # imported here: captum is slow to import

    if n_steps < 1:
        raise LTSIError("Integrated Gradients needs at least one step.")
    device = _device(model)
    batch = batch.to(device)
    if isinstance(targets, torch.Tensor):
        targets = targets.to(device=device, dtype=torch.int64).reshape(-1)  # (B,)
    else:
        targets = torch.as_tensor(np.asarray(targets, dtype=np.int64), device=device).reshape(-1)  # (B,)
    if len(targets) != batch.items.shape[0]:
        raise LTSIError("Give one target item per history row.")
    inputs = (batch.items, batch.events, batch.gaps)  # (B, T) each
    baselines = tuple(torch.full_like(t, PADDING_IDX) for t in inputs)  # (B, T) each: padding everywhere

    def forward(items, events, gaps, real_items, real_events, real_gaps, row_targets):
        return _target_score(model, items, events, gaps, real_items, real_events, real_gaps, row_targets)

    layers = [model.item_embedding, model.event_embedding, model.gap_embedding]
    with eval_mode(model), _no_cudnn(device):
        with warnings.catch_warnings():  # Captum warns that several layers must not depend on each other; ours don't
            warnings.filterwarnings("ignore", message="Multiple layers provided")
            lig = LayerIntegratedGradients(forward, layers)
            per_layer, delta = lig.attribute(
                inputs,
                baselines=baselines,
                additional_forward_args=(*inputs, targets),
                n_steps=n_steps,
                method=method,
                internal_batch_size=internal_batch_size,
                return_convergence_delta=True,
            )
        with torch.no_grad():
            score = _target_score(model, *inputs, *inputs, targets)  # (B,)
            baseline_score = _target_score(model, *baselines, *inputs, targets)  # (B,)
            transitions = torch.zeros_like(batch.items, dtype=torch.float32)  # (B, T)
            if model.config.transitions:
                lags = min(model.config.transition_lags, batch.items.shape[1])
                parts = model.transition_parts(model.count_sources(batch.items)[:, -1], targets)  # (B, L) lag 0 first
                transitions[:, -lags:] = parts[:, :lags].flip(-1).float()  # (B, T) oldest lag leftmost
                popularity = model.popularity_part(targets).float()  # (B,)
                score = score + transitions.sum(-1) + popularity
                baseline_score = baseline_score + popularity
    components = torch.stack([a.sum(-1) for a in per_layer] + [transitions], -1)  # (B, T, 4)
    return Attributions(
        components=components.detach().float().cpu(),
        score=score.cpu(),
        baseline_score=baseline_score.cpu(),
        delta=delta.detach().float().cpu(),
    )


# ---------------------------------------------------------------------------------------------
# Item metadata


def item_info(items: pd.DataFrame | None) -> pd.DataFrame | None:
    """title / category per item id (string index) from an items table, whatever its column names.

    Accepts title or name for the title, category / categories / genre / genres for the category;
    of a multi-valued genres field ("Action|Comedy") the first value is the category.
    """
    if items is None or "item_id" not in getattr(items, "columns", ()):
        return None
    out = pd.DataFrame(index=pd.Index(items["item_id"].astype(str), name="item_id"))
    for name in ("title", "name", "movie_title", "product_name"):
        if name in items.columns:
            out["title"] = items[name].astype(str).to_numpy()
            break
    for name in ("category", "categories", "genre", "genres", "main_category"):
        if name in items.columns:
            values = items[name].astype("string").fillna("")
            out["category"] = values.str.split("|").str[0].to_numpy()
            break
    out = out[~out.index.duplicated()]
    return out if len(out.columns) else None


def _with_items(frame: pd.DataFrame, info: pd.DataFrame | None, column: str = "item_id") -> pd.DataFrame:
    """Insert title / category right after `column` when known."""
    if info is None:
        return frame
    at = frame.columns.get_loc(column) + 1
    looked_up = info.reindex(frame[column].astype(str))
    for offset, name in enumerate(looked_up.columns):
        frame.insert(at + offset, name, looked_up[name].to_numpy())
    return frame


def _top_k(scores: torch.Tensor, k: int, seqs: Sequences, info) -> pd.DataFrame:
    """(N,) scores -> rank, item_id, [title, category], score of the k best items."""
    k = min(k, int(torch.isfinite(scores).sum()))
    values, index = torch.topk(scores, k)
    frame = pd.DataFrame({"rank": np.arange(1, k + 1), "item_id": seqs.items.decode(index.tolist()),
                          "score": values.numpy().astype(np.float64)})
    return _with_items(frame, info)


@dataclass
class InterestSplit:
    """Integrated Gradients of target scores over the long- and short-term parts of the interest."""

    long: torch.Tensor  # (B,) attribution to gate * long-term interest
    short: torch.Tensor  # (B,) attribution to (1 - gate) * short-term interest
    transitions: torch.Tensor  # (B,) counts part: the recent items' training successors (exact; 0 without it)
    popularity: torch.Tensor  # (B,) counts part: the target's training popularity (exact; 0 without it)
    score: torch.Tensor  # (B,) target score
    empty_score: torch.Tensor  # (B,) interest part of the target score from an empty interest (both parts zero)
    delta: torch.Tensor  # (B,) convergence delta: long + short + transitions + popularity - (score - empty_score)

    @property
    def long_share(self) -> torch.Tensor:
        """(B,) |long| / (|long| + |short|): the long-term share of what moved the score (NaN if nothing did)."""
        total = self.long.abs() + self.short.abs()
        return torch.where(total > 0, self.long.abs() / total.clamp(min=1e-30), torch.nan)


def interest_split(
    model: LTSI,
    batch: Batch,
    targets: torch.Tensor | np.ndarray | Sequence[int],
    n_steps: int = 64,
) -> InterestSplit:
    """How much of each row's target score comes from long-term interest, short-term interest,
    the recent items' transitions and the target's popularity.

    After the last event the interest part scores items from head(gate * long + (1 - gate) * short).
    The gate alone does not say which part an item's score owes to: both parts are vectors, and one
    item can be carried by the smaller part. Integrated Gradients over the two parts, from zero to
    their real value, splits the interest part's score - empty_score between them (completeness, up
    to `delta`). The counts part is added as it is: it is already a sum of its two terms. Without
    the long-term branch the long part is exactly zero; without the counts part so are the last two.
    """
    from captum.attr import IntegratedGradients  # imported here: captum is slow to import

    device = _device(model)
    batch = batch.to(device)
    targets = torch.as_tensor(np.asarray(targets, dtype=np.int64), device=device).reshape(-1)  # (B,)
    if len(targets) != batch.items.shape[0]:
        raise LTSIError("Give one target item per history row.")

    def forward(long_part, short_part, row_targets):  # Captum repeats the rows once per step, targets too
        scores = model.scores(model.head(long_part + short_part), mask_padding=False)  # (B, N)
        return scores.gather(1, row_targets[:, None]).squeeze(1).float()  # (B,)

    with eval_mode(model):
        with torch.no_grad():
            out = model(batch.items, batch.events, batch.gaps)
        gate = out.gate[:, -1, None].float()  # (B, 1)
        parts = (gate * out.long[:, -1].float(), (1 - gate) * out.short[:, -1].float())  # (B, D) each
        baselines = tuple(torch.zeros_like(p) for p in parts)
        (long_attr, short_attr), delta = IntegratedGradients(forward).attribute(
            parts, baselines=baselines, additional_forward_args=(targets,), n_steps=n_steps, method="gausslegendre",
            return_convergence_delta=True)
        with torch.no_grad():
            score, empty = forward(*parts, targets), forward(*baselines, targets)  # (B,) each
            transitions = popularity = torch.zeros_like(score)  # (B,)
            if model.config.transitions:
                transitions = model.transition_parts(model.count_sources(batch.items)[:, -1], targets).sum(-1).float()
                popularity = model.popularity_part(targets).float()  # (B,)
    return InterestSplit(long_attr.sum(-1).detach().cpu(), short_attr.sum(-1).detach().cpu(), transitions.cpu(),
                         popularity.cpu(), (score + transitions + popularity).cpu(), empty.cpu(), delta.detach().cpu())


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

    def for_target(self, item_id: str) -> pd.DataFrame:
        """The per-event rows of one target, oldest first."""
        return self.events[self.events["target_item"] == str(item_id)].reset_index(drop=True)

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
        }


    def to_text(self, max_events: int = 20) -> str:
        """A plain-text report: per target, its numbers and the most recent events, newest first."""
        lines = [f"User {self.user_id}: {self.n_history} events, the model reads the last {self.n_window}; "
                 f"gate {self.gate:.2f} (share of long-term interest)"]
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
            header = f"  {'pos':>5} {'item':<14} {'event':<10} {'short':>6} {'long':>6} {'attrib':>8} " \
                     f"{'item':>8} {'event':>8} {'gap':>8} {'trans.':>8}"
            has_occlusion = "occlusion_drop" in rows.columns
            lines.append(header + (f" {'occl.drop':>9} {'rank+':>6}" if has_occlusion else ""))
            for r in rows.itertuples(index=False):
                name = str(getattr(r, "title", r.item_id))[:14]
                line = (f"  {r.position:>5} {name:<14} {str(r.event)[:10]:<10} {r.short_attention:>6.3f} "
                        f"{r.long_attention:>6.3f} {r.attribution:>8.4f} {r.attribution_item:>8.4f} "
                        f"{r.attribution_event:>8.4f} {r.attribution_gap:>8.4f} {r.attribution_transitions:>8.4f}")
                if has_occlusion:
                    line += f" {r.occlusion_drop:>9.4f} {r.occlusion_rank_change:>6g}"
                lines.append(line)
            if len(rows) < self.n_window:
                lines.append(f"  ... {self.n_window - len(rows)} older events not shown")
        return "\n".join(lines)


def records(frame: pd.DataFrame) -> list[dict]:
    """A DataFrame as JSON-ready records (ISO timestamps; NaN and inf become null)."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def _window_events(seqs: Sequences, u: int, history: History, max_len: int, info) -> pd.DataFrame:
    """position, recency, timestamp, item_id, [title, category], event of the events the model reads."""
    window = history.positions[-min(len(history), max_len) :]
    table = seqs.user_events(u).iloc[window].reset_index(drop=True)
    table.insert(1, "recency", np.arange(len(window))[::-1])  # 0 = the most recent event
    return _with_items(table, info)


def _attention_table(model: LTSI, seqs: Sequences, u: int, history: History, info) -> tuple[pd.DataFrame, torch.Tensor]:
    """The attention rows of `attention` and the scores (N,) after the history, from one forward pass."""
    table = _window_events(seqs, u, history, model.config.max_len, info)
    out, scores = _last_outputs(model, pad_histories([history], model.config.max_len))
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
    u = _user(seqs, user)
    table, _ = _attention_table(model, seqs, u, edit_history(seqs, u, end), item_info(items))
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
    u = _user(seqs, user)
    history = edit_history(seqs, u, end)
    if targets is None:
        _, scores = _last_outputs(model, pad_histories([history], model.config.max_len))
        if exclude_seen:
            scores = scores.cpu().masked_fill(_history_mask([history], scores.shape[1]), -math.inf)
        targets = seqs.items.decode([int(scores[0].argmax())])
    target_ids = seqs.items.encode(list(targets), "item")  # (K,)
    if remove is None:
        remove = [(int(p),) for p in history.positions[-min(len(history), model.config.max_len) :]]
    sets = [tuple(int(p) for p in r) for r in remove]
    edited = [history] + [edit_history(seqs, u, end, remove=r, allow_empty=True) for r in sets]
    scores, ranks = score_histories(model, edited, np.tile(target_ids, (len(edited), 1)), exclude_seen)  # (1 + R, K)
    K, R = len(target_ids), len(sets)
    return pd.DataFrame(
        {
            "target_item": np.repeat(seqs.items.decode(target_ids), R),
            "removed": sets * K,
            "score": np.repeat(scores[0], R).astype(np.float64),
            "rank": np.repeat(ranks[0], R),
            "occlusion_score": scores[1:].T.reshape(-1).astype(np.float64),
            "occlusion_rank": ranks[1:].T.reshape(-1),
            "occlusion_drop": (scores[0][:, None] - scores[1:].T).reshape(-1).astype(np.float64),
            "occlusion_rank_change": (ranks[1:].T - ranks[0][:, None]).reshape(-1),
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
    `Explanation.targets` columns: target_item, [title, category], score, rank, baseline_score,
    attribution_sum, delta, n_steps (the steps actually used for that target), and the interest
    split (see `interest_split`): long_part, short_part, long_share, transitions_part, popularity_part
    and empty_score (they add up to score - empty_score).
    """
    u = _user(seqs, user)
    info = item_info(items)
    history = edit_history(seqs, u, end)
    table, scores = _attention_table(model, seqs, u, history, info)  # rows per event; scores (N,)
    n = len(table)
    if exclude_seen:
        scores = scores.masked_fill(_history_mask([history], len(scores))[0], -math.inf)
    recommendations = _top_k(scores, k, seqs, info)
    if targets is None:
        targets = [recommendations["item_id"].iat[0]]
    elif isinstance(targets, str):
        targets = [targets]
    if not len(targets):
        raise LTSIError("Choose at least one item to explain.")
    target_ids = seqs.items.encode(list(targets), "item")  # (K,)
    names = seqs.items.decode(target_ids)
    K = len(target_ids)

    attributions, steps = _adaptive_ig(model, history, target_ids, n_steps, internal_batch_size,
                                       max_relative_delta, max_steps)
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
        targets=_with_items(target_frame, info, "target_item"),
        recommendations=recommendations,
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
        redo = ((result.delta.abs() > max_relative_delta * span).numpy() & (steps < max_steps))  # (K,)
        if not redo.any():
            break
        n = int(min(max_steps, 2 * steps[redo].max()))
        rows = torch.from_numpy(np.flatnonzero(redo))
        again = integrated_gradients(model, pad_histories([history] * len(rows), model.config.max_len),
                                     target_ids[rows.numpy()], n, internal_batch_size)
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
    history: pd.DataFrame  # the edited history: position (-1 = appended), item_id, [title, category], event
    item: dict | None  # chosen item: item_id, rank_before, rank_after, rank_change, score_before, score_after,
    #                    score_change

    def to_dict(self) -> dict:
        return {"item": self.item, "before": records(self.before), "after": records(self.after),
                "changes": records(self.changes), "history": records(self.history)}


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
    """
    u = _user(seqs, user)
    info = item_info(items)
    real = edit_history(seqs, u, end)
    edited = edit_history(seqs, u, end, remove=remove, append=append, append_events=append_events)
    _, scores = _last_outputs(model, pad_histories([real, edited], model.config.max_len))
    raw = scores.cpu()  # (2, N) the model's scores
    scores = raw.masked_fill(_history_mask([real, edited], raw.shape[1]), -math.inf) if exclude_seen else raw
    before, after = _top_k(scores[0], k, seqs, info), _top_k(scores[1], k, seqs, info)

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
        changes=_with_items(changes, info),
        history=_with_items(history, info),
        item=chosen_change,
    )


# ---------------------------------------------------------------------------------------------
# Global views


def _sample_users(seqs: Sequences, users: Sequence[str] | None, max_users: int | None, seed: int = 0) -> np.ndarray:
    """User indices: the given ones, or a seeded sample of at most `max_users` of all users."""
    if users is not None:
        return np.array([_user(seqs, user) for user in users], dtype=np.int64)
    index = np.arange(seqs.n_users)
    if max_users is not None and len(index) > max_users:
        index = np.sort(np.random.default_rng(seed).choice(index, max_users, replace=False))
    return index


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
    index = _sample_users(seqs, users, max_users)
    L = model.config.max_len
    sums = np.zeros((3, L))
    counts = np.zeros(L)
    for start in range(0, len(index), batch_size):
        histories = _full_histories(seqs, index[start : start + batch_size])
        batch = pad_histories(histories, L)
        out, _ = _last_outputs(model, batch)
        width = batch.items.shape[1]
        g = out.gate[:, -1:].float().cpu()  # (b, 1)
        short = out.short_attention[:, -1].float().cpu()  # (b, T)
        long = out.long_attention[:, -1].float().cpu()  # (b, T)
        mixed = g * long + (1 - g) * short  # (b, T)
        for row, weights in enumerate((short, long, mixed)):
            sums[row, :width] += weights.sum(0).numpy()[::-1]  # column -1 is recency 0
        counts[:width] += batch.mask.sum(0).numpy()[::-1]
    n = max(len(index), 1)
    frame = pd.DataFrame({"recency": np.arange(L), "short_attention": sums[0] / n, "long_attention": sums[1] / n,
                          "attention": sums[2] / n, "n_users": counts.astype(np.int64)})
    return frame[frame["n_users"] > 0].reset_index(drop=True)


def gate_distribution(
    model: LTSI,
    seqs: Sequences,
    users: Sequence[str] | None = None,
    max_users: int | None = None,
    batch_size: int = 512,
) -> pd.DataFrame:
    """The gate (share of long-term interest) after each user's last event.

    Columns: user_id, gate, n_events (length of the user's history).
    """
    index = _sample_users(seqs, users, max_users)
    gates = []
    for start in range(0, len(index), batch_size):
        out, _ = _last_outputs(model, pad_histories(_full_histories(seqs, index[start : start + batch_size]),
                                                    model.config.max_len))
        gates.append(out.gate[:, -1].float().cpu().numpy())
    return pd.DataFrame({"user_id": [seqs.users[u] for u in index],
                         "gate": np.concatenate(gates).astype(np.float64) if gates else np.zeros(0),
                         "n_events": seqs.lengths[index]})


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
    index = _sample_users(seqs, users, max_users)
    n_types = len(seqs.event_types)
    abs_total = np.zeros(n_types)
    signed = np.zeros(n_types)
    count = np.zeros(n_types)
    by_component = np.zeros((n_types, len(COMPONENTS)))
    for start in range(0, len(index), batch_size):
        histories = _full_histories(seqs, index[start : start + batch_size])
        batch = pad_histories(histories, model.config.max_len)
        _, scores = _last_outputs(model, batch)
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


def item_map(model: LTSI, seqs: Sequences, items: pd.DataFrame | None = None) -> pd.DataFrame:
    """2-D PCA map of the item embeddings (the same vectors that score items).

    Columns: item_id, [title, category], x, y (first two principal components), popularity (events
    in the log). `frame.attrs["explained_variance"]` holds the two components' variance shares.
    PCA by SVD of the centred embeddings; each axis' sign is fixed (largest loading positive) so
    the map does not flip between calls.
    """
    weights = model.item_embedding.weight.detach().float().cpu().numpy()[1:]  # (N - 1, D) padding left out
    if len(weights) < 2:
        raise LTSIError("An item map needs at least two items.")
    centred = weights - weights.mean(0)
    _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    vt = vt[:2] * np.sign(vt[:2][np.arange(min(2, len(vt))), np.abs(vt[:2]).argmax(1)])[:, None]  # (2, D)
    xy = centred @ vt.T  # (N - 1, 2)
    variance = s**2 / max((s**2).sum(), 1e-30)
    frame = pd.DataFrame(
        {
            "item_id": list(seqs.items.tokens[1:]),
            "x": xy[:, 0],
            "y": xy[:, 1] if xy.shape[1] > 1 else 0.0,
            "popularity": np.bincount(seqs.item_ids, minlength=len(seqs.items))[1:],
        }
    )
    frame = _with_items(frame, item_info(items))
    frame.attrs["explained_variance"] = [float(v) for v in variance[:2]]
    return frame
