"""The LTSI model: shapes, masks, causality, the gate and the ablation switches."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from ltsi.baselines import TrainingCounts
from ltsi.batches import Batch
from ltsi.model import LTSI, ModelConfig, left_to_right_index, masked_softmax
from ltsi.sequences import PADDING_IDX

N_ITEMS, N_EVENTS = 30, 4


def make(**overrides):
    torch.manual_seed(0)
    return LTSI(
        ModelConfig(n_items=N_ITEMS, n_event_types=N_EVENTS, dim=16, max_len=8, short_window=3, **overrides)
    ).eval()


def inputs():
    g = torch.Generator().manual_seed(1)
    items = torch.randint(1, N_ITEMS, (4, 8), generator=g)
    items[0, :5] = PADDING_IDX  # 3 events
    items[1, :7] = PADDING_IDX  # 1 event
    items[3, :] = PADDING_IDX  # no event at all
    events = torch.randint(1, N_EVENTS, (4, 8), generator=g) * (items != PADDING_IDX)
    gaps = torch.randint(1, 20, (4, 8), generator=g) * (items != PADDING_IDX)
    return items, events, gaps


def test_shapes_and_masks():
    model = make()
    items, events, gaps = inputs()
    out = model(items, events, gaps)
    mask = items != PADDING_IDX
    assert out.interest.shape == (4, 8, 16)
    assert out.short_attention.shape == out.long_attention.shape == (4, 8, 8)
    assert out.gate.shape == (4, 8)
    for attention in (out.short_attention, out.long_attention):
        assert (attention[~mask] == 0).all()  # padding queries: all-zero rows
        assert (attention.transpose(1, 2)[~mask] == 0).all()  # padding keys: exactly zero weight
        sums = attention.sum(-1)[mask]
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-6)
        assert (attention.triu(1) == 0).all()  # causal: no weight on later steps
    # the short window: step t only sees steps t-2..t
    assert (out.short_attention.tril(-3) == 0).all()
    assert ((out.gate >= 0) & (out.gate <= 1)).all() and (out.gate[~mask] == 0).all()


def test_left_padding_does_not_change_the_result():
    model = make()
    items, events, gaps = inputs()
    full = model(items[:1], events[:1], gaps[:1])
    # the same 3 events with less padding in front
    short = model(items[:1, 5:], events[:1, 5:], gaps[:1, 5:])
    assert torch.allclose(full.interest[:, 5:], short.interest, atol=1e-5)
    assert torch.allclose(full.gate[:, 5:], short.gate, atol=1e-6)
    assert torch.allclose(full.long_attention[:, 5:, 5:], short.long_attention, atol=1e-6)


def test_future_events_do_not_change_the_past():
    model = make()
    items, events, gaps = inputs()
    changed = items.clone()
    changed[2, -1] = (changed[2, -1] % (N_ITEMS - 1)) + 1
    a, b = model(items, events, gaps), model(changed, events, gaps)
    assert torch.allclose(a.interest[2, :-1], b.interest[2, :-1], atol=1e-6)
    assert not torch.allclose(a.interest[2, -1], b.interest[2, -1])


def test_lstm_rotation_matches_a_packed_sequence():
    model = make()
    items, events, gaps = inputs()
    mask = items != PADDING_IDX
    x = model.item_embedding(items)  # (B, T, D)
    ours = model.encode(x, mask)
    B, T, D = x.shape
    lengths = mask.sum(1).clamp(min=1)
    right = x.gather(1, left_to_right_index(lengths, T)[..., None].expand(B, T, D))
    packed = nn.utils.rnn.pack_padded_sequence(right, lengths, batch_first=True, enforce_sorted=False)
    h, _ = nn.utils.rnn.pad_packed_sequence(model.lstm(packed)[0], batch_first=True, total_length=T)
    reference = h.gather(1, left_to_right_index(T - lengths, T)[..., None].expand(B, T, D)) * mask[..., None]
    assert torch.allclose(ours, reference, atol=1e-6)


def test_scores_tied_embeddings_and_padding_never_recommended():
    model = make()
    items, events, gaps = inputs()
    batch = Batch(items, events, gaps)
    scores = model.last_scores(batch)
    assert scores.shape == (4, N_ITEMS)
    assert (scores[:, PADDING_IDX] == float("-inf")).all()
    interest = model(items, events, gaps).interest[:, -1]
    expected = interest @ model.item_embedding.weight.T
    assert torch.allclose(scores[:, 1:], expected[:, 1:], atol=1e-5)


@pytest.mark.parametrize("switch", ["attention", "long_term", "gate"])
def test_ablation_switches(switch):
    model = make(**{switch: False})
    items, events, gaps = inputs()
    out = model(items, events, gaps)
    mask = items != PADDING_IDX
    if switch == "attention":  # the short-term interest is the current LSTM state: weight 1 on step t
        assert torch.equal(out.short_attention, torch.eye(8).expand(4, 8, 8) * mask[:, :, None])
        # ... and the long-term interest is the plain mean of the history: 1/n on each of the n events so far
        for b in range(4):
            n = int(mask[b].sum())
            expected = torch.zeros(8)
            if n:  # an all-padding row gets no weight at all
                expected[8 - n :] = 1 / n
            assert torch.allclose(out.long_attention[b, -1], expected)
    if switch == "long_term":
        assert (out.long_attention == 0).all() and (out.gate == 0).all()
    if switch == "gate":
        assert torch.equal(out.gate, 0.5 * mask)
    assert torch.isfinite(out.interest).all()


def test_masked_softmax_all_masked_row_is_zero_not_nan():
    logits = torch.randn(2, 3)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    weights = masked_softmax(logits, mask)
    assert weights[0, 1] == 0 and weights[0].sum() == pytest.approx(1.0)
    assert (weights[1] == 0).all()


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = LTSI(ModelConfig(n_items=N_ITEMS, n_event_types=N_EVENTS, dim=16, max_len=8)).train()
    items, events, gaps = inputs()
    model.set_counts(
        TrainingCounts(
            N_ITEMS,
            np.arange(N_ITEMS, dtype=float),
            np.array([i * N_ITEMS + (i + 1) % N_ITEMS for i in range(1, N_ITEMS)]),
            np.ones(N_ITEMS - 1),
        )
    )  # every item i was followed by i + 1 once
    model.last_scores(Batch(items, events, gaps))[:3, 1:].logsumexp(-1).sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []
    assert (model.item_embedding.weight.grad[PADDING_IDX] == 0).all()
