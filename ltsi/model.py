"""The LTSI model: an LSTM with attention over short-term and long-term interest, fused by a gate.

Per step t of a user's (left-padded) behavior sequence:
1. every event is embedded as item + event type + time-gap bucket;
2. an LSTM reads the events; its state h_t is the "current context";
3. short-term interest: attention from h_t over the LSTM states of the last `short_window` events;
   [h_t; attended context] -> Linear -> LayerNorm (NARM's global + local encoder);
4. long-term interest: attention from h_t over the whole history so far (keys: item + event type +
   gap, so it can look for e.g. purchases), pooling linearly projected item embeddings -> LayerNorm;
5. a gate g_t in [0, 1] (share of long-term interest) mixes the two; both are layer-normalised, so
   their scales are equal and the gate alone says how much each contributes;
6. the interest part of item i's score is the inner product of Linear -> LayerNorm of the mixed
   interest with item i's embedding (tied input/output embeddings);
7. the counts part (the collaborative-filtering half of the hybrid) adds, for each of the last
   `transition_lags` events, w_k * log(1 + how often item i directly followed that event's item in
   the training events), plus w_pop * log(1 + how often i occurs in them). The counts are fixed
   (`set_counts`); the weights w are learned. So from the first step the model knows what
   "people who did X next did Y" and "most popular" know, and the interest part learns the rest.
   The counts part is a sum over events, so its share of a score is exact per event.

Ablations (switches in ModelConfig): `attention=False` replaces both attentions by their plain
counterparts (short-term: the last LSTM state; long-term: the mean of the history), `long_term=False`
drops the long-term branch, `gate=False` fixes the mix at 50/50, `transitions=False` drops the
counts part (scores from the interest alone). `ABLATIONS` names them once for every caller.

All attention is causal (step t sees steps <= t) and masked so that padding gets exactly zero
weight; every non-padding row sums to one. `forward` returns the attention and gate it used, so
explanations show the computation that made the scores.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ltsi.baselines import TrainingCounts
from ltsi.batches import Batch
from ltsi.errors import LTSIError
from ltsi.sequences import N_GAP_BUCKETS, PADDING_IDX


def _config_int(owner: str, name: str, value, low: int, high: int | None = None) -> None:
    """LTSIError naming `owner.name` unless `value` is a whole number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise LTSIError(f"{owner}.{name} must be a whole number, not {value!r}.")
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise LTSIError(f"{owner}.{name} must be {bounds}, not {value}.")


