"""Every dashboard view through Streamlit's AppTest (no browser): renders on the demo data without an
exception, shows its main widgets, and bad input gives a message instead of a traceback. One test
trains a tiny model from the Train view and then opens it on the Users view."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import explaining, exporting, report, state, text, training, widgets

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 120  # AppTest's default is 3 s; loading, explaining and training take longer on a busy 2-core CPU

needs_demo_run = pytest.mark.skipif(
    not (state.DEMO_RUN / "config.json").exists(), reason="data/demo_run is missing: python -m dashboard.make_demo_run"
)


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    return at.run()


def ok(at: AppTest) -> AppTest:
    """No exception and no error box on the page (the quality badge's red verdict on a model is not one: the
    tiny models trained here for one epoch are honestly rated poor)."""
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error if e.icon != widgets.QUALITY_ICONS["bad"]]
    assert not errors, errors
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def trace_types(at: AppTest) -> set[str]:
    return {trace.get("type", "") for chart in charts(at) for trace in chart["data"]}


def trained_through_the_job(dataset, **model):
    """A tiny model trained for one epoch through the dashboard's own training job; its ActiveRun."""
    from ltsi.model import ModelConfig
    from ltsi.train_config import TrainConfig

    seqs, _ = dataset.sequences()
    config = ModelConfig(len(seqs.items), len(seqs.event_types), **{"dim": 8, "max_len": 10, **model})
    job = training.TrainingJob(dataset, config, TrainConfig(epochs=1, max_seconds=5, threads=1))
    job.start().thread.join()
    assert job.state == "done", job.error
    return job.result


@pytest.fixture(scope="module")
def tiny_run():
    """A tiny model on the demo shop, trained for a few seconds."""
    return trained_through_the_job(state.load_demo("ecommerce"), dim=16, max_len=20)


SMALL_LOG = "user,item,ts\n" + "".join(  # 20 users with 6 events each over 8 items, one event type
    f"u{u:02d},i{(u + 3 * k) % 8},{1_700_000_000 + 60 * k}\n" for u in range(20) for k in range(6)
)


@pytest.fixture(scope="module")
def small_run():
    """A tiny model on a log smaller than the metrics' K (8 items) with a short-term window of 4, not 10."""
    dataset = state.read_dataset(SMALL_LOG.encode(), "small.csv", "upload")
    return dataset, trained_through_the_job(dataset, short_window=4)


def with_small(at: AppTest, small_run) -> AppTest:
    at.session_state["dataset"], at.session_state["run"] = small_run
    return at


@pytest.fixture(scope="module")
def demo_run(request):
    """The shipped demo model; without it (a checkout before it was made) the tiny model."""
    if (state.DEMO_RUN / "config.json").exists():
        return state.load_demo_run()
    return request.getfixturevalue("tiny_run")


def with_demo(at: AppTest, run) -> AppTest:
    """A session that has loaded the demo data and the demo model (as the Start page's button does)."""
    at.session_state["dataset"] = state.load_demo("ecommerce")
    at.session_state["run"] = run
    return at


# ---------------------------------------------------------------------------------------------


def test_start_page_explains_ltsi_and_offers_the_demo():
    at = ok(app())
    assert at.title[0].value == "Why did the model recommend that?"
    assert "short-term" in at.markdown[0].value and "long-term" in at.markdown[0].value
    assert at.button(key="open_demo").label == "Open the demo"
    assert "none yet" in at.sidebar.caption[0].value


@needs_demo_run
def test_open_demo_lands_on_a_user_timeline():
    at = app()
    at.button(key="open_demo").click().run()
    ok(at)
    assert at.title[0].value == "Users"
    assert "heatmap" in trace_types(at)
    assert at.session_state["run"].name.startswith("Demo model")
    assert "E-commerce demo" in at.sidebar.caption[0].value


def test_data_view_on_the_demo_shows_the_report_and_charts():
    at = app()
    at.switch_page("views/data.py").run()
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows read"] == "46,266" and metrics["Users"] == "1,000"
    assert [s.label for s in at.selectbox][:5] == ["User", "Item", "Time", "Event type", "Value"]
    assert at.selectbox[0].value == "user_id" and at.selectbox[4].value == "price"
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert any(t.startswith("Events per") for t in titles) and any(t.startswith("Item popularity") for t in titles)
    assert any("Event types" in t for t in titles) and any(t.startswith("Events per user") for t in titles)


def test_data_view_movielens_demo():
    at = app()
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("movielens").run()
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows read"] == "100,000" and metrics["Users"] == "943" and metrics["Items"] == "1,682"


def test_upload_with_odd_header_mapping_change_and_dropped_rows():
    csv = (
        "visitorid;itemid;ts;action\n"
        + "".join(f"v{u};p{(u * 3 + i) % 7};{1_700_000_000 + 60 * i};view\n" for u in range(5) for i in range(6))
        + ";p1;1700000000;view\n"  # no user
        + "v1;p2;not a time;view\n"
    )  # unreadable time
    at = app()
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_events").set_value(("shop.csv", csv.encode(), "text/csv")).run()
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows read"] == "32" and metrics["Rows kept"] == "30" and metrics["Rows dropped"] == "2"
    assert [s.value for s in at.selectbox][:4] == ["visitorid", "itemid", "ts", "action"]
    assert len(at.expander) >= 3  # mapping + one per drop reason
    reasons = [e.label for e in at.expander if e.label.endswith(("row", "rows"))]
    assert len(reasons) == 2 and all(label.endswith(": 1 row") for label in reasons), reasons
    dropped = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("Rows dropped"))
    assert dropped["layout"]["xaxis"]["range"] == [0, 32]  # every row read: 1 dropped row is a sliver
    assert "shop.csv" in at.sidebar.caption[0].value

    # leave the event type out explicitly: every event becomes "interaction"
    event_box = next(s for s in at.selectbox if s.label == "Event type")
    event_box.set_value("(none)")
    at.button(key="FormSubmitter:mapping_form-Apply").click().run()
    ok(at)
    assert list(at.session_state["dataset"].report.event_counts) == ["interaction"]


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("empty.csv", b"", "empty"),
        ("garbage.csv", bytes(range(256)) * 40, ""),
        ("one_column.csv", b"just one column\nfoo\nbar\n", ""),
    ],
)
def test_bad_uploads_show_a_message_not_a_traceback(name, content, fragment):
    at = app()
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_events").set_value((name, content, "text/csv")).run()
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert "Traceback" not in message and 'File "' not in message
    assert fragment in message.lower()
    assert at.session_state["dataset"] is None or at.session_state["dataset"].kind != "upload"


