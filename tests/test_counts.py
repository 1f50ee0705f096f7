"""LTSI's counts part: training counts, hand-computed scores, leave-one-out in training, sampled columns."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ltsi.baselines import TrainingCounts, training_counts
from ltsi.batches import Batch
from ltsi.errors import LTSIError
from ltsi.loss import next_item_loss
from ltsi.model import LTSI, ModelConfig
from ltsi.sequences import PADDING_IDX, build_sequences
from ltsi.splits import leave_one_out


def log(rows):
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": pd.to_datetime([r[2] for r in rows], unit="s", utc=True),
        }
    )


@pytest.fixture()
def data():
    # user u1: a b c a b x y   user u2: a b c z w   (the last two of each are valid/test)
    rows = [("u1", i, t) for t, i in enumerate("abcabxy")] + [("u2", i, t) for t, i in enumerate("abczw")]
    seqs = build_sequences(log(rows))
    return seqs, leave_one_out(seqs)


def ids(seqs, letters):
    return [seqs.items.encode([c])[0] for c in letters]


def test_training_counts_are_hand_counted_and_leave_held_out_events_out(data):
    seqs, split = data
    counts = training_counts(seqs, split)
    a, b, c = ids(seqs, "abc")
    n = counts.n_items
    pairs = dict(zip(counts.keys.tolist(), counts.transitions.tolist()))
    # training parts: u1 a b c a b, u2 a b c -> a->b 3 times, b->c 2, c->a 1
    assert pairs == {a * n + b: 3.0, b * n + c: 2.0, c * n + a: 1.0}
    assert counts.items[[a, b, c]].tolist() == [3.0, 3.0, 2.0] and counts.items[PADDING_IDX] == 0
    assert counts.items.sum() == 8  # x, y, z, w are held out


def test_max_successors_keeps_the_most_frequent():
    rows = [("u", i, t) for t, i in enumerate("abacabadxx")]  # a->b 2, a->c 1, a->d 1 (in training)
    seqs = build_sequences(log(rows))
    split = leave_one_out(seqs)
    a, b, c = ids(seqs, "abc")
    kept = training_counts(seqs, split, max_successors=2)
    n = kept.n_items
    successors = {int(k % n): v for k, v in zip(kept.keys, kept.transitions) if k // n == a}
    assert successors == {b: 2.0, c: 1.0}  # d ties with c and has the higher index


def test_counts_validate_themselves():
    with pytest.raises(LTSIError, match="sorted"):
        TrainingCounts(4, np.zeros(4), np.array([7, 5]), np.ones(2))
    with pytest.raises(LTSIError, match="one count per item"):
        TrainingCounts(4, np.zeros(3), np.zeros(0, np.int64), np.zeros(0))


def model_for(seqs, split, **overrides):
    torch.manual_seed(0)
    model = LTSI(
        ModelConfig(
            n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=8, max_len=6, short_window=3, **overrides
        )
    ).eval()
    model.set_counts(training_counts(seqs, split))
    with torch.no_grad():
        model.transition_weight.copy_(torch.tensor([2.0, 0.5, 0.25]))
        model.popularity_weight.fill_(0.1)
    return model


def test_counts_part_is_the_hand_computed_sum(data):
    seqs, split = data
    model = model_for(seqs, split)
    a, b, c = ids(seqs, "abc")
    items = torch.tensor([[PADDING_IDX, PADDING_IDX, PADDING_IDX, c, a, b]])  # ..., c, a, b (most recent last)
    scores = model.add_counts(torch.zeros(1, len(seqs.items)), model.count_sources(items)[:, -1])[0]
    # lag 0 is b (b->c 2), lag 1 is a (a->b 3), lag 2 is c (c->a 1); popularity a 3, b 3, c 2
    assert scores[c].item() == pytest.approx(2.0 * math.log1p(2) + 0.1 * math.log1p(2))
    assert scores[b].item() == pytest.approx(0.5 * math.log1p(3) + 0.1 * math.log1p(3))
    assert scores[a].item() == pytest.approx(0.25 * math.log1p(1) + 0.1 * math.log1p(3))
    assert scores[PADDING_IDX] == 0
    # the per-target lookup agrees with the scattered scores, lag by lag
    parts = model.transition_parts(model.count_sources(items)[:, -1].expand(3, -1), torch.tensor([a, b, c]))
    expected = [[0, 0, 0.25 * math.log1p(1)], [0, 0.5 * math.log1p(3), 0], [2.0 * math.log1p(2), 0, 0]]
    assert torch.allclose(parts, torch.tensor(expected))
    total = model.count_score(model.count_sources(items)[:, -1].expand(3, -1), torch.tensor([a, b, c]))
    assert total.tolist() == pytest.approx(scores[[a, b, c]].tolist())


def test_leave_out_takes_the_predicted_event_out_of_its_own_counts(data):
    seqs, split = data
    model = model_for(seqs, split)
    a, b = ids(seqs, "ab")
    sources = torch.tensor([[a, PADDING_IDX, PADDING_IDX]])
    kept = model.count_score(sources, torch.tensor([b]))
    left = model.count_score(sources, torch.tensor([b]), leave_out=True)
    assert kept.item() == pytest.approx(2.0 * math.log1p(3) + 0.1 * math.log1p(3))
    assert left.item() == pytest.approx(2.0 * math.log1p(2) + 0.1 * math.log1p(2))


def test_training_loss_uses_left_out_counts_and_sampled_columns_match(data):
    seqs, split = data
    model = model_for(seqs, split)
    a, b, c = ids(seqs, "abc")
    items = torch.tensor([[PADDING_IDX, PADDING_IDX, PADDING_IDX, a, b, c]])
    targets = torch.tensor([[PADDING_IDX, PADDING_IDX, PADDING_IDX, b, c, a]])
    out = model(items, torch.ones_like(items) * (items > 0), torch.ones_like(items) * (items > 0))
    loss = next_item_loss(model, out.interest, items, targets)
    # by hand: the full logits of each real position, the target's counts with its own event left out
    sources = model.count_sources(items)[0, 3:]  # (3, L)
    logits = model.scores(out.interest[0, 3:]).clone()
    model.add_counts(logits, sources)
    y = targets[0, 3:]
    logits[torch.arange(3), y] += model.count_score(sources, y, leave_out=True) - model.count_score(sources, y)
    expected = torch.nn.functional.cross_entropy(logits, y)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # columns: the counts of a subset of items equal those columns of the full matrix
    columns = torch.tensor([c, a, 5])
    full = model.add_counts(torch.zeros(3, len(seqs.items)), sources)
    assert torch.allclose(model.add_counts(torch.zeros(3, 3), sources, columns), full[:, columns])


def test_without_the_counts_part_nothing_is_added(data):
    seqs, _ = data
    torch.manual_seed(0)
    model = LTSI(
        ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=8, max_len=6, transitions=False)
    ).eval()
    assert not hasattr(model, "transition_weight")
    items = torch.tensor([[0, 0, 0, 1, 2, 3]])
    batch = Batch(items, (items > 0).long(), (items > 0).long())
    out = model(batch.items, batch.events, batch.gaps)
    assert torch.equal(model.last_scores(batch), model.scores(out.interest[:, -1]))


def test_transitions_fitted_for_some_last_items_score_those_histories_exactly(tiny_seqs):
    from ltsi.baselines import LastItemTransitions
    from ltsi.batches import history_batch

    seqs, split = tiny_seqs
    test = split.test
    batch = history_batch(seqs, test.users[:12], test.ends[:12], 10)  # 12 users' histories before their test
    last = batch.items[:, -1].numpy()  # (12,)
    full = LastItemTransitions().fit(seqs, split)
    part = LastItemTransitions().fit(seqs, split, sources=last)
    assert torch.equal(part.score(batch), full.score(batch))
    assert len(part.indices) < len(full.indices)  # only the successors of those items were counted
    others = history_batch(seqs, test.users[12:], test.ends[12:], 10)
    outside = ~np.isin(others.items[:, -1].numpy(), last)
    with pytest.raises(LTSIError, match="fitted for other last items"):
        part.score(history_batch(seqs, test.users[12:][outside], test.ends[12:][outside], 10))
