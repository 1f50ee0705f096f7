"""Attribution of a target item's score to the inputs: a thin Captum wrapper for LTSI.

- `integrated_gradients`: Captum Layer Integrated Gradients on the three input embeddings (item,
  event type, time gap), target = the score of one item, plus each event's exact term of the counts
  part (how often the target followed that event's item in training). Baseline = padding: every
  event's three embeddings move from the padding vector (zero in a model trained by `ltsi.train`)
  to their real value, while the sequence keeps its length and order (the LSTM and the attention
  masks see the real events). By completeness the attributions sum to score(history) -
  score(baseline) up to the convergence delta, which is reported.
- `interest_split`: how much of a target's score comes from long-term vs short-term interest:
  Integrated Gradients over the two gated parts (gate * long-term, (1 - gate) * short-term) that
  the model adds up, from an empty interest (both zero). The gate is one number per user; the split
  is per item, and it is what changed that item's score. Beside them, the counts part's two exact
  terms: the recent items' transitions and the target's popularity.

Attribution runs the model in eval mode (no dropout), restores every module's train/eval flag
after, and on CUDA switches cuDNN off for the attribution only (cuDNN's RNN backward refuses eval
mode). The cuDNN switch is process-wide: attributions serialise it among themselves, and a GPU
training thread running meanwhile only gets the slower native kernels. Embedding hooks are
registered on the model for the duration of an attribution, so do not run the same model object
from another thread meanwhile (the dashboard holds a per-run lock for that).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ltsi.batches import Batch
from ltsi.errors import LTSIError
from ltsi.model import LTSI
from ltsi.recommend import device_of, eval_mode
from ltsi.sequences import PADDING_IDX

# what each past event's attribution is made of: its three input embeddings (Integrated Gradients)
# and its item's training successors (the counts part, exact: it is a sum over events)
COMPONENTS = ("item", "event", "gap", "transitions")

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
    target_vectors = model.item_embedding.weight[targets]  # (B, D) only the targets: never the whole catalogue
    return (out.interest[:, -1] * target_vectors).sum(-1).float()  # (B,) = model.scores(...)[b, targets[b]]


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
    device = device_of(model)
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
# Interest split


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

    device = device_of(model)
    batch = batch.to(device)
    targets = torch.as_tensor(np.asarray(targets, dtype=np.int64), device=device).reshape(-1)  # (B,)
    if len(targets) != batch.items.shape[0]:
        raise LTSIError("Give one target item per history row.")

    def forward(long_part, short_part, row_targets):  # Captum repeats the rows once per step, targets too
        target_vectors = model.item_embedding.weight[row_targets]  # (B, D) only the targets, not the catalogue
        return (model.head(long_part + short_part) * target_vectors).sum(-1).float()  # (B,) the targets' scores

    with eval_mode(model):
        with torch.no_grad():
            out = model(batch.items, batch.events, batch.gaps)
        gate = out.gate[:, -1, None].float()  # (B, 1)
        parts = (gate * out.long[:, -1].float(), (1 - gate) * out.short[:, -1].float())  # (B, D) each
        baselines = tuple(torch.zeros_like(p) for p in parts)
        (long_attr, short_attr), delta = IntegratedGradients(forward).attribute(
            parts,
            baselines=baselines,
            additional_forward_args=(targets,),
            n_steps=n_steps,
            method="gausslegendre",
            return_convergence_delta=True,
        )
        with torch.no_grad():
            score, empty = forward(*parts, targets), forward(*baselines, targets)  # (B,) each
            transitions = popularity = torch.zeros_like(score)  # (B,)
            if model.config.transitions:
                transitions = model.transition_parts(model.count_sources(batch.items)[:, -1], targets).sum(-1).float()
                popularity = model.popularity_part(targets).float()  # (B,)
    return InterestSplit(
        long_attr.sum(-1).detach().cpu(),
        short_attr.sum(-1).detach().cpu(),
        transitions.cpu(),
        popularity.cpu(),
        (score + transitions + popularity).cpu(),
        empty.cpu(),
        delta.detach().cpu(),
    )
