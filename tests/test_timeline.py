"""The whole timeline: `Explanation.timeline` / `timeline_for` and the Users heatmap drawing every event."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from dashboard import figures
from dashboard.figures.timeline import MAX_TICK_LABELS
from ltsi import explain as ex
from ltsi.model import LTSI, ModelConfig
from ltsi.sequences import build_sequences

N_LONG = 500  # events of the long user
MAX_LEN = 20  # events the model reads
SIGNALS = figures.heatmap_signals("Item 3")


def long_log() -> tuple[pd.DataFrame, pd.DataFrame]:
    """User 'long' with 500 events (every 10th a cart, every 25th a purchase) and two short users; items."""
    rng = np.random.default_rng(3)
    kinds = np.where(np.arange(N_LONG) % 25 == 24, "purchase", np.where(np.arange(N_LONG) % 10 == 9, "cart", "view"))
    long_user = pd.DataFrame(
        {
            "user_id": "long",
            "item_id": [f"I{k}" for k in rng.integers(0, 30, N_LONG)],
            "timestamp": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.arange(N_LONG) * 2, unit="h"),
            "event": kinds,
        }
    )
    short_users = pd.DataFrame(
        {
            "user_id": ["a"] * 6 + ["b"] * 6,
            "item_id": [f"I{k}" for k in range(12)],
            "timestamp": pd.Timestamp("2025-02-01", tz="UTC") + pd.to_timedelta(np.arange(12), unit="h"),
            "event": ["view"] * 12,
        }
    )
    items = pd.DataFrame(
        {"item_id": [f"I{k}" for k in range(30)], "title": [f"Item {k}" for k in range(30)], "category": "Shoes"}
    )
    return pd.concat([long_user, short_users], ignore_index=True), items


@pytest.fixture(scope="module")
def explained():
    """(sequences, items, model, explanation of 'long' for item I3) with an untrained model reading 20 events."""
    events, items = long_log()
    seqs = build_sequences(events)
    torch.manual_seed(0)
    model = LTSI(ModelConfig(len(seqs.items), len(seqs.event_types), dim=8, max_len=MAX_LEN)).eval()
    exp = ex.explain(model, seqs, "long", targets=["I3", "I5"], items=items, n_steps=8, max_relative_delta=None)
    return seqs, items, model, exp


# ---------------------------------------------------------------------------------------------
# ltsi.explain


def test_timeline_is_the_whole_history_and_marks_what_the_model_reads(explained):
    _, _, _, exp = explained
    timeline = exp.timeline
    assert len(timeline) == N_LONG and list(timeline["position"]) == list(range(N_LONG))
    assert list(timeline["in_window"]) == [False] * (N_LONG - MAX_LEN) + [True] * MAX_LEN
    assert timeline["title"].iat[0] == f"Item {timeline['item_id'].iat[0][1:]}"
    assert timeline["recency"].iat[-1] == 0 and timeline["recency"].iat[0] == N_LONG - 1
    assert list(timeline["event"][24::25]) == ["purchase"] * (N_LONG // 25)


def test_for_target_is_unchanged_and_timeline_for_adds_it_with_nan_before_the_window(explained):
    seqs, items, model, exp = explained
    rows = exp.for_target("I3")
    assert list(rows["position"]) == list(range(N_LONG - MAX_LEN, N_LONG))  # only the window, as before
    assert (rows["target_item"] == "I3").all() and len(exp.events) == 2 * MAX_LEN
    np.testing.assert_allclose(rows["short_attention"], ex.attention(model, seqs, "long")["short_attention"])

    whole = exp.timeline_for("I3")
    assert len(whole) == N_LONG and (whole["target_item"] == "I3").all()
    window, older = whole[whole["in_window"]], whole[~whole["in_window"]]
    for column in ("short_attention", "long_attention", "attribution", "attribution_gap", "occlusion_drop"):
        np.testing.assert_array_equal(window[column].to_numpy(), rows[column].to_numpy())
        assert older[column].isna().all()  # never read by the model: no value, not 0
    assert not np.allclose(exp.timeline_for("I5")["attribution"].dropna(), window["attribution"])


def test_timeline_stops_at_the_explained_point(explained):
    seqs, items, model, _ = explained
    exp = ex.explain(model, seqs, "long", targets="I3", end=300, items=items, n_steps=4, with_occlusion=False)
    assert len(exp.timeline) == 300 and exp.timeline["position"].iat[-1] == 299
    assert exp.timeline.loc[exp.timeline["in_window"], "position"].tolist() == list(range(280, 300))


def test_timeline_in_json_and_text(explained):
    _, _, _, exp = explained
    data = json.loads(json.dumps(exp.to_dict()))
    assert len(data["timeline"]) == N_LONG and data["timeline"][0]["in_window"] is False
    text = exp.to_text(max_events=3)
    first_read = exp.timeline.loc[exp.timeline["in_window"], "timestamp"].iat[0].strftime("%Y-%m-%d")
    assert f"History from 2025-01-01 to 2025-02-11; the events the model reads start on {first_read}" in text


# ---------------------------------------------------------------------------------------------
# the figure


def heatmaps(fig: go.Figure) -> list:
    return [t for t in fig.data if isinstance(t, go.Heatmap)]


def bottom_axis(fig: go.Figure):
    return fig.layout[f"xaxis{len(heatmaps(fig)) + 1}"]


def test_heatmap_draws_all_500_events_with_blank_cells_outside_the_window(explained):
    _, _, _, exp = explained
    whole = exp.timeline_for("I3")
    fig = figures.user_heatmap(exp.for_target("I3"), SIGNALS, timeline=whole)
    rows = heatmaps(fig)
    assert len(rows) == 3
    for row, (_, column, _) in zip(rows, SIGNALS):
        assert len(row.x) == N_LONG == len(set(row.x))  # one distinct column per event
        z = np.asarray(row.z, dtype=float)[0]
        assert np.isnan(z[: N_LONG - MAX_LEN]).all()
        np.testing.assert_array_equal(z[-MAX_LEN:], whole[column].to_numpy()[-MAX_LEN:])
    sent = [t for t in json.loads(fig.to_json())["data"] if t["type"] == "heatmap"]  # what the browser gets
    assert all(t["z"][0][0] is None for t in sent)  # blank (null), not 0
    assert "the model does not read this event" in rows[2].text[0][0]
    markers = [t for t in fig.data if isinstance(t, go.Scatter) and t.name.endswith("(click)")]
    assert all(list(m.customdata) == list(range(N_LONG)) for m in markers)


def test_the_window_band_spans_exactly_the_events_the_model_reads(explained):
    _, _, _, exp = explained
    fig = figures.user_heatmap(exp.for_target("I3"), SIGNALS, timeline=exp.timeline_for("I3"), removed=[490])
    band = next(s for s in fig.layout.shapes if s.name)
    assert band.name == f"what the model reads: last {MAX_LEN} events"
    assert (band.x0, band.x1) == (N_LONG - MAX_LEN - 0.5, N_LONG - 0.5)
    assert any(a.text == band.name for a in fig.layout.annotations)
    removed = [s for s in fig.layout.shapes if not s.name]
    assert [(s.x0, s.x1) for s in removed] == [(489.5, 490.5)]


def test_one_colour_legend_per_signal_row(explained):
    _, _, _, exp = explained
    rows = heatmaps(figures.user_heatmap(None, SIGNALS, timeline=exp.timeline_for("I3")))
    assert all(r.showscale for r in rows)
    assert len({round(r.colorbar.y, 3) for r in rows}) == 3  # each legend beside its own row
    assert [r.colorbar.tickformat for r in rows[:2]] == [".0%", ".0%"]  # weights: shares
    attribution = rows[2]
    assert list(attribution.colorbar.tickvals) == pytest.approx([attribution.zmin, 0.0, attribution.zmax])
    assert "lowers" in attribution.colorbar.ticktext[0] and "raises" in attribution.colorbar.ticktext[2]


def test_item_labels_and_a_first_view_small_enough_to_read_them(explained):
    _, _, _, exp = explained
    whole = exp.timeline_for("I3")
    fig = figures.user_heatmap(None, SIGNALS, timeline=whole)
    axis = bottom_axis(fig)
    assert axis.type == "category" and axis.rangeslider.visible
    assert tuple(axis.range) == (N_LONG - 60 - 0.5, N_LONG - 0.5)  # the last 60 events, the window included
    assert heatmaps(fig)[0].x[-1] == f"#499 · {whole['title'].iat[-1]}"
    assert list(axis.categoryarray) == list(heatmaps(fig)[0].x)  # oldest first, not in event-type lane order
    assert (
        axis.nticks == MAX_TICK_LABELS < 60
    )  # the first view's 60 names are thinned out, not drawn on top of each other
    # a window longer than 60 events is shown whole
    wide = whole.assign(in_window=whole["position"] >= 400)
    assert tuple(bottom_axis(figures.user_heatmap(None, SIGNALS, timeline=wide)).range) == (399.5, 499.5)


def test_items_sharing_a_title_are_told_apart_by_their_ids(explained):
    _, _, _, exp = explained
    whole = exp.timeline_for("I3").head(4).copy()
    whole["item_id"] = ["218", "673", "218", "1"]
    whole["title"] = ["Cape Fear", "Cape Fear", "Cape Fear", ""]  # two films, one title; a missing title
    labels = list(heatmaps(figures.user_heatmap(None, SIGNALS, timeline=whole))[0].x)
    assert labels == ["#0 · Cape Fear (218)", "#1 · Cape Fear (673)", "#2 · Cape Fear (218)", "#3 · 1"]


def test_event_types_get_distinct_markers(explained):
    _, _, _, exp = explained
    fig = figures.user_heatmap(None, SIGNALS, timeline=exp.timeline_for("I3"))
    lanes = {t.name: t for t in fig.data if isinstance(t, go.Scatter) and not t.name.endswith("(click)")}
    assert set(lanes) == {"view", "cart", "purchase"}
    assert len({t.marker.symbol for t in lanes.values()}) == 3 and lanes["purchase"].marker.symbol == "star"
    assert len(lanes["purchase"].x) == N_LONG // 25 and list(lanes["purchase"].customdata[:2]) == [24, 49]
    assert figures.event_symbol("login", 0) != figures.event_symbol("logout", 1)


def test_labels_and_event_types_from_the_data_are_escaped():
    timeline = pd.DataFrame(
        {
            "position": [0, 1],
            "timestamp": pd.to_datetime(["2025-01-01 10:00", "2025-01-01 11:00"], utc=True),
            "item_id": ["a", "b"],
            "title": ["<b>bold</b>", "ok"],
            "event": ["<i>x</i>", "view"],
            "in_window": [False, True],
            "attribution": [np.nan, 0.5],
        }
    )
    fig = figures.user_heatmap(None, SIGNALS, timeline=timeline)
    assert heatmaps(fig)[0].x[0] == "#0 · &lt;b&gt;bold&lt;/b&gt;"
    assert "&lt;i&gt;x&lt;/i&gt;" in {t.name for t in fig.data}


# ---------------------------------------------------------------------------------------------
# long histories: one column per day


@pytest.fixture
def three_days() -> pd.DataFrame:
    """6 events over 3 days; the model reads the last 3 (one on day 2, two on day 3)."""
    return pd.DataFrame(
        {
            "position": range(6),
            "timestamp": pd.to_datetime(
                ["2025-03-01 09:00", "2025-03-01 23:59", "2025-03-02 08:00", "2025-03-02 20:00", "2025-03-03 01:00",
                 "2025-03-03 02:00"],
                utc=True,
            ),
            "item_id": list("abcdef"),
            "event": ["view", "view", "cart", "view", "purchase", "view"],
            "in_window": [False, False, False, True, True, True],
            "short_attention": [np.nan, np.nan, np.nan, 0.2, 0.3, 0.5],
            "attribution": [np.nan, np.nan, np.nan, -0.4, 0.1, 0.25],
        }
    )  # fmt: skip


def test_timeline_by_day_sums_and_means(three_days):
    days = figures.timeline_by_day(three_days, sums=["short_attention"], means=["attribution"])
    assert days["day"].dt.strftime("%Y-%m-%d").tolist() == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert days["n_events"].tolist() == [2, 2, 2]
    assert days["first_position"].tolist() == [0, 2, 4] and days["last_position"].tolist() == [1, 3, 5]
    assert days["in_window"].tolist() == [False, True, True]
    assert np.isnan(days["short_attention"].iat[0])  # a day the model never read stays blank
    assert days["short_attention"].iloc[1:].tolist() == pytest.approx([0.2, 0.8])
    assert np.isnan(days["attribution"].iat[0])
    assert days["attribution"].iloc[1:].tolist() == pytest.approx([-0.4, 0.175])
    counts = figures.event_counts_by_day(three_days)
    assert counts.columns.tolist() == ["view", "cart", "purchase"]
    assert counts.to_numpy().tolist() == [[2, 0, 0], [1, 1, 0], [1, 0, 1]]


def test_a_long_history_is_drawn_one_column_per_day(three_days):
    fig = figures.user_heatmap(None, SIGNALS, timeline=three_days, daily_above=5, removed=[4])
    short, attribution = heatmaps(fig)  # the frame has no long-term weights: that row is left out
    assert list(short.x) == ["2025-03-01", "2025-03-02", "2025-03-03"]
    z = np.asarray(short.z, dtype=float)[0]
    assert np.isnan(z[0]) and z[1:].tolist() == pytest.approx([0.2, 0.8])  # weights are summed per day
    assert np.asarray(attribution.z, dtype=float)[0, 1:].tolist() == pytest.approx([-0.4, 0.35])
    band = next(s for s in fig.layout.shapes if s.name)
    assert (band.x0, band.x1) == (0.5, 2.5) and band.name == "what the model reads: last 3 events"
    assert [(s.x0, s.x1) for s in fig.layout.shapes if not s.name] == [(1.5, 2.5)]  # event 4 is on day 3
    purchase = next(t for t in fig.data if t.name == "purchase")
    assert list(purchase.x) == ["2025-03-03"] and list(purchase.customdata) == [5]
    assert "2 events (1 view, 1 purchase)" in short.text[0][2]