def test_upload_a_log_on_the_start_page_opens_the_uploader_not_a_demo():
    at = app()
    at.button(key="go_data").click().run()
    ok(at)
    assert at.session_state["data_source"] == "upload"  # and no demo was loaded:
    assert "dataset" not in at.session_state or at.session_state["dataset"] is None
    assert at.file_uploader(key="upload_events") is not None and not at.metric


def test_a_bad_upload_after_good_data_shows_no_stale_report():
    at = app()
    at.switch_page("views/data.py").run()  # the e-commerce demo is loaded
    assert at.metric[0].value == "46,266"
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_events").set_value(("header.csv", b"user,item,time\n", "text/csv")).run()
    assert not at.exception and len(at.error) == 1
    assert not at.metric and not at.get("plotly_chart")  # neither the demo's report nor its charts
    assert "Nothing was loaded from header.csv" in at.info[0].value
    assert "E-commerce demo" in at.info[0].value


def test_the_preview_has_no_blank_value_column_when_the_log_has_none():
    at = app()
    at.switch_page("views/data.py").run()
    assert "value" in at.dataframe[-1].value.columns  # the demo log has prices
    at.radio(key="data_source").set_value("upload").run()
    rows = "".join(f"u{u},i{i},{1700000000 + 60 * i}\n" for u in range(3) for i in range(4))
    at.file_uploader(key="upload_events").set_value(("small.csv", f"user,item,time\n{rows}".encode(), "text/csv"))
    at.run()
    ok(at)
    assert list(at.dataframe[-1].value.columns) == ["user_id", "item_id", "timestamp", "event"]


def test_a_failed_apply_says_the_report_is_the_previous_one():
    at = app()
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    rows = "".join(f"u{u},i{i},{1700000000 + 60 * i}\n" for u in range(3) for i in range(4))
    at.file_uploader(key="upload_events").set_value(("small.csv", f"user,item,time\n{rows}".encode(), "text/csv"))
    at.run()
    ok(at)
    at.number_input(key="map_min_events").set_value(50)  # more than anyone has: every row would be dropped
    at.button(key="FormSubmitter:mapping_form-Apply").click().run()
    assert not at.exception and len(at.error) == 1
    assert "not applied" in at.warning[0].value
    assert at.metric[1].value == "12"  # rows kept: still the last successful reading


def test_train_view_trains_a_tiny_model_that_populates_the_users_view():
    at = app()
    at.switch_page("views/data.py").run()
    at.switch_page("views/train.py").run()
    ok(at)
    assert "GPU" in at.caption[[c.value for c in at.caption].index(widgets.gpu_summary())].value
    at.select_slider(key="train_dim").set_value(16)
    at.select_slider(key="train_max_len").set_value(20)
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_budget").set_value(600)  # ample: the budget check measures, then training starts
    at.button(key="FormSubmitter:train_form-Train").click().run()
    ok(at)
    job = at.session_state["job"]
    assert job.active or job.state == "done"
    # chosen settings win over the plan: history length and epochs as set, the budget as given
    assert (job.model_config.dim, job.model_config.max_len, job.train_config.epochs) == (16, 20, 1)
    assert job.train_config.max_seconds == 600 and job.check_budget
    deadline = time.time() + 150
    while job.active and time.time() < deadline:
        time.sleep(1)
        at.run()  # what the fragment's run_every does in the browser
    assert job.state == "done", job.error
    assert job.estimate is not None and job.verdict == ""  # measured, and the budget was enough
    at.run()
    ok(at)
    assert any("Training finished" in s.value for s in at.success)
    results = at.session_state["run"].run.table()
    assert list(results["model"]) == ["LTSI", "most popular", "last-item transitions"]
    assert at.session_state["run"] is job.result

    at.switch_page("views/users.py").run()
    ok(at)
    assert "heatmap" in trace_types(at)
    assert any("its score came from" in m.value for m in at.markdown)  # the item's own split, in words
    assert len(at.dataframe) >= 1  # recommendations
    recs = at.dataframe[0].value
    assert len(recs) == 10 and list(recs["rank"]) == list(range(1, 11))


def test_stop_button_stops_training_and_keeps_a_model():
    at = app()
    at.switch_page("views/data.py").run()
    at.switch_page("views/train.py").run()
    at.select_slider(key="train_dim").set_value(16)
    at.number_input(key="train_budget").set_value(0)  # no time limit: only Stop ends it
    at.button(key="FormSubmitter:train_form-Train").click().run()
    job = at.session_state["job"]
    assert at.button(key="stop_training").label == "Stop"
    at.button(key="stop_training").click().run()
    deadline = time.time() + 60
    while job.active and time.time() < deadline:
        time.sleep(0.5)
    assert job.state == "done" and job.result.training["stop_reason"] == "requested", job.message
    at.run()
    ok(at)
    assert any("stopped by hand" in i.value for i in at.info)


