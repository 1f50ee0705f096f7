"""The dashboard's pure pieces without a browser: Plotly figure builders and export helpers."""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import exporting, figures


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, 40, n)],
            "item_id": [f"i{int(i)}" for i in rng.zipf(1.6, n) % 97],
            "timestamp": pd.to_datetime(1_735_689_600 + np.sort(rng.integers(0, 60 * 86400, n)), unit="s", utc=True),
            "event": pd.Categorical(rng.choice(["view", "cart", "purchase"], n, p=[0.8, 0.15, 0.05])),
            "value": rng.random(n),
        }
    )


@pytest.fixture(scope="module")
def timeline() -> pd.DataFrame:
    """What ltsi.explain returns for one user and target: one row per event, oldest first."""
    n = 12
    rng = np.random.default_rng(1)
    short = np.zeros(n)
    short[-5:] = rng.dirichlet(np.ones(5))
    return pd.DataFrame(
        {
            "target_item": "i3",
            "position": np.arange(n),
            "recency": np.arange(n)[::-1],
            "timestamp": pd.date_range("2025-03-01 08:00", periods=n, freq="37min", tz="UTC"),
            "item_id": [f"i{k}" for k in range(n)],
            "title": [f"Red sneaker {k}" for k in range(n)],
            "category": ["Shoes"] * n,
            "event": ["view"] * (n - 2) + ["cart", "purchase"],
            "short_attention": short,
            "long_attention": rng.dirichlet(np.ones(n)),
            "gate": 0.62,
            "attribution": rng.normal(0, 0.4, n),
        }
    )


SIGNALS = [
    ("Short-term attention", "short_attention", "weight"),
    ("Long-term weight", "long_attention", "weight"),
    ("Attribution", "attribution", "attribution"),
]


# ---------------------------------------------------------------------------------------------
# Data view


def test_events_over_time_stacks_one_trace_per_event_type(events):
    fig = figures.events_over_time(events)
    assert {t.name for t in fig.data} == {"view", "cart", "purchase"}
    assert all(isinstance(t, go.Bar) for t in fig.data)
    assert fig.layout.barmode == "stack"
    assert sum(int(np.sum(t.y)) for t in fig.data) == len(events)
    assert "day" in fig.layout.title.text  # 60 days -> daily bars


def test_events_per_user_counts_every_user(events):
    fig = figures.events_per_user(events)
    assert len(fig.data[0].x) == events["user_id"].nunique()
    assert "median" in fig.layout.annotations[0].text


def test_events_per_user_bars_are_whole_numbers_of_events():
    same = pd.DataFrame({"user_id": np.repeat(["a", "b", "c"], 7), "item_id": "x"})  # everyone has 7 events
    fig = figures.events_per_user(same)
    assert fig.data[0].xbins.size == 1 and fig.data[0].xbins.start == 0.5  # bars centred on 1, 2, ... 7
    assert fig.layout.xaxis.dtick == 1  # ticks at whole numbers, not 6.8
    assert fig.layout.annotations[0].xanchor == "right"  # the median sits at the right edge: its label goes left
    many = pd.DataFrame({"user_id": np.repeat(np.arange(500), np.arange(500) + 1), "item_id": "x"})
    fig = figures.events_per_user(many)
    assert fig.data[0].xbins.size == math.ceil(int(np.percentile(np.arange(1, 501), 99)) / 60)
    assert fig.layout.xaxis.dtick is None
    skewed = pd.DataFrame({"user_id": np.repeat(np.arange(21), [2] * 20 + [30]), "item_id": "x"})  # median 2
    assert figures.events_per_user(skewed).layout.annotations[0].xanchor == "left"  # its label right of the line


def test_item_popularity_is_a_log_log_long_tail(events):
    fig = figures.item_popularity(events)
    counts = events["item_id"].value_counts()
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert fig.data[0].y[0] == counts.iloc[0] and fig.data[0].x[0] == 1
    assert list(fig.data[0].y) == sorted(fig.data[0].y, reverse=True)
    assert "top 20%" in fig.layout.title.text


