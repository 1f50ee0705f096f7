"""The Items view: who gets an item (the Export CSV's rows), what drives it, its neighbours, its weeks; and the page."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, TIMEOUT, needs_demo_run, ok, with_demo

from dashboard import exporting, state
from dashboard.figures import items as item_figures
from ltsi import item_analysis
from ltsi.errors import LTSIError
from ltsi.model import LTSI, ModelConfig
from ltsi.sequences import build_sequences


@pytest.fixture(scope="module")
def active(tiny_fitted_run):
    """The tiny fitted run as the dashboard holds it (its own cache, so the Export rows come from the page's path)."""
    return state.ActiveRun(tiny_fitted_run, "tiny")


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_who_gets_is_exactly_the_export_csv_rows_of_the_item(active, exclude_seen):
    export = exporting.all_recommendations(active, 10, exclude_seen)
    counts = export["item_id"].value_counts()
    unrecommended = next(i for i in active.run.seqs.items.tokens[1:] if i not in counts.index)
    for item in [counts.index[0], counts.index[len(counts) // 2], counts.index[-1], unrecommended]:
        got = item_analysis.who_gets(active.run, item, k=10, exclude_seen=exclude_seen)  # scores everybody itself
        rows = export[export["item_id"] == item]
        assert len(got) == len(rows) == counts.get(item, 0)
        assert dict(zip(got["user_id"], got["rank"])) == dict(zip(rows["user_id"], rows["rank"]))
        assert got["rank"].is_monotonic_increasing
        # the same answer from the table already computed (what the page passes), and from a bare model
        assert got.equals(item_analysis.who_gets(active.run, item, 10, exclude_seen, recommendations=export))
        bare = item_analysis.who_gets(active.run.model, item, 10, exclude_seen, seqs=active.run.seqs)
        assert bare.equals(got)


def test_who_gets_an_unknown_item_names_it(active):
    with pytest.raises(LTSIError, match="Unknown item 'nope'"):
        item_analysis.who_gets(active.run, "nope")


def test_reach_by_history_length_counts_each_group():
    # users with 3, 6, 20 and 21 events: one per group edge
    events = pd.DataFrame(
        [(f"u{n}", f"i{e % 4}", e) for n in (3, 6, 20, 21) for e in range(n)], columns=["user_id", "item_id", "ts"]
    ).assign(timestamp=lambda t: pd.to_datetime(t["ts"], unit="D", utc=True))
    seqs = build_sequences(events)
    frame = item_analysis.reach_by_history_length(seqs, ["u6", "u21", "u20"])
    assert frame["group"].tolist() == ["1-5 events", "6-20 events", "21+ events"]
    assert frame["users"].tolist() == [1, 2, 1]
    assert frame["getting"].tolist() == [0, 2, 1]
    assert frame["share"].tolist() == [0.0, 1.0, 1.0]
    assert frame["share_of_getting"].tolist() == pytest.approx([0, 2 / 3, 1 / 3])


def test_nearest_items_leave_the_item_out_and_rank_a_planted_twin_first(tiny_seqs):
    seqs, _ = tiny_seqs
    torch.manual_seed(0)
    model = LTSI(ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=8, max_len=10))
    weights = model.item_embedding.weight.detach()
    item, twin, opposite = seqs.items.tokens[5], seqs.items.tokens[9], seqs.items.tokens[12]
    weights[9] = 3 * weights[5]  # same direction, other length: cosine 1
    weights[12] = -weights[5]  # opposite: cosine -1, never near
    run = SimpleNamespace(model=model, seqs=seqs, items=None)

    near = item_analysis.nearest_items(run, item, n=10)
    assert len(near) == 10 and item not in set(near["item_id"])
    assert near["item_id"].iat[0] == twin and near["similarity"].iat[0] == pytest.approx(1.0)
    assert opposite not in set(near["item_id"])
    assert near["similarity"].is_monotonic_decreasing
    other = near["item_id"].iat[1]  # a hand-computed cosine
    a, b = weights[5].double(), weights[seqs.items.encode([other], "item")[0]].double()
    assert near["similarity"].iat[1] == pytest.approx(float(a @ b / (a.norm() * b.norm())), abs=1e-6)
    assert near["popularity"].iat[0] == int((seqs.item_ids == 9).sum())


def test_popularity_over_time_counts_each_week_and_sums_to_the_item_events():
    # item "a": 2 views + 1 buy in the week of Mon 2024-01-01, none the next week, 1 view the week after
    rows = [
        ("u1", "a", "2024-01-01", "view"),
        ("u1", "a", "2024-01-03", "buy"),
        ("u2", "a", "2024-01-07", "view"),
        ("u2", "b", "2024-01-10", "view"),
        ("u3", "a", "2024-01-15", "view"),
        ("u3", "b", "2024-01-22", "view"),
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event"])
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True)
    run = SimpleNamespace(seqs=build_sequences(events), items=None)
    weekly = item_analysis.popularity_over_time(run, "a", "W")
    by_week = weekly.pivot(index="start", columns="event", values="events")
    assert list(by_week.index) == list(pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]))
    assert by_week["view"].tolist() == [2, 0, 1, 0]  # every week of the log, the empty ones too
    assert by_week["buy"].tolist() == [1, 0, 0, 0]
    assert weekly["events"].sum() == 4
    assert item_figures.popularity_over_time(weekly).data[0].name in {"buy", "view"}