def small_train_view(small_run, **settings) -> AppTest:
    """The Train view on the small log (no active model), the form set to `settings` (widget key -> value)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset"] = small_run[0]
    at.switch_page("views/train.py").run()
    ok(at)
    for key, value in {"train_dim": 16, "train_threads": 1, **settings}.items():
        widget = at.select_slider(key=key) if key in ("train_dim", "train_max_len") else at.number_input(key=key)
        widget.set_value(value)
    return at


def planned_text(at: AppTest) -> str:
    return next(e for e in at.expander if e.label == "Settings planned for this log").markdown[0].value


def test_train_view_plans_history_length_and_epochs_unless_chosen(small_run):
    from ltsi.plan import plan_training

    dataset = small_run[0]
    seqs, split = dataset.sequences()
    planned = plan_training(seqs, split, "auto", None, model={"dim": 16}, until_converged=True)  # budget 0
    at = small_train_view(small_run, train_budget=0)  # no budget: no measurement, training starts at once
    assert at.select_slider(key="train_max_len").value == 0 and at.number_input(key="train_epochs").value == 0
    at.button(key="FormSubmitter:train_form-Train").click().run()
    ok(at)
    job = at.session_state["job"]
    job.stop()
    job.thread.join(timeout=60)
    assert job.model_config.max_len == planned.model_config.max_len == 10  # auto: from plan_training
    assert job.train_config.epochs == planned.train_config.epochs > 1
    assert job.model_config.dim == 16 and job.train_config.max_seconds is None and job.estimate is None
    at.run()
    ok(at)
    text = planned_text(at)
    assert f"History window {planned.model_config.max_len} events: 90% of users" in text
    assert f"and at most {planned.train_config.epochs}, a safety cap" in text and "chosen by you" not in text

    # a value set in the form wins, and the plan says so
    at.select_slider(key="train_max_len").set_value(20)
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="FormSubmitter:train_form-Train").click().run()
    ok(at)
    job = at.session_state["job"]
    job.thread.join(timeout=60)
    assert job.state == "done", job.error
    assert (job.model_config.max_len, job.train_config.epochs) == (20, 1)
    at.run()
    ok(at)
    text = planned_text(at)
    assert "History window 20 events: chosen by you" in text and text.count("chosen by you") == 2  # and the epochs


def short_estimate():
    """A measurement that makes any budget under 33 s too short: 3 useful passes of 20 x 0.5 s + 1 s."""
    from ltsi.plan import TimeEstimate

    return TimeEstimate(step_seconds=0.5, steps_per_epoch=20, eval_seconds=1.0, epochs=10)


@pytest.fixture
def counted_training(monkeypatch):
    """`ltsi.plan.estimate_training` returns `short_estimate()`; the pipeline's `train` counts its calls."""
    import ltsi.pipeline
    import ltsi.plan

    calls, real_train = [], ltsi.pipeline.train
    monkeypatch.setattr(ltsi.plan, "estimate_training", lambda *args, **kwargs: short_estimate())
    monkeypatch.setattr(ltsi.pipeline, "train", lambda *args, **kwargs: calls.append(1) or real_train(*args, **kwargs))
    return calls


@pytest.mark.parametrize("choice, budget", [("budget_proposed", 33.0), ("budget_anyway", 6.0), ("budget_cancel", None)])
def test_a_too_short_budget_waits_for_the_analyst(small_run, counted_training, choice, budget):
    at = small_train_view(small_run, train_budget=6, train_epochs=1)
    at.button(key="FormSubmitter:train_form-Train").click().run()
    job = at.session_state["job"]
    job.thread.join(timeout=60)
    assert job.state == "confirm" and job.awaiting and not job.active, job.error
    assert counted_training == [] and job.result is None and job.progress is None  # measured, but no training
    at.run()
    ok(at)
    assert [w.value for w in at.warning] == [short_estimate().verdict(6)]
    assert "too short" in at.warning[0].value and "33 s" in at.warning[0].value
    assert at.button(key="budget_proposed").label == "Train with a budget of 33 s"
    assert at.button(key="budget_anyway").label == "Train with my budget anyway"
    assert at.button(key="FormSubmitter:train_form-Train").disabled  # one decision at a time
    at.switch_page("views/data.py").run()  # on another page, the sidebar says a decision is pending
    assert any("waits for your decision on the Train page" in c.value for c in at.sidebar.caption)
    at.switch_page("views/train.py").run()

    at.button(key=choice).click().run()
    ok(at)
    if budget is None:  # cancelled: no job, no training, the form is free again
        assert "job" not in at.session_state and job.state == "cancelled" and counted_training == []
        assert not at.button(key="FormSubmitter:train_form-Train").disabled and not at.warning
        return
    assert at.session_state["job"] is job and job.train_config.max_seconds == budget
    job.thread.join(timeout=60)
    assert job.state == "done", job.error
    assert counted_training == [1] and job.result.run.train_config.max_seconds == budget
    assert at.session_state["train_budget"] == int(budget)  # the form shows the budget it trained with


