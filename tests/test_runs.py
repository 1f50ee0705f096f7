"""Run folders: a saved run reloads to identical scores; damaged or foreign folders are explained."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from ltsi.batches import history_batch
from ltsi.errors import LTSIError
from ltsi.evaluate import evaluate, metrics_table
from ltsi.folders import write_manifest
from ltsi.model import ABLATIONS
from ltsi.pipeline import Stage, fit_run
from ltsi.plan import plan_training
from ltsi.runs import FORMAT, MANIFEST, fingerprint, load_run, save_run


@pytest.fixture(scope="module")
def trained(tiny_log, tiny_seqs):
    """A small log through the one pipeline: LTSI, its four ablations, the baselines, their test metrics."""
    log, (seqs, split) = tiny_log, tiny_seqs
    plan = plan_training(seqs, split, "cpu", model={"dim": 16, "max_len": 20}, train={"epochs": 2, "threads": 1})
    stages = []
    run = fit_run(seqs, split, plan, items=log.items, ablations=True, on_stage=lambda *stage: stages.append(stage))
    return log, seqs, split, run, stages


@pytest.fixture
def run_dir(tmp_path, trained):
    return save_run(trained[3], tmp_path / "run")


def reseal(folder):
    """Rewrite the manifest after a test changed a file: the deeper checks must hold on their own
    (an untrusted folder can come with a matching manifest)."""
    write_manifest(folder, MANIFEST, FORMAT)


def test_fit_run_trains_ablations_and_baselines_and_evaluates_them(trained):
    _, seqs, split, run, stages = trained
    names = ["LTSI", *(f"LTSI ({name})" for name in ABLATIONS), "most popular", "last-item transitions"]
    assert list(run.table()["model"]) == names and list(run.ablations) == list(ABLATIONS)
    assert [kind for kind, _ in stages] == [Stage.TRAINING, *[Stage.ABLATION] * len(ABLATIONS), Stage.EVALUATING]
    assert stages[1][1] == "training the ablation 'LTSI (no attention)'"
    assert not run.ablations["no transitions"].config.transitions and run.ablations["no gate"].config.gate is False
    table = run.table().set_index("model")
    assert table.loc["LTSI", "NDCG@10"] == pytest.approx(evaluate(run.model, seqs, split.test, 20)["NDCG@10"])
    assert table.loc["LTSI (no attention)", "HR@10"] == pytest.approx(
        evaluate(run.ablations["no attention"], seqs, split.test, 20)["HR@10"]
    )
    assert run.info["training"]["stop_reason"] == "epochs" and set(run.info["ablations"]) == set(ABLATIONS)


def test_saved_run_has_the_documented_files(run_dir):
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == [
        "ablation-no-attention.safetensors",
        "ablation-no-gate.safetensors",
        "ablation-no-long-term.safetensors",
        "ablation-no-transitions.safetensors",
        "config.json",
        "history.csv",
        "items.csv",
        "manifest.json",
        "metrics.json",
        "model.safetensors",
        "sequences.safetensors",
        "test_ranks.safetensors",
    ]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["format"] == "ltsi-run" and config["model_config"]["dim"] == 16
    assert config["vocabularies"]["items"][0] == "<pad>" and len(config["vocabularies"]["users"]) == 80
    assert set(config["versions"]) == {"ltsi", "torch", "python"}


def test_reload_gives_identical_scores_data_and_split(run_dir, trained):
    _, seqs, split, result, _ = trained
    run = load_run(run_dir)
    batch = history_batch(seqs, split.test.users, split.test.ends, 20)
    with torch.no_grad():
        assert torch.equal(run.model.last_scores(batch), result.model.last_scores(batch))
        for name in ABLATIONS:
            assert torch.equal(run.ablations[name].last_scores(batch), result.ablations[name].last_scores(batch))
    assert not run.model.training and run.model_config == result.model.config
    assert run.train_config == result.train_config
    assert fingerprint(run.seqs) == fingerprint(seqs) and run.seqs.users == seqs.users
    for part in ("valid", "test"):
        for name in ("users", "ends", "targets"):
            assert np.array_equal(getattr(getattr(run.split, part), name), getattr(getattr(split, part), name))
    assert np.array_equal(run.split.train_ends, split.train_ends)
    assert run.metrics[0]["model"] == "LTSI" and run.metrics[0]["NDCG@10"] == pytest.approx(
        evaluate(run.model, run.seqs, run.split.test, 20)["NDCG@10"]
    )
    assert list(run.history["epoch"]) == [1, 2]
    assert run.items["item_id"].iloc[0] == "P00001" and "title" in run.items
    assert run.info["training"] == result.info["training"]
    assert {k: {kk: v for kk, v in s.items() if kk != "file"} for k, s in run.info["ablations"].items()} == result.info[
        "ablations"
    ]
    # the test evaluation's ranks come back as they were, and the metrics table is their means
    assert run.test_ranks.equals(result.test_ranks) and list(run.test_ranks.columns) == list(run.table()["model"])
    assert len(run.test_ranks) == len(split.test) and run.test_ranks.index.tolist() == list(range(len(split.test)))
    means = metrics_table(run.test_ranks).set_index("model")
    assert np.allclose(means.to_numpy(), run.table().set_index("model")[means.columns].to_numpy(), atol=1e-9)
    # a loaded run saves again to the same folder contents (save_run mirrors load_run)
    again = load_run(save_run(run, run_dir.parent / "again"))
    assert again.info["training"] == run.info["training"] and again.metrics == run.metrics
    assert again.test_ranks.equals(run.test_ranks)
    with torch.no_grad():
        assert torch.equal(again.model.last_scores(batch), run.model.last_scores(batch))


def test_without_ablation_weights_the_scores_stay(trained, tmp_path):
    run = load_run(save_run(trained[3], tmp_path / "small", ablation_weights=False))
    assert run.ablations == {} and len(run.table()) == 7 and set(run.info["ablations"]) == set(ABLATIONS)
    assert not any(p.name.startswith("ablation-") for p in (tmp_path / "small").iterdir())


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
    reseal(run_dir)
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
    reseal(run_dir)
    with pytest.raises(LTSIError, match="fingerprint differs"):
        load_run(run_dir)


def test_weights_of_another_model_are_refused(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    config["model_config"]["dim"] = 32
    (run_dir / "config.json").write_text(json.dumps(config))
    reseal(run_dir)
    with pytest.raises(LTSIError, match="do not fit the stored model configuration"):
        load_run(run_dir)


def test_newer_format_is_refused(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    config["format_version"] = 99
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(LTSIError, match="newer LTSI"):
        load_run(run_dir)


class _Trap:
    """Unpickling this object writes a marker file: a loader that unpickles would leave it behind."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name", ["model.safetensors", "sequences.safetensors", "config.json", "metrics.json"])
