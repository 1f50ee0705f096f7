"""Metrics by group of tested users (ltsi.slices), what drives a group's recommendations, and the Model
page's "where the model does well or poorly" section."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, TIMEOUT, needs_demo_run, ok, with_demo

from dashboard import figures, state
from ltsi import slice_drivers, slices
from ltsi.errors import LTSIError
from ltsi.scorers import evaluate_run
from ltsi.sequences import build_sequences
from ltsi.splits import EvalCases, leave_one_out

DEMO_CAUSES = state.DATA / "ecommerce" / "causes.csv"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # the models here are small: one thread is faster than two on a busy 2-core machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# hand-made held-out ranks of four users by two models; a and b form group "x", c and d group "y"
HAND_RANKS = pd.DataFrame(
    {"LTSI": [1.0, 3.0, 20.0, math.inf], "most popular": [2.0, 2.0, 5.0, 11.0]},
    index=pd.Index(["a", "b", "c", "d"], name="user_id"),
)
HAND_GROUPS = pd.Series(
    pd.Categorical(["x", "x", "y", "y"], categories=["x", "y"], ordered=True), index=HAND_RANKS.index
)


def test_slice_metrics_match_a_hand_computation():
    table = slices.slice_metrics(None, HAND_GROUPS, ranks=HAND_RANKS, n_boot=50)
    got = table.set_index(["slice", "model"])
    # x: LTSI ranks 1 and 3 -> HR 1, NDCG (1/log2(2) + 1/log2(4)) / 2; most popular: 2 and 2
    assert got.loc[("x", "LTSI"), "HR@10"] == 1.0
    assert got.loc[("x", "LTSI"), "NDCG@10"] == pytest.approx((1 + 0.5) / 2)
    assert got.loc[("x", "most popular"), "NDCG@10"] == pytest.approx(1 / math.log2(3))
    # y: LTSI ranks 20 and never -> 0; most popular: 5 (hit) and 11 (miss)
    assert got.loc[("y", "LTSI"), ["HR@10", "NDCG@10"]].tolist() == [0.0, 0.0]
    assert got.loc[("y", "most popular"), "HR@10"] == 0.5
    assert got.loc[("y", "most popular"), "NDCG@10"] == pytest.approx(0.5 / math.log2(6))
    assert got["n_users"].tolist() == [2, 2, 2, 2]
    # users without a group, and groups without users, are left out
    partial = pd.Series(["x", None, "x", None], index=HAND_RANKS.index)
    one = slices.slice_metrics(None, partial, ranks=HAND_RANKS, n_boot=0).set_index("model")
    assert one["n_users"].tolist() == [2, 2]
    assert one.loc["LTSI", "NDCG@10"] == pytest.approx(0.5) and one.loc["LTSI", "HR@10 low"] == 0.5


def test_the_bootstrap_range_holds_the_estimate_and_repeats_with_its_seed():
    rng = np.random.default_rng(1)
    index = pd.Index([f"u{i}" for i in range(60)], name="user_id")
    ranks = pd.DataFrame(
        {"LTSI": rng.integers(1, 30, 60).astype(float), "most popular": rng.integers(1, 30, 60)}, index=index
    )
    groups = pd.Series(np.where(np.arange(60) < 40, "big", "small"), index=index)
    first = slices.slice_metrics(None, groups, ranks=ranks, n_boot=300, seed=7)
    for name in ("HR@10", "NDCG@10"):
        assert (first[f"{name} low"] <= first[name]).all() and (first[name] <= first[f"{name} high"]).all()
        assert (first[f"{name} high"] - first[f"{name} low"] > 0).all()  # mixed hits and misses: a real range
    pd.testing.assert_frame_equal(first, slices.slice_metrics(None, groups, ranks=ranks, n_boot=300, seed=7))
    other = slices.slice_metrics(None, groups, ranks=ranks, n_boot=300, seed=8)
    assert not np.allclose(first["NDCG@10 low"], other["NDCG@10 low"])
    # the smaller group has the wider range
    ltsi = first[first["model"] == "LTSI"].set_index("slice")
    width = ltsi["NDCG@10 high"] - ltsi["NDCG@10 low"]
    assert width["small"] > width["big"]


def test_heldout_ranks_give_back_the_runs_test_metrics(tiny_fitted_run):
    ranks = slices.heldout_ranks(tiny_fitted_run)
    assert list(ranks.columns) == ["LTSI", "most popular", "last-item transitions"]
    assert len(ranks) == len(tiny_fitted_run.split.test)
    everyone = pd.Series("all", index=ranks.index)
    ours = slices.slice_metrics(tiny_fitted_run, everyone, ranks=ranks, n_boot=0).set_index("model")
    stored = evaluate_run(tiny_fitted_run).set_index("model")
    for model in ranks.columns:
        for name in ("HR@10", "NDCG@10"):
            assert ours.loc[model, name] == pytest.approx(stored.loc[model, name], abs=1e-6)


def test_saved_test_ranks_are_the_ranks_scored_again(tiny_fitted_run):
    saved = slices.heldout_ranks(tiny_fitted_run)
    again = slices.heldout_ranks(dataclasses.replace(tiny_fitted_run, test_ranks=None))
    assert saved.attrs == {"of_users": len(tiny_fitted_run.split.test), "saved": True} and not again.attrs["saved"]
    pd.testing.assert_frame_equal(saved, again, check_exact=True)
    # a sample of the saved ranks: the same seeded users as a sample scored now
    part, part_again = (
        slices.heldout_ranks(tiny_fitted_run, max_users=7),
        slices.heldout_ranks(dataclasses.replace(tiny_fitted_run, test_ranks=None), max_users=7),
    )
    assert len(part) == 7 and part.index.is_unique
    pd.testing.assert_frame_equal(part, part_again, check_exact=True)


def test_builtin_slices_describe_the_heldout_event(tiny_log, tiny_fitted_run):
    run = tiny_fitted_run
    test = run.split.test
    lengths = slices.tested_user_slices(run, slices.SliceBy.HISTORY_LENGTH)
    assert isinstance(lengths.dtype, pd.CategoricalDtype) and lengths.dtype.ordered
    bins = ((5, "1-5 events"), (10, "6-10 events"), (20, "11-20 events"), (50, "21-50 events"))
    expected = [next((label for top, label in bins if e <= top), "more than 50 events") for e in test.ends]
    assert {e for e in test.ends if e > 50} and {e for e in test.ends if e <= 20}  # several bins are tested
    assert lengths.astype(str).tolist() == expected
    # category: the held-out item's category from the item table
    by_category = slices.tested_user_slices(run, slices.SliceBy.CATEGORY)
    category_of = tiny_log.items.set_index("item_id")["category"]
    held = run.seqs.items.decode(test.targets)
    assert by_category.astype(str).tolist() == category_of.loc[held].tolist()  # 4 categories: all by name
    kinds = slices.tested_user_slices(run, slices.SliceBy.EVENT_TYPE)
    assert set(kinds) == {"purchase"}  # the synthetic shop's last event is always a planted purchase
    away = slices.tested_user_slices(run, slices.SliceBy.RECENCY)
    assert set(away.cat.categories) <= {label for _, label in slices.RECENCY_BINS} | {slices.RECENCY_OPEN}
    assert slices.SliceBy.CATEGORY in slices.available_slicings(run)


def test_slices_of_some_tested_users_are_theirs_in_the_full_slicing(tiny_fitted_run):
    run = tiny_fitted_run
    every = {by: slices.tested_user_slices(run, by) for by in slices.SliceBy}
    some = list(every[slices.SliceBy.HISTORY_LENGTH].index[::3][::-1])  # every third tested user, backwards
    for by in (slices.SliceBy.HISTORY_LENGTH, slices.SliceBy.RECENCY, slices.SliceBy.POPULARITY):
        part = slices.tested_user_slices(run, by, among=some)
        assert part.index.tolist() == some
        assert part.astype(str).tolist() == every[by].loc[some].astype(str).tolist()
    test = run.split.test
    first_untested = dataclasses.replace(  # the first tested user loses its test case (and the run its test ranks)
        run,
        split=dataclasses.replace(run.split, test=EvalCases(test.users[1:], test.ends[1:], test.targets[1:])),
        test_ranks=None,
    )
    untested = run.seqs.users[int(test.users[0])]
    with pytest.raises(LTSIError, match=f"User '{untested}' has no held-out test event"):
        slices.tested_user_slices(first_untested, slices.SliceBy.HISTORY_LENGTH, among=[some[0], untested])


def test_popularity_tiers_by_hand():
    # training events (all but each user's last two): A x5, B x3, C, D -> 10 events
    rows = [("u1", item) for item in "AAAAABXY"] + [("u2", item) for item in "BBCDPQ"]
    events = pd.DataFrame(rows, columns=["user_id", "item_id"])
    events["timestamp"] = pd.to_datetime(np.arange(len(rows)) * 60, unit="s", utc=True)
    events["event"] = "view"
    seqs = build_sequences(events)
    tiers = dict(zip(seqs.items.tokens[1:], slices.popularity_tiers(seqs, leave_one_out(seqs))[1:]))
    # ranked A (0% of events before it), B (50%), C (80%), D (90%): head is under 20%, tail from 80%
    assert tiers["A"] == slices.HEAD and tiers["B"] == slices.TORSO
    assert tiers["C"] == tiers["D"] == slices.TAIL
    assert tiers["X"] == tiers["Y"] == tiers["P"] == tiers["Q"] == slices.UNSEEN


def test_custom_filters(tiny_log, tiny_fitted_run):
    run = tiny_fitted_run
    assert slices.filter_columns(run)[:3] == ["item_id", "event", "timestamp"] and "category" in slices.filter_columns(
        run
    )
    held = pd.Series(run.seqs.items.decode(run.split.test.targets))
    category = tiny_log.items.set_index("item_id")["category"].loc[held].to_numpy()
    books = slices.custom_slice(run, "category", ["Books", "Kitchen"])
    assert books.dtype == bool and books.tolist() == list(np.isin(category, ["Books", "Kitchen"]))
    times = slices.heldout_values(run, "timestamp")
    middle = times.sort_values().iloc[len(times) // 2]
    early = slices.custom_slice(run, "timestamp", between=(times.min(), middle))
    assert early.tolist() == (times <= middle).tolist()
    day = slices.custom_slice(run, "timestamp", between=(times.min().date(), middle.date()))
    assert day.tolist() == (times.dt.date <= middle.date()).tolist()  # a date as the high end: its whole day
    groups = slices.filter_as_slices(books)
    assert list(groups.cat.categories) == [slices.IN_FILTER, slices.OUT_OF_FILTER]
    assert (groups == slices.IN_FILTER).sum() == books.sum()
    with pytest.raises(LTSIError, match="either a set of values or a range"):
        slices.custom_slice(run, "category", ["Books"], between=(0, 1))
    with pytest.raises(LTSIError, match="no column 'price'.*item_id, event, timestamp"):
        slices.custom_slice(run, "price", ["1"])
    with pytest.raises(LTSIError, match="holds no numbers"):
        slices.custom_slice(run, "category", between=(0, 1))


def test_verdict_says_where_ltsi_loses():
    rows = []
    for label, ltsi, rival in (("all", 0.20, 0.10), ("head", 0.30, 0.10), ("tail", 0.02, 0.09)):
        for model, value in (("LTSI", ltsi), ("last-item transitions", rival)):
            rows.append(
                {
                    "slice": label,
                    "model": model,
                    "n_users": 50,
                    "NDCG@10": value,
                    "NDCG@10 low": value - 0.01,
                    "NDCG@10 high": value + 0.01,
                }
            )
    table = pd.DataFrame(rows)
    verdicts = slices.slice_verdicts(table[table["slice"] != "all"])
    assert verdicts["wins"].tolist() == [True, False] and verdicts["clear"].tolist() == [True, True]
    assert verdicts["rival"].tolist() == ["last-item transitions"] * 2
    overall = slices.slice_verdicts(table[table["slice"] == "all"])
    sentence = slices.verdict_sentence(overall, verdicts, quote=lambda v: f"<{v}>")
    assert sentence == (
        "LTSI beats the best other model overall (0.200 vs 0.100 for <last-item transitions>), but loses on: "
        "<tail> (0.020 vs 0.090 for <last-item transitions>)."
    )


def test_slice_figures_show_ranges_and_user_counts():
    table = slices.slice_metrics(None, HAND_GROUPS, ranks=HAND_RANKS, n_boot=20)
    fig = figures.slice_metrics_chart(table)
    assert [trace.name for trace in fig.data] == ["LTSI", "most popular"]
    assert list(fig.data[0].x) == ["x<br><i>2 users</i>", "y<br><i>2 users</i>"]
    ltsi = table[table["model"] == "LTSI"]
    assert list(fig.data[0].error_y.array) == pytest.approx((ltsi["NDCG@10 high"] - ltsi["NDCG@10"]).tolist())
    assert figures.slice_axis_label("<b>shoes</b>", 1) == "&lt;b&gt;shoes&lt;/b&gt;<br><i>1 user</i>"
    drivers = pd.DataFrame(
        {"group": ["interest", "interest", "recency"], "label": ["long", "short", "last"], "share": [0.7, 0.3, 1.0]}
    )
    panels = figures.segment_drivers_chart(drivers)
    assert [a.text for a in panels.layout.annotations] == ["What the score comes from", "How recent the events are"]
    assert list(panels.data[0].x) == [0.7, 0.3]
    assert "No attributions" in figures.segment_drivers_chart(drivers.iloc[:0]).layout.annotations[0].text


def test_segment_drivers_shares(tiny_fitted_run):
    users = list(slices.heldout_ranks(tiny_fitted_run).index[:12])
    drivers = slice_drivers.segment_drivers(tiny_fitted_run, users, max_users=10, n_steps=8)
    assert drivers.attrs["n_users"] == 10
    assert set(drivers["group"]) == {"event type", "category", "recency", "interest"}
    for _, part in drivers.groupby("group"):
        assert part["share"].sum() == pytest.approx(1.0) and (part["share"] >= 0).all()
    assert drivers[drivers["group"] == "recency"]["label"].iloc[0] == "the last event"
    with pytest.raises(LTSIError, match="not 'best'"):
        slice_drivers.segment_drivers(tiny_fitted_run, users, target="best")


@pytest.mark.skipif(
    not DEMO_CAUSES.exists() or not (state.DEMO_RUN / "config.json").exists(),
    reason="data/demo_run or data/ecommerce/causes.csv is missing",
)
def test_a_long_term_group_leans_on_long_term_interest():
    """The demo shop's held-out events have planted causes (ltsi/synth.py), long- or short-term. Explaining the
    held-out item, the group with long-term causes owes more of it to long-term interest than the short-term group.

    Measured (data/demo_run, 100 users each): long-term share of long + short 0.66 vs 0.39."""
    run = state.load_demo_run().run
    kind = pd.read_csv(DEMO_CAUSES).set_index("user_id")["kind"]

    def long_share(users: list[str]) -> float:
        drivers = slice_drivers.segment_drivers(run, users, max_users=60, n_steps=16, target="held-out")
        interest = drivers[drivers["group"] == "interest"].set_index("label")["share"]
        return interest["long-term interest"] / (interest["long-term interest"] + interest["short-term interest"])

    long_term, short_term = (long_share(kind.index[kind == k].tolist()) for k in ("long-term", "short-term"))
    assert long_term > short_term + 0.15, (long_term, short_term)


@needs_demo_run
def test_model_page_groups_users_and_opens_one_in_the_users_view():
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), state.load_demo_run())
    at.switch_page("views/model.py").run()
    ok(at)
    at.radio(key="slice_by").set_value(slices.SliceBy.POPULARITY.name).run()
    ok(at)
    chart = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "by group" in c.proto.spec)
    names = [trace["name"] for trace in chart["data"]]
    assert names == ["LTSI", "most popular", "last-item transitions"]
    assert any(tick.startswith("tail") for tick in chart["data"][0]["x"])
    assert any("beats the best other model overall" in m.value for m in at.markdown)
    at.selectbox(key="slice").set_value(slices.TAIL).run()
    ok(at)
    users = at.selectbox(key="slice_user")
    tail = slices.tested_user_slices(at.session_state["run"].run, slices.SliceBy.POPULARITY)
    assert len(users.options) == (tail == slices.TAIL).sum()  # every user of the group (fewer than 1,000)
    pick = tail.index[(tail == slices.TAIL).to_numpy()][3]
    users.set_value(pick).run()
    at.button(key="slice_open_user").click().run()
    ok(at)
    assert at.title[0].value == "Users"
    assert at.session_state["user"] == pick
    assert at.selectbox(key="user_pick").value == pick