def test_the_budget_check_takes_a_training_slot_and_respects_stop(small_run, monkeypatch):
    import threading

    import ltsi.pipeline
    import ltsi.plan
    from ltsi.model import ModelConfig
    from ltsi.train_config import TrainConfig

    measuring, release, trained = threading.Event(), threading.Event(), []

    def slow_estimate(*args, **kwargs):
        measuring.set()
        release.wait(10)
        return short_estimate()

    monkeypatch.setattr(ltsi.plan, "estimate_training", slow_estimate)
    monkeypatch.setattr(ltsi.pipeline, "train", lambda *args, **kwargs: trained.append(1))
    dataset = small_run[0]
    seqs, _ = dataset.sequences()
    slots = threading.BoundedSemaphore(1)
    slots.acquire()  # another session trains
    job = training.TrainingJob(
        dataset,
        ModelConfig(len(seqs.items), len(seqs.event_types), dim=8),
        TrainConfig(epochs=1, threads=1, max_seconds=6),
        slots=slots,
        check_budget=True,
    ).start()
    time.sleep(1.0)
    assert job.state == "waiting" and not measuring.is_set()
    slots.release()
    assert measuring.wait(10) and job.state == "measuring" and job.active
    assert job.message == "measuring a few batches to check the time budget"
    job.stop()
    release.set()
    job.thread.join(timeout=10)
    assert job.state == "failed" and "stopped before it started" in job.error and trained == []
    assert slots.acquire(blocking=False)  # the slot was given back


def with_info(active, metrics=None, **training):
    """The run with another training summary (as a loaded run's config.json would give), and other metrics."""
    from dataclasses import replace

    info = {**active.run.info, "training": {"seconds": 6.0, "device": "cpu", "best_epoch": 2, **training}}
    run = replace(active.run, info=info, metrics=active.run.metrics if metrics is None else metrics)
    return replace(active, run=run, cache=type(active.cache)())


def test_train_view_says_train_longer_when_still_improving_at_the_budget(small_run):
    dataset, run = small_run
    advice = (
        "The validation score was still improving when the time budget ended training: train longer. About "
        "12 s (twice this run) lets it go further; early stopping ends it when the score stops improving."
    )
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset"] = dataset
    at.session_state["run"] = with_info(
        run, stopped="time budget of 6 s reached", stop_reason="budget", still_improving=True, advice=advice
    )
    ok(at.switch_page("views/train.py").run())
    # the stop note (the other warning is the quality badge's amber verdict: a catalogue of 8 items says little)
    warnings = [w.value for w in at.warning if w.icon != widgets.QUALITY_ICONS["caution"]]
    assert len(warnings) == 1 and "Not fully trained: stopped at the time budget" in warnings[0]
    assert advice in warnings[0] and "Set a larger time budget" in warnings[0]
    # LTSI below a baseline is the quality badge's red verdict, in numbers, even then (a catalogue of more than
    # 10 items: the demo run's, so that the metrics mean something)
    demo = state.load_demo_run()
    metrics = [{**row, "NDCG@10": 0.0001} if row["model"] == "LTSI" else row for row in demo.run.metrics]
    at.session_state["run"] = with_info(
        demo, metrics, stopped="time budget of 6 s reached", stop_reason="budget", still_improving=True, advice=advice
    )
    ok(at.run())
    red = [e.value for e in at.error if e.icon == widgets.QUALITY_ICONS["bad"]]
    assert len(red) == 1 and red[0].startswith("LTSI is below the best simple baseline")
    assert "0.000 vs 0.022" in red[0] and "should not be trusted yet" in red[0]
    assert not any("is below" in i.value for i in at.info)  # said once, as on every other page

    at.session_state["run"] = with_info(
        run, stopped="early stop: ...", stop_reason="converged", still_improving=False, advice=""
    )
    ok(at.run())
    assert [w.icon for w in at.warning] == [widgets.QUALITY_ICONS["caution"]]  # only the badge: no stop note
    assert any(
        c.value.endswith(
            "Training converged: the validation score stopped improving (best epoch 2), so early "
            "stopping ended it after 1 epoch."
        )
        for c in at.caption
    )


def test_ablations_carry_the_library_labels(small_run):
    from ltsi.model import ABLATIONS, ModelConfig
    from ltsi.train_config import TrainConfig

    dataset = small_run[0]
    seqs, _ = dataset.sequences()
    job = training.TrainingJob(
        dataset,
        ModelConfig(len(seqs.items), len(seqs.event_types), dim=8, max_len=10),
        TrainConfig(epochs=1, threads=1),
        with_ablations=True,
    )
    job.start().thread.join()
    assert job.state == "done", job.error
    assert list(job.result.run.ablations) == list(job.result.run.info["ablations"]) == list(ABLATIONS)
    assert list(job.result.run.table()["model"]) == [
        "LTSI",
        *(f"LTSI ({name})" for name in ABLATIONS),
        "most popular",
        "last-item transitions",
    ]
    loaded = exporting.load_run_zip(exporting.run_zip(job.result), "ablations.zip")  # saved and loaded: same names
    assert list(loaded.run.table()["model"]) == list(job.result.run.table()["model"])
    assert list(loaded.run.ablations) == list(ABLATIONS)  # with their weights
    at = small_train_view(small_run)
    assert at.checkbox(key="train_ablations").label == (
        "Also train the ablations (no attention, no long-term, no gate, no transitions)"
    )