def test_event_types_bars_match_the_counts(events):
    fig = figures.event_types(events)
    counts = events["event"].astype(str).value_counts()
    assert dict(zip(fig.data[0].x, fig.data[0].y)) == counts.to_dict()
    assert fig.data[0].text[0].endswith("%")


def test_dropped_rows_lists_each_reason_and_says_when_none():
    fig = figures.dropped_rows({"user is missing": 3, "exact duplicate of an earlier row": 10, "zero": 0}, 100)
    assert set(fig.data[0].y) == {"user is missing", "exact duplicate of an earlier row"}
    assert "10 (10.0%)" in fig.data[0].text
    assert "No rows were dropped" in figures.dropped_rows({}, 10).layout.annotations[0].text


def test_small_counts_are_drawn_in_proportion():
    fig = figures.dropped_rows({"user is missing": 1, "time is unreadable": 3}, 40)
    assert tuple(fig.layout.xaxis.range) == (0, 40)  # the axis spans every row read: drops in proportion
    assert list(fig.data[0].customdata) == ["1 row", "3 rows"]  # hover: singular and plural
    assert figures.dropped_rows({"time is unreadable": 5000}, 9000).layout.xaxis.dtick is None

    tiny = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "c"],
            "item_id": ["x", "y", "x", "x"],
            "timestamp": pd.to_datetime([0, 60, 120, 180], unit="s"),
            "event": ["view"] * 4,
        }
    )
    for builder, axis in (
        (figures.event_types, "yaxis"),
        (figures.events_over_time, "yaxis"),
        (figures.events_per_user, "yaxis"),
        (figures.item_popularity, "yaxis"),
    ):
        assert getattr(builder(tiny).layout, axis).dtick == 1, builder.__name__
    assert figures.gate_distribution([0.2, 0.21, 0.8]).layout.yaxis.dtick == 1
    assert figures.gate_distribution(np.full(50, 0.5)).layout.yaxis.dtick is None


def test_item_popularity_on_tiny_data_is_linear_and_says_so_plainly():
    tiny = pd.DataFrame({"user_id": list("aabbc"), "item_id": ["x", "y", "x", "z", "x"]})
    fig = figures.item_popularity(tiny)
    assert fig.layout.xaxis.type == "linear" and fig.layout.yaxis.type == "linear"  # no log ticks on 3 points
    assert fig.layout.xaxis.dtick == 1 and fig.layout.yaxis.dtick == 1
    assert fig.layout.title.text == "Item popularity: the most popular of 3 items gets 60% of the events"
    one = figures.item_popularity(tiny.assign(item_id="x"))
    assert one.layout.title.text == "Item popularity: a single item gets every event"


def test_events_per_user_title_counts_one_user_in_the_singular():
    fig = figures.events_per_user(pd.DataFrame({"user_id": ["a"] * 4, "item_id": "x"}))
    assert fig.layout.title.text.startswith("Events per user (1 user;")


@pytest.mark.parametrize(
    "builder", [figures.events_over_time, figures.events_per_user, figures.item_popularity, figures.event_types]
)
def test_data_builders_accept_an_empty_log(builder, events):
    fig = builder(events.iloc[:0])
    assert len(fig.data) == 0 and fig.layout.annotations[0].text == "No events"


# ---------------------------------------------------------------------------------------------
# Train view


def test_training_curves_plot_loss_and_validation_metrics():
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": [7.1, 6.5, 6.2],
            "HR@10": [0.1, 0.2, 0.25],
            "NDCG@10": [0.05, 0.1, 0.12],
            "seconds": [3.0, 3.1, 2.9],
        }
    )
    fig = figures.training_curves(history, best_epoch=3)
    names = [t.name for t in fig.data]
    assert names == ["loss", "HR@10", "NDCG@10"]  # "seconds" is not a curve
    assert list(fig.data[0].y) == [7.1, 6.5, 6.2]
    assert fig.data[0].xaxis == "x" and fig.data[1].xaxis == "x2"  # loss left, metrics right
    assert figures.training_curves(pd.DataFrame()).layout.annotations[0].text.startswith("The curves appear")
    live = figures.training_curves(pd.DataFrame(), batch_loss=pd.DataFrame({"x": [0.1, 0.2], "loss": [7.6, 7.5]}))
    assert [t.name for t in live.data] == ["loss (running)"] and list(live.data[0].y) == [7.6, 7.5]


