"""Training in several processes (torchrun's code path, on CPU with gloo): the batch split, and a 2-process run
that saves the same run folder and learns what one process learns."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

import ltsi.distributed as distributed
from ltsi.cli import app
from ltsi.errors import LTSIError
from ltsi.model import ModelConfig
from ltsi.runs import load_run
from ltsi.sequences import build_sequences
from ltsi.splits import leave_one_out
from ltsi.synth import generate, write_log
from ltsi.train import StopReason, TrainResult, train
from ltsi.train_config import TrainConfig

ONE = distributed.Context()
RANK0, RANK1 = distributed.Context(rank=0, world_size=2), distributed.Context(rank=1, world_size=2)


def test_shard_windows_splits_each_batch_and_weights_by_predicted_events():
    order = np.array([5, 3, 0, 4, 1, 2, 6])
    targets = np.array([1, 2, 3, 4, 5, 6, 7])  # predicted events of window w
    # batches [5, 3, 0, 4] and [1, 2, 6]; window j of a batch goes to rank j mod 2
    a, b = (distributed.shard_windows(order, 4, targets, ctx) for ctx in (RANK0, RANK1))
    assert a.windows.tolist() == [5, 0, 1, 6] and a.bounds.tolist() == [0, 2, 4]
    assert b.windows.tolist() == [3, 4, 2] and b.bounds.tolist() == [0, 2, 3]
    # batch 0 predicts 6 + 4 + 1 + 5 = 16 events: rank 0 has 6 + 1, rank 1 has 4 + 5; batch 1: 2 + 7 and 3 of 12
    assert a.share.tolist() == [2 * 7 / 16, 2 * 9 / 12]
    assert b.share.tolist() == [2 * 9 / 16, 2 * 3 / 12]
    single = distributed.shard_windows(order, 4, targets, ONE)
    assert single.windows.tolist() == order.tolist() and single.share.tolist() == [1.0, 1.0]


def test_a_rank_left_without_a_window_gets_a_stand_in_with_weight_zero():
    # batches [2, 0] and [1]: rank 1 has nothing in the last one
    b = distributed.shard_windows(np.array([2, 0, 1]), 2, np.array([1, 1, 1]), RANK1)
    assert b.windows.tolist() == [0, 1] and b.real.tolist() == [True, False]
    assert b.bounds.tolist() == [0, 1, 2] and b.share.tolist() == [1.0, 0.0]
    with pytest.raises(LTSIError, match="batch size of at least the number of processes"):
        distributed.shard_windows(np.arange(8), 1, np.ones(8), RANK1)


def test_validation_means_are_combined_by_case_counts_for_one_process_unchanged():
    assert distributed.combine_means(ONE, {"NDCG@10": 0.25}, 3, ["NDCG@10"], torch.device("cpu")) == {"NDCG@10": 0.25}
    assert distributed.agree(ONE, 2, 1.5, torch.device("cpu")) == (2, 1.5)


def test_gpus_option_becomes_torchrun_arguments_without_itself():
    expected = ["--standalone", "--nproc_per_node", "2", "-m", "ltsi", "train", "log.csv", "--out", "r"]
    assert distributed.torchrun_args(2, ["train", "log.csv", "--gpus", "2", "--out", "r"]) == expected
    assert distributed.torchrun_args(2, ["train", "log.csv", "--gpus=2", "--out", "r"]) == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_more_gpus_than_present_is_refused_before_starting(tmp_path, device):
    with pytest.raises(LTSIError, match="asks for 2 GPUs, but PyTorch sees 0.*--device cpu"):
        distributed.launch(2, ["train", "x.csv", "--out", str(tmp_path / "r")], device)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun_env(rank: int, world: int, port: int) -> None:
    """What torchrun sets for each process it starts."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )


def _tiny_training(stop_after: int | None = None, **train_settings) -> TrainResult:
    """train() on a small synthetic log without dropout (the one thing that differs by rank), 3 epochs."""
    seqs = build_sequences(generate(n_users=120, n_items=150, n_categories=4, mean_events=20, seed=7).events)
    calls = iter(range(10**6))
    stop = None if stop_after is None else (lambda: next(calls) >= stop_after)
    config = ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=16, max_len=12, dropout=0.0)
    settings = {"epochs": 3, "batch_size": 32, "device": "cpu", "threads": 1, "seed": 4, **train_settings}
    return train(seqs, leave_one_out(seqs), config, TrainConfig(**settings), should_stop=stop)


