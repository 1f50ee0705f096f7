"""The training loop: reproducibility, progress, stopping, mixed precision, sampled softmax, schedule."""

import math

import numpy as np
import pytest
import torch

import ltsi.train as train_module
from ltsi.errors import LTSIError
from ltsi.model import ABLATIONS, ModelConfig
from ltsi.sequences import NextItemDataset, build_sequences, leave_one_out
from ltsi.synth import generate
from ltsi.train import (
    StopReason,
    TrainConfig,
    amp_dtype,
    jittered_windows,
    learning_rate,
    next_item_loss,
    pick_device,
    train,
)


@pytest.fixture(scope="module")
def data(tiny_seqs):
    return tiny_seqs


def config(seqs, **overrides):
    return ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=16, max_len=16, **overrides)


def quick(**overrides):
    return TrainConfig(**{"epochs": 2, "batch_size": 32, "device": "cpu", "threads": 1, **overrides})


def test_same_seed_same_model_and_metrics_other_seed_differs(data):
    seqs, split = data
    a = train(seqs, split, config(seqs), quick(seed=3))
    b = train(seqs, split, config(seqs), quick(seed=3))
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(x, y), name
    assert a.valid_metrics == b.valid_metrics
    assert a.history["loss"].tolist() == b.history["loss"].tolist()
    c = train(seqs, split, config(seqs), quick(seed=4))
    assert not torch.equal(a.model.item_embedding.weight, c.model.item_embedding.weight)


def test_result_contract_and_progress_callbacks(data):
    seqs, split = data
    seen = []
    result = train(seqs, split, config(seqs), quick(log_every=2), callback=seen.append)
    assert not result.model.training and next(result.model.parameters()).device.type == "cpu"
    assert list(result.history.columns) == [
        "epoch",
        "loss",
        "lr",
        "HR@10",
        "NDCG@10",
        "MRR@10",
        "HR@20",
        "NDCG@20",
        "MRR@20",
        "seconds",
        "eval_seconds",
    ]
    assert result.history["epoch"].tolist() == [1, 2] and result.device == "cpu"
    assert result.best_epoch in (1, 2)
    assert result.valid_metrics["NDCG@10"] == result.history["NDCG@10"].max()
    assert result.stopped == "finished all 2 epochs" and result.stop_reason is StopReason.EPOCHS
    # the best epoch is one of the last two here, so the result says to train longer
    assert result.still_improving and "train longer" in result.advice
    epochs_done = [p for p in seen if p.metrics is not None and p.epoch >= 1 and not p.message.startswith("done")]
    assert [p.epoch for p in epochs_done] == [1, 2]
    assert any(p.metrics is None and 0 < p.step < p.steps for p in seen)  # per-N-batch reports
    assert seen[0].epoch == 0 and seen[-1].message.startswith("done")
    assert all(p.elapsed_s >= 0 and p.epochs == 2 for p in seen)


def test_best_weights_are_restored(data, monkeypatch):
    from ltsi.evaluate import evaluate

    seqs, split = data
    states, scores = [], iter([0.1, 0.5, 0.2, 0.3])  # the best validation score comes at epoch 2 of 4

    def scripted(model, *args, **kwargs):
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return {**evaluate(model, *args, **kwargs), "NDCG@10": next(scores)}

    monkeypatch.setattr(train_module, "evaluate", scripted)
    result = train(seqs, split, config(seqs), quick(epochs=4, patience=10))
    assert result.best_epoch == 2 and len(result.history) == 4 and result.valid_metrics["NDCG@10"] == 0.5
    for name, value in result.model.state_dict().items():  # the weights of epoch 2, not of the last epoch
        assert torch.equal(value, states[1][name].cpu()), name
    assert any(not torch.equal(states[1][n], states[3][n]) for n in states[1])  # and those differ


def test_early_stopping_and_stop_flag(data, monkeypatch):
    seqs, split = data
    scores = iter([0.3, 0.2, 0.25, 0.1, 0.4, 0.5])
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {"NDCG@10": next(scores), "HR@10": 0.0})
    result = train(seqs, split, config(seqs), quick(epochs=6, patience=2))
    assert result.best_epoch == 1 and len(result.history) == 3
    assert result.stopped.startswith("early stop: validation NDCG@10 did not improve for 2 evaluations")
    assert result.stop_reason is StopReason.CONVERGED and not result.still_improving and result.advice == ""

    calls = []
    stopped = train(seqs, split, config(seqs), quick(epochs=5), should_stop=lambda: calls.append(1) or len(calls) >= 3)
    assert stopped.stopped == "stopped on request" and len(stopped.history) == 1
    assert stopped.stop_reason is StopReason.REQUESTED and stopped.advice == ""