def test_metrics_comparison_one_trace_per_metric():
    table = pd.DataFrame(
        {
            "model": ["LTSI", "most popular"],
            "HR@10": [0.3, 0.05],
            "NDCG@10": [0.2, 0.02],
            "MRR@10": [0.15, 0.01],
            "HR@20": [0.4, 0.08],
        }
    )
    fig = figures.metrics_comparison(table)
    assert [t.name for t in fig.data] == ["HR@10", "NDCG@10", "MRR@10"]
    assert list(fig.data[1].x) == ["LTSI", "most popular"] and list(fig.data[1].y) == [0.2, 0.02]


# ---------------------------------------------------------------------------------------------
# Users view


def test_heatmap_z_values_are_the_dataframe_numbers(timeline):
    fig = figures.user_heatmap(timeline, SIGNALS)
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert [h.y[0] for h in heatmaps] == [label for label, _, _ in SIGNALS]
    for heatmap, (_, column, _) in zip(heatmaps, SIGNALS):
        assert np.asarray(heatmap.z).shape == (1, len(timeline))  # one row per signal, one column per event
        np.testing.assert_array_equal(np.asarray(heatmap.z)[0], timeline[column].to_numpy())
        np.testing.assert_array_equal(heatmap.x, timeline["position"].to_numpy())


def test_heatmap_colour_scales(timeline):
    even = timeline.assign(long_attention=1 / len(timeline))
    assert next(
        t for t in figures.user_heatmap(even, SIGNALS).data if t.name == "Long-term weight"
    ).zmax == pytest.approx(2 / len(timeline))
    short, long_, attribution = [t for t in fig_traces(timeline) if isinstance(t, go.Heatmap)]
    assert short.zmin == 0 and short.zmax == pytest.approx(max(timeline["short_attention"].max(), 2 / 5))
    # evenly spread weights are not drawn as "all strong": the scale tops out at twice the uniform weight or more
    assert long_.zmax >= 2 / len(timeline)
    bound = timeline["attribution"].abs().max()
    assert attribution.zmid == 0
    assert attribution.zmin == pytest.approx(-bound) and attribution.zmax == pytest.approx(bound)


def fig_traces(timeline):
    return figures.user_heatmap(timeline, SIGNALS).data


def test_heatmap_hover_names_item_title_time_and_value(timeline):
    heatmap = next(t for t in fig_traces(timeline) if isinstance(t, go.Heatmap))
    text = heatmap.text[0][10]
    assert "Red sneaker 10" in text and "(i10)" in text and "cart" in text and "2025-03-01 14:10" in text
    assert f"{timeline['short_attention'].iat[10]:.3f}" in text and "Shoes" in text
    assert heatmap.hovertemplate == "%{text}<extra></extra>"


def test_heatmap_has_clickable_markers_over_every_cell(timeline):
    markers = [t for t in fig_traces(timeline) if isinstance(t, go.Scatter)]
    assert len(markers) == len(SIGNALS)
    for m in markers:
        assert m.hoverinfo == "none"  # "skip" would make them unclickable
        assert m.marker.opacity == 0
        np.testing.assert_array_equal(m.customdata, timeline["position"].to_numpy())


def test_heatmap_marks_removed_events_and_labels_short_timelines(timeline):
    fig = figures.user_heatmap(timeline, SIGNALS, removed=[3, 7])
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(2.5, 3.5), (6.5, 7.5)]
    assert fig.layout.xaxis3.ticktext[0] == "Red sneaker 0"