def test_a_dashboard_training_goes_through_the_pipeline(small_run, monkeypatch):
    """The Train page's job trains with `ltsi.pipeline.fit_run` (the pipeline the CLI and the demo builder use) and
    its result wraps the very `Run` that fit_run returned."""
    import ltsi.pipeline
    from ltsi.model import ModelConfig
    from ltsi.train_config import TrainConfig

    calls, returned, real_fit_run = [], [], ltsi.pipeline.fit_run

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        returned.append(real_fit_run(*args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(ltsi.pipeline, "fit_run", recording)
    dataset = small_run[0]
    seqs, split = dataset.sequences()
    model_config = ModelConfig(len(seqs.items), len(seqs.event_types), dim=8, max_len=10)
    train_config = TrainConfig(epochs=1, threads=1)
    job = training.TrainingJob(dataset, model_config, train_config, with_ablations=True)
    job.start().thread.join()
    assert job.state == "done", job.error
    assert len(calls) == len(returned) == 1
    (got_seqs, got_split, plan), kwargs = calls[0]
    assert got_seqs is seqs and got_split is split
    assert (plan.model_config, plan.train_config) == (model_config, train_config)
    assert kwargs["items"] is dataset.items and kwargs["ablations"] is True
    assert kwargs["callback"] == job._on_progress and kwargs["on_stage"] == job._on_stage
    assert kwargs["should_stop"]() is False
    assert isinstance(job.result, state.ActiveRun) and job.result.run is returned[0]
    assert job.result.training is returned[0].info["training"] and job.result.folder is None
    assert job.result.name.startswith("Trained on small.csv (")
    assert job.message.startswith("done in ") and job.message.endswith(returned[0].info["training"]["stopped"])
    assert list(job.history()["epoch"]) == [1]  # the curves are LTSI's: the ablations' epochs are not mixed in


def test_train_view_shows_the_demo_model_results(demo_run):
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo_run)
    at.switch_page("views/train.py").run()
    ok(at)
    table = at.dataframe[0].value
    assert "LTSI" in table.index and "most popular" in table.index and "NDCG@10" in table.columns
    facts = next(c.value for c in at.caption if c.value.startswith("embedding"))
    if "stop_reason" not in demo_run.training:  # a run saved before the stop reason: its own words, in the facts
        assert demo_run.training["stopped"] in facts
    assert {"Training loss", "Validation (full ranking)"} <= {
        a["text"] for c in charts(at) for a in c["layout"].get("annotations", [])
    }


def test_users_view_switch_user_explain_held_out_and_what_if(demo_run):
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo_run)
    at.switch_page("views/users.py").run()
    ok(at)
    picks = [b for b in at.button if b.key and b.key.startswith("pick_")]
    assert [b.label.split(":")[0] for b in picks] == ["Short-term burst", "Long-term taste", "Test hit", "Test miss"]
    picks[2].click().run()  # a test hit: the held-out item is in the top 10
    ok(at)
    assert any("✔ next event" in set(df.value.get("held-out", [])) for df in at.dataframe)

    user = at.selectbox(key="user_pick")
    seqs = demo_run.run.seqs
    other = [
        u
        for u in seqs.users
        if u != user.value and seqs.lengths[seqs.user_index(u)] >= 5 and explaining.heldout_rank(demo_run, u) > 1
    ][5]  # top-1 is not the held-out
    user.set_value(other).run()
    ok(at)
    assert at.session_state["user"] == other
    heatmaps = [t for c in charts(at) for t in c["data"] if t.get("type") == "heatmap"]
    assert len(heatmaps) == 3
    exp = explaining.explanation(at.session_state["run"], other, explaining.heldout(demo_run, other)["end"], None)
    rows = exp.for_target(exp.recommendations["item_id"].iat[0])
    # each row spans the whole history; the events the model reads are the last ones, older ones are blank
    assert heatmaps[0]["z"][0][-len(rows) :] == pytest.approx(list(rows["short_attention"]))
    assert heatmaps[2]["z"][0][-len(rows) :] == pytest.approx(list(rows["attribution"]))
    assert all(v is None for v in heatmaps[0]["z"][0][: -len(rows)])

    at.button(key="explain_heldout").click().run()
    ok(at)
    held = explaining.heldout(demo_run, other)["item_id"]
    assert at.session_state["target"][-1] == held
    split = explaining.explanation(
        at.session_state["run"], other, end=explaining.heldout(demo_run, other)["end"], target=held
    ).targets.iloc[0]
    words = [m.value for m in at.markdown if "its score" in m.value and held in m.value]  # the held-out item's split
    titles = demo_run.run.items.drop_duplicates("item_id").set_index("item_id")["title"]
    name = f"**{titles[held]} ({held})**" if held in titles.index else f"**{held}**"
    assert words == [text.split_words(split, name)]
    assert f"{split['long_part']:+.2f}" in words[0] and f"{split['short_part']:+.2f}" in words[0]

    # what-if: untick the two most recent events (rows 0 and 1 of the editor, most recent first)
    end = explaining.heldout(demo_run, other)["end"]
    at.session_state[f"whatif_{other}_{end}"] = {
        "edited_rows": {0: {"keep": False}, 1: {"keep": False}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    ok(at)
    assert any(m.value.startswith("Without 2 events") for m in at.markdown)
    assert {"Before", "After"} <= {m.value.strip("*") for m in at.markdown}
    heatmap_chart = next(c for c in charts(at) if any(t.get("type") == "heatmap" for t in c["data"]))
    shapes = heatmap_chart["layout"].get("shapes", [])
    greyed = sorted(s["x0"] + 0.5 for s in shapes if s.get("fillcolor") == "#888")  # (not the window band)
    assert greyed == sorted(float(p) for p in rows.sort_values("position", ascending=False)["position"][:2])


def test_users_view_full_history_toggle(demo_run):
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo_run)
    at.switch_page("views/users.py").run()
    at.toggle(key="evaluation_view").set_value(False).run()
    ok(at)
    assert not any("held-out" in df.value.columns for df in at.dataframe)


def test_model_view_global_charts(demo_run):
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo_run)
    at.switch_page("views/model.py").run()
    ok(at)
    titles = [c["layout"].get("title", {}).get("text", "") for c in charts(at)]
    for part in ("How far back", "Share of long-term interest", "Which event types", "Item embedding map"):
        assert any(part in t for t in titles), (part, titles)
    # the per-type split of the attribution (hover) has the transitions part beside item, event type and time gap
    by_type = next(c for c in charts(at) if "Which event types" in c["layout"].get("title", {}).get("text", ""))
    hover = by_type["data"][-1]["hovertemplate"]
    assert "of which item" in hover and "time gap" in hover and "recent items' transitions" in hover


