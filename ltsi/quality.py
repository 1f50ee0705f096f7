"""How far a trained run can be trusted: LTSI against the simple baselines, and checks for a degenerate model.

    quality = assess_run(run)
    quality.level        # "good", "caution" or "bad"
    quality.headline     # one plain sentence with the test numbers
    quality.warnings     # one plain sentence per degeneracy found

A model can beat nothing and still draw confident-looking explanations. Three symptoms, each
measured on a seeded sample of users after their whole history (what the dashboard explains):

- the gate (share of long-term interest) sits at 0% or 100% for nearly everyone, so "short-term"
  versus "long-term" says nothing about a user;
- the short-term attention spreads evenly over the events it reads for nearly everyone, so "this
  recent event mattered most" is noise;
- everyone gets nearly the same top-10 list, so the recommendations are not personal.

Level: "bad" when LTSI is below a simple baseline on the test events, ranks no test event in its
top 10, or recommends nearly the same list to everyone; "caution" when the gate or the attention is
degenerate (the recommendations may still be good, as on a log where the counts part carries the model,
but the explanation built on that part is not), when the test numbers are missing or say little (a tiny
catalogue), LTSI only matches a baseline, or training ended while still improving (or by hand, or
diverged); "good" otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from ltsi.baselines import BASELINES
from ltsi.batches import history_batch
from ltsi.insights import model_outputs, sample_index, sample_users, scored_users
from ltsi.recommend import last_outputs
from ltsi.runs import Run

K = 10  # the cut-off of the headline metric (NDCG@10) and of the compared top-k lists
METRIC = f"NDCG@{K}"
EDGE = 0.02  # a gate within this of 0 or of 1 is "all short-term" / "all long-term"
SATURATED_SHARE = 0.95  # more than this share of users at an edge: the gate does not tell users apart
MIN_GATE_SPREAD = 0.05  # 10th-to-90th percentile range of the gate below this: everyone gets the same mix
# A weight within 20% of its equal share 1/n (every event between 0.8/n and 1.2/n), i.e. attention
# logits within about +-0.2 of each other: the attention does not single out any event. Relative to
# 1/n so that it means the same for a window of 3 events as for one of 50.
UNIFORM_RELATIVE = 0.2
UNIFORM_SHARE = 0.95  # more than this share of users (reading >= 2 events) uniform: the attention is uniform
ALIKE_JACCARD = 0.8  # mean pairwise overlap (Jaccard) of users' top-10 lists above this: not personal
BATCH = 256  # users scored at once: bounds the (users x catalogue) score matrix


@dataclass(frozen=True)
class Quality:
    """How far a run can be trusted; see the module docstring."""

    headline: str  # one or two plain sentences: LTSI vs the best baseline on the test events, with numbers
    level: str  # "good", "caution" or "bad"
    warnings: tuple[str, ...]  # one plain sentence per degeneracy found
    gate_saturated: bool  # > 95% of sampled users have a gate within 0.02 of 0 or of 1
    attention_uniform: bool  # short-term attention within 20% of uniform for > 95% of sampled users
    recommendations_alike: bool  # mean pairwise Jaccard of sampled users' top-10 lists > 0.8
    separates_interest: bool  # the gate differs between users: not saturated and a 10-90% spread >= 0.05
    n_users: int  # users sampled for the checks

    @property
    def degenerate(self) -> bool:
        return self.gate_saturated or self.attention_uniform or self.recommendations_alike

    def to_dict(self) -> dict:
        return {**asdict(self), "warnings": list(self.warnings), "degenerate": self.degenerate}


@dataclass(frozen=True)
class Behaviour:
    """What the model does after the sampled users' whole histories: the raw numbers behind the checks."""

    gates: np.ndarray  # (U,) share of long-term interest after each user's last event
    uniform: np.ndarray  # (m,) per user reading >= 2 events: short-term attention near uniform (UNIFORM_RELATIVE)
    top: np.ndarray  # (L, k) item indices of the top-k of the listed users (all U but on a big catalogue)