def test_heatmap_without_titles_and_with_a_missing_signal(timeline):
    bare = timeline.drop(columns=["title", "category"])
    fig = figures.user_heatmap(bare, SIGNALS[:2] + [("Occlusion", "occlusion_drop", "attribution")])
    assert len([t for t in fig.data if isinstance(t, go.Heatmap)]) == 2
    assert "i4" in fig.data[0].text[0][4]
    assert figures.user_heatmap(timeline.iloc[:0], SIGNALS).layout.annotations[0].text.startswith("This user")


def test_gate_bar_splits_long_and_short_term():
    fig = figures.gate_bar(0.62)
    assert [t.x[0] for t in fig.data] == [pytest.approx(0.62), pytest.approx(0.38)]
    assert fig.data[0].text[0] == "long-term 62%"
    html = figures.gate_bar_html(0.62)
    assert "width:62.0%" in html and "width:38.0%" in html and "long-term 62%" in html
    assert "width:100.0%" in figures.gate_bar_html(1.7)  # clipped to [0, 1]


# ---------------------------------------------------------------------------------------------
# Model view


def test_global_view_builders():
    recency = pd.DataFrame(
        {"recency": [0, 1, 2], "short_attention": [0.5, 0.3, 0.2], "long_attention": [0.2, 0.2, 0.6]}
    )
    fig = figures.attention_by_recency(recency)
    assert [t.name for t in fig.data] == ["short-term attention", "long-term weight"]
    assert list(fig.data[0].y) == [0.5, 0.3, 0.2]
    assert fig.layout.xaxis.dtick == 1  # three bars: whole numbers of events back

    fig = figures.gate_distribution(np.array([0.1, 0.5, 0.9, np.nan]))
    assert len(fig.data[0].x) == 3 and "median 50%" in fig.layout.annotations[0].text

    types = pd.DataFrame({"event": ["view", "purchase"], "event_share": [0.9, 0.1], "attribution_share": [0.6, 0.4]})
    fig = figures.attribution_by_event_type(types)
    assert [t.name for t in fig.data] == ["share of events", "share of attribution"]
    assert list(fig.data[1].x) == ["view", "purchase"] and list(fig.data[1].y) == [0.6, 0.4]
    # one colour per series, so each legend swatch stands for all of its bars
    assert all(isinstance(t.marker.color, str) for t in fig.data)
    assert fig.data[0].marker.color != fig.data[1].marker.color
    assert fig.data[1].customdata is None and "of which" not in fig.data[1].hovertemplate

    # with the split of each type's attribution (ltsi.explain.event_type_attribution): in the hover, transitions too
    parts = types.assign(item_part=[0.5, 0.4], event_part=[0.2, 0.3], gap_part=[0.1, 0.1], transitions_part=[0.2, 0.2])
    fig = figures.attribution_by_event_type(parts)
    bars = fig.data[1]
    assert bars.customdata.tolist() == [[0.5, 0.2, 0.1, 0.2], [0.4, 0.3, 0.1, 0.2]]
    assert bars.hovertemplate == (
        "%{x}: %{y:.1%} of the attribution<br>of which item %{customdata[0]:.0%}, event "
        "type %{customdata[1]:.0%}, time gap %{customdata[2]:.0%}, recent items' "
        "transitions %{customdata[3]:.0%}<extra></extra>"
    )

    points = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "title": ["A", None, "C"],
            "category": ["x", "x", "y"],
            "x": [0.0, 1.0, 2.0],
            "y": [1.0, 0.0, 1.0],
            "popularity": [5, 1, 9],
        }
    )
    fig = figures.item_map(points)
    assert [t.name for t in fig.data] == ["x", "y"] and list(fig.data[0].text) == ["A", "b"]
    fig = figures.item_map(points.assign(category=["x", "", None]))  # item_info leaves "" for a missing category
    assert [t.name for t in fig.data] == ["(no category)", "x"]


# ---------------------------------------------------------------------------------------------
# Wording helpers