def _train_function_rank(rank: int, world: int, port: int, record: str, sampled: bool) -> None:
    """One process of train() itself: its history and why it stopped, to compare with one process."""
    _torchrun_env(rank, world, port)
    with distributed.session("cpu"):
        full = _tiny_training(sampled_softmax=sampled, n_negatives=40)
        stopped = _tiny_training(stop_after=5 if rank == 0 else None)  # only rank 0 is asked to stop
    np.savez(
        Path(record) / f"rank{rank}.npz",
        loss=full.history["loss"].to_numpy(),
        ndcg=full.history["NDCG@10"].to_numpy(),
        stop=stopped.stop_reason.value,
        stop_epoch=len(stopped.history),
    )


def _train_rank(rank: int, world: int, port: int, argv: list[str], record: str) -> None:
    """One torchrun process: its environment, then the CLI's train; records the windows each epoch gave it."""
    _torchrun_env(rank, world, port)
    seen: list[np.ndarray] = []
    split = distributed.shard_windows

    def recording(*args, **kwargs):  # the test hook: the real windows of every epoch's shard of this rank
        shard = split(*args, **kwargs)
        seen.append(shard.windows[shard.real])
        return shard

    distributed.shard_windows = recording
    code = app(argv, standalone_mode=False)
    np.savez(Path(record) / f"rank{rank}.npz", *seen)
    assert code in (None, 0), code


@pytest.fixture(autouse=True)
def plain_main_module(monkeypatch):
    """Spawned processes re-run the parent's __main__ file; after an AppTest in the same pytest run that is
    dashboard/app.py, which cannot run outside Streamlit. A __main__ without a file is not re-run."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


@pytest.fixture(scope="module")
def log_path(tmp_path_factory) -> Path:
    log = generate(n_users=150, n_items=200, n_categories=5, mean_events=25, seed=2)
    return write_log(log, tmp_path_factory.mktemp("log") / "events.csv")[0]


def test_two_processes_train_like_one_and_rank_0_saves_the_run(log_path, tmp_path):
    settings = ["--epochs", "4", "--device", "cpu", "--threads", "1", "--seed", "1", "--dim", "16", "--quiet"]
    app(["train", str(log_path), "--out", str(tmp_path / "one"), *settings], standalone_mode=False)
    record = tmp_path / "windows"
    record.mkdir()
    argv = ["train", str(log_path), "--out", str(tmp_path / "two"), *settings]
    mp.spawn(_train_rank, args=(2, _free_port(), argv, str(record)), nprocs=2, join=True)

    one, two = load_run(tmp_path / "one"), load_run(tmp_path / "two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two", "windows"]  # one folder, by rank 0
    # every epoch: the two ranks' windows are disjoint and together all of them, in shares of about half
    ranks = [np.load(record / f"rank{r}.npz") for r in (0, 1)]
    assert len(ranks[0].files) == len(ranks[1].files) == 4
    for name in ranks[0].files:
        a, b = ranks[0][name], ranks[1][name]
        assert np.array_equal(np.sort(np.concatenate([a, b])), np.arange(len(a) + len(b)))
        assert abs(len(a) - len(b)) <= len(a) // 10
    # the same global batches and gradients; only rank 1's dropout masks differ from one process's. Measured
    # (4 epochs): losses within 0.11% of one process's, last validation NDCG@10 0.2082 against 0.2025; two seeds
    # of one process differ by 0.3% and 0.006 (0.2025 / 0.1966). Hence 1% and 0.02.
    assert np.allclose(two.history["loss"], one.history["loss"], rtol=0.01)
    gap = abs(two.history["NDCG@10"].iloc[-1] - one.history["NDCG@10"].iloc[-1])
    assert gap < 0.02, gap


@pytest.mark.parametrize("sampled", [False, True], ids=["full softmax", "sampled softmax"])
def test_without_dropout_two_processes_take_the_same_steps_as_one(tmp_path, sampled):
    one = _tiny_training(sampled_softmax=sampled, n_negatives=40)
    mp.spawn(_train_function_rank, args=(2, _free_port(), str(tmp_path), sampled), nprocs=2, join=True)
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    # the same batches, weighted to the batch's mean, the same negatives: only the order of float sums differs.
    # Measured: losses within 1.1e-7 relative, NDCG@10 within 2e-8; with the ranks' plain means averaged
    # (no weights) the losses drift by 4e-4 to 6e-4 relative and NDCG@10 by up to 5e-4.
    for r in ranks:
        assert np.allclose(r["loss"], one.history["loss"], rtol=1e-5, atol=0)
        assert np.allclose(r["ndcg"], one.history["NDCG@10"], rtol=0, atol=1e-6)
    # rank 0 alone was asked to stop at its 6th batch: both ranks stopped there, in the first epoch
    assert [str(r["stop"]) for r in ranks] == [StopReason.REQUESTED.value] * 2
    assert [int(r["stop_epoch"]) for r in ranks] == [1, 1]