def assess_run(run: Run, max_users: int = 500, seed: int = 0) -> Quality:
    """The run's quality from its stored test metrics and training summary, and the degeneracy checks
    on a seeded sample of at most `max_users` users."""
    cfg = run.model.config
    behaviour = sample_behaviour(run, max_users, seed)
    learned_gate = cfg.gate and cfg.long_term  # otherwise the gate is fixed by design, not learned
    saturated = learned_gate and gate_saturated(behaviour.gates)
    separates = learned_gate and not saturated and gate_spread(behaviour.gates) >= MIN_GATE_SPREAD
    uniform = cfg.attention and _share(behaviour.uniform) > UNIFORM_SHARE
    alike = len(run.seqs.items) - 1 > K and mean_jaccard(behaviour.top) > ALIKE_JACCARD  # <= K items: all alike
    warnings = degeneracy_warnings(behaviour, saturated, uniform, alike)
    headline, metrics_level = metrics_verdict(run)
    if alike or metrics_level == "bad":
        level = "bad"
    else:
        level = "caution" if warnings else metrics_level
    return Quality(
        headline=headline,
        level=level,
        warnings=warnings,
        gate_saturated=bool(saturated),
        attention_uniform=bool(uniform),
        recommendations_alike=bool(alike),
        separates_interest=bool(separates),
        n_users=len(behaviour.gates),
    )


# ---------------------------------------------------------------------------------------------
# The model's behaviour on a sample of users


def sample_behaviour(run: Run, max_users: int = 500, seed: int = 0) -> Behaviour:
    """Gate, short-term attention uniformity and top-k lists after each sampled user's whole history.

    The top-k lists score the whole catalogue for each user, so on a big catalogue they are compared for
    fewer of the sampled users (`ltsi.insights.scored_users`: 100 at a million items).
    """
    model, seqs = run.model, run.seqs
    cfg = model.config
    index = sample_users(seqs, None, max_users, seed)
    k = min(K, len(seqs.items) - 1)
    window = min(cfg.short_window, cfg.max_len)
    gates, uniform = [], []
    for start in range(0, len(index), BATCH):
        users = index[start : start + BATCH]
        batch = history_batch(seqs, users, seqs.lengths[users], cfg.max_len)
        out = model_outputs(model, batch)  # no item is scored here
        gates.append(out.gate[:, -1].float().cpu().numpy())  # (b,)
        attention = out.short_attention[:, -1, -window:].float().cpu()  # (b, w) weights over the last window
        read = batch.mask[:, -window:]  # (b, w) the events the short-term attention reads
        uniform.append(near_uniform(attention, read))
    listed = index[sample_index(len(index), scored_users(len(seqs.items) - 1, max_users), seed)]
    top = []
    for start in range(0, len(listed), BATCH):
        users = listed[start : start + BATCH]
        _, scores = last_outputs(model, history_batch(seqs, users, seqs.lengths[users], cfg.max_len))  # (b, N)
        top.append(scores.topk(k, dim=-1).indices.cpu().numpy())  # (b, k)
    return Behaviour(
        gates=np.concatenate(gates).astype(np.float64) if gates else np.zeros(0),
        uniform=np.concatenate(uniform) if uniform else np.zeros(0, dtype=bool),
        top=np.concatenate(top) if top else np.zeros((0, k), dtype=np.int64),
    )


def near_uniform(attention: torch.Tensor, read: torch.Tensor) -> np.ndarray:
    """Per row, whether every weight over the events read is within UNIFORM_RELATIVE of 1/n; rows reading
    fewer than two events (uniform by necessity) are left out. (b, w), (b, w) -> (m,) bool."""
    n = read.sum(-1, keepdim=True)  # (b, 1)
    deviation = ((attention * n - 1).abs() * read).amax(-1)  # (b,) largest |a * n - 1| over the events read
    return (deviation < UNIFORM_RELATIVE)[n.squeeze(-1) >= 2].numpy()