def test_plural_and_seconds_read_naturally():
    from dashboard import text

    assert [text.plural(n, "row") for n in (0, 1, 2, 1234)] == ["0 rows", "1 row", "2 rows", "1,234 rows"]
    assert text.plural(1, "category", "categories") == "1 category" and text.plural(np.int64(3), "user") == "3 users"
    assert [text.fmt_seconds(s) for s in (0.2, 2.44, 6.0, 45.2, 300)] == [
        "under 1 s",
        "2.4 s",
        "6 s",
        "45 s",
        "5.0 min",
    ]
    assert text.fmt_seconds(float("nan")) == "–"


def test_small_catalogue_and_short_window_notes():
    from dashboard import text

    assert text.small_catalogue_note(11) is None
    note = text.small_catalogue_note(7)
    assert "only 7 items" in note and "HR@10 is 1" in note
    assert text.short_window_note(10, 50, 200) is None
    assert "window of 20" in text.short_window_note(30, 20, 200)
    assert "longest history in this log (6 events)" in text.short_window_note(10, 50, 6)


def test_split_words_without_the_counts_part():
    from dashboard import text

    same = pd.Series({"long_part": 0.6, "short_part": 0.2, "long_share": 0.75})  # a run from before the counts part
    expected = (
        "For X, 75% of what raised its score came from long-term interest and 25% from short-term interest "
        "(long-term +0.60, short-term +0.20, compared with knowing nothing about the user)."
    )
    assert text.split_words(same, "X") == expected
    # the "no transitions" ablation: the columns are there, and zero
    ablation = pd.Series({**same, "transitions_part": 0.0, "popularity_part": 0.0, "empty_score": -0.1})
    assert text.split_words(ablation, "X") == expected
    assert text.split_words(pd.Series({"long_part": -0.3, "short_part": 0.5, "long_share": 0.375}), "X") == (
        "For X, short-term interest raised its score and long-term interest lowered it (long-term -0.30, "
        "short-term +0.50, compared with knowing nothing about the user)."
    )
    assert text.split_words(pd.Series({"long_part": -0.3, "short_part": -0.1, "long_share": 0.75}), "X") == (
        "For X, 75% of what lowered its score came from long-term interest and 25% from short-term interest "
        "(long-term -0.30, short-term -0.10, compared with knowing nothing about the user)."
    )
    nothing = pd.Series({"long_part": 0.0, "short_part": 0.0, "long_share": np.nan, "transitions_part": np.nan})
    assert text.split_words(nothing, "X") == "Neither kind of interest moved the score of X."


def test_split_words_with_the_counts_part():
    from dashboard import text

    row = pd.Series(
        {
            "long_part": 0.6,
            "short_part": -0.2,
            "long_share": 0.75,
            "transitions_part": 1.25,
            "popularity_part": 0.4,
            "empty_score": 0.1,
        }
    )
    assert text.split_words(row, "**Shoes (i1)**") == (
        "For **Shoes (i1)**, its score came from long-term interest +0.60, short-term interest -0.20, the recent "
        "items' transitions +1.25 (how often it came right after the last items in training) and its "
        "popularity +0.40 (how often it occurs in training), each compared with knowing nothing about the user. "
        "The recent items' transitions moved it most (up)."
    )
    row = pd.Series(
        {"long_part": 0.1, "short_part": -0.9, "long_share": 0.1, "transitions_part": 0.0, "popularity_part": 0.3}
    )
    assert text.split_words(row, "X") == (
        "For X, its score came from long-term interest +0.10, short-term interest -0.90, the recent items' "
        "transitions +0.00 (how often it came right after the last items in training) and its "
        "popularity +0.30 (how often it occurs in training), each compared with knowing nothing about the user. "
        "Short-term interest moved it most (down)."
    )


