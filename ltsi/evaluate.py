"""Full-ranking next-item evaluation: HR@K, NDCG@K and MRR@K over every item of the catalogue.

Protocol (leave-one-out, as RecBole and the SASRec literature): each case predicts one held-out
event from the events before it; the model scores *all* items (no sampled negatives) and the
target's rank is

    rank = 1 + number of items scored strictly above the target.

Ties are therefore resolved in the target's favour (an item tied with the target does not push it
down); a model that scores everything alike gets rank 1, so a scorer must not return constant
scores. NaN scores count as -inf. Padding (item 0) is never ranked. Then, per case,

    HR@K = [rank <= K],   NDCG@K = [rank <= K] / log2(rank + 1),   MRR@K = [rank <= K] / rank

averaged over the cases. With `exclude_seen=True` every item of the user's history before the
case (the whole history, not only the model's window) is removed from the ranking; a target that is
itself in that history is then a miss, as it would be for a system that never re-recommends.

Scores are computed in batches of `batch_size` cases, so 100k users x 50k items never exist at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import torch

from ltsi.batches import Batch, history_batch
from ltsi.errors import LTSIError
from ltsi.seen_items import history_mask
from ltsi.sequences import PADDING_IDX, Sequences
from ltsi.splits import EvalCases

Scorer = Callable[[Batch], torch.Tensor]
METRICS = ("HR", "NDCG", "MRR")


def metric_names(ks: Iterable[int] = (10, 20)) -> list[str]:
    """Column names in report order: HR@10, NDCG@10, MRR@10, HR@20, ..."""
    return [f"{m}@{k}" for k in ks for m in METRICS]


def as_scorer(obj) -> Scorer:
    """A function Batch -> (B, N) scores from a model, a baseline or a plain callable.

    Order of preference: a `score(batch)` method (baselines), a `last_scores(batch)` method (the
    LTSI model; it is put in eval mode and fed on its own device), else the object itself.
    """
    if hasattr(obj, "score") and callable(obj.score):
        return obj.score
    if isinstance(obj, torch.nn.Module) and hasattr(obj, "last_scores"):
        device = next(obj.parameters()).device

        def score(batch: Batch) -> torch.Tensor:
            obj.eval()
            return obj.last_scores(batch.to(device))

        return score
    if callable(obj):
        return obj
    raise LTSIError(f"Cannot evaluate a {type(obj).__name__}: it has no score(batch) method and is not callable.")


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, excluded: torch.Tensor | None = None) -> torch.Tensor:
    """Rank of each target among all items: 1 + #items scored strictly higher; (B, N), (B,) -> (B,).

    `excluded` (B, N) bool removes items from the ranking; an excluded target gets rank +inf.
    """
    # No copy of the (B, N) scores (at a million items that copy cost more than the ranking): padding's column is
    # skipped by a view, a NaN score is never higher than anything, and a -inf or NaN target has no rank.
    target_scores = scores.gather(1, targets[:, None])  # (B, 1)
    candidates = scores[:, PADDING_IDX + 1 :]  # (B, N - 1) padding is never a candidate
    allowed = None if excluded is None else ~excluded[:, PADDING_IDX + 1 :]  # (B, N - 1)
    if scores.device.type == "cpu":  # row by row: counting a 1-D mask is ~10x faster than summing a (B, N) one
        rows = [(candidates[b], target_scores[b], None if allowed is None else allowed[b]) for b in range(len(scores))]
        higher = torch.tensor([_count_above(*row) for row in rows], dtype=torch.int64)  # (B,)
    else:
        above = candidates > target_scores  # (B, N - 1)
        higher = (above if allowed is None else above & allowed).sum(1)  # (B,)
    missing = ~(target_scores.squeeze(1) > -math.inf)  # (B,) -inf or NaN: a hopeless target
    if excluded is not None:
        missing |= excluded.gather(1, targets[:, None]).squeeze(1)  # (B,) an excluded target
    ranks = 1.0 + higher.float()  # (B,)
    return ranks.masked_fill(missing, math.inf)  # (B,)


def _count_above(row: torch.Tensor, target: torch.Tensor, allowed: torch.Tensor | None) -> int:
    """How many of `row`'s (N,) scores are above `target` (1,), among the `allowed` (N,) ones when given."""
    above = row > target  # (N,)
    return int(torch.count_nonzero(above if allowed is None else above & allowed))


