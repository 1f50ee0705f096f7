"""Shared fixtures: one small synthetic log, its sequences and split, and an untrained model with its counts."""

from __future__ import annotations

import pytest
import torch

from ltsi.baselines import training_counts
from ltsi.model import LTSI, ModelConfig
from ltsi.sequences import build_sequences, leave_one_out
from ltsi.synth import generate


@pytest.fixture(scope="session")
def tiny_log():
    """80 users, 120 items, about 20 events each, with planted causes (ltsi.synth)."""
    return generate(n_users=80, n_items=120, n_categories=4, mean_events=20, seed=5)


@pytest.fixture(scope="session")
def tiny_seqs(tiny_log):
    """(sequences, leave-one-out split) of `tiny_log`."""
    seqs = build_sequences(tiny_log.events)
    return seqs, leave_one_out(seqs)


@pytest.fixture(scope="session")
def tiny_model(tiny_seqs):
    """An untrained LTSI (dim 8, max_len 10) whose counts part holds the training counts: its scores use both parts."""
    seqs, split = tiny_seqs
    torch.manual_seed(0)
    model = LTSI(ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=8, max_len=10))
    model.set_counts(training_counts(seqs, split))
    return model.eval()
