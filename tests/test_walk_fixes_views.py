"""Defects found walking the dashboard in a browser: the Items view's user box and buttons, the Model view's group
drivers chart and item map title, slicings that cut the tested users into a single group."""

from __future__ import annotations

import dataclasses
import html
import json
import re

import numpy as np
import pandas as pd
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, TIMEOUT, needs_demo_run, ok, with_demo

from dashboard import exporting, figures, state
from dashboard.figures import slices as slice_figures
from dashboard.figures.style import BASE_LAYOUT
from ltsi import slices
from ltsi.splits import EvalCases

USERS_TABLE = "item_users_table"  # the Items view's table of the users who get the item (its key's start)


def shown_label(box, before: str | None) -> str:
    """What the browser shows in a selectbox after a run: the label the server sent, else the one it had."""
    return box.proto.raw_value if box.proto.set_value else before


def users_table(at: AppTest):
    return next(df for df in at.dataframe if (df.key or "").startswith(USERS_TABLE))


def click_row(at: AppTest, table, row: int) -> AppTest:
    """Run as the browser does after a click on a table row: the widgets' values plus the table's selection
    (AppTest has no way to click a row)."""
    tree = at._tree
    widgets = tree.get_widget_states()
    clicked = WidgetStates()
    clicked.CopyFrom(widgets)
    state_ = clicked.widgets.add()
    state_.id = table.proto.id
    state_.string_value = json.dumps({"selection": {"rows": [row], "columns": [], "cells": []}})
    tree.get_widget_states = lambda: clicked
    try:
        return at.run()
    finally:
        del tree.get_widget_states


@pytest.fixture(scope="module")
def demo():
    return state.load_demo_run()


@needs_demo_run
@pytest.mark.parametrize("button", ["item_open_user", "item_explain_user"])
def test_items_user_box_follows_the_item_and_the_buttons_act_on_the_user_it_shows(demo, button):
    """Walk: the box kept "U00680 · rank 1" from the previous item (rank 2 in the new one's list) while "Open
    this user" opened U00792."""
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo)
    at.switch_page("views/items.py").run()
    ok(at)
    hide = bool(at.session_state["hide_seen"])
    export = exporting.all_recommendations(at.session_state["run"], 10, hide)
    first = at.session_state["item"]
    box = at.selectbox(key="item_user_pick")
    user, label = box.value, box.options[box.index]
    assert label == f"{user} · rank 1"  # the item most users get: its first user has it first
    # an item of the list whose users include this one, at another rank
    ranks = export[export["user_id"] == user].set_index("item_id")["rank"]
    offered = export["item_id"].value_counts().index[:200]
    other = next(i for i in offered if i != first and i in ranks.index and ranks[i] != 1)

    at.selectbox(key="item_pick").set_value(other).run()
    ok(at)
    box = at.selectbox(key="item_user_pick")
    shown = shown_label(box, label)
    getters = export[export["item_id"] == other]
    rank_of = dict(zip(getters["user_id"], getters["rank"]))
    assert box.value in rank_of  # a user of the new item's list ...
    assert shown == f"{box.value} · rank {rank_of[box.value]}"  # ... shown with its rank for the new item
    assert box.value == users_table(at).value["user_id"].iat[0] and rank_of[box.value] == getters["rank"].min()

    in_box = shown.split(" · ")[0]
    at.button(key=button).click().run()
    ok(at)
    assert at.title[0].value == "Users"
    assert at.session_state["user"] == in_box
    if button == "item_explain_user":
        assert at.session_state["target"] == ("target", in_box, None, hide, other)


