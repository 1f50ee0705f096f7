"""The training loss: cross-entropy of the next item, over the whole catalogue or a sample of it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ltsi.model import LTSI
from ltsi.sequences import PADDING_IDX


def next_item_loss(
    model: LTSI,
    interest: torch.Tensor,
    items: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of the next item at every real position; (B, T, D), (B, T), (B, T) -> ().

    Full softmax over the catalogue, or with `negatives` (K,) distinct items a sampled softmax: the
    target against the K negatives (a negative equal to the target is masked out). The counts part
    of the target's score leaves the predicted transition out of its own counts (see
    `LTSI.transition_parts`), so training sees the counts as evaluation will.
    """
    real = targets != PADDING_IDX  # (B, T)
    h = interest[real]  # (M, D) one row per real position
    y = targets[real]  # (M,)
    sources = model.count_sources(items)[real] if model.config.transitions else None  # (M, L)
    if negatives is None:
        logits = model.scores(h)  # (M, N) padding column is -inf
        if sources is not None:
            model.add_counts(logits, sources)  # (M, N)
            correction = model.count_score(sources, y, leave_out=True) - model.count_score(sources, y)  # (M,)
            logits.index_put_((torch.arange(len(y), device=y.device), y), correction.to(logits.dtype), accumulate=True)
        return F.cross_entropy(logits.float(), y)
    weight = model.item_embedding.weight  # (N, D)
    positive = (h * weight[y]).sum(-1, keepdim=True)  # (M, 1)
    negative = h @ weight[negatives].T  # (M, K)
    if sources is not None:
        positive = positive + model.count_score(sources, y, leave_out=True)[:, None].to(positive.dtype)  # (M, 1)
        model.add_counts(negative, sources, negatives)  # (M, K)
    negative = negative.masked_fill(negatives[None, :] == y[:, None], float("-inf"))  # (M, K)
    logits = torch.cat([positive, negative], dim=1).float()  # (M, 1 + K)
    return F.cross_entropy(logits, torch.zeros_like(y))
