"""Run folders are saved atomically, never overwritten silently, and checked when loaded: a mixed,
cut-short or tampered folder (NaN weights, settings out of range, split arrays out of bounds) is
refused with one clear LTSIError, and `ltsi evaluate` prints it as one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

import ltsi.runs
from ltsi.cli import app
from ltsi.errors import LTSIError
from ltsi.folders import write_manifest
from ltsi.model import LTSI, ModelConfig
from ltsi.runs import FORMAT, MANIFEST, Run, load_run, save_run
from ltsi.train_config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
DEMO_RUN = ROOT / "data" / "demo_run"


def make_run(seqs, split, seed: int) -> Run:
    torch.manual_seed(seed)
    model = LTSI(ModelConfig(len(seqs.items), len(seqs.event_types), dim=8, max_len=10, transitions=False)).eval()
    history = pd.DataFrame({"epoch": [1], "loss": [float(seed)]})
    metrics = [{"model": "LTSI", "split": "test", "HR@10": 0.1 * seed}]
    return Run(model, model.config, TrainConfig(epochs=1, seed=seed), seqs, split, None, metrics, history)


@pytest.fixture
def runs(tiny_seqs):
    seqs, split = tiny_seqs
    return make_run(seqs, split, 0), make_run(seqs, split, 1)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------
# Saving


def test_save_writes_a_manifest_of_every_file_and_format_3(runs, tmp_path):
    folder = save_run(runs[0], tmp_path / "run")
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["files"]) == {p.name for p in folder.iterdir()} - {MANIFEST}
    assert manifest["files"]["model.safetensors"]["size"] == (folder / "model.safetensors").stat().st_size
    assert json.loads((folder / "config.json").read_text())["format_version"] == 3
    assert leftovers(tmp_path) == []
    load_run(folder)


def test_an_existing_run_is_not_overwritten_without_asking(runs, tmp_path):
    folder = save_run(runs[0], tmp_path / "run")
    before = weights(folder)
    with pytest.raises(LTSIError, match=r"already exists and is a run folder.*--overwrite"):
        save_run(runs[1], folder)
    assert same(weights(folder), before)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    with pytest.raises(LTSIError, match="not empty"):
        save_run(runs[0], other)
    assert (other / "todo.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    load_run(save_run(runs[0], tmp_path / "empty"))  # an empty folder is fine


def test_overwrite_replaces_the_whole_folder(runs, tmp_path):
    first = dict(runs[0].__dict__, items=pd.DataFrame({"item_id": ["1"], "title": ["x"]}))
    folder = save_run(Run(**first), tmp_path / "run")
    (folder / "ablation-stale.safetensors").write_bytes(b"orphan")
    save_run(runs[1], folder, overwrite=True)
    assert not (folder / "items.csv").exists() and not (folder / "ablation-stale.safetensors").exists()
    loaded = load_run(folder)
    assert loaded.train_config.seed == 1 and same(weights(folder), ltsi.runs._state(runs[1].model))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_an_interrupted_save_leaves_the_previous_run_intact(runs, tmp_path, monkeypatch, error):
    folder = save_run(runs[0], tmp_path / "run")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real = ltsi.runs.save_file

    def cut_short(tensors, filename, metadata=None):
        if filename.endswith("sequences.safetensors"):  # the weights are written, the rest is not
            raise error
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(ltsi.runs, "save_file", cut_short)
    with pytest.raises(LTSIError if isinstance(error, OSError) else KeyboardInterrupt):
        save_run(runs[1], folder, overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert load_run(folder).train_config.seed == 0
    assert leftovers(tmp_path) == []


def test_a_failed_rename_puts_the_previous_run_back(runs, tmp_path, monkeypatch):
    folder = save_run(runs[0], tmp_path / "run")
    real = Path.rename

    def refuse_new(self, target):
        if self.name.startswith(".run.tmp-"):
            raise OSError(13, "Permission denied")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", refuse_new)
    with pytest.raises(LTSIError, match="Permission denied"):
        save_run(runs[1], folder, overwrite=True)
    monkeypatch.undo()
    assert load_run(folder).train_config.seed == 0 and leftovers(tmp_path) == []


def test_save_target_checks(runs, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(LTSIError, match="is a file, not a folder"):
        ltsi.runs.check_save_target(tmp_path / "file" / "inside" / "run")
    ltsi.runs.check_save_target(tmp_path / "new" / "deeper" / "run")
    load_run(save_run(runs[0], tmp_path / "new" / "deeper" / "run"))


# ---------------------------------------------------------------------------------------------
# Loading: mixed or cut-short folders


def test_weights_of_another_save_are_refused(runs, tmp_path):
    a, b = save_run(runs[0], tmp_path / "a"), save_run(runs[1], tmp_path / "b")
    (a / "model.safetensors").write_bytes((b / "model.safetensors").read_bytes())
    with pytest.raises(
        LTSIError, match="mixed run folder .*model.safetensors does not match its manifest; it was written by another"
    ):
        load_run(a)


def test_a_missing_manifest_is_refused_from_format_3(runs, tmp_path):
    folder = save_run(runs[0], tmp_path / "run")
    (folder / MANIFEST).unlink()
    with pytest.raises(LTSIError, match="manifest.json is missing"):
        load_run(folder)


def test_a_file_not_in_the_manifest_is_refused(runs, tmp_path):
    folder = save_run(runs[0], tmp_path / "run")
    (folder / "items.csv").write_text("item_id,title\n1,planted\n")
    with pytest.raises(LTSIError, match="items.csv is not in its manifest"):
        load_run(folder)


def test_folders_from_before_the_manifest_still_load(runs, tmp_path):
    assert not (DEMO_RUN / MANIFEST).exists()
    demo = load_run(DEMO_RUN)
    assert demo.model is not None
    folder = save_run(runs[0], tmp_path / "old")
    (folder / MANIFEST).unlink()
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 2
    (folder / "config.json").write_text(json.dumps(config))
    load_run(folder)


def test_resaving_the_demo_run_keeps_its_weights(tmp_path):
    demo = load_run(DEMO_RUN)
    folder = save_run(demo, tmp_path / "demo", ablation_weights=False)
    assert (folder / "model.safetensors").read_bytes() == (DEMO_RUN / "model.safetensors").read_bytes()
    load_run(folder)


# ---------------------------------------------------------------------------------------------
# Loading: untrusted contents (a folder can come with a matching manifest)


def tamper_config(folder: Path, part: str, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config[part].update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    write_manifest(folder, MANIFEST, FORMAT)


def tamper_arrays(folder: Path, name: str, change) -> None:
    arrays = load_file(str(folder / name))
    arrays = {k: change(k, v) for k, v in arrays.items()}
    save_file(arrays, str(folder / name))
    write_manifest(folder, MANIFEST, FORMAT)


def nan_weights(folder):
    tamper_arrays(folder, "model.safetensors", lambda k, v: v.fill_(math.nan) if v.is_floating_point() else v)


def inf_weight(folder):
    def one(k, v):
        if k == "item_embedding.weight" or (v.is_floating_point() and v.numel() and "embedding" in k):
            v = v.clone()
            v.view(-1)[0] = math.inf
        return v

    tamper_arrays(folder, "model.safetensors", one)


CASES = {
    "nan weights": (nan_weights, "contains NaN or infinite weights"),
    "inf weight": (inf_weight, "contains NaN or infinite weights"),
    "negative short_window": (
        lambda f: tamper_config(f, "model_config", short_window=-5),
        "model_config.short_window must be between 1 and 10000, not -5",
    ),
    "huge max_len": (
        lambda f: tamper_config(f, "model_config", max_len=10**9),
        "model_config.max_len must be between 1 and 10000",
    ),
    "dim as text": (lambda f: tamper_config(f, "model_config", dim="64"), "model_config.dim must be a whole number"),
    "dropout 1": (lambda f: tamper_config(f, "model_config", dropout=1.0), "model_config.dropout"),
    "gate not a bool": (lambda f: tamper_config(f, "model_config", gate="yes"), "model_config.gate must be true or"),
    "zero lr": (lambda f: tamper_config(f, "train_config", lr=0), "train_config.lr must be more than 0"),
    "zero batch": (lambda f: tamper_config(f, "train_config", batch_size=0), "train_config.batch_size"),
    "split users": (
        lambda f: tamper_arrays(f, "sequences.safetensors", lambda k, v: v + 10_000 if k == "split.test.users" else v),
        "split.test.users name users outside",
    ),
    "split ends": (
        lambda f: tamper_arrays(f, "sequences.safetensors", lambda k, v: v + 10_000 if k == "split.valid.ends" else v),
        "split.valid.ends point past the users' events",
    ),
    "split targets": (
        lambda f: tamper_arrays(f, "sequences.safetensors", lambda k, v: v * 0 if k == "split.test.targets" else v),
        "split.test.targets are not item ids",
    ),
    "train ends": (
        lambda f: tamper_arrays(f, "sequences.safetensors", lambda k, v: v - 10_000 if k == "split.train_ends" else v),
        "split.train_ends",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_untrusted_contents_are_refused_with_one_clear_error(runs, tmp_path, case):
    damage, message = CASES[case]
    folder = save_run(runs[0], tmp_path / "run")
    damage(folder)
    with pytest.raises(LTSIError, match=message):
        load_run(folder)
    result = CliRunner().invoke(app, ["evaluate", str(folder)])
    assert result.exit_code == 2 and result.stdout == "", result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message.split()[0] in lines[0]
    assert "Unexpected problem" not in lines[0]


# ---------------------------------------------------------------------------------------------
# One validation for construction and loading


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"n_items": 1}, "n_items"),
        ({"n_event_types": 1}, "n_event_types"),
        ({"dim": 0}, "dim"),
        ({"dim": 4097}, "dim"),
        ({"max_len": 0}, "max_len"),
        ({"short_window": 0}, "short_window"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": math.nan}, "dropout"),
        ({"transition_lags": 0}, "transition_lags"),
        ({"transition_lags": 51}, "transition_lags"),
        ({"attention": 1}, "attention"),
        ({"dim": True}, "dim"),
        ({"dim": 8.0}, "dim"),
    ],
)
def test_model_config_validation_names_the_field(changes, field):
    with pytest.raises(LTSIError, match=f"model_config.{field} must"):
        ModelConfig(**{"n_items": 10, "n_event_types": 3, **changes})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"min_lr_ratio": 1.5}, "min_lr_ratio"),
        ({"patience": 0}, "patience"),
        ({"max_seconds": 0}, "max_seconds"),
        ({"max_seconds": -1.0}, "max_seconds"),
        ({"window_jitter": "no"}, "window_jitter"),
        ({"sampled_softmax": 0}, "sampled_softmax"),
        ({"seed": -1}, "seed"),
    ],
)
def test_train_config_validation_names_the_field(changes, field):
    with pytest.raises(LTSIError, match=f"train_config.{field} must"):
        TrainConfig(**changes)


def test_ordinary_configs_still_construct():
    ModelConfig(n_items=2, n_event_types=2, dim=4096, max_len=10_000, dropout=0.0, transition_lags=50)
    TrainConfig(max_seconds=None, sampled_softmax=None, min_lr_ratio=0.0, lr=1, threads=0)
    TrainConfig(max_seconds=0.5, min_lr_ratio=1.0)


def test_a_killed_saves_leftover_is_swept_by_the_next_save(tmp_path, tiny_log, tiny_seqs):
    import os
    import time

    from ltsi.pipeline import fit_run
    from ltsi.plan import plan_training

    seqs, split = tiny_seqs
    plan = plan_training(seqs, split, "cpu", model={"dim": 8, "max_len": 10}, train={"epochs": 1, "threads": 1})
    run = fit_run(seqs, split, plan)
    old = tmp_path / ".run.tmp-killed"  # what kill -9 during a save leaves
    old.mkdir()
    (old / "model.safetensors").write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / ".run.tmp-another-save"  # a save in progress right now: kept
    fresh.mkdir()
    save_run(run, tmp_path / "run")
    assert not old.exists() and fresh.exists() and load_run(tmp_path / "run").model_config == run.model_config