def test_export_view_and_its_files(demo_run):
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo_run)
    at.switch_page("views/export.py").run()
    ok(at)
    labels = {b.label for b in at.get("download_button")}
    assert labels == {"Download recommendations (CSV)", "Download the run (.zip)", "Download the HTML report"}
    preview = at.dataframe[0].value
    assert {"user_id", "rank", "item_id", "score"} <= set(preview.columns)

    csv = exporting.recommendations_csv(demo_run, 5, False).decode()
    table = pd.read_csv(__import__("io").StringIO(csv))
    assert len(table) == 5 * demo_run.run.seqs.n_users
    html = report.user_report(demo_run, demo_run.run.seqs.users[0])
    assert "long-term interest" in html and "<svg" in html and "<script" not in html
    assert len(exporting.run_zip(demo_run)) > 1000


def test_views_without_a_model_point_to_the_demo():
    for view in ("users", "model", "export"):
        at = app()
        at.switch_page(f"views/{view}.py").run()
        ok(at)
        assert any("no model yet" in i.value.lower() for i in at.info), view


def test_a_session_trained_run_downloads_as_zip_and_loads_back_on_the_train_view(tiny_run):
    import torch

    from ltsi.batches import history_batch

    data = exporting.run_zip(tiny_run)
    at = app()
    at.switch_page("views/train.py").run()
    at.file_uploader(key="upload_run").set_value(("my_run.zip", data, "application/zip")).run()
    at.button(key="load_uploaded_run").click().run()
    ok(at)
    loaded = at.session_state["run"]
    assert loaded.name == "Uploaded run my_run.zip"
    assert "Loaded **Uploaded run my\\_run.zip**" in at.success[0].value  # the user sees that it worked (name escaped)
    assert any("active model works without it" in i.value for i in at.info)  # no data: not a bare "no data yet"
    mine, back = tiny_run.run, loaded.run
    assert back.seqs.users == mine.seqs.users and list(back.table()["model"]) == list(mine.table()["model"])
    assert back.info["training"] == mine.info["training"]  # the training summary travels with the zip
    users = torch.arange(5).numpy()
    batch = history_batch(mine.seqs, users, mine.seqs.lengths[users], mine.model_config.max_len)
    with torch.no_grad():
        assert torch.equal(back.model.last_scores(batch), mine.model.last_scores(batch))


def test_a_bad_run_zip_is_refused_with_a_message():
    at = app()
    at.switch_page("views/train.py").run()
    at.file_uploader(key="upload_run").set_value(("bad.zip", b"not a zip", "application/zip")).run()
    at.button(key="load_uploaded_run").click().run()
    assert not at.exception and "not a zip" in at.error[0].value


def test_users_view_on_a_log_too_short_to_test():
    """Every user has two events: no held-out test events, no suggestions, still a heatmap."""
    rows = "".join(f"u{u},i{(u + k) % 5},{1_700_000_000 + 60 * k}\n" for u in range(30) for k in range(2))
    at = app()
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_events").set_value(("short.csv", ("user,item,ts\n" + rows).encode(), "text/csv"))
    at.run()
    ok(at)
    at.switch_page("views/train.py").run()
    at.select_slider(key="train_dim").set_value(16)
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="FormSubmitter:train_form-Train").click().run()
    job = at.session_state["job"]
    job.thread.join(timeout=60)
    at.run()
    assert job.state == "done", job.error
    at.switch_page("views/users.py").run()
    ok(at)
    assert "heatmap" in trace_types(at)
    assert any("fewer than 3 events" in c.value for c in at.caption)


@needs_demo_run
def test_the_shipped_demo_model_still_matches_the_code():
    """data/demo_run must load and reproduce its stored test metrics with today's ltsi/model.py; when the model
    changes, rebuild it: python -m dashboard.make_demo_run."""
    from ltsi.evaluate import compare
    from ltsi.runs import load_run

    run = load_run(state.DEMO_RUN)
    now = compare({"LTSI": run.model}, run.seqs, run.split.test, run.model_config.max_len).iloc[0]
    stored = next(row for row in run.metrics if row["model"] == "LTSI")
    assert now["NDCG@10"] == pytest.approx(stored["NDCG@10"], abs=1e-6), "rebuild data/demo_run"
    table = run.table()
    assert {"LTSI", "most popular", "last-item transitions"} <= set(table["model"])
    assert sum(f.stat().st_size for f in state.DEMO_RUN.iterdir()) < 5e6


def test_model_view_captions_describe_the_run_not_the_demo(small_run):
    at = ok(with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), small_run).switch_page("views/model.py").run())
    captions = " ".join(c.value for c in at.caption)
    assert "over all 20 users" in captions and "only sees the last 4 events" in captions
    assert "1,000" not in captions and "100 users" not in captions
    assert "single event type (interaction)" in captions
    assert "no item table was given" in captions and "colours are categories" not in captions
    assert any("only 8 items" in i.value and "HR@10 is 1" in i.value for i in at.info)


