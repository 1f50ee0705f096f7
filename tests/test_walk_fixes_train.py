"""The Train page's defects found in a browser walk: a finished training's message shown under another log, a
result message that disagreed with the quality badge, a saved-runs table that was cut off and hid a losing run,
and "About 0 s (twice this run)" advice for a run of under a second."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, SMALL_LOG, TIMEOUT, needs_demo_run, ok, with_info

from dashboard import library, state, text, training, widgets
from ltsi.library import RunLibrary
from ltsi.quality import best_baseline, outcome, versus_baselines, versus_words
from ltsi.train import StopReason, TrainResult

# ---------------------------------------------------------------------------------------------
# 4. The "train longer" advice of a very short run


def cut_short(seconds: float, reason: StopReason = StopReason.EPOCHS) -> TrainResult:
    """A run that ended at its last epoch (or budget) while still improving, after `seconds`."""
    return TrainResult(
        model=None,
        history=pd.DataFrame(),
        best_epoch=2,
        valid_metrics={},
        stopped="finished all 2 epochs",
        stop_reason=reason,
        still_improving=True,
        seconds=seconds,
        device="cpu",
    )


def test_a_run_of_under_a_second_is_not_told_to_train_for_0_s():
    advice = cut_short(0.3).advice
    assert "0 s" not in advice and "twice this run" not in advice
    assert advice == (
        "The validation score was still improving when the last epoch ended training: train longer. This run "
        "took only a few seconds, so letting it run until early stopping costs little; early stopping ends it "
        "when the score stops improving."
    )
    # a run long enough for "twice" to mean something keeps its number: 2 x 60 s = 2 min
    assert "About 2 min (twice this run) lets it go further" in cut_short(60.0, StopReason.BUDGET).advice
    assert "About 10 s (twice this run)" in cut_short(5.0).advice  # from 5 s on


# ---------------------------------------------------------------------------------------------
# 3. The saved-runs table: fits, marks a losing run in words, counts with separators


def test_versus_words_follow_the_quality_rules_by_hand():
    transitions = "last-item transitions"
    assert versus_words(0.0954, transitions, 0.1550, 29_905) == "below last-item transitions (0.1550)"
    assert versus_words(0.2056, transitions, 0.1550, 29_905) == "beats last-item transitions (0.1550)"
    assert versus_words(0.1550, transitions, 0.1550, 29_905) == "only matches last-item transitions (0.1550)"
    assert versus_words(1.0, transitions, 1.0, 8) == "cannot tell: only 8 items"  # every model has all in its top 10
    assert versus_words(0.0, transitions, 0.0, 500) == "no test event in its top 10"
    assert versus_words(None, None, None, 500) == "no test results"
    assert versus_words(0.2, None, None, 500) == "no simple method measured"
    assert [outcome(0.3, 0.2), outcome(0.2, 0.2), outcome(0.1, 0.2)] == ["beats", "matches", "below"]
    table = pd.DataFrame(
        {"model": ["LTSI", "LTSI (no gate)", "most popular", "last-item transitions"], "NDCG@10": [0.1, 0.9, 0.2, 0.3]}
    )
    assert best_baseline(table) == ("last-item transitions", 0.3)  # an ablation is not a baseline
    assert best_baseline(table[table["model"].str.startswith("LTSI")]) is None


def with_ndcg(run, ltsi: float, popular: float = 0.0154, transitions: float = 0.1550):
    """The run with planted test NDCG@10s: LTSI and the two simple methods."""
    planted = {"LTSI": ltsi, "most popular": popular, "last-item transitions": transitions}
    metrics = [
        {**row, "NDCG@10": planted[row["model"]]} if row["split"] == "test" and row["model"] in planted else row
        for row in run.metrics
    ]
    return replace(run, metrics=metrics)


def library_page() -> None:
    from dashboard.library import render_library  # AppTest runs the function's source alone: its own imports

    render_library()


def test_the_saved_runs_table_marks_a_losing_run_and_fits_the_page(tiny_fitted_run):
    saved = RunLibrary()
    saved.add_run(with_ndcg(tiny_fitted_run, 0.2056), "winner", None, "", data_name="events.csv")
    saved.add_run(with_ndcg(tiny_fitted_run, 0.0954), "loser", None, "", data_name="events.csv")
    at = ok(AppTest.from_function(library_page, default_timeout=TIMEOUT).run())
    frame = at.dataframe[0]
    table = frame.value
    assert list(table["Name"]) == ["loser", "winner"]  # newest first
    versus = ["below last-item transitions (0.1550)", "beats last-item transitions (0.1550)"]
    assert list(table[library.VERSUS]) == versus
    assert list(table["LTSI NDCG@10"]) == pytest.approx([0.0954, 0.2056])
    assert list(table["Events"]) == [tiny_fitted_run.seqs.n_events] * 2 and tiny_fitted_run.seqs.n_events >= 1000
    columns = json.loads(frame.proto.columns)
    assert {columns[name]["type_config"]["format"] for name in ("Users", "Items", "Events")} == {"localized"}
    # the columns' widths add up to what the Train page holds (about 890 px at a 1400 px window), and every
    # column of the table has one
    columns.pop("_index")  # hidden
    assert set(columns) == set(table.columns) and sum(columns[name]["width"] for name in columns) <= 880
    # what the table leaves out is said for the picked run
    assert any(c.value.startswith("size 8 · history 10") and "UTC" in c.value for c in at.caption)


# ---------------------------------------------------------------------------------------------
# 2. The Train page's verdict is the quality badge's; "may trail the baselines" only when it does not beat them


def test_a_cut_short_run_that_beats_the_baselines_is_not_said_to_trail_them():
    info = {"stop_reason": "budget", "still_improving": True, "advice": "Train longer."}
    kind, words = text.stop_note(info, 3, beats_baselines=True)
    assert kind == "warning" and "may trail" not in words
    assert words == (
        "Not fully trained: stopped at the time budget after 3 epochs. It already beats the simple baselines and "
        "would likely get better with more training. Train longer. Set a larger time budget (0 = until early "
        "stopping)."
    )
    assert "and this model may trail the baselines" in text.stop_note(info, 3, beats_baselines=False)[1]


def demo_train_page(run) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset"] = state.load_demo("ecommerce")
    at.session_state["run"] = run
    return ok(at.switch_page("views/train.py").run())


@needs_demo_run
def test_the_train_page_shows_the_badge_verdict_for_a_losing_and_a_winning_run():
    demo = state.load_demo_run()
    cut = {"stopped": "time budget of 10 s reached", "stop_reason": "budget", "still_improving": True}
    losing = with_info(demo, with_ndcg(demo.run, 0.0954).metrics, **cut)
    assert versus_baselines(losing.run) == "below"
    at = demo_train_page(losing)
    verdict = widgets.quality_of(losing)
    assert verdict.level == "bad"
    red = [e for e in at.error if e.icon == widgets.QUALITY_ICONS["bad"]]  # the badge's box, as on Users and Model
    assert len(red) == 1 and "should not be trusted yet" in red[0].value and "0.095 vs 0.155" in red[0].value
    assert not any("is below" in i.value for i in at.info)  # no milder blue box saying the same
    assert any("may trail the baselines" in w.value for w in at.warning)

    winning = with_info(demo, with_ndcg(demo.run, 0.2056).metrics, **cut)
    at = demo_train_page(winning)
    assert widgets.quality_of(winning).level == "caution"  # beats them, but ended while still improving
    assert not [e for e in at.error if e.icon == widgets.QUALITY_ICONS["bad"]]
    amber = [w.value for w in at.warning if "LTSI beats the best simple baseline" in w.value]
    assert len(amber) == 1 and "0.206 vs 0.155" in amber[0]
    notes = [w.value for w in at.warning if w.value.startswith("Not fully trained")]
    assert len(notes) == 1 and "may trail" not in notes[0] and "already beats the simple baselines" in notes[0]


# ---------------------------------------------------------------------------------------------
# 1. A finished training's message belongs to the log it was trained on


def test_a_finished_training_is_not_shown_as_the_result_for_another_log():
    from ltsi.model import ModelConfig
    from ltsi.train_config import TrainConfig

    trained_log = state.read_dataset(SMALL_LOG.encode(), "checkins.csv", "upload")
    other_log = state.read_dataset(SMALL_LOG.replace("u0", "v0").encode(), "ratings.csv", "upload")
    seqs, _ = trained_log.sequences()
    job = training.TrainingJob(
        trained_log, ModelConfig(len(seqs.items), len(seqs.event_types), dim=8, max_len=10), TrainConfig(epochs=1)
    )
    job.start().thread.join()
    assert job.state == "done", job.error

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset"], at.session_state["run"], at.session_state["job"] = trained_log, job.result, job
    job.adopted = True  # already the active model (and saved): as after the training's own rerun
    ok(at.switch_page("views/train.py").run())
    finished = [s.value for s in at.success if "Training finished" in s.value]
    assert len(finished) == 1 and finished[0].startswith("Training finished on **checkins.csv**: done in ")

    at.session_state["dataset"] = other_log  # a new log uploaded: the old training's message is not its result
    ok(at.run())
    assert not any("Training finished" in s.value for s in at.success)
    assert all(b.key != "train_to_users" for b in at.button)
    assert any("trained on another log than the active data (ratings.csv)" in i.value for i in at.info), [
        i.value for i in at.info
    ]
