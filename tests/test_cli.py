"""`python -m ltsi validate`: exit 0 with a report, exit 2 with one line and never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ltsi.cli import app
from ltsi.errors import LTSIError

ROOT = Path(__file__).resolve().parents[1]
RATINGS = ROOT / "data" / "ml-100k" / "ratings.csv"
MOVIES = ROOT / "data" / "ml-100k" / "movies.csv"

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, contains: str = "") -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    assert contains in lines[0]
    return lines[0]


def test_validate_text_report_on_ml100k():
    result = invoke("validate", RATINGS, "--items", MOVIES)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "100,000 read, 100,000 kept, 0 dropped" in out
    assert "Users:    943" in out and "Items:    1,682" in out
    assert "s (epoch seconds)" in out
    assert "1,682 of the 1,682 items in the events have a title" in out


def test_validate_json_fields():
    result = invoke("validate", RATINGS, "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["rows_read"] == 100_000 and report["rows_kept"] == 100_000
    assert report["n_users"] == 943 and report["n_items"] == 1_682
    assert report["timestamp_unit"] == "s"
    assert report["mapping"]["user"] == "user_id" and report["mapping"]["value"] == "rating"
    assert report["dropped"] == {} and report["has_header"] is True


def test_validate_an_item_table():
    result = invoke("validate", MOVIES)
    assert result.exit_code == 0, result.output
    assert "item table, not an event log" in result.stdout and "1,682" in result.stdout
    summary = json.loads(invoke("validate", MOVIES, "--json").stdout)
    assert summary["kind"] == "item table" and summary["n_items"] == 1_682
    assert summary["columns"] == ["item_id", "title", "category", "main_category"]


def test_validate_reports_dropped_rows_but_succeeds(tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text("user,item,timestamp\nu1,i1,1600000000\n,i2,1600000001\nu1,i3\n")
    result = invoke("validate", path, "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["rows_read"] == 3 and report["rows_kept"] == 1
    assert report["dropped"] == {"user is missing": 1, "line has the wrong number of fields": 1}
    assert report["examples"]["user is missing"][0]["row"] == 3


def test_column_options_override_mapping(tmp_path):
    path = tmp_path / "es.csv"
    path.write_text("usuario;producto;fecha;nota\nana;libro;02/01/2024;4\nana;lapiz;03/01/2024;5\n")
    result = invoke(
        "validate",
        path,
        "--json",
        "--user-col",
        "usuario",
        "--item-col",
        "producto",
        "--time-col",
        "fecha",
        "--value-col",
        "",
        "--dayfirst",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mapping"]["value"] is None
    assert report["mapping"]["reasons"]["user"] == "given explicitly"
    assert report["time_min"].startswith("2024-01-02")
    assert report["timestamp_unit"] == "datetime (day-first strings)"


def test_min_events_option(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("user,item,timestamp\na,x,1600000000\na,y,1600000001\nb,x,1600000002\n")
    report = json.loads(invoke("validate", path, "--json", "--min-events", "2").stdout)
    assert report["dropped"] == {"user has fewer than 2 events": 1}


@pytest.mark.parametrize(
    "content,contains",
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "PNG image"),
        (b"user item time\nu i 1\n", "Only one column"),
        (b"user_id,item_id,timestamp\n", "only a header row"),
        (b"item,timestamp\ni,1600000000\n", "No user column"),
        (b"user,item,timestamp\nu,i,never\n", "No usable rows"),
        (b"\x00\x01\x02\x03" * 100, "binary file"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, content, contains):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert_one_line_error(invoke("validate", path), contains)
    assert_one_line_error(invoke("validate", path, "--json"), contains)


def test_missing_file_and_unknown_column(tmp_path):
    assert_one_line_error(invoke("validate", tmp_path / "nope.csv"), "File not found")
    line = assert_one_line_error(
        invoke("validate", RATINGS, "--user-col", "usuario"), "Column 'usuario' (given for user) is not in the file"
    )
    assert "user_id, item_id, rating, timestamp" in line


def test_unexpected_exception_becomes_one_generic_line(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("something\ninternal broke")

    monkeypatch.setattr("ltsi.events.load_events", boom)
    line = assert_one_line_error(invoke("validate", RATINGS), "Unexpected problem (RuntimeError")
    assert "something internal broke" in line


def test_every_command_shares_one_error_boundary(monkeypatch, tmp_path):
    def bad(*args, **kwargs):
        raise LTSIError("bad\ninput")

    monkeypatch.setattr("ltsi.runs.load_run", bad)
    for command in (
        ["evaluate", tmp_path],
        ["recommend", tmp_path, "--user", "u"],
        ["explain", tmp_path, "--user", "u"],
    ):
        assert assert_one_line_error(invoke(*command)) == "error: bad input"


def test_python_dash_m_entry_point(tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "ltsi", "validate", str(RATINGS), "--json"], capture_output=True, text=True, cwd=ROOT
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["n_items"] == 1_682
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64)
    res = subprocess.run([sys.executable, "-m", "ltsi", "validate", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2
    assert res.stdout == "" and "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1 and "save it as CSV" in res.stderr


# ---------------------------------------------------------------------------------------------
# train


@pytest.fixture(scope="module")
def small_log(tmp_path_factory):
    from ltsi.synth import generate, write_log

    folder = tmp_path_factory.mktemp("log")
    write_log(generate(n_users=60, n_items=80, n_categories=4, mean_events=12, seed=3), folder)
    return folder / "events.csv"


def test_train_prints_the_plan_and_why_it_stopped_and_saves_the_run(small_log, tmp_path):
    from ltsi.events import load_events
    from ltsi.plan import plan_training
    from ltsi.runs import load_run
    from ltsi.sequences import build_sequences
    from ltsi.splits import leave_one_out

    result = invoke("train", small_log, "--out", tmp_path / "run", "--epochs", "1", "--budget", "60", "--dim", "8")
    assert result.exit_code == 0, result.output
    err = result.stderr
    seqs = build_sequences(load_events(small_log).events)
    plan = plan_training(seqs, leave_one_out(seqs), "cpu")
    assert "settings:" in err and f"history window {plan.model_config.max_len} events: 90% of users have" in err
    assert "at most 1 epoch: chosen by you" in err and "time budget 60 s: the learning rate anneals" in err
    assert f"full softmax: {len(seqs.items) - 1} items on cpu" in err
    assert "Trained in" in result.stdout and "LTSI" in result.stdout and "last-item transitions" in result.stdout
    run = load_run(tmp_path / "run")
    assert run.model_config.max_len == plan.model_config.max_len < 50
    assert run.train_config.epochs == 1 and run.train_config.max_seconds == 60
    assert run.info["training"]["stop_reason"] == "epochs"
    # one epoch is always the best so far: the result says to train longer, with an estimate
    assert run.info["training"]["still_improving"] and "train longer" in result.stdout


def test_train_refuses_zero_epochs_and_budgets(small_log, tmp_path):
    for option in ("--epochs", "--budget"):
        result = invoke("train", small_log, "--out", tmp_path / "run", option, "0")
        assert result.exit_code == 2 and not (tmp_path / "run").exists()


def test_verdict_says_when_ltsi_is_below_a_baseline():
    import pandas as pd

    from ltsi.cli_train import _verdict

    table = pd.DataFrame({"model": ["LTSI", "most popular", "last-item transitions"], "NDCG@10": [0.04, 0.02, 0.05]})
    assert _verdict(table) == (
        "Warning: LTSI is below the last-item transitions baseline on test NDCG@10 "
        "(0.0400 < 0.0500); its explanations describe a model that a simple rule beats."
    )
    assert _verdict(table.assign(**{"NDCG@10": [0.06, 0.02, 0.05]})) == ""


def test_train_goes_through_the_pipeline(small_log, tmp_path, monkeypatch):
    import ltsi.pipeline

    calls, real = [], ltsi.pipeline.fit_run

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(ltsi.pipeline, "fit_run", recording)
    result = invoke("train", small_log, "--out", tmp_path / "run", "--epochs", "1", "--dim", "8", "--quiet")
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and calls[0]["ablations"] is False and calls[0]["callback"] is not None


def test_a_run_folder_of_the_previous_version_still_loads(small_log, tmp_path):
    """Format 1 (before the counts part): no `transitions` switch in the stored config, no counts in the weights."""
    import json

    from ltsi.runs import load_run

    result = invoke("train", small_log, "--out", tmp_path / "run", "--epochs", "1", "--dim", "8", "--quiet")
    assert result.exit_code == 0, result.output
    run = load_run(tmp_path / "run")
    from dataclasses import replace

    from ltsi.model import LTSI
    from ltsi.runs import save_run

    old = LTSI(replace(run.model_config, transitions=False))  # what version 1 saved: no counts part
    save_run(replace(run, model=old, model_config=old.config), tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("transitions", "transition_lags"):
        del config["model_config"][key]
    config["format_version"] = 1
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    (tmp_path / "old" / "manifest.json").unlink()  # format 3 added the manifest
    loaded = load_run(tmp_path / "old")
    assert not loaded.model_config.transitions and not hasattr(loaded.model, "transition_weight")
    out = invoke("recommend", tmp_path / "old", "--user", loaded.seqs.users[0], "--k", "3")
    assert out.exit_code == 0 and len(out.stdout.strip().splitlines()) == 4


# ---------------------------------------------------------------------------------------------
# usage errors, inputs that are not files, run folders that exist


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (["train"], "Missing argument 'path'"),
        (["train", "x.csv"], "Missing option '--out'"),
        (["validate", "x.csv", "--bogus"], "No such option: --bogus"),
        (["--bogus"], "No such option: --bogus"),
        (["nope"], "No such command 'nope'"),
        (["evaluate"], "Missing argument 'run_dir'"),
        (["train", "x.csv", "--out", "y", "--epochs", "zero"], "Invalid value for '--epochs'"),
    ],
)
def test_usage_errors_are_one_line(args, contains):
    line = assert_one_line_error(invoke(*args), contains)
    assert "--help" in line and "Unexpected problem" not in line


def test_no_arguments_still_shows_the_help():
    result = invoke()
    assert "Usage:" in result.output and "train" in result.output


@pytest.mark.parametrize("command", ["validate", "train"])
def test_a_fifo_folder_or_device_is_refused_before_opening(command, tmp_path):
    import os

    fifo = tmp_path / "events.csv"
    os.mkfifo(fifo)  # opening it for reading would block forever
    extra = ["--out", tmp_path / "run"] if command == "train" else []
    assert_one_line_error(invoke(command, fifo, *extra), "is a named pipe (FIFO), not a file")
    # a folder is read as a folder of Parquet/CSV files (ltsi.warehouse); the FIFO in it is not one of them
    assert_one_line_error(invoke(command, tmp_path, *extra), "has no Parquet or CSV files")
    assert_one_line_error(invoke(command, "/dev/null", *extra), "is a device, not a file")
    assert_one_line_error(invoke(command, RATINGS, "--items", fifo, *extra), "item table")
    assert not (tmp_path / "run").exists()


def test_train_refuses_an_existing_run_before_training(small_log, tmp_path, monkeypatch):
    import ltsi.pipeline

    args = ("train", small_log, "--epochs", "1", "--dim", "8", "--quiet")
    assert invoke(*args, "--out", tmp_path / "run").exit_code == 0
    before = (tmp_path / "run" / "model.safetensors").read_bytes()

    def never(*a, **k):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(ltsi.pipeline, "fit_run", never)
    assert_one_line_error(invoke(*args, "--out", tmp_path / "run"), "already exists and is a run folder")
    assert "--overwrite" in invoke(*args, "--out", tmp_path / "run").stderr
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(invoke(*args, "--out", tmp_path / "afile"), "a file with that name exists")
    assert_one_line_error(invoke(*args, "--out", tmp_path / "afile" / "run"), "is a file, not a folder")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before
    monkeypatch.undo()
    result = invoke(
        "train",
        small_log,
        "--epochs",
        "1",
        "--dim",
        "8",
        "--quiet",
        "--seed",
        "1",
        "--out",
        tmp_path / "run",
        "--overwrite",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "model.safetensors").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_unsupported_devices_and_deeply_nested_configs_get_their_own_message(small_log, tmp_path):
    result = invoke("train", small_log, "--out", tmp_path / "run", "--device", "meta")
    assert_one_line_error(result, "LTSI trains on the CPU or a CUDA GPU, not on 'meta'")
    assert (
        invoke("train", small_log, "--out", tmp_path / "run", "--epochs", "1", "--dim", "8", "--quiet").exit_code == 0
    )
    (tmp_path / "run" / "manifest.json").unlink()  # as a folder from before the manifest
    (tmp_path / "run" / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_one_line_error(invoke("evaluate", tmp_path / "run"), "nested too deeply")


def test_explain_options_are_bounded(small_log, tmp_path):
    trained = invoke("train", small_log, "--out", tmp_path / "run", "--epochs", "1", "--dim", "8", "--quiet")
    assert trained.exit_code == 0, trained.output
    for option, value in (("--steps", "200000"), ("--steps", "0"), ("--rows", "-1")):
        result = invoke("explain", tmp_path / "run", "--user", "U00001", option, value)
        assert_one_line_error(result, f"Invalid value for '{option}'")
