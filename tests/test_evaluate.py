"""Full-ranking metrics against hand-computed ranks and torchmetrics; the baselines."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torchmetrics.functional.retrieval as tmr

from ltsi.baselines import LastItemTransitions, MostPopular, fit_baselines
from ltsi.batches import Batch
from ltsi.errors import LTSIError
from ltsi.evaluate import compare, evaluate, metric_names, rank_metrics, target_ranks
from ltsi.seen_items import history_mask
from ltsi.sequences import build_sequences
from ltsi.splits import EvalCases, leave_one_out

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def log(rows):
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": [T0 + pd.Timedelta(seconds=r[2]) for r in rows],
        }
    )


def test_ranks_count_strictly_greater_scores():
    scores = torch.tensor(
        [
            [-1.0, 0.1, 0.9, 0.5, 0.3],  # target 3 (0.5): only 0.9 above -> rank 2
            [9.0, 0.2, 0.2, 0.2, 0.1],  # target 2 ties with 1 and 3 -> rank 1; padding 9.0 never counts
            [0.0, 0.4, 0.3, 0.2, 0.1],  # target 4: 4 items above -> rank 4? no: 0.4, 0.3, 0.2 above -> rank 4
            [0.0, float("nan"), 0.3, 0.2, 0.1],  # NaN counts as -inf: target 1 -> last
        ]
    )
    targets = torch.tensor([3, 2, 4, 1])
    before = scores.clone()
    assert target_ranks(scores, targets).tolist() == [2.0, 1.0, 4.0, math.inf]
    assert torch.equal(scores.nan_to_num(-7.0), before.nan_to_num(-7.0))  # the caller's scores are left as they were
    assert torch.equal(target_ranks(scores.bfloat16(), targets), target_ranks(scores, targets))  # exact in bf16 here


def test_metrics_by_hand():
    scores = torch.tensor([[0.0, 0.1, 0.9, 0.5, 0.3], [0.0, 0.4, 0.3, 0.2, 0.1]])
    m = rank_metrics(scores, torch.tensor([3, 4]), ks=(1, 3))
    # ranks 2 and 4
    assert m["HR@1"] == 0 and m["HR@3"] == 0.5
    assert m["NDCG@3"] == pytest.approx(0.5 / math.log2(3))
    assert m["MRR@3"] == pytest.approx(0.25)
    assert list(m) == ["HR@1", "NDCG@1", "MRR@1", "HR@3", "NDCG@3", "MRR@3"]
    assert metric_names((10, 20)) == ["HR@10", "NDCG@10", "MRR@10", "HR@20", "NDCG@20", "MRR@20"]


def test_excluded_items_leave_the_ranking_and_an_excluded_target_is_a_miss():
    scores = torch.tensor([[0.0, 0.9, 0.8, 0.5, 0.3], [0.0, 0.9, 0.8, 0.5, 0.3]])
    excluded = torch.tensor([[False, True, True, False, False], [False, False, False, True, False]])
    ranks = target_ranks(scores, torch.tensor([3, 3]), excluded)
    assert ranks.tolist() == [1.0, math.inf]


@pytest.mark.parametrize("k", [1, 5, 10])
def test_agrees_with_torchmetrics_on_random_scores(k):
    g = torch.Generator().manual_seed(k)
    scores = torch.randn(64, 40, generator=g)  # continuous: no ties, so every tie rule agrees
    scores[:, 0] = -math.inf  # padding column, as the models return it
    targets = torch.randint(1, 40, (64,), generator=g)
    ours = rank_metrics(scores, targets, ks=(k,))
    relevant = torch.nn.functional.one_hot(targets, 40).bool()
    hr = torch.stack([tmr.retrieval_hit_rate(s[1:], r[1:], top_k=k) for s, r in zip(scores, relevant)]).mean()
    ndcg = torch.stack([tmr.retrieval_normalized_dcg(s[1:], r[1:], top_k=k) for s, r in zip(scores, relevant)]).mean()
    mrr = torch.stack([tmr.retrieval_reciprocal_rank(s[1:], r[1:], top_k=k) for s, r in zip(scores, relevant)]).mean()
    assert ours[f"HR@{k}"] == pytest.approx(float(hr), abs=1e-6)
    assert ours[f"NDCG@{k}"] == pytest.approx(float(ndcg), abs=1e-6)
    assert ours[f"MRR@{k}"] == pytest.approx(float(mrr), abs=1e-6)


@pytest.fixture(scope="module")
def chain():
    """Every user walks i1 -> i2 -> i3 -> i4 (i4 only for users 0-2); user 9 walks i4 -> i3."""
    rows = []
    for u in range(6):
        walk = ["i1", "i2", "i3", "i4"] if u < 3 else ["i1", "i2", "i3"]
        rows += [(f"u{u}", item, 10 * t) for t, item in enumerate(walk)]
    rows += [("u9", "i4", 0), ("u9", "i3", 10), ("u9", "i2", 20)]
    seqs = build_sequences(log(rows))
    return seqs, leave_one_out(seqs)


def test_history_mask_covers_the_whole_history(chain):
    seqs, split = chain
    u9 = seqs.user_index("u9")
    mask = history_mask(seqs, np.array([u9, 0]), np.array([2, 1]), len(seqs.items))
    assert seqs.items.decode(np.flatnonzero(mask[0])) == sorted(["i4", "i3"], key=seqs.items._index.get)
    assert seqs.items.decode(np.flatnonzero(mask[1])) == ["i1"]


def test_transitions_learn_from_training_events_only(chain):
    seqs, split = chain
    model = LastItemTransitions().fit(seqs, split)
    idx = seqs.items._index
    # training parts: u0-u2: i1 i2 (valid i3, test i4); u3-u5: i1 (valid i2, test i3); u9: i4 (train only 1)
    after = model.score(
        Batch(
            torch.tensor([[idx["i1"]], [idx["i2"]]]),
            torch.ones(2, 1, dtype=torch.long),
            torch.ones(2, 1, dtype=torch.long),
        )
    )
    assert after[0, idx["i2"]] > 3 and after[0, idx["i2"]] < 4  # 3 training transitions i1 -> i2 (+ a prior < 1)
    assert after[1].max() < 1  # i2 -> i3 only happens in valid/test: not learned
    popular = MostPopular().fit(seqs, split)
    counts = dict(zip(seqs.items.tokens, popular.counts))
    assert counts["i1"] == 6 and counts["i2"] == 3 and counts["i3"] == 0 and counts["i4"] == 1


def test_evaluate_batches_agree_and_compare_makes_one_row_per_model(chain):
    seqs, split = chain
    baselines = fit_baselines(seqs, split)
    small = evaluate(baselines["last-item transitions"], seqs, split.valid, max_len=5, batch_size=2)
    big = evaluate(baselines["last-item transitions"], seqs, split.valid, max_len=5, batch_size=100)
    assert small == pytest.approx(big)
    # 7 valid cases: u0-u2 predict i3 after i2 (never a training transition, and i3 has no training count:
    # rank 4 of 4), u3-u5 predict i2 after i1 (3 transitions: rank 1), u9 predicts i3 after i4 (rank 4)
    one = evaluate(baselines["last-item transitions"], seqs, split.valid, max_len=5, ks=(1, 4))
    assert one["HR@1"] == pytest.approx(3 / 7) and one["MRR@4"] == pytest.approx((3 + 4 * 0.25) / 7)
    table = compare(baselines, seqs, split.test, max_len=5, ks=(1, 2))
    assert list(table["model"]) == ["most popular", "last-item transitions"]
    assert list(table.columns) == ["model", "HR@1", "NDCG@1", "MRR@1", "HR@2", "NDCG@2", "MRR@2"]
    excluded = evaluate(baselines["most popular"], seqs, split.test, max_len=5, ks=(1,), exclude_seen=True)
    assert 0 <= excluded["HR@1"] <= 1


def test_a_callable_is_a_scorer_and_wrong_shapes_are_refused(chain):
    seqs, split = chain
    n = len(seqs.items)
    oracle_targets = iter([torch.from_numpy(split.test.targets)])

    def oracle(batch):
        scores = torch.zeros(batch.items.size(0), n)
        scores[torch.arange(len(scores)), next(oracle_targets)] = 1.0
        return scores

    assert evaluate(oracle, seqs, split.test, max_len=5)["NDCG@10"] == pytest.approx(1.0)
    with pytest.raises(LTSIError, match="shape"):
        evaluate(lambda b: torch.zeros(b.items.size(0), 2), seqs, split.test, max_len=5)
    with pytest.raises(LTSIError, match="nothing to evaluate"):
        evaluate(oracle, seqs, EvalCases(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)), 5)