@needs_demo_run
def test_items_a_clicked_row_picks_its_user_and_a_tick_never_disagrees_with_the_box(demo):
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo)
    at.switch_page("views/items.py").run()
    ok(at)
    table = users_table(at)
    clicked = table.value["user_id"].iat[2]
    click_row(at, table, 2)
    ok(at)
    box = at.selectbox(key="item_user_pick")
    assert box.value == clicked and shown_label(box, None) == f"{clicked} · rank {table.value['rank'].iat[2]}"
    assert users_table(at).proto.id == table.proto.id  # the clicked row stays ticked: it is the user shown

    assert box.options == [f"{u} · rank {r}" for u, r in zip(table.value["user_id"], table.value["rank"])]

    # a user picked in the box: the table is drawn anew, with no row ticked
    box.set_value(clicked).run()  # no change: the tick stays
    assert users_table(at).proto.id == table.proto.id
    other = table.value["user_id"].iat[4]
    at.selectbox(key="item_user_pick").set_value(other).run()
    ok(at)
    assert at.selectbox(key="item_user_pick").value == other
    assert users_table(at).proto.id != table.proto.id

    # another item: a new table too (the row ticked for the previous item would be another user here)
    ticked = users_table(at)
    click_row(at, ticked, 1)
    ok(at)
    export = exporting.all_recommendations(at.session_state["run"], 10, bool(at.session_state["hide_seen"]))
    at.selectbox(key="item_pick").set_value(export["item_id"].value_counts().index[1]).run()
    ok(at)
    assert users_table(at).proto.id != ticked.proto.id
    box = at.selectbox(key="item_user_pick")
    assert box.value == users_table(at).value["user_id"].iat[0]


# ---------------------------------------------------------------------------------------------
# The Model view's group drivers chart and item map: readable in a column of 460-700 px


def demo_like_drivers() -> pd.DataFrame:
    """A `segment_drivers` frame as the walk's (its values), with the longest labels the library gives."""
    rows = [
        ("interest", "long-term interest", 0.22),
        ("interest", "short-term interest", 0.38),
        ("interest", "items that often follow the recent ones", 0.02),
        ("interest", "popularity", 0.38),
        ("recency", "the last event", 0.24),
        ("recency", "the 2nd-3rd last", 0.19),
        ("recency", "the 4th-10th last", 0.35),
        ("recency", "the 11th last and older", 0.22),
        ("event type", "purchase", 1.0),  # a single event type: the widest bar there is
    ]
    rows += [("category", f"<b>category {k}</b>", share) for k, share in enumerate([0.5, 0.3, 0.2])]
    return pd.DataFrame(rows, columns=["group", "label", "share"])


def test_group_drivers_panels_are_stacked_apart_with_their_values_inside():
    drivers = demo_like_drivers()
    fig = slice_figures.segment_drivers_chart(drivers)
    layout = fig.layout
    axes = [layout[f"yaxis{'' if k == 1 else k}"] for k in range(1, 5)]
    xaxes = [layout[f"xaxis{'' if k == 1 else k}"] for k in range(1, 5)]
    # stacked: every panel spans the whole width, so no panel's values run into the next one's labels
    assert all(tuple(x.domain) == (0.0, 1.0) for x in xaxes)
    plot_px = layout.height - layout.margin.t - layout.margin.b
    domains = sorted((tuple(y.domain) for y in axes), reverse=True)  # top panel first
    bars = [4, 4, 1, 3]
    for (low, high), n_bars in zip(domains, bars):
        assert (high - low) * plot_px == pytest.approx(n_bars * slice_figures.BAR_PX, abs=1)  # same room per bar
    for (low, _), (_, high_below) in zip(domains, domains[1:]):
        assert (low - high_below) * plot_px == pytest.approx(slice_figures.PANEL_GAP_PX, abs=1)
    # each panel's title sits just above its own panel, in the gap, and is short enough for a narrow column
    titles = [note for note in layout.annotations]
    assert [t.text for t in titles] == [
        "What the score comes from",
        "How recent the events are",
        "Kind of event",
        "Category of the event's item",
    ]
    for note, (_, high) in zip(titles, domains):
        assert note.y == pytest.approx(high) and note.yanchor == "bottom" and note.x == 0 and note.xanchor == "left"
        assert len(note.text) <= 30
    # the values: printed beside each bar, the axis running 30% past the widest bar so they stay inside
    for trace, xaxis in zip(fig.data, xaxes):
        assert trace.textposition == "outside" and trace.cliponaxis is True
        assert tuple(xaxis.range) == (0, pytest.approx(1.3))  # one scale (each panel sums to 100%) ...
        assert 1.3 * max(trace.x) <= xaxis.range[1] + 1e-9  # ... with room for each value's text
    # what it says is kept: every share, in the frame's order, and the full label on hover
    assert list(fig.data[0].x) == [0.22, 0.38, 0.02, 0.38]
    assert list(fig.data[0].text) == ["22%", "38%", "2%", "38%"]
    assert fig.data[0].y[2] == "items that often follow<br>the recent ones"  # wrapped, not cut
    assert fig.data[0].customdata[2] == "items that often follow the recent ones"
    assert fig.data[3].y[0] == "&lt;b&gt;category 0&lt;/b&gt;"  # data text escaped for Plotly
    for trace in fig.data:
        shown = [html.unescape(line) for label in trace.y for line in label.split("<br>")]
        assert all(len(line) <= slice_figures.LABEL_WIDTH for line in shown)


