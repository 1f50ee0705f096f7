"""Run folders: a saved run reloads to identical scores; damaged or foreign folders are explained."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from ltsi.errors import LTSIError
from ltsi.evaluate import evaluate
from ltsi.model import ModelConfig
from ltsi.runs import fingerprint, load_run, save_run
from ltsi.sequences import build_sequences, history_batch, leave_one_out
from ltsi.synth import generate
from ltsi.train import TrainConfig, train


@pytest.fixture(scope="module")
def trained():
    log = generate(n_users=80, n_items=120, n_categories=4, mean_events=20, seed=5)
    seqs = build_sequences(log.events)
    split = leave_one_out(seqs)
    config = ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=16, max_len=20)
    result = train(seqs, split, config, TrainConfig(epochs=2, device="cpu", threads=1))
    ablation = train(seqs, split, ModelConfig(**{**config.to_dict(), "attention": False}),
                     TrainConfig(epochs=1, device="cpu", threads=1))
    return log, seqs, split, result, ablation


@pytest.fixture
def run_dir(tmp_path, trained):
    log, seqs, split, result, ablation = trained
    metrics = [{"model": "LTSI", "split": "test", **evaluate(result.model, seqs, split.test, 20)}]
    return save_run(tmp_path / "run", result, seqs, split, items_table=log.items, metrics=metrics,
                    ablations={"no attention": ablation})


def test_saved_run_has_the_documented_files(run_dir):
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["ablation-no-attention.safetensors", "config.json", "history.csv", "items.csv",
                     "metrics.json", "model.safetensors", "sequences.safetensors"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["format"] == "ltsi-run" and config["model_config"]["dim"] == 16
    assert config["vocabularies"]["items"][0] == "<pad>" and len(config["vocabularies"]["users"]) == 80
    assert set(config["versions"]) == {"ltsi", "torch", "python"}


def test_reload_gives_identical_scores_data_and_split(run_dir, trained):
    _, seqs, split, result, ablation = trained
    run = load_run(run_dir)
    batch = history_batch(seqs, split.test.users, split.test.ends, 20)
    with torch.no_grad():
        assert torch.equal(run.model.last_scores(batch), result.model.last_scores(batch))
        assert torch.equal(run.ablations["no attention"].last_scores(batch), ablation.model.last_scores(batch))
    assert not run.model.training and run.model_config == result.model.config
    assert run.train_config == result.train_config
    assert fingerprint(run.seqs) == fingerprint(seqs) and run.seqs.users == seqs.users
    for part in ("valid", "test"):
        for name in ("users", "ends", "targets"):
            assert np.array_equal(getattr(getattr(run.split, part), name), getattr(getattr(split, part), name))
    assert np.array_equal(run.split.train_ends, split.train_ends)
    assert run.metrics[0]["model"] == "LTSI" and run.metrics[0]["NDCG@10"] == pytest.approx(
        evaluate(run.model, run.seqs, run.split.test, 20)["NDCG@10"])
    assert list(run.history["epoch"]) == [1, 2]
    assert run.items["item_id"].iloc[0] == "P00001" and "title" in run.items
    assert run.info["training"]["best_epoch"] == result.best_epoch


def test_missing_file_is_named(run_dir):
    (run_dir / "model.safetensors").unlink()
    with pytest.raises(LTSIError, match=r"model.safetensors is missing"):
        load_run(run_dir)


def test_not_a_folder_and_foreign_folder(tmp_path):
    with pytest.raises(LTSIError, match="There is no run folder"):
        load_run(tmp_path / "nothing-here")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hello")
    with pytest.raises(LTSIError, match="config.json, model.safetensors, sequences.safetensors are missing"):
        load_run(foreign)
    for name in ("model.safetensors", "sequences.safetensors"):
        (foreign / name).write_bytes(b"")
    (foreign / "config.json").write_text(json.dumps({"name": "some other tool"}))
    with pytest.raises(LTSIError, match="not an LTSI run configuration"):
        load_run(foreign)


def test_corrupted_files_are_explained(run_dir):
    (run_dir / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(LTSIError, match="model.safetensors is damaged"):
        load_run(run_dir)


def test_truncated_config_is_explained(run_dir):
    text = (run_dir / "config.json").read_text()
    (run_dir / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(LTSIError, match="config.json is damaged: it is not valid JSON"):
        load_run(run_dir)


def test_changed_data_is_detected(run_dir):
    arrays = load_file(str(run_dir / "sequences.safetensors"))
    arrays["item_ids"] = arrays["item_ids"].flip(0).contiguous()
    save_file(arrays, str(run_dir / "sequences.safetensors"))
    with pytest.raises(LTSIError, match="fingerprint differs"):
        load_run(run_dir)


def test_weights_of_another_model_are_refused(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    config["model_config"]["dim"] = 32
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(LTSIError, match="do not fit the stored model configuration"):
        load_run(run_dir)


def test_newer_format_is_refused(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    config["format_version"] = 99
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(LTSIError, match="newer LTSI"):
        load_run(run_dir)


def test_never_unpickles():
    import inspect

    import ltsi.runs

    source = inspect.getsource(ltsi.runs)
    assert "torch.load(" not in source and "import pickle" not in source and "allow_pickle" not in source


def test_save_refuses_a_file_path(tmp_path, trained):
    _, seqs, split, result, _ = trained
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(LTSIError, match="a file with that name exists"):
        save_run(target, result, seqs, split)
    # without an item table or metrics, the run still loads
    run = load_run(save_run(tmp_path / "bare", result, seqs, split))
    assert run.items is None and run.metrics == [] and run.ablations == {}
    assert isinstance(run.history, pd.DataFrame)
