"""The best validation weights of a training run: kept as a copy, counted for early stopping."""

from __future__ import annotations

import torch

from ltsi.best_weights import BestWeights


def test_keeps_a_copy_of_the_best_epoch_and_counts_the_evaluations_since():
    model = torch.nn.Linear(2, 1)
    best = BestWeights("NDCG@10")
    with torch.no_grad():
        for epoch, score in enumerate((0.1, 0.5, 0.2), start=1):
            model.weight.fill_(float(epoch))  # the weights of each epoch differ
            best.add(epoch, {"NDCG@10": score, "HR@10": 2 * score}, model)
        model.weight.fill_(99.0)  # training goes on after the last evaluation
    assert best.epoch == 2 and best.score == 0.5 and best.metrics == {"NDCG@10": 0.5, "HR@10": 1.0}
    assert best.bad_evals == 1 and best.still_improving  # the best came at one of the last two evaluations
    assert torch.equal(best.state["weight"], torch.full((1, 2), 2.0))  # epoch 2's weights, not the live ones


def test_no_longer_improving_after_two_worse_evaluations_and_ties_do_not_count():
    model = torch.nn.Linear(2, 1)
    best = BestWeights("NDCG@10")
    assert best.add(1, {"NDCG@10": 0.3}, model)
    assert not best.add(2, {"NDCG@10": 0.3}, model)  # a tie is no improvement
    assert not best.add(3, {"NDCG@10": 0.1}, model)
    assert best.epoch == 1 and best.bad_evals == 2 and not best.still_improving


def test_without_validation_the_latest_weights_are_kept():
    model = torch.nn.Linear(2, 1)
    best = BestWeights("NDCG@10")
    best.keep_latest(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    assert best.epoch == 0 and not torch.equal(best.state["weight"], model.weight)