def test_nan_loss_stops_with_a_message_and_finite_weights(data, monkeypatch):
    seqs, split = data
    real = train_module.next_item_loss
    calls = []

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) > 6 else loss

    monkeypatch.setattr(train_module, "next_item_loss", poisoned)
    result = train(seqs, split, config(seqs), quick(epochs=3))
    assert result.stopped.startswith("The training loss became nan in epoch")
    assert "lower learning rate" in result.stopped and result.stop_reason is StopReason.DIVERGED
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    assert result.best_epoch >= 1  # an epoch finished before the NaN: its weights are returned


def test_mixed_precision_switch(data):
    cpu = torch.device("cpu")
    assert amp_dtype("auto", cpu) is None and amp_dtype("off", cpu) is None
    assert amp_dtype("bf16", cpu) == torch.bfloat16 and amp_dtype("fp16", cpu) == torch.float16
    with pytest.raises(LTSIError, match="mixed-precision mode"):
        amp_dtype("fp8", cpu)
    seqs, split = data  # the autocast path of the loop, as on a GPU, for one epoch on CPU
    result = train(seqs, split, config(seqs), quick(epochs=1, amp="bf16"))
    assert math.isfinite(result.history["loss"].iloc[0]) and result.model.item_embedding.weight.dtype == torch.float32
    assert result.stopped == "finished its only epoch"  # not "finished all 1 epochs"


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(LTSIError, match="GPU"):
            pick_device("cuda")
    with pytest.raises(LTSIError, match="Unknown device"):
        pick_device("tpu9")


def test_sampled_softmax_trains_and_matches_full_loss_shape(data):
    seqs, split = data
    result = train(seqs, split, config(seqs), quick(epochs=1, sampled_softmax=True, n_negatives=20))
    assert math.isfinite(result.history["loss"].iloc[0])
    model = result.model
    inputs, targets = NextItemDataset(seqs, split.train_ends, 16).batch(np.arange(4))
    out = model(inputs.items, inputs.events, inputs.gaps)
    full = next_item_loss(model, out.interest, inputs.items, targets)
    every_item = torch.arange(1, len(seqs.items))  # sampling every item = full softmax (over the rest)
    sampled = next_item_loss(model, out.interest, inputs.items, targets, every_item)
    assert sampled.item() == pytest.approx(full.item(), rel=1e-4)


def test_jittered_windows_cover_every_target():
    rng = np.random.default_rng(0)
    train_ends = np.array([0, 1, 2, 3, 17, 50, 51, 120])
    for _ in range(20):
        users, ends = jittered_windows(train_ends, 10, rng)
        for u, end in enumerate(train_ends):
            covered = set()
            for e in ends[users == u]:
                covered |= set(range(max(e - 10, 1), e))  # targets of a window ending at e
                assert 2 <= e <= end
            assert covered == set(range(1, end)), (u, end)
            if end >= 2:
                assert ends[users == u][0] == end  # the newest window always ends at the last event


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1e-3, epochs=11, warmup_epochs=1, min_lr_ratio=0.0)
    # progress is the share of the plan done: warm-up over 1 of 11 epochs, then a half cosine
    assert learning_rate(cfg, 0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 1 / 11) == pytest.approx(1e-3)
    assert learning_rate(cfg, 6 / 11) == pytest.approx(5e-4)
    assert learning_rate(cfg, 1) == pytest.approx(0.0, abs=1e-12)
    assert learning_rate(TrainConfig(lr=1e-3, schedule="constant"), 0.9) == 1e-3
    with pytest.raises(LTSIError, match="schedule"):
        learning_rate(TrainConfig(schedule="wavy"), 3)


def test_bad_inputs_are_plain_errors(data):
    seqs, split = data
    with pytest.raises(LTSIError, match="does not match the data"):
        train(seqs, split, ModelConfig(n_items=3, n_event_types=2), quick())
    with pytest.raises(LTSIError, match="at least one epoch"):
        train(seqs, split, config(seqs), quick(epochs=0))
    assert set(ABLATIONS) == {"no attention", "no long-term", "no gate", "no transitions"}