def test_a_label_longer_than_two_lines_is_shortened_on_the_second():
    label = slice_figures.bar_label("a very long category name that goes on and on past two lines")
    first, second = label.split("<br>")
    assert first == "a very long category"
    assert second.endswith("…") and len(second) <= slice_figures.LABEL_WIDTH


def test_the_item_map_title_fits_half_the_page_and_keeps_the_colour_note():
    # 12 categories, the biggest 8 in colour
    cats = np.repeat([f"c{c}" for c in range(12)], np.arange(12, 0, -1))
    points = pd.DataFrame({"item_id": [f"i{k}" for k in range(len(cats))], "x": 0.0, "y": 0.0, "category": cats})
    title = figures.item_map(points).layout
    lines = [re.sub(r"<[^>]+>", "", line) for line in title.title.text.split("<br>")]
    # 15 px bold runs about 8 px a character: 44 characters fit the ~460 px of half a 1,400 px page
    assert lines == ["Item embedding map: similar items lie close", "the 8 biggest of 12 categories in colour"]
    assert all(len(line) <= 44 for line in lines)
    assert title.margin.t > BASE_LAYOUT["margin"]["t"]  # room for the second line
    single = figures.item_map(points[points["category"].isin(["c0", "c1"])]).layout
    assert single.title.text == "Item embedding map: similar items lie close"


# ---------------------------------------------------------------------------------------------
# Slicings that put every tested user in one group are not offered


def with_cases(run, keep: np.ndarray):
    """The run with only the test cases at positions `keep` (and no saved test ranks, which are of all)."""
    test = run.split.test
    cases = EvalCases(test.users[keep], test.ends[keep], test.targets[keep])
    return dataclasses.replace(run, split=dataclasses.replace(run.split, test=cases), test_ranks=None)


def test_a_slicing_is_offered_exactly_when_it_makes_two_groups(tiny_fitted_run):
    run = tiny_fitted_run
    groups = {by: slices.tested_user_slices(run, by).nunique() for by in slices.SliceBy}
    assert groups[slices.SliceBy.EVENT_TYPE] == 1  # the synthetic shop's held-out events are all purchases
    offered = slices.available_slicings(run)
    assert slices.SliceBy.EVENT_TYPE not in offered
    for by in slices.SliceBy:
        assert slices.may_split_tested_users(run, by) == (groups[by] >= 2), by
    assert offered == [by for by in slices.SliceBy if groups[by] >= 2]


