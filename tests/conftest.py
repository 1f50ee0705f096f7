"""Shared fixtures: one small synthetic log, its sequences and split, an untrained model with its counts, a tiny
trained run; and every test's run library in its own temporary folder."""

from __future__ import annotations

import pytest
import torch

from ltsi.baselines import training_counts
from ltsi.library import ENV as LIBRARY_ENV
from ltsi.model import LTSI, ModelConfig
from ltsi.sequences import build_sequences
from ltsi.splits import leave_one_out
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


@pytest.fixture(autouse=True)
def library_folder(tmp_path, monkeypatch):
    """Every test's run library (LTSI_LIBRARY) is a fresh temporary folder: no test writes into the home folder."""
    folder = tmp_path / "library"
    monkeypatch.setenv(LIBRARY_ENV, str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_fitted_run(tiny_log, tiny_seqs):
    """`tiny_log` through the one pipeline (dim 8, max_len 10, one epoch): a Run with its test metrics."""
    from ltsi.pipeline import fit_run
    from ltsi.plan import plan_training

    seqs, split = tiny_seqs
    plan = plan_training(seqs, split, "cpu", model={"dim": 8, "max_len": 10}, train={"epochs": 1, "threads": 1})
    return fit_run(seqs, split, plan, items=tiny_log.items)
