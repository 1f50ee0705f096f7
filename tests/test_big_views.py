"""Views over all users or items on a big log use a seeded sample above a size, say so, and agree with the full
computation on the users or items they keep. The thresholds are lowered here so the demo run counts as big."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, TIMEOUT, needs_demo_run, ok, with_demo

from dashboard import exporting, state
from dashboard.text import fmt_rank
from ltsi import insights, slices
from ltsi.batches import history_batch
from ltsi.evaluate import compare_ranks
from ltsi.recommend import last_outputs
from ltsi.scorers import run_scorers


def test_scored_users_follow_the_catalogue_size(monkeypatch):
    assert insights.scored_users(2_000) == insights.SAMPLE_USERS  # small catalogues: the usual 20,000
    assert insights.scored_users(1_000_000) == 100  # 1e8 scored pairs / 1e6 items
    assert insights.scored_users(10**9) == insights.MIN_SCORED_USERS
    assert insights.scored_users(2_000, most=5_000) == 5_000


def test_heldout_ranks_on_a_sample_are_the_full_ranks_of_those_users(tiny_fitted_run):
    full = slices.heldout_ranks(tiny_fitted_run)
    assert len(full) == len(tiny_fitted_run.split.test) == full.attrs["of_users"]  # a tiny catalogue: everyone
    part = slices.heldout_ranks(tiny_fitted_run, max_users=5)
    assert len(part) == 5 and part.attrs["of_users"] == len(full)
    assert part.index.isin(full.index).all()
    np.testing.assert_array_equal(part.to_numpy(), full.loc[part.index].to_numpy())
    assert part.index.equals(slices.heldout_ranks(tiny_fitted_run, max_users=5).index)  # seeded: the same users


def test_gate_distribution_reads_the_gate_the_scoring_path_gives(tiny_fitted_run):
    model, seqs = tiny_fitted_run.model, tiny_fitted_run.seqs
    gates = insights.gate_distribution(model, seqs, max_users=7)
    assert len(gates) == 7 and gates.attrs["of_users"] == seqs.n_users
    index = np.array([seqs.user_index(u) for u in gates["user_id"]])
    out, _ = last_outputs(model, history_batch(seqs, index, seqs.lengths[index], model.config.max_len))
    np.testing.assert_allclose(gates["gate"], out.gate[:, -1].numpy(), rtol=1e-6)


def test_item_map_sample_keeps_the_full_maps_points(tiny_fitted_run):
    model, seqs = tiny_fitted_run.model, tiny_fitted_run.seqs
    full = insights.item_map(model, seqs, tiny_fitted_run.items)
    part = insights.item_map(model, seqs, tiny_fitted_run.items, max_items=4)
    assert len(part) == 4 and part.attrs["of_items"] == len(full) == len(seqs.items) - 1
    kept = full.set_index("item_id").loc[part["item_id"], ["x", "y", "popularity"]]
    np.testing.assert_allclose(part[["x", "y", "popularity"]].to_numpy(), kept.to_numpy(), rtol=1e-9, atol=1e-12)
    assert part.attrs["explained_variance"] == full.attrs["explained_variance"]  # the PCA is of every item


@pytest.fixture
def small_thresholds(monkeypatch):
    """The demo run (1,000 users, ~1,700 items) counts as big: 50 users ranked, 200 users read, 100 items drawn."""
    monkeypatch.setattr(insights, "SCORED_PAIRS", 1)
    monkeypatch.setattr(insights, "MIN_SCORED_USERS", 50)
    monkeypatch.setattr(insights, "SAMPLE_USERS", 200)
    monkeypatch.setattr(insights, "GATE_USERS", 200)
    monkeypatch.setattr(insights, "SAMPLE_ITEMS", 100)


@needs_demo_run
def test_items_page_ranks_a_sample_of_users_and_says_so(small_thresholds):
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), state.load_demo_run())
    at.switch_page("views/items.py").run()
    ok(at)
    active = at.session_state["run"]
    seqs = active.run.seqs
    sampled = [seqs.users[u] for u in insights.sample_users(seqs, None, 50)]
    hide = bool(at.session_state["hide_seen"])
    counts = exporting.all_recommendations(active, 10, hide, users=sampled)["item_id"].value_counts()
    assert at.session_state["item"] == counts.index[0]  # the item most sampled users get
    said = next(m.value for m in at.markdown if "is in the top 10 of" in m.value)
    assert f"**{counts.iloc[0]} users** of the 50 users of a random sample (of 1,000 users" in said
    assert any(c.value.startswith("Sampled users grouped by") for c in at.caption)
    assert all("sampled top-10 list" in option for option in at.selectbox(key="item_pick").options)


@needs_demo_run
def test_model_page_samples_users_and_items_and_says_so(small_thresholds):
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), state.load_demo_run())
    at.switch_page("views/model.py").run()
    ok(at)
    captions = [c.value for c in at.caption]
    tested = len(at.session_state["run"].run.split.test)
    assert any(f"a random sample of 50 of the {tested:,} tested users" in c for c in captions)
    assert any("over a sample of 200 of 1,000 users" in c for c in captions)  # the gate distribution
    assert any(c.startswith("A sample of 100 of the ") for c in captions)  # the item map
    item_map = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "model_item_map" in c.proto.id)
    assert sum(n_points(trace.get("x", [])) for trace in item_map["data"]) == 100


@needs_demo_run
def test_model_page_reads_the_ranks_the_runs_test_evaluation_kept(small_thresholds, monkeypatch):
    demo = state.load_demo_run()
    run = demo.run
    every = compare_ranks(run_scorers(run), run.seqs, run.split.test, run.model_config.max_len)
    kept = every.iloc[::2]  # a run whose test evaluation ranked every other tested user
    scored = []  # nothing may rank the catalogue again for the page
    monkeypatch.setattr(slices, "run_scorers", lambda *args: scored.append(args) or {})
    at = with_demo(
        AppTest.from_file(APP, default_timeout=TIMEOUT), state.ActiveRun(replace(run, test_ranks=kept), "kept")
    )
    at.switch_page("views/model.py").run()
    ok(at)
    assert scored == []
    tested = len(run.split.test)
    assert any(
        "The ranks here are those of the run's test evaluation, itself on a sample, and this section is computed on "
        f"a random sample of 200 of the {tested:,} tested users" in c.value
        for c in at.caption
    )
    listed = next(d.value for d in at.dataframe if "user" in d.value)  # a group's users, with their held-out ranks
    positions = np.searchsorted(run.split.test.users, [run.seqs.user_index(u) for u in listed["user"]])
    assert set(positions) <= set(kept.index)  # only users the evaluation ranked
    ltsi_ranks = listed["held-out rank (LTSI)"].tolist()
    assert ltsi_ranks == [fmt_rank(r) for r in every.loc[positions, "LTSI"]]


def n_points(x) -> int:
    """Points of a plotly trace axis: a list, or a typed array ({"dtype", "bdata": base64}) as plotly sends them."""
    if isinstance(x, dict):
        return len(base64.b64decode(x["bdata"])) // np.dtype(x["dtype"]).itemsize
    return len(x)