def test_history_length_and_recency_in_one_bin_are_not_offered(tiny_fitted_run):
    run = tiny_fitted_run
    ends = run.split.test.ends
    one_bin = with_cases(run, np.flatnonzero((ends > 20) & (ends <= 50)))  # all "21-50 events"
    assert slices.tested_user_slices(one_bin, slices.SliceBy.HISTORY_LENGTH).nunique() == 1
    assert not slices.may_split_tested_users(one_bin, slices.SliceBy.HISTORY_LENGTH)
    two_bins = with_cases(run, np.r_[np.flatnonzero(ends <= 20)[:1], np.flatnonzero(ends > 20)[:1]])
    assert slices.may_split_tested_users(two_bins, slices.SliceBy.HISTORY_LENGTH)
    # recency: every held-out event 1 s after the previous one, then one of them a week later
    seqs = run.seqs
    flat = seqs.offsets[run.split.test.users] + ends
    soon = seqs.timestamps.copy()
    soon[flat] = soon[flat - 1] + 1
    quick = dataclasses.replace(run, seqs=dataclasses.replace(seqs, timestamps=soon))
    assert slices.tested_user_slices(quick, slices.SliceBy.RECENCY).nunique() == 1
    assert not slices.may_split_tested_users(quick, slices.SliceBy.RECENCY)
    soon[flat[-1]] = soon[flat[-1] - 1] + 8 * 86400
    assert slices.may_split_tested_users(quick, slices.SliceBy.RECENCY)


def test_categories_are_read_for_a_few_users_and_for_all_only_when_those_share_one(tiny_fitted_run, monkeypatch):
    run = tiny_fitted_run
    one = pd.DataFrame({"item_id": run.seqs.items.tokens[1:], "category": "Books"})
    assert not slices.may_split_tested_users(dataclasses.replace(run, items=one), slices.SliceBy.CATEGORY)
    assert not slices.may_split_tested_users(dataclasses.replace(run, items=None), slices.SliceBy.CATEGORY)
    # the next items of the first five tested users are books, the others' toys: past the five read first,
    # so all are read, and two groups found
    first_five = set(run.seqs.items.decode(run.split.test.targets[:5]))
    later = one.assign(category=np.where(one["item_id"].isin(first_five), "Books", "Toys"))
    monkeypatch.setattr(slices, "CATEGORY_PROBE", 5)
    read: list[int] = []
    real = slices.item_categories
    monkeypatch.setattr(slices, "item_categories", lambda r, targets: read.append(len(targets)) or real(r, targets))
    assert slices.may_split_tested_users(dataclasses.replace(run, items=later), slices.SliceBy.CATEGORY)
    assert read == [5, len(run.split.test)]
    read.clear()
    assert slices.may_split_tested_users(run, slices.SliceBy.CATEGORY) and read == [5]  # two among the first five


def test_a_run_without_tested_users_offers_no_slicing(tiny_fitted_run):
    assert slices.available_slicings(with_cases(tiny_fitted_run, np.array([], dtype=np.int64))) == []


@needs_demo_run
def test_the_model_view_offers_no_single_group_slicing_and_says_when_a_filter_makes_one(demo):
    """Walk: "kind of the next event" was offered on the demo (every held-out event a purchase), then said LTSI
    "wins on every slice" of its one group."""
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo)
    at.switch_page("views/model.py").run()
    ok(at)
    offered = at.radio(key="slice_by").options  # as shown: the slicings' words
    assert slices.SliceBy.EVENT_TYPE.value not in offered and slices.SliceBy.HISTORY_LENGTH.value in offered
    # a filter every tested user matches: one group, said in a plain sentence, no verdict
    at.radio(key="slice_by").set_value("custom").run()
    at.selectbox(key="slice_column").set_value("event").run()
    at.multiselect(key="slice_values_event").set_value(["purchase"]).run()
    ok(at)
    said = [i.value for i in at.info]
    assert any("every tested user is in the same group (“matches the filter”)" in s for s in said), said
    assert not any("wins on every slice" in m.value or "beats the best other" in m.value for m in at.markdown)
    assert not any("by group" in c.proto.spec for c in at.get("plotly_chart"))
    assert at.selectbox(key="slice").options == [slices.IN_FILTER]  # a closer look at that group stays