def test_stop_note_follows_the_stop_reason_not_the_message():
    from dashboard import text

    advice = "The validation score was still improving when the time budget ended training: train longer. About 1 min."
    kind, words = text.stop_note(
        {"stop_reason": "budget", "still_improving": True, "advice": advice, "stopped": "anything"}, 3
    )
    assert kind == "warning" and words == (
        f"Not fully trained: stopped at the time budget after 3 epochs, and this model may trail the baselines. "
        f"{advice} Set a larger time budget (0 = until early stopping), or load the pre-trained demo model."
    )
    kind, words = text.stop_note({"stop_reason": "epochs", "still_improving": True, "advice": ""}, 1)
    assert kind == "warning" and "the last planned epoch after 1 epoch" in words and "Raise Max. epochs" in words
    assert text.stop_note({"stop_reason": "budget", "still_improving": False, "best_epoch": 2}, 4) == (
        "info",
        (
            "Training stopped at the time budget after 4 epochs; the validation score had already stopped "
            "improving (best epoch 2), so a longer budget would likely change little."
        ),
    )
    assert text.stop_note({"stop_reason": "converged", "best_epoch": 5}, 15)[0] == "caption"
    assert text.stop_note({"stop_reason": "requested"}, 1)[1].startswith("Training was stopped by hand after 1 epoch,")
    assert text.stop_note({"stop_reason": "diverged", "stopped": "The training loss became nan"}, 2) == (
        "warning",
        "The training loss became nan",
    )
    # a run saved before the stop reason: no note, even if its message reads like one
    assert text.stop_note({"stopped": "time budget of 6 s reached"}, 2) is None

    # the below-a-baseline note: none when the stop note already says "train longer"
    assert text.below_baseline_why({"stop_reason": "budget", "still_improving": True}) is None
    assert text.below_baseline_why({"stop_reason": "converged"}).startswith(
        "Training ran until the validation score stopped improving, so more epochs would not help"
    )
    assert text.below_baseline_why({"stop_reason": "budget", "still_improving": False}).startswith(
        "The validation score had stopped improving before the time budget ran out"
    )
    assert text.below_baseline_why({"stop_reason": "requested"}).startswith("Training was stopped by hand")
    assert text.below_baseline_why({"stopped": "early stop: ..."}).startswith("It may not have learned enough yet")


# ---------------------------------------------------------------------------------------------
# Export helpers


def test_csv_neutralises_formula_cells_but_not_numbers():
    frame = pd.DataFrame(
        {
            "user_id": ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "plain", "\tx"],
            "score": [-1.5, 2.0, -3.0, 0.0, 1.0, 2.0],
        }
    )
    text = exporting.safe_csv(frame).decode()
    back = pd.read_csv(io.StringIO(text), dtype={"user_id": str})
    assert list(back["user_id"]) == ["'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1)", "plain", "'\tx"]
    assert list(back["score"]) == [-1.5, 2.0, -3.0, 0.0, 1.0, 2.0]  # numbers stay numbers


def test_run_zip_round_trip_and_unsafe_archives(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "model.safetensors").write_bytes(b"\0" * 10)
    data = exporting.zip_folder(run)
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == ["config.json", "model.safetensors"]
    assert exporting.unzip_to(data, tmp_path / "out") == tmp_path / "out"

    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../etc/evil", "x")
    with pytest.raises(ValueError, match="unsafe path"):
        exporting.unzip_to(evil.getvalue(), tmp_path / "evil")
    with pytest.raises(ValueError, match="not a zip"):
        exporting.unzip_to(b"hello", tmp_path / "bad")
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.txt", "x")
    with pytest.raises(ValueError, match="config.json"):
        exporting.unzip_to(empty.getvalue(), tmp_path / "empty")


def test_labels_from_the_data_are_not_html_in_plotly():
    from dashboard import figures as f

    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1"],
            "item_id": ["i1", "i2"],
            "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02"]),
            "event": ['<a href="https://evil.example">x</a>', "<b>buy</b>"],
        }
    )
    bars = f.event_types(events)
    assert all("<" not in str(x) for x in bars.data[0].x) and "&lt;b&gt;buy&lt;/b&gt;" in list(bars.data[0].x)
    names = [t.name for t in f.events_over_time(events).data]
    assert "&lt;b&gt;buy&lt;/b&gt;" in names and all(
        "%{fullData.name}" in t.hovertemplate for t in f.events_over_time(events).data
    )
    assert f.plain("a & <b>") == "a &amp; &lt;b&gt;"