def gate_saturated(gates: np.ndarray) -> bool:
    """More than SATURATED_SHARE of the gates within EDGE of 0 or of 1."""
    at_edge = (gates <= EDGE) | (gates >= 1 - EDGE)
    return len(gates) > 0 and _share(at_edge) > SATURATED_SHARE


def gate_spread(gates: np.ndarray) -> float:
    """10th-to-90th percentile range of the gate over users (0 for fewer than two users)."""
    if len(gates) < 2:
        return 0.0
    low, high = np.quantile(gates, [0.1, 0.9])
    return float(high - low)


def mean_jaccard(top: np.ndarray) -> float:
    """Mean Jaccard overlap of every pair of rows' item sets; (U, k) -> float (0 for fewer than two rows)."""
    n = len(top)
    if n < 2 or top.shape[1] == 0:
        return 0.0
    _, columns = np.unique(top, return_inverse=True)  # only the items some list holds: a small matrix
    columns = columns.reshape(top.shape)  # (U, k)
    member = np.zeros((n, columns.max() + 1))  # (U, M) 1 where the item is in the user's list
    np.put_along_axis(member, columns, 1.0, axis=1)
    shared = member @ member.T  # (U, U) items in both lists
    sizes = member.sum(1)  # (U,)
    jaccard = shared / (sizes[:, None] + sizes[None, :] - shared)  # (U, U)
    pairs = ~np.eye(n, dtype=bool)
    return float(jaccard[pairs].mean())


def degeneracy_warnings(behaviour: Behaviour, saturated: bool, uniform: bool, alike: bool) -> tuple[str, ...]:
    """One plain sentence per symptom found."""
    warnings = []
    if saturated:
        gates = behaviour.gates
        warnings.append(
            f"The share of long-term interest is 0% or 100% for nearly every user ({_share(gates >= 1 - EDGE):.0%} "
            f"all long-term, {_share(gates <= EDGE):.0%} all short-term, of {len(gates):,} users checked), so the "
            "model cannot tell a short-term burst from a lasting taste: its split between them means nothing here."
        )
    if uniform:
        warnings.append(
            "The short-term attention spreads evenly over the recent events for nearly every user "
            f"({_share(behaviour.uniform):.0%} of those checked), so it does not single out any recent event: "
            "which recent event 'mattered most' means nothing here."
        )
    if alike:
        warnings.append(
            f"Nearly every user gets the same top {K} (on average two of the {len(behaviour.top):,} users compared "
            f"share {mean_jaccard(behaviour.top):.0%} of their lists), so the recommendations are not personal."
        )
    return tuple(warnings)


def _share(flags: np.ndarray) -> float:
    return float(np.mean(flags)) if len(flags) else 0.0


# ---------------------------------------------------------------------------------------------
# The stored test metrics and how training ended


def metrics_verdict(run: Run) -> tuple[str, str]:
    """(headline, level from the metrics and training alone): LTSI against the best simple baseline on
    the held-out test events, and whether training ended before the model had learned what it could."""
    training = (run.info or {}).get("training") or {}
    sentence, level = _comparison(run)
    ending = _training_ending(training)
    if ending:
        sentence = f"{sentence} {ending}"
        level = "bad" if level == "bad" else "caution"
    return sentence, level