def test_popularity_over_time_sums_to_the_events_of_every_item(tiny_fitted_run):
    seqs = tiny_fitted_run.seqs
    for index in (1, len(seqs.items) // 2, len(seqs.items) - 1):
        item = seqs.items.tokens[index]
        weekly = item_analysis.popularity_over_time(tiny_fitted_run, item)
        assert weekly["events"].sum() == int((seqs.item_ids == index).sum())


def test_item_drivers_shares_sum_to_one_over_a_capped_sample(tiny_fitted_run):
    seqs = tiny_fitted_run.seqs
    item = seqs.items.tokens[1]
    users = list(seqs.users[:12])
    drivers = item_analysis.item_drivers(tiny_fitted_run, item, users, max_users=5, n_steps=8)
    assert drivers.attrs == {"n_users": 5, "of_users": 12}
    assert len(drivers) and drivers["share"].sum() == pytest.approx(1.0)
    assert (drivers["push"] > 0).all() and drivers["share"].is_monotonic_decreasing
    assert drivers["users"].between(1, 5).all()
    # a driver is an item some of the given users had
    had = set(seqs.items.decode(seqs.item_ids[: seqs.offsets[12]]))  # the first 12 users' events
    assert set(drivers["item_id"]) <= had
    assert "title" in drivers  # the item table's names come along
    # the same sample every time
    again = item_analysis.item_drivers(tiny_fitted_run, item, users, max_users=5, n_steps=8)
    assert again["share"].tolist() == pytest.approx(drivers["share"].tolist())


def test_item_figures_draw_the_shares_biggest_driver_on_top():
    groups = pd.DataFrame(
        {"group": ["1-5 events", "6-20 events", "21+ events"], "users": [4, 10, 0], "getting": [1, 5, 0]}
    ).assign(share=[0.25, 0.5, 0.0])
    reach = item_figures.reach_by_history_length(groups)
    assert list(reach.data[0].y) == [0.25, 0.5, 0.0] and list(reach.data[0].text) == ["25%", "50%", "0%"]
    drivers = pd.DataFrame(
        {"item_id": ["a", "<b>", "c"], "title": ["A", None, "C"], "users": [3, 2, 1], "share": [0.2, 0.5, 0.3]}
    )
    bars = item_figures.item_drivers(drivers, n=2).data[0]
    assert list(bars.x) == [0.3, 0.5]  # the biggest is drawn last: on top
    assert list(bars.y) == ["C (c)", "&lt;b&gt;"]  # data text is escaped for Plotly
    for empty in (item_figures.reach_by_history_length, item_figures.item_drivers, item_figures.popularity_over_time):
        assert empty(pd.DataFrame()).layout.annotations  # says why it is blank


@needs_demo_run
def test_items_page_search_pick_count_and_explain_for_a_user():
    demo = state.load_demo_run()
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo)
    at.switch_page("views/items.py").run()
    ok(at)
    hide = bool(at.session_state["hide_seen"])
    export = exporting.all_recommendations(at.session_state["run"], 10, hide)
    counts = export["item_id"].value_counts()
    assert at.session_state["item"] == counts.index[0]  # it opens on the item most users get

    item = counts.index[3]
    titles = demo.run.items.drop_duplicates("item_id").set_index("item_id")["title"]
    at.text_input(key="item_query").input(titles[item]).run()
    ok(at)
    pick = at.selectbox(key="item_pick")
    assert all(titles[item].lower() in option.lower() for option in pick.options)  # the search narrowed the list
    assert any(option.startswith(f"{titles[item]} ({item})") for option in pick.options)
    pick.set_value(item).run()
    ok(at)
    assert at.session_state["item"] == item
    said = [m.value for m in at.markdown if "is in the top 10 of" in m.value]
    assert said and f"**{counts[item]} users**" in said[0]

    user = export[export["item_id"] == item].sort_values("rank")["user_id"].iat[-1]
    at.selectbox(key="item_user_pick").set_value(user).run()
    at.button(key="item_explain_user").click().run()
    ok(at)
    assert at.title[0].value == "Users"
    assert at.session_state["user"] == user
    assert at.session_state["target"] == ("target", user, None, hide, item)
    recs = next(df.value for df in at.dataframe if "explained" in df.value.columns)
    assert recs.loc[recs["item_id"] == item, "explained"].tolist() == ["◀ in heatmap"]