def test_train_view_on_a_catalogue_smaller_than_k_says_so(small_run):
    at = ok(with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), small_run).switch_page("views/train.py").run())
    infos = [i.value for i in at.info]
    assert any("only 8 items" in i for i in infos)
    assert not any("few epochs" in i or "below a simple baseline" in i for i in infos)
    facts = next(c.value for c in at.caption if c.value.startswith("embedding"))
    assert "short window 4 events" in facts and " 0 s" not in facts
    # the default short-term window (10) is longer than any history in this log (6 events): a note, not a block
    assert any("longest history in this log (6 events)" in c.value for c in at.caption)
    assert not at.button(key="FormSubmitter:train_form-Train").disabled


def test_export_caption_says_what_is_really_exported(small_run):
    _, run = small_run
    at = ok(with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), small_run).switch_page("views/export.py").run())
    at.toggle(key="hide_seen").set_value(False).run()  # this log's default hides seen items (no user repeats)
    ok(at)
    caption = next(c.value for c in at.caption if "Columns: user_id, rank" in c.value)
    assert caption.startswith("20 users × 8 rows (the catalogue has only 8 items, so every item is listed) = 160 rows")
    assert "first 3 users" in caption
    assert len(exporting.all_recommendations(run, 10, False)) == 160

    at.toggle(key="hide_seen").set_value(True).run()
    ok(at)
    caption = next(c.value for c in at.caption if "Columns: user_id, rank" in c.value)
    total, fewest, most = exporting.export_rows(run, 10, True)
    assert len(exporting.all_recommendations(run, 10, True)) == total < 160
    assert str(total) in caption and "10 users" not in caption


def test_users_view_wording_on_a_short_history(small_run):
    at = ok(with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), small_run).switch_page("views/users.py").run())
    user = at.session_state["user"]
    assert any(
        m.value == f"**{user}** has 6 events; 5 before the held-out one (the model reads all of them)."
        for m in at.markdown
    )
    at.toggle(key="evaluation_view").set_value(False).run()
    ok(at)
    assert any(m.value == f"**{user}** has 6 events; the model reads all of them." for m in at.markdown)
    assert not any("in all" in m.value for m in at.markdown)
    html = report.user_report(small_run[1], user)
    assert "History used: the 5 events before the user&#x27;s held-out test event" in html
    # a model with the counts part: the split names the transitions and popularity, the attribution caption the
    # transition term of each of the last 3 events
    from html import unescape

    assert "the recent items' transitions" in unescape(html) and "its popularity" in unescape(html)
    captions = [c.value for c in at.caption]
    assert any(
        "its score came from long-term interest" in m.value and "the recent items' transitions" in m.value
        for m in at.markdown
    )
    assert any(
        c.startswith("Attribution:") and "For each of the last 3 events it also counts, exactly, how often" in c
        for c in captions
    )


# ---------------------------------------------------------------------------------------------
# Safe by default: loopback only, trainings tied to their session, no markup from the data


def test_the_server_listens_on_loopback_only():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True and config["server"]["maxUploadSize"] == 1024


def test_a_training_whose_session_has_gone_stops_and_frees_its_slot(small_run, monkeypatch):
    import threading

    from ltsi.model import ModelConfig
    from ltsi.train_config import TrainConfig

    monkeypatch.setattr(training, "HEARTBEAT_TIMEOUT_S", 1.0)
    dataset = small_run[0]
    seqs, _ = dataset.sequences()
    slots, board = threading.BoundedSemaphore(1), training.SlotBoard()
    slots.acquire()  # another session trains ...
    board.run(-1)  # ... since now
    job = training.TrainingJob(
        dataset,
        ModelConfig(len(seqs.items), len(seqs.event_types), dim=8),
        TrainConfig(epochs=1000, patience=1000, threads=1),
        slots=slots,
        board=board,
    ).start()
    time.sleep(0.8)
    assert job.state == "waiting" and "1 training running (since" in job.message, job.message
    board.leave(-1)
    slots.release()
    deadline = time.time() + 60
    while job.state == "waiting" and time.time() < deadline:
        job.beat()  # the session is still there while it waits
        time.sleep(0.1)
    # no heartbeat any more (the tab was closed): the worker stops by itself and gives the slot back
    job.thread.join(timeout=60)
    assert not job.active and "session" in job.abandoned, (job.state, job.message)
    assert slots.acquire(blocking=False) and not board.running and not board.waiting


def endless_job(dataset, **kwargs) -> training.TrainingJob:
    """A training on `dataset` that would go on for a long time unless something stops it."""
    from ltsi.model import ModelConfig
    from ltsi.train_config import TrainConfig

    seqs, _ = dataset.sequences()
    return training.TrainingJob(
        dataset,
        ModelConfig(len(seqs.items), len(seqs.event_types), dim=8, max_len=10, short_window=4),
        TrainConfig(epochs=1000, patience=1000, threads=1),
        **kwargs,
    )


def test_a_training_whose_session_disconnected_stops_at_once(small_run, monkeypatch):
    assert training.HEARTBEAT_TIMEOUT_S >= 120  # a hidden tab's timers run about once a minute
    assert training.session_active(None) and training.session_active("no-runtime-here")  # unknown: active
    connected = {"s1"}
    monkeypatch.setattr(training, "session_active", lambda session_id: session_id in connected)
    monkeypatch.setattr(training, "SESSION_CHECK_S", 0.05)
    job = endless_job(small_run[0], session_id="s1").start()
    deadline = time.time() + 60
    while job.progress is None and job.active and time.time() < deadline:
        job.beat()
        time.sleep(0.05)
    assert job.state == "training" and not job.abandoned, (job.state, job.message, job.error)
    connected.clear()  # the tab closed: the runtime forgets the session; the heartbeat is still fresh
    job.beat()
    job.thread.join(timeout=30)
    assert not job.active and "session" in job.abandoned, (job.state, job.message)