def _comparison(run: Run) -> tuple[str, str]:
    results = run.table("test")
    n_items = len(run.seqs.items) - 1
    if results is None or METRIC not in results or not (results["model"] == "LTSI").any():
        return (
            "This model has no stored test results (a run saved by an older LTSI), so how well it predicts "
            "is unknown: train it again to measure it.",
            "caution",
        )
    ours = float(results.loc[results["model"] == "LTSI", METRIC].iat[0])
    if n_items <= K:
        return (
            f"The catalogue has only {n_items} items, so every model puts the held-out item in its top {K}: "
            "the test scores say little about this model.",
            "caution",
        )
    if ours <= 0:
        return (
            f"LTSI ranked none of the held-out test events in its top {K} ({METRIC} {ours:.3f}): "
            "its recommendations and explanations should not be trusted.",
            "bad",
        )
    best = best_baseline(results)
    if best is None:
        return (
            f"LTSI scores {METRIC} {ours:.3f} on held-out test events; no simple baseline was measured to "
            "compare it with.",
            "caution",
        )
    name, theirs = best
    versus = outcome(ours, theirs)
    if versus == "beats":
        return (
            f"LTSI beats the best simple baseline ({name}) on held-out test events: {METRIC} {ours:.3f} vs "
            f"{theirs:.3f}.",
            "good",
        )
    if versus == "matches":
        return (
            f"LTSI only matches the best simple baseline ({name}) on held-out test events: {METRIC} {ours:.3f} "
            f"vs {theirs:.3f}.",
            "caution",
        )
    return (
        f"LTSI is below the best simple baseline ({name}) on held-out test events: {METRIC} {ours:.3f} vs "
        f"{theirs:.3f}, so its recommendations and explanations should not be trusted yet.",
        "bad",
    )


def best_baseline(results: pd.DataFrame | None) -> tuple[str, float] | None:
    """(name, score) of the simple baseline with the highest NDCG@10 in a metrics table (a `model` column and
    one column per metric); None when the table holds no baseline."""
    if results is None or METRIC not in results:
        return None
    baselines = results[results["model"].isin(list(BASELINES))]
    if baselines.empty:
        return None
    best = baselines.loc[baselines[METRIC].idxmax()]
    return str(best["model"]), float(best[METRIC])


def outcome(ours: float, theirs: float) -> str:
    """ "beats", "matches" or "below": LTSI's test score against a baseline's (the rule the quality level follows)."""
    if ours > theirs:
        return "beats"
    return "matches" if ours == theirs else "below"


def versus_baselines(run: Run) -> str | None:
    """LTSI against the best simple baseline on the held-out test events: "beats", "matches" or "below"; None
    when that cannot be told (no test results or no baseline stored, or a catalogue of at most K items, where
    every model scores alike)."""
    results = run.table("test")
    if results is None or METRIC not in results or len(run.seqs.items) - 1 <= K:
        return None
    ours = results.loc[results["model"] == "LTSI", METRIC]
    best = best_baseline(results)
    if ours.empty or best is None:
        return None
    return outcome(float(ours.iat[0]), best[1])


def versus_words(ours: float | None, baseline: str | None, theirs: float | None, n_items: int) -> str:
    """LTSI against the best simple baseline in a few words, for a list of runs: "beats most popular (0.0317)",
    "below last-item transitions (0.1550)", "only matches …", or why it cannot be told. The same rules as the
    quality level: below a baseline, or no held-out event in its top K, is a model not to be trusted yet."""
    if ours is None:
        return "no test results"
    if n_items <= K:
        return f"cannot tell: only {n_items} items"
    if ours <= 0:
        return f"no test event in its top {K}"
    if baseline is None or theirs is None:
        return "no simple method measured"
    verb = {"beats": "beats", "matches": "only matches", "below": "below"}[outcome(ours, theirs)]
    return f"{verb} {baseline} ({theirs:.4f})"


def _training_ending(training: dict) -> str:
    """A sentence when training ended before the model had learned what it could ("" otherwise)."""
    reason = training.get("stop_reason")
    if training.get("still_improving"):
        return "Training stopped while the model was still improving: training longer should make it better."
    if reason == "requested":
        return "Training was stopped by hand, so the model may not have learned enough yet."
    if reason == "diverged":
        return "Training went wrong (the loss diverged); the model kept its weights from before that."
    return ""