def metrics_from_ranks(ranks: torch.Tensor, ks: Iterable[int] = (10, 20)) -> dict[str, torch.Tensor]:
    """Per-case HR/NDCG/MRR at each K from ranks (B,); each value is (B,)."""
    out = {}
    for k in ks:
        hit = ranks <= k  # (B,)
        out[f"HR@{k}"] = hit.float()
        out[f"NDCG@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks.clamp(max=1e9) + 1.0), 0.0)
        out[f"MRR@{k}"] = torch.where(hit, 1.0 / ranks.clamp(max=1e9), 0.0)
    return {name: out[name] for name in metric_names(ks)}


def rank_metrics(
    scores: torch.Tensor, targets: torch.Tensor, ks: Iterable[int] = (10, 20), excluded: torch.Tensor | None = None
) -> dict[str, float]:
    """Mean HR@K, NDCG@K, MRR@K of one score matrix (B, N) against target item indices (B,)."""
    ranks = target_ranks(scores, targets.to(scores.device), excluded)
    return {name: float(v.mean()) for name, v in metrics_from_ranks(ranks, ks).items()}


@torch.no_grad()
def case_ranks(
    scorer,
    seqs: Sequences,
    cases: EvalCases,
    max_len: int,
    exclude_seen: bool = False,
    batch_size: int = 512,
) -> np.ndarray:
    """(C,) float32: the rank of each case's target under `scorer` (see module docstring; inf: never ranked)."""
    if len(cases) == 0:
        raise LTSIError("There is nothing to evaluate: no user has enough events for a held-out target.")
    score = as_scorer(scorer)
    ranks = []
    for start in range(0, len(cases), batch_size):
        users = cases.users[start : start + batch_size]
        ends = cases.ends[start : start + batch_size]
        batch = history_batch(seqs, users, ends, max_len)
        scores = score(batch)  # (B, N)
        if scores.shape != (len(users), len(seqs.items)):
            raise LTSIError(
                f"A scorer returned scores of shape {tuple(scores.shape)}, expected ({len(users)}, {len(seqs.items)})."
            )
        excluded = history_mask(seqs, users, ends, len(seqs.items)).to(scores.device) if exclude_seen else None
        targets = torch.from_numpy(cases.targets[start : start + batch_size]).to(scores.device)  # (B,)
        ranks.append(target_ranks(scores, targets, excluded).cpu().numpy())  # (B,)
    return np.concatenate(ranks)  # (C,)


def mean_metrics(ranks: np.ndarray, ks: Iterable[int] = (10, 20)) -> dict[str, float]:
    """Mean HR@K, NDCG@K, MRR@K over cases from their ranks (C,), e.g. {"HR@10": ..., "NDCG@10": ...}."""
    per_case = metrics_from_ranks(torch.from_numpy(np.array(ranks, dtype=np.float32)), ks)  # name -> (C,) (a copy)
    return {name: float(values.double().mean()) for name, values in per_case.items()}


def evaluate(
    scorer,
    seqs: Sequences,
    cases: EvalCases,
    max_len: int,
    ks: Iterable[int] = (10, 20),
    exclude_seen: bool = False,
    batch_size: int = 512,
) -> dict[str, float]:
    """Mean metrics of `scorer` over `cases` (see module docstring), e.g. {"HR@10": ..., "NDCG@10": ...}."""
    return mean_metrics(case_ranks(scorer, seqs, cases, max_len, exclude_seen, batch_size), ks)


def compare_ranks(
    scorers: dict[str, object],
    seqs: Sequences,
    cases: EvalCases,
    max_len: int,
    exclude_seen: bool = False,
    batch_size: int = 512,
) -> pd.DataFrame:
    """(C, M) float32: each case's rank (rows: positions in `cases`) under each scorer (columns, in the order given)."""
    ranks = {name: case_ranks(s, seqs, cases, max_len, exclude_seen, batch_size) for name, s in scorers.items()}
    return pd.DataFrame(ranks, index=pd.RangeIndex(len(cases), name="case"))


def metrics_table(ranks: pd.DataFrame, ks: Iterable[int] = (10, 20)) -> pd.DataFrame:
    """One row per column of `ranks` (column "model" + one column per metric), from `compare_ranks`."""
    ks = tuple(ks)
    rows = [{"model": name, **mean_metrics(ranks[name].to_numpy(), ks)} for name in ranks.columns]
    return pd.DataFrame(rows, columns=["model", *metric_names(ks)])


def compare(
    scorers: dict[str, object],
    seqs: Sequences,
    cases: EvalCases,
    max_len: int,
    ks: Iterable[int] = (10, 20),
    exclude_seen: bool = False,
    batch_size: int = 512,
) -> pd.DataFrame:
    """One row per scorer (column "model" + one column per metric), in the order given."""
    return metrics_table(compare_ranks(scorers, seqs, cases, max_len, exclude_seen, batch_size), ks)