def test_never_unpickles(run_dir, tmp_path, name):
    import pickle

    _Trap.marker = tmp_path / f"unpickled-{name}"
    (run_dir / name).write_bytes(pickle.dumps({"state": _Trap()}))  # a pickle (torch.save's format) in its place
    reseal(run_dir)
    with pytest.raises(LTSIError, match="damaged"):
        load_run(run_dir)
    assert not _Trap.marker.exists()


def test_save_refuses_a_file_path(tmp_path, trained):
    from dataclasses import replace

    run = trained[3]
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(LTSIError, match="a file with that name exists"):
        save_run(run, target)
    # without an item table, metrics or ablations, the run still loads
    run_without = replace(run, items=None, metrics=[], ablations={}, info={}, test_ranks=None)
    bare = load_run(save_run(run_without, tmp_path / "bare"))
    assert bare.items is None and bare.metrics == [] and bare.ablations == {} and bare.table() is None
    assert bare.test_ranks is None and not (tmp_path / "bare" / "test_ranks.safetensors").exists()
    assert isinstance(bare.history, pd.DataFrame)


def _as_pre_manifest(folder):
    """A folder as versions before the manifest wrote it: deeper checks then apply to tampered files."""
    (folder / MANIFEST).unlink()
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 2
    (folder / "config.json").write_text(json.dumps(config))
    return config


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda f, c: (f / "config.json").write_text('{"format_version": ' + "9" * 5000 + "}"), "not valid JSON"),
        (
            lambda f, c: (f / "config.json").write_text(json.dumps({**c, "ablations": {"x": "y"}})),
            '"ablations" are not',
        ),
        (lambda f, c: (f / "history.csv").write_bytes(b"\xff\xfe\x00\x81" * 64), "history.csv cannot be read"),
    ],
)
def test_damaged_run_files_get_their_own_message(run_dir, tamper, message):
    tamper(run_dir, _as_pre_manifest(run_dir))
    with pytest.raises(LTSIError, match=message):
        load_run(run_dir)


def test_timestamps_outside_what_dates_can_hold_are_refused(run_dir):
    _as_pre_manifest(run_dir)
    arrays = load_file(str(run_dir / "sequences.safetensors"))
    arrays["timestamps"][0] = 2**62
    save_file(arrays, str(run_dir / "sequences.safetensors"))
    config = json.loads((run_dir / "config.json").read_text())
    from ltsi.sequences import Sequences, Vocabulary

    # the fingerprint covers the timestamps: recompute it, as a careful forger would

    vocab = config["vocabularies"]
    a = {k: v.numpy() for k, v in load_file(str(run_dir / "sequences.safetensors")).items()}
    seqs = Sequences(
        users=tuple(vocab["users"]),
        items=Vocabulary(tuple(vocab["items"])),
        event_types=Vocabulary(tuple(vocab["event_types"])),
        **{k: a[k] for k in ("offsets", "item_ids", "event_ids", "gap_ids", "timestamps")},
    )
    config["data"]["fingerprint"] = fingerprint(seqs)
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(LTSIError, match="timestamps lie outside the years 1677..2262"):
        load_run(run_dir)