def test_a_session_stops_training_at_its_cap_and_then_cannot_train(small_run, monkeypatch):
    monkeypatch.setattr(training, "MAX_SESSION_TRAINING_S", 3.0)
    job = endless_job(small_run[0], session_trained_s=2.0).start()  # 2 s trained before: 1 s left
    job.thread.join(timeout=60)
    assert not job.active and "this session reached its cap of 3 s" in job.abandoned, (job.state, job.abandoned)
    assert job.session_trained_s() >= 3.0 and job.running_since is None  # the total no longer grows

    # the Train page: the session's previous job carries the total; a new training is refused, plainly
    at = small_train_view(small_run, train_budget=0, train_epochs=1)
    at.session_state["job"] = job
    at.button(key="FormSubmitter:train_form-Train").click().run()
    assert not at.exception and at.session_state["job"] is job
    (refusal,) = [e.value for e in at.error]
    assert refusal.startswith("This session has trained for ") and refusal.endswith(
        ": that is its cap of 3 s of training (the machine is shared), so no new training can start in it. "
        "The models trained so far stay."
    ), refusal

    # below the cap, the new job starts with the session's total so far (and its session's id)
    monkeypatch.setattr(training, "MAX_SESSION_TRAINING_S", 3600.0)
    at.button(key="FormSubmitter:train_form-Train").click().run()
    ok(at)
    second = at.session_state["job"]
    assert second is not job and second.earlier_s == pytest.approx(job.session_trained_s())
    assert second.session_id is not None and not at.error
    second.thread.join(timeout=120)
    assert second.state == "done" and not second.abandoned, (second.state, second.error)
    assert second.session_trained_s() > job.session_trained_s()


PAYLOADS = {
    "image": "![u](http://127.0.0.1:8999/user.png)",
    "link": "[phish](https://evil.example)",
    "bold": "**bold_user**",
    "script": "<script>window.__x=1</script>",
    "code": "`tick`",
    "math": "$x^2$",
}
PAYLOAD_LOG = "user [x](https://evil.example),item,ts,**kind**\n" + "".join(
    f"{uid},i{(u + 3 * k) % 8}{'![i](http://127.0.0.1:8999/i.png)' if k == 0 else ''},{1_700_000_000 + 60 * k},"
    f"{'<b>buy</b>' if k % 2 else '[ev](https://evil.example)'}\n"
    for u, uid in enumerate([*PAYLOADS.values(), *(f"plain{n}" for n in range(6))])
    for k in range(6)
)


def no_raw_markup(bodies: list[str]) -> None:
    """No unescaped link / image / bold / HTML syntax from the data in these Markdown bodies."""
    import re

    unescaped = [r"(?<!\\)\]\(", r"(?<!\\)\*\*bold", r"(?<!\\)<(script|b>)", r"(?<!\\)`tick", r"(?<!\\)\$x"]
    for body in bodies:
        for pattern in unescaped:
            assert not re.search(pattern, body), (pattern, body)
        assert "://" not in body and "www." not in body, body  # nothing a URL autolink would match


def markdown_bodies(at: AppTest) -> list[str]:
    kinds = ("markdown", "caption", "info", "warning", "success", "error", "subheader", "title")
    bodies = [e.value for kind in kinds for e in at.get(kind)]
    return bodies + [b.label for b in at.button] + [e.label for e in at.expander] + [b.help or "" for b in at.button]


def test_md_escape_makes_markup_literal():
    assert text.md_escape("![x](http://a/b.png)") == "\\!\\[x\\](http:\u2060//a/b.png)"
    assert text.md_escape("**b** <i> `c` $m$ ~s~") == "\\*\\*b\\*\\* \\<i\\> \\`c\\` \\$m\\$ \\~s\\~"
    assert text.md_escape("# h\n- l") == "\\# h - l" and text.md_escape("1. x") == "1\\. x"
    assert "www\u2060." in text.md_escape("www.evil.example") and text.md_escape("shop.csv") == "shop.csv"


def test_data_from_the_log_is_shown_as_text_on_the_data_view():
    at = app()
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    name = "<img src=x>**bold**[f](https://evil.example).csv"
    at.file_uploader(key="upload_events").set_value((name, PAYLOAD_LOG.encode(), "text/csv")).run()
    ok(at)
    bodies = markdown_bodies(at) + [c.value for c in at.sidebar.caption]
    no_raw_markup(bodies)
    assert any("\\*\\*bold\\*\\*\\[f\\](https:" in b for b in bodies)  # the file name, escaped
    assert any("user \\[x\\](https:" in b for b in bodies)  # the column name in the mapping lines


@pytest.fixture(scope="module")
def payload_run():
    dataset = state.read_dataset(PAYLOAD_LOG.encode(), "payload.csv", "upload")
    return dataset, trained_through_the_job(dataset, short_window=4)


@pytest.mark.parametrize("uid", list(PAYLOADS.values()))
def test_data_from_the_log_is_shown_as_text_on_the_users_view(payload_run, uid):
    at = with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), payload_run)
    at.session_state["user"] = at.session_state["user_pick"] = uid
    at.switch_page("views/users.py").run()
    ok(at)
    bodies = markdown_bodies(at)
    no_raw_markup(bodies)
    assert any(b.startswith(f"**{text.md_escape(uid)}** has ") for b in bodies), bodies


def test_data_from_the_log_is_shown_as_text_on_the_train_view(payload_run):
    at = with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), payload_run)
    at.switch_page("views/train.py").run()
    ok(at)
    no_raw_markup(markdown_bodies(at) + [c.value for c in at.sidebar.caption])