def test_ltsi_beats_baselines_and_ablations_on_a_small_synthetic_log():
    """The planted causes (ltsi/synth.py) need attention and the long-term branch: on a small synthetic log a
    fixed-seed LTSI ranks the held-out (always planted) final events clearly above both baselines and above
    the ablations without attention and without the long-term branch.

    Test NDCG@10 measured on a 2-core CPU with this log and these settings for data/model seeds 0 / 1 / 2:
    LTSI 0.252 / 0.269 / 0.239; no attention 0.153 / 0.203 / 0.161; no long-term 0.171 / 0.187 / 0.162;
    last-item transitions 0.129 / 0.154 / 0.135; most popular 0.052 / 0.055 / 0.033. The learned gate is not
    a clear gain at this size (no gate 0.225 / 0.282 / 0.228), so the test only checks that it costs nothing
    beyond noise; on the 1,000-user demo log the two are level too (0.111 vs 0.109, data/demo_run/metrics.json)."""
    from ltsi.baselines import fit_baselines
    from ltsi.evaluate import evaluate

    log = generate(n_users=600, n_items=96, n_categories=6, mean_events=20, seed=0)
    seqs = build_sequences(log.events)
    split = leave_one_out(seqs)
    max_len = 20
    scores = {name: evaluate(b, seqs, split.test, max_len)["NDCG@10"] for name, b in fit_baselines(seqs, split).items()}
    train_config = TrainConfig(epochs=15, lr=5e-3, batch_size=64, patience=5, device="cpu", threads=1, seed=0)
    for name, switches in {"LTSI": {}, **ABLATIONS}.items():
        model_config = ModelConfig(
            n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=64, max_len=max_len, **switches
        )
        result = train(seqs, split, model_config, train_config)
        scores[name] = evaluate(result.model, seqs, split.test, max_len)["NDCG@10"]
    assert scores["LTSI"] > scores["most popular"] + 0.15, scores
    assert scores["LTSI"] > scores["last-item transitions"] + 0.06, scores
    assert scores["LTSI"] > scores["no attention"] + 0.04, scores
    assert scores["LTSI"] > scores["no long-term"] + 0.04, scores
    assert scores["LTSI"] > scores["no gate"] - 0.02, scores


def test_a_time_budget_anneals_the_learning_rate_within_it(data):
    seqs, split = data
    result = train(seqs, split, config(seqs), quick(epochs=10_000, max_seconds=3, min_lr_ratio=0.0, patience=10_000))
    assert result.stop_reason is StopReason.BUDGET and "time budget of 3 s" in result.stopped
    lrs = result.history["lr"].to_numpy()
    # the schedule followed the clock: by the end of the budget it had annealed, though only a few
    # of the 10,000 planned epochs ran (an epoch-based schedule would still be at its peak)
    assert len(lrs) < 10_000 and lrs[-1] < 0.1 * lrs.max()


def test_plan_follows_the_data_and_the_device_and_keeps_what_the_user_chose():
    from ltsi.plan import MAX_EPOCHS, SAMPLED_ABOVE, TARGET_STEPS, plan_training

    short = build_sequences(
        generate(n_users=400, n_items=300, n_categories=5, mean_events=4, min_events=2, seed=1).events
    )
    plan = plan_training(short, leave_one_out(short), device="cpu")
    assert plan.model_config.max_len == 10 and plan.model_config.short_window == 10  # sessions: short windows
    windows = NextItemDataset(short, leave_one_out(short).train_ends, 10).__len__()
    steps = math.ceil(windows / plan.train_config.batch_size)
    assert plan.train_config.epochs == min(MAX_EPOCHS, math.ceil(TARGET_STEPS / steps))
    assert plan.train_config.sampled_softmax is False  # 300 items: full softmax
    assert any("history window 10" in r for r in plan.reasons) and any("full softmax" in r for r in plan.reasons)

    chosen = plan_training(
        short,
        leave_one_out(short),
        device="cpu",
        max_seconds=30,
        model={"max_len": 7, "dim": 8},
        train={"epochs": 3, "sampled_softmax": True},
    )
    assert (chosen.model_config.max_len, chosen.model_config.dim, chosen.train_config.epochs) == (7, 8, 3)
    assert chosen.train_config.sampled_softmax and chosen.train_config.max_seconds == 30
    assert any("chosen by you" in r for r in chosen.reasons) and any("budget 30 s" in r for r in chosen.reasons)

    big = build_sequences(
        generate(n_users=200, n_items=SAMPLED_ABOVE["cpu"] + 5000, n_categories=5, mean_events=200, seed=2).events
    )
    if len(big.items) - 1 > SAMPLED_ABOVE["cpu"]:
        assert plan_training(big, leave_one_out(big), device="cpu").train_config.sampled_softmax