def _config_float(
    owner: str, name: str, value, low: float, high: float | None = None, low_open: bool = False, high_open: bool = False
) -> None:
    """LTSIError naming `owner.name` unless `value` is a finite number within the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise LTSIError(f"{owner}.{name} must be a number, not {value!r}.")
    if not math.isfinite(value):
        raise LTSIError(f"{owner}.{name} must be a finite number, not {value}.")
    too_low = value <= low if low_open else value < low
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = f"more than {low:g}" if low_open else f"at least {low:g}"
        right = "" if high is None else f" and {'less than' if high_open else 'at most'} {high:g}"
        raise LTSIError(f"{owner}.{name} must be {left}{right}, not {value}.")


def _config_bool(owner: str, name: str, value, optional: bool = False) -> None:
    if not (isinstance(value, (bool, np.bool_)) or (optional and value is None)):
        raise LTSIError(f"{owner}.{name} must be true or false{' or null' if optional else ''}, not {value!r}.")


def _config_str(owner: str, name: str, value, choices: tuple[str, ...] | None = None) -> None:
    if not isinstance(value, str) or (choices is not None and value not in choices):
        wanted = "text" if choices is None else "one of " + ", ".join(choices)
        raise LTSIError(f"{owner}.{name} must be {wanted}, not {value!r}.")


@dataclass
class ModelConfig:
    n_items: int  # vocabulary size, padding included
    n_event_types: int  # vocabulary size, padding included
    n_gap_buckets: int = N_GAP_BUCKETS
    dim: int = 64
    max_len: int = 50
    short_window: int = 10  # how many recent events the short-term attention sees
    dropout: float = 0.1
    attention: bool = True  # False: no attention anywhere: last LSTM state + plain mean of the history (ablation)
    long_term: bool = True  # False: no long-term branch, gate fixed at 0 (ablation)
    gate: bool = True  # False: fixed 50/50 mix of long- and short-term interest (ablation)
    transitions: bool = True  # False: no counts part, scores from the interest alone (ablation)
    transition_lags: int = 3  # the last this-many events each add their items' training successors

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """LTSIError naming the first field of a wrong type or out of range (a stored run's too)."""
        owner = "model_config"
        _config_int(owner, "n_items", self.n_items, 2)
        _config_int(owner, "n_event_types", self.n_event_types, 2)
        _config_int(owner, "n_gap_buckets", self.n_gap_buckets, 1, 10_000)
        _config_int(owner, "dim", self.dim, 1, 4096)
        _config_int(owner, "max_len", self.max_len, 1, 10_000)
        _config_int(owner, "short_window", self.short_window, 1, 10_000)
        _config_float(owner, "dropout", self.dropout, 0.0, 1.0, high_open=True)
        for name in ("attention", "long_term", "gate", "transitions"):
            _config_bool(owner, name, getattr(self, name))
        _config_int(owner, "transition_lags", self.transition_lags, 1, 50)

    def to_dict(self) -> dict:
        return asdict(self)


# LTSI's own ablations: label -> ModelConfig switches; the one set of labels
ABLATIONS = {
    "no attention": {"attention": False},
    "no long-term": {"long_term": False},
    "no gate": {"gate": False},
    "no transitions": {"transitions": False},
}


@dataclass
class LTSIOutput:
    interest: torch.Tensor  # (B, T, D) fused interest after each step
    short_attention: torch.Tensor  # (B, T, T) row t: weights over steps <= t in the short window
    long_attention: torch.Tensor  # (B, T, T) row t: weights over all steps <= t
    gate: torch.Tensor  # (B, T) share of long-term interest at each step
    long: torch.Tensor  # (B, T, D) long-term interest before the mix (zeros without the long-term branch)
    short: torch.Tensor  # (B, T, D) short-term interest before the mix


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis where `mask` is True; masked entries get exactly 0.

    Rows with no True entry (padding queries) come out all zero instead of NaN.
    """
    logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    return torch.softmax(logits, dim=-1) * mask  # exp(min - max) underflows to 0; * mask makes it exact


def left_to_right_index(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """Gather index that rotates each row so its last `lengths[b]` columns come first."""
    cols = torch.arange(T, device=lengths.device)  # (T,)
    return (cols[None, :] + (T - lengths)[:, None]) % T  # (B, T)


class Attention(nn.Module):
    """Scaled dot-product attention from one query per step over masked keys."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = self.query(queries)  # (B, T, D)
        k = self.key(keys)  # (B, T, D)
        logits = q @ k.transpose(1, 2) / math.sqrt(q.size(-1))  # (B, T, T)
        return masked_softmax(logits, mask)  # (B, T, T)


class LTSI(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        D = config.dim
        self.item_embedding = nn.Embedding(config.n_items, D, padding_idx=PADDING_IDX)
        self.event_embedding = nn.Embedding(config.n_event_types, D, padding_idx=PADDING_IDX)
        self.gap_embedding = nn.Embedding(config.n_gap_buckets, D, padding_idx=PADDING_IDX)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(D, D, batch_first=True)
        self.short_attention = Attention(D)
        self.short_mix = nn.Linear(2 * D, D)  # [current state; attended context] -> short-term interest (NARM)
        self.short_norm = nn.LayerNorm(D)  # both interests at one scale, so the gate alone decides the mix
        self.long_norm = nn.LayerNorm(D)
        self.long_attention = Attention(D)
        self.long_value = nn.Linear(D, D, bias=False)  # item embedding -> long-term interest space
        self.gate = nn.Linear(3 * D, 1)
        self.output = nn.Sequential(nn.Linear(D, D), nn.LayerNorm(D))
        if config.transitions:
            L = config.transition_lags
            # start as "last item's successors, then the older ones, then popularity": useful from step one
            self.transition_weight = nn.Parameter(1.0 / torch.arange(1, L + 1, dtype=torch.float32))  # (L,)
            self.popularity_weight = nn.Parameter(torch.tensor(0.5))
            self.set_counts(
                TrainingCounts(config.n_items, np.zeros(config.n_items), np.zeros(0, np.int64), np.zeros(0))
            )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for embedding in (self.item_embedding, self.event_embedding, self.gap_embedding):
            nn.init.normal_(embedding.weight, std=0.05)
            with torch.no_grad():
                embedding.weight[PADDING_IDX].zero_()

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """LSTM over the real events only, so padding never touches the state.

        Each row is rotated so its events come first and its padding after; the LSTM then reads the
        events from a zero state, and its outputs at the (trailing) padding, which never feed back
        into a real step, are dropped. Same result as a packed sequence, without the packing cost.
        """
        B, T, D = x.shape
        lengths = mask.sum(1).clamp(min=1)  # (B,) an all-padding row still runs, then is zeroed
        to_right = left_to_right_index(lengths, T)  # (B, T)
        x_right = x.gather(1, to_right[..., None].expand(B, T, D))  # (B, T, D) events first, padding after
        if x.device.type == "cpu":  # oneDNN has no bf16 LSTM on most CPUs: keep it fp32 under CPU autocast
            with torch.autocast("cpu", enabled=False):
                h_right, _ = self.lstm(x_right.float())  # (B, T, D)
        else:
            h_right, _ = self.lstm(x_right)  # (B, T, D) rows exact up to their length, junk after
        to_left = left_to_right_index(T - lengths, T)  # (B, T) the inverse rotation
        h = h_right.gather(1, to_left[..., None].expand(B, T, D))  # (B, T, D) back to left padding
        return h * mask[..., None]  # (B, T, D)

    def forward(self, items: torch.Tensor, events: torch.Tensor, gaps: torch.Tensor) -> LTSIOutput:
        cfg = self.config
        B, T = items.shape
        mask = items != PADDING_IDX  # (B, T)

        item_vectors = self.item_embedding(items)  # (B, T, D)
        x = item_vectors + self.event_embedding(events) + self.gap_embedding(gaps)  # (B, T, D)
        x = self.dropout(x)
        h = self.encode(x, mask)  # (B, T, D)

        steps = torch.arange(T, device=items.device)
        causal = steps[None, :] <= steps[:, None]  # (T, T) key j <= query t
        visible = causal[None] & mask[:, None, :] & mask[:, :, None]  # (B, T, T) real query, real key

        if cfg.attention:
            recent = steps[None, :] > steps[:, None] - cfg.short_window  # (T, T) key j in the last window
            short_attention = self.short_attention(h, h, visible & recent)  # (B, T, T)
        else:  # the ablation uses the current state alone: weight 1 on step t itself
            short_attention = torch.eye(T, device=items.device, dtype=h.dtype)[None] * mask[:, :, None]  # (B, T, T)
        context = short_attention @ h  # (B, T, D)
        short = self.short_norm(self.short_mix(torch.cat([h, context], dim=-1)))  # (B, T, D)

        if cfg.long_term:
            if cfg.attention:
                long_attention = self.long_attention(h, x, visible)  # (B, T, T) keys: item + event type + gap
            else:  # the ablation pools the history uniformly: a plain mean of the items so far
                long_attention = visible / visible.sum(-1, keepdim=True).clamp(min=1)  # (B, T, T)
            long = self.long_norm(long_attention @ self.long_value(self.dropout(item_vectors)))  # (B, T, D)
        else:
            long_attention = torch.zeros_like(short_attention)  # (B, T, T)
            long = torch.zeros_like(short)  # (B, T, D)

        if not cfg.long_term:
            gate = torch.zeros(B, T, device=items.device, dtype=h.dtype)  # (B, T)
        elif cfg.gate:
            gate = torch.sigmoid(self.gate(torch.cat([long, short, h], dim=-1))).squeeze(-1)  # (B, T)
        else:
            gate = torch.full((B, T), 0.5, device=items.device, dtype=h.dtype)  # (B, T)
        gate = gate * mask  # (B, T) no interest at padding

        mixed = gate[..., None] * long + (1 - gate[..., None]) * short  # (B, T, D)
        return LTSIOutput(self.head(mixed), short_attention, long_attention, gate, long, short)

    def head(self, mixed: torch.Tensor) -> torch.Tensor:
        """Mixed interest -> the interest vector that scores items; (..., D) -> (..., D)."""
        return self.output(self.dropout(mixed))

    def scores(self, interest: torch.Tensor, mask_padding: bool = True) -> torch.Tensor:
        """Interest part of every item's score: inner product with the tied item embeddings; (..., D) -> (..., N)."""
        logits = interest @ self.item_embedding.weight.T  # (..., N)
        if mask_padding:
            logits[..., PADDING_IDX] = float("-inf")  # padding is never a recommendation
        return logits

    def last_scores(self, batch: Batch) -> torch.Tensor:
        """Scores after the most recent event of each row, both parts; (B, N)."""
        out = self(batch.items, batch.events, batch.gaps)
        scores = self.scores(out.interest[:, -1])  # (B, N)
        if self.config.transitions:
            self.add_counts(scores, self.count_sources(batch.items)[:, -1])  # (B, N)
        return scores

    # ---- the counts part

    def set_counts(self, counts: TrainingCounts) -> None:
        """Fix the training counts the counts part reads (buffers: saved and moved with the model)."""
        if counts.n_items != self.config.n_items:
            raise LTSIError(
                "The training counts are for another catalogue (their item count differs from the model's)."
            )
        keys = torch.as_tensor(counts.keys, dtype=torch.int64)  # (P,) sorted previous * N + next
        device = self.item_embedding.weight.device
        self.register_buffer("transition_keys", keys.to(device))
        self.register_buffer("transition_counts", torch.as_tensor(counts.transitions, dtype=torch.float32).to(device))
        self.register_buffer("item_counts", torch.as_tensor(counts.items, dtype=torch.float32).to(device))
        # (N + 1,) CSR row starts of each previous item: derived, so not saved
        indptr = torch.searchsorted(keys // counts.n_items, torch.arange(counts.n_items + 1))
        self.register_buffer("transition_indptr", indptr.to(device), persistent=False)

    def count_sources(self, items: torch.Tensor) -> torch.Tensor:
        """Items of the last `transition_lags` events at each step; (B, T) -> (B, T, L), lag 0 first."""
        L = self.config.transition_lags
        padded = F.pad(items, (L - 1, 0), value=PADDING_IDX)  # (B, T + L - 1)
        return padded.unfold(1, L, 1).flip(-1)  # (B, T, L) [..., k] = items[t - k]

    def transition_parts(self, sources: torch.Tensor, targets: torch.Tensor, leave_out: bool = False) -> torch.Tensor:
        """w_k * log(1 + #(sources[:, k] -> target)) per lag; (M, L), (M,) -> (M, L).

        `leave_out`: the pair (sources[:, 0] -> target) is the training event being predicted, so
        it is taken out of its own count (otherwise training would teach the model to trust counts
        that always include the answer).
        """
        n, keys = self.config.n_items, self.transition_keys
        counts = torch.zeros(sources.shape, device=sources.device)  # (M, L)
        if len(keys):
            wanted = sources * n + targets[:, None]  # (M, L)
            at = torch.searchsorted(keys, wanted).clamp(max=len(keys) - 1)  # (M, L)
            counts = torch.where(keys[at] == wanted, self.transition_counts[at], 0.0)  # (M, L)
        if leave_out:
            counts[:, 0] = (counts[:, 0] - 1).clamp(min=0)
        return self.transition_weight * torch.log1p(counts)  # (M, L)

    def popularity_part(self, items: torch.Tensor, leave_out: bool = False) -> torch.Tensor:
        """w_pop * log(1 + training count) of `items` (any shape); `leave_out` takes one occurrence off."""
        counts = self.item_counts[items]
        if leave_out:
            counts = (counts - 1).clamp(min=0)
        return self.popularity_weight * torch.log1p(counts)

    def add_counts(
        self, scores: torch.Tensor, sources: torch.Tensor, columns: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Add the counts part to `scores` in place and return it; (M, N) or (M, C) for `columns` (C,) distinct.

        In place because at training time `scores` is the (positions x catalogue) logit matrix,
        the largest tensor there is; a second one of the same size would double the memory.
        """
        M, L = sources.shape
        n, indptr = self.config.n_items, self.transition_indptr
        rows = sources.reshape(-1)  # (M * L,) one CSR row per (case, lag)
        starts = indptr[rows]  # (M * L,)
        lengths = indptr[rows + 1] - starts  # (M * L,)
        owner = torch.repeat_interleave(torch.arange(M * L, device=rows.device), lengths)  # (P,)
        offset = torch.arange(len(owner), device=rows.device) - (lengths.cumsum(0) - lengths)[owner]  # (P,)
        pair = starts[owner] + offset  # (P,) index into the pair arrays
        values = self.transition_weight[owner % L] * torch.log1p(self.transition_counts[pair])  # (P,)
        successors = self.transition_keys[pair] % n  # (P,)
        if columns is None:
            popularity = self.popularity_part(torch.arange(n, device=rows.device))  # (N,)
            where = successors
        else:
            popularity = self.popularity_part(columns)  # (C,)
            position = torch.full((n,), -1, dtype=torch.int64, device=rows.device)  # (N,) column of each item
            position[columns] = torch.arange(len(columns), device=rows.device)
            keep = position[successors] >= 0  # (P,)
            owner, values, where = owner[keep], values[keep], position[successors[keep]]
        scores += popularity.to(scores.dtype)  # (M, N) or (M, C)
        return scores.index_put_((owner // L, where), values.to(scores.dtype), accumulate=True)

    def count_score(self, sources: torch.Tensor, targets: torch.Tensor, leave_out: bool = False) -> torch.Tensor:
        """Counts part of one target's score per row; (M, L), (M,) -> (M,)."""
        return self.transition_parts(sources, targets, leave_out).sum(-1) + self.popularity_part(targets, leave_out)
