"""Side by side (issue 14): `ltsi.compare` on hand-made lists, rows and metrics; its figure; the Compare page with
the demo model beside a second tiny model, and two users of the demo model."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, TIMEOUT, needs_demo_run, ok, trained_through_the_job, with_demo

from dashboard import explaining, state, text
from dashboard.figures.compare import shared_drivers_chart
from ltsi import compare
from ltsi.library import RunLibrary
from ltsi.sequences import build_sequences
from ltsi.splits import leave_one_out

# ---------------------------------------------------------------------------------------------
# Two top-K lists


def ranked(*items: str) -> pd.DataFrame:
    return pd.DataFrame({"rank": np.arange(1, len(items) + 1), "item_id": list(items)})


def test_topk_diff_marks_items_in_one_list_and_rank_changes():
    diff = compare.topk_diff(ranked("x1", "x2", "x3", "x4"), ranked("x3", "x1", "x5"))
    assert list(diff["item_id"]) == ["x1", "x2", "x3", "x4", "x5"]  # A's order, then B's new items
    assert list(diff["where"]) == ["both", "only A", "both", "only A", "only B"]
    assert diff["rank_a"].tolist()[:4] == [1, 2, 3, 4] and np.isnan(diff["rank_a"].iat[4])
    assert diff["rank_b"].iat[0] == 2 and diff["rank_b"].iat[2] == 1 and diff["rank_b"].iat[4] == 3
    assert diff["change"].iat[0] == -1 and diff["change"].iat[2] == 2  # x3 went from #3 to #1: up 2
    assert diff["change"].iloc[[1, 3, 4]].isna().all()
    words = compare.change_words(diff)
    assert list(words) == ["down 1 in B", "only in A", "up 2 in B", "only in A", "only in B"]
    assert compare.overlap_counts(diff) == {"both": 2, "only A": 2, "only B": 1, "moved": 2}


def test_topk_diff_of_equal_lists_and_titles():
    a = ranked("p", "q").assign(title=["Pen", "Quill"])
    diff = compare.topk_diff(a, ranked("p", "q"))
    assert list(compare.change_words(diff, "user 1", "user 2")) == ["same rank", "same rank"]
    assert list(diff["title"]) == ["Pen", "Quill"]
    only_b = compare.change_words(compare.topk_diff(ranked("p"), ranked("r")), "user 1", "user 2")
    assert list(only_b) == ["only in user 1", "only in user 2"]


def test_within_items_ranks_again_among_shared_items():
    kept = compare.within_items(ranked("a", "gone", "b", "c"), {"a", "b", "c", "elsewhere"})
    assert list(kept["item_id"]) == ["a", "b", "c"] and list(kept["rank"]) == [1, 2, 3]


# ---------------------------------------------------------------------------------------------
# Shared drivers


def attribution_rows(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item_id", "event", "attribution"])


ITEMS = pd.DataFrame(
    {
        "item_id": ["X", "Y", "Z", "W"],
        "title": ["Red shoe", "Blue hat", "Green cup", "Gold ring"],
        "category": ["Shoes", "Hats", "Kitchen", "Shoes"],
    }
)


def test_shared_drivers_keeps_what_pushes_up_both_users():
    # user A: |total| = 0.5 + 0.3 + 0.2 = 1.0; user B: |total| = 0.1 + 0.4 + 0.5 = 1.0
    rows_a = attribution_rows([("X", "view", 0.5), ("Y", "cart", 0.3), ("Z", "view", -0.2)])
    rows_b = attribution_rows([("X", "view", 0.1), ("Y", "cart", -0.4), ("W", "purchase", 0.5)])
    drivers = compare.shared_drivers(rows_a, rows_b, items=ITEMS)
    by_kind = {kind: part.reset_index(drop=True) for kind, part in drivers.groupby("kind")}
    # items: X pushes up both (0.5, 0.1); Y pushes B down; Z, W are in one history only
    assert list(by_kind["item"]["driver"]) == ["X"]
    assert by_kind["item"]["label"].iat[0] == "Red shoe (X)"
    assert by_kind["item"][["share_a", "share_b"]].iloc[0].tolist() == pytest.approx([0.5, 0.1])
    # categories: Shoes = X (+0.5) for A; X + W (0.1 + 0.5) for B; Hats is negative for B, Kitchen only in A
    assert list(by_kind["category"]["driver"]) == ["Shoes"]
    assert by_kind["category"][["share_a", "share_b"]].iloc[0].tolist() == pytest.approx([0.5, 0.6])
    # event types: view = 0.5 - 0.2 for A and 0.1 for B; cart is negative for B; purchase only in B
    assert list(by_kind["event type"]["driver"]) == ["view"]
    assert by_kind["event type"][["share_a", "share_b"]].iloc[0].tolist() == pytest.approx([0.3, 0.1])


def test_shared_drivers_order_by_the_weaker_side_and_keep_k():
    # shares of A and B: p (0.4, 0.1), q (0.2, 0.3), r (0.1, 0.4), s (0.3, 0.2): smaller sides 0.1, 0.2, 0.1, 0.2
    rows_a = attribution_rows([("p", "view", 0.4), ("q", "view", 0.2), ("r", "view", 0.1), ("s", "view", 0.3)])
    rows_b = attribution_rows([("p", "view", 0.1), ("q", "view", 0.3), ("r", "view", 0.4), ("s", "view", 0.2)])
    items = compare.shared_drivers(rows_a, rows_b, k=3).query("kind == 'item'")
    assert list(items["driver"]) == ["q", "s", "p"]  # ties keep A's order
    assert "category" not in set(compare.shared_drivers(rows_a, rows_b)["kind"])  # no categories anywhere


def test_shared_drivers_when_nothing_is_shared():
    rows_a = attribution_rows([("X", "view", 0.5)])
    rows_b = attribution_rows([("X", "view", -0.5)])
    drivers = compare.shared_drivers(rows_a, rows_b)
    assert drivers.empty and list(drivers.columns) == ["kind", "driver", "label", "share_a", "share_b"]
    assert "Nothing pushes up" in shared_drivers_chart(drivers).layout.annotations[0].text


def test_shared_drivers_chart_has_one_bar_per_user_and_driver():
    drivers = pd.DataFrame(
        {
            "kind": ["item", "event type"],
            "driver": ["X", "view"],
            "label": ["<b>Red</b> shoe (X)", "view"],
            "share_a": [0.5, 0.3],
            "share_b": [0.1, 0.2],
        }
    )
    fig = shared_drivers_chart(drivers, "A: u1", "B: u2")
    assert [t.name for t in fig.data] == ["A: u1", "B: u2"]
    assert list(fig.data[0].x) == [0.3, 0.5] and list(fig.data[1].x) == [0.2, 0.1]  # strongest on top
    assert fig.data[0].y[1] == "item: &lt;b&gt;Red&lt;/b&gt; shoe (X)"  # data text is not HTML


# ---------------------------------------------------------------------------------------------
# Two runs


def with_metrics(run, rows: list[dict]):
    return dataclasses.replace(run, metrics=[{"split": "test", **row} for row in rows])


def test_metrics_side_by_side_on_two_tiny_runs(tiny_fitted_run):
    run_a = with_metrics(
        tiny_fitted_run, [{"model": "LTSI", "NDCG@10": 0.2}, {"model": "most popular", "NDCG@10": 0.1}]
    )
    run_b = with_metrics(
        tiny_fitted_run, [{"model": "LTSI", "NDCG@10": 0.25}, {"model": "last-item transitions", "NDCG@10": 0.05}]
    )
    table = compare.metrics_side_by_side(run_a, run_b)
    assert list(table.columns) == ["model", "NDCG@10 (A)", "NDCG@10 (B)", "NDCG@10 change"]
    assert list(table["model"]) == ["LTSI", "most popular", "last-item transitions"]
    ltsi = table.iloc[0]
    assert (ltsi["NDCG@10 (A)"], ltsi["NDCG@10 (B)"]) == (0.2, 0.25)
    assert ltsi["NDCG@10 change"] == pytest.approx(0.05)
    assert np.isnan(table["NDCG@10 (B)"].iat[1]) and np.isnan(table["NDCG@10 (A)"].iat[2])
    # the stored metrics of a real run against themselves: no change anywhere
    same = compare.metrics_side_by_side(tiny_fitted_run, tiny_fitted_run, ["HR@10", "NDCG@10"])
    assert list(same["model"]) == list(tiny_fitted_run.table("test")["model"])
    assert same["HR@10 (A)"].tolist() == tiny_fitted_run.table("test")["HR@10"].tolist()
    assert (same["NDCG@10 change"] == 0).all()
    assert compare.metrics_side_by_side(with_metrics(tiny_fitted_run, []), with_metrics(tiny_fitted_run, [])).empty


def test_common_users_and_same_data(tiny_log, tiny_fitted_run):
    some = sorted(tiny_log.events["user_id"].unique())[::3]
    seqs = build_sequences(tiny_log.events[tiny_log.events["user_id"].isin(some)])
    fewer = dataclasses.replace(tiny_fitted_run, seqs=seqs, split=leave_one_out(seqs), test_ranks=None)
    assert compare.common_users(tiny_fitted_run, fewer) == [u for u in tiny_fitted_run.seqs.users if u in set(some)]
    assert not compare.same_data(tiny_fitted_run, fewer) and compare.same_data(tiny_fitted_run, tiny_fitted_run)
    assert compare.common_items(tiny_fitted_run, fewer) == set(seqs.items.tokens[1:])


# ---------------------------------------------------------------------------------------------
# The Compare page


@pytest.fixture(scope="module")
def demo_model():
    return state.load_demo_run()


@pytest.fixture(scope="module")
def second_model():
    """A tiny model on the demo shop (one short epoch): another run on the same data."""
    return trained_through_the_job(state.load_demo("ecommerce"), dim=8, max_len=10)


def page(run) -> AppTest:
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), run)
    at.switch_page("views/compare.py").run()
    return ok(at)


def charts_in(block) -> list[dict]:
    return [json.loads(c.proto.spec) for c in block.get("plotly_chart")]


def explained(active, user: str) -> pd.DataFrame:
    """The top list the page showed for the user (the cached explanation, with the demo's seen-items rule)."""
    hide = explaining.seen_rule(active).hide
    return explaining.explanation(active, user, None, None, 10, exclude_seen=hide).recommendations


def heatmap_count(block) -> int:
    return sum(1 for c in charts_in(block) for t in c["data"] if t.get("type") == "heatmap")


@needs_demo_run
def test_compare_page_two_runs_from_the_library(demo_model, second_model):
    RunLibrary().add_run(second_model.run, "tiny <b>second</b>")
    at = page(demo_model)
    assert at.selectbox(key="compare_pick").value  # the saved run is offered
    at.button(key="compare_open").click().run()
    ok(at)
    runs_tab = at.tabs[0]
    assert at.session_state["compare_run"].name == "tiny <b>second</b>"
    assert any(text.md_escape("tiny <b>second</b>") in m.value for m in runs_tab.markdown)  # data text stays text
    metrics = next(df.value for df in runs_tab.dataframe if "NDCG@10 (A)" in df.value.columns)
    ltsi = metrics[metrics["model"] == "LTSI"].iloc[0]
    assert ltsi["NDCG@10 (A)"] == pytest.approx(demo_model.run.table()["NDCG@10"].iat[0])
    assert ltsi["NDCG@10 (B)"] == pytest.approx(second_model.run.table()["NDCG@10"].iat[0])
    # a user in both: the two lists, each marked with the change from A to B, and two timelines
    user = at.selectbox(key="compare_runs_user").value
    lists = [df.value for df in runs_tab.dataframe if "A → B" in df.value.columns]
    assert len(lists) == 2
    recs_a = explained(at.session_state["run"], user)
    recs_b = explained(at.session_state["compare_run"], user)
    expected = compare.change_words(compare.topk_diff(recs_a, recs_b))
    assert lists[0]["A → B"].tolist() == expected.iloc[: len(recs_a)].tolist()
    only_b = set(recs_b["item_id"]) - set(recs_a["item_id"])
    assert (lists[1].set_index("item_id").loc[sorted(only_b), "A → B"] == "only in B").all()
    assert heatmap_count(runs_tab) == 6  # two timelines of three rows each
    assert not any("different data" in i.value for i in at.info)  # same data: nothing to say
    at.button(key="compare_forget").click().run()
    assert "compare_run" not in at.session_state


@needs_demo_run
def test_compare_page_two_runs_on_different_data(demo_model):
    events = state.load_demo("ecommerce").events
    some = sorted(events["user_id"].unique())[:40]
    subset = state.read_dataset(
        events[events["user_id"].isin(some)].to_csv(index=False).encode(), "subset.csv", "upload"
    )
    other = trained_through_the_job(subset, dim=8, max_len=10)
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo_model)
    at.session_state["compare_run"] = other
    at.switch_page("views/compare.py").run()
    ok(at)
    note = next(i.value for i in at.info if "different data" in i.value)
    assert "40 users" in note
    assert set(at.selectbox(key="compare_runs_user").options) == set(some)
    shared = set(other.run.seqs.items.tokens[1:])
    for table in (df.value for df in at.tabs[0].dataframe if "A → B" in df.value.columns):
        assert set(table["item_id"]) <= shared and list(table["rank"]) == list(range(1, len(table) + 1))


@needs_demo_run
def test_compare_page_two_users(demo_model):
    at = page(demo_model)
    users_tab = at.tabs[1]
    user_a, user_b = at.selectbox(key="compare_user_a").value, at.selectbox(key="compare_user_b").value
    assert user_a != user_b
    assert heatmap_count(users_tab) == 6  # two timelines
    gates = [c for c in charts_in(users_tab) if c["data"] and c["data"][0].get("name") == "long-term interest"]
    assert len(gates) == 2
    lists = [df.value for df in users_tab.dataframe if "A → B" in df.value.columns]
    recs = [explained(demo_model, u) for u in (user_a, user_b)]
    both = set(recs[0]["item_id"]) & set(recs[1]["item_id"])
    assert (lists[0].set_index("item_id").drop(index=list(both))["A → B"] == "only in A").all()
    assert f"{len(both)} item" in next(m.value for m in users_tab.markdown if "in both lists" in m.value)
    drivers = next(c for c in charts_in(users_tab) if "both users" in c["layout"].get("title", {}).get("text", ""))
    assert [t["name"] for t in drivers["data"]] == [f"A: {user_a}", f"B: {user_b}"]
    # the same user twice is refused in words
    at.selectbox(key="compare_user_b").set_value(user_a).run()
    ok(at)
    assert any("two different users" in i.value for i in at.tabs[1].info)
