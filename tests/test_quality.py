"""ltsi.quality: the verdict on a run (LTSI vs the baselines, how training ended) and the degeneracy checks,
each on a planted defect of the healthy demo model; ltsi.insights.suggest_users; the quality badge and the
"trained on another log" banner on the Model page."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, SMALL_LOG, TIMEOUT, needs_demo_run, trained_through_the_job

from dashboard import state, widgets
from dashboard.state import ActiveRun
from ltsi.insights import sample_index, suggest_users
from ltsi.quality import Quality, assess_run, gate_saturated, gate_spread, mean_jaccard, near_uniform, sample_behaviour
from ltsi.runs import Run, load_run


@pytest.fixture(scope="module")
def demo() -> Run:
    return load_run(state.DEMO_RUN)


def with_model(run: Run, change) -> Run:
    """The run with a copy of its model changed in place by `change(model)` (the planted defect)."""
    model = copy.deepcopy(run.model)
    with torch.no_grad():
        change(model)
    return replace(run, model=model)


def gate_forced_long_term(model) -> None:
    model.gate.weight.zero_()
    model.gate.bias.fill_(50.0)  # sigmoid(50) = 1: all long-term interest for everyone


def quality(separates: bool) -> Quality:
    return Quality(
        headline="",
        level="good" if separates else "bad",
        warnings=(),
        gate_saturated=not separates,
        attention_uniform=False,
        recommendations_alike=False,
        separates_interest=separates,
        n_users=4,
    )


# ---------------------------------------------------------------------------------------------
# The measures, by hand


def test_mean_jaccard_by_hand():
    # pairs: {1,2}-{1,3} share 1 of 3 items; both share nothing with {4,5}: mean of 1/3, 0, 0
    assert mean_jaccard(np.array([[1, 2], [1, 3], [4, 5]])) == pytest.approx(1 / 9)
    assert mean_jaccard(np.array([[7, 8, 9], [9, 8, 7]])) == 1.0  # the same list in another order
    assert mean_jaccard(np.array([[1, 2]])) == 0.0  # one user: no pair to compare


def test_gate_saturation_and_spread_by_hand():
    # 96 of 100 users within 0.02 of an edge: saturated; 95 of 100 is not more than 95%
    assert gate_saturated(np.array([0.99] * 90 + [0.01] * 6 + [0.5] * 4))
    assert not gate_saturated(np.array([0.99] * 95 + [0.5] * 5))
    assert not gate_saturated(np.array([0.97] * 100))  # 0.03 from 1: not at the edge
    assert gate_spread(np.arange(11) / 10) == pytest.approx(0.8)  # 10th percentile 0.1, 90th 0.9
    assert gate_spread(np.array([0.3])) == 0.0


def test_near_uniform_is_relative_to_the_events_read():
    attention = torch.tensor(
        [
            [0.0, 0.5, 0.5],  # two events read, equal shares
            [0.0, 0.6, 0.4],  # 0.6 = 1.2 x its equal share 0.5: not within 20%
            [0.0, 0.55, 0.45],  # 1.1 x: within 20%
            [0.0, 0.0, 1.0],  # one event read: uniform by necessity, left out
            [0.30, 0.36, 0.34],  # three events: 0.9, 1.08, 1.02 x 1/3
        ]
    )
    read = torch.tensor([[False, True, True]] * 3 + [[False, False, True]] + [[True, True, True]])
    assert near_uniform(attention, read).tolist() == [True, False, True, True]


# ---------------------------------------------------------------------------------------------
# The verdict on whole runs


@needs_demo_run
def test_the_demo_model_is_good(demo):
    table = demo.table().set_index("model")["NDCG@10"]
    assert table["LTSI"] > table[["most popular", "last-item transitions"]].max()  # stored: 0.110 vs 0.022
    assert not demo.info["training"]["still_improving"]
    q = assess_run(demo)
    assert q.headline == (
        "LTSI beats the best simple baseline (last-item transitions) on held-out test events: NDCG@10 0.110 vs 0.022."
    )
    assert (q.level, q.warnings, q.degenerate, q.separates_interest) == ("good", (), False, True)
    assert q.n_users == 500 and assess_run(demo) == q  # a seeded sample: the same verdict every time


@needs_demo_run
def test_a_gate_forced_to_long_term_is_degenerate(demo):
    q = assess_run(with_model(demo, gate_forced_long_term))
    assert q.gate_saturated and q.degenerate and not q.separates_interest
    assert not q.attention_uniform and not q.recommendations_alike
    assert q.level == "caution"  # the stored metrics beat the baselines; the explanation of long vs short does not hold
    assert len(q.warnings) == 1 and "(100% all long-term, 0% all short-term, of 500 users checked)" in q.warnings[0]
    back = json.loads(json.dumps(q.to_dict()))
    assert back["gate_saturated"] is True and back["degenerate"] is True and back["warnings"] == list(q.warnings)


@needs_demo_run
def test_attention_made_uniform_is_caught(demo):
    def blind_short_attention(model) -> None:
        model.short_attention.query.weight.zero_()  # every logit 0: exactly 1/n on each event read

    q = assess_run(with_model(demo, blind_short_attention))
    assert q.attention_uniform and not q.gate_saturated and q.level == "caution"
    assert any("spreads evenly over the recent events" in w for w in q.warnings)


@needs_demo_run
def test_everyone_getting_the_most_popular_items_is_caught(demo):
    def popularity_only(model) -> None:
        model.popularity_weight.fill_(1000.0)  # popularity outweighs everything else in every score

    q = assess_run(with_model(demo, popularity_only))
    assert q.recommendations_alike and q.level == "bad"
    assert any(w.startswith("Nearly every user gets the same top 10 (on average two of the ") for w in q.warnings)
    assert any(f"{q.n_users:,} users compared share 100% of their lists" in w for w in q.warnings)


@needs_demo_run
def test_a_big_catalogue_compares_fewer_lists_but_checks_every_sampled_gate(demo, monkeypatch):
    import ltsi.insights

    full = sample_behaviour(demo, max_users=200)
    assert full.gates.shape == (200,) and full.top.shape == (200, 10)
    monkeypatch.setattr(ltsi.insights, "SCORED_PAIRS", 40 * (len(demo.seqs.items) - 1))  # as if 40 users fit
    monkeypatch.setattr(ltsi.insights, "MIN_SCORED_USERS", 10)
    fewer = sample_behaviour(demo, max_users=200)
    assert np.array_equal(fewer.gates, full.gates)  # every sampled user's gate is still checked
    assert np.array_equal(fewer.top, full.top[sample_index(200, 40, 0)])  # the lists of a seeded 40 of them


@needs_demo_run
def test_below_a_baseline_is_bad_and_says_both_numbers(demo):
    metrics = [{**row, "NDCG@10": 0.012} if row["model"] == "LTSI" else row for row in demo.metrics]
    metrics = [{**row, "NDCG@10": 0.031} if row["model"] == "last-item transitions" else row for row in metrics]
    q = assess_run(replace(demo, metrics=metrics))
    assert q.level == "bad" and not q.degenerate
    assert q.headline.startswith(
        "LTSI is below the best simple baseline (last-item transitions) on held-out test events: NDCG@10 0.012 vs 0.031"
    )
    zero = [{**row, "NDCG@10": 0.0} if row["model"] == "LTSI" else row for row in demo.metrics]
    q = assess_run(replace(demo, metrics=zero))
    assert q.level == "bad" and "ranked none of the held-out test events in its top 10" in q.headline


@needs_demo_run
def test_how_training_ended_and_missing_metrics_make_it_caution(demo):
    training = {**demo.info["training"], "stop_reason": "budget", "still_improving": True}
    q = assess_run(replace(demo, info={**demo.info, "training": training}))
    assert q.level == "caution" and q.headline.startswith("LTSI beats")
    assert q.headline.endswith(
        "vs 0.022. Training stopped while the model was still improving: training longer should make it better."
    )
    q = assess_run(replace(demo, metrics=[]))
    assert q.level == "caution" and "no stored test results" in q.headline


# ---------------------------------------------------------------------------------------------
# Suggested users


def test_suggested_users_offer_interest_kinds_only_when_the_gate_separates_users():
    overview = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "n_events": [5, 6, 7, 8],
            "gate": [0.2, 0.9, 0.5, 0.6],
            "short_peak": [0.5, 0.9, 0.9, 0.3],
            "heldout_rank": [3.0, 40.0, 12.0, 900.0],
        }
    )
    # burst: (1 - gate) * peak = 0.40, 0.09, 0.45, 0.12 -> c; taste: highest gate -> b; the only hit: a;
    # misses 40, 12, 900 have median 40 -> b
    assert suggest_users(overview, quality(separates=True)) == {
        "Short-term burst": ("c", "50% short-term; one recent event carries 90% of the short-term attention"),
        "Long-term taste": ("b", "90% long-term interest"),
        "Test hit": ("a", "the held-out next item was ranked #3"),
        "Test miss": ("b", "the held-out next item was ranked #40"),
    }
    assert set(suggest_users(overview, quality(separates=False))) == {"Test hit", "Test miss"}
    assert suggest_users(overview.iloc[:0], quality(separates=True)) == {}


# ---------------------------------------------------------------------------------------------
# The Model page


@pytest.fixture(scope="module")
def small_run():
    dataset = state.read_dataset(SMALL_LOG.encode(), "small.csv", "upload")
    return dataset, trained_through_the_job(dataset, short_window=4)


def model_page(dataset, active: ActiveRun) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset"], at.session_state["run"] = dataset, active
    at.switch_page("views/model.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_model_page_shows_the_quality_badge_and_the_gate_warning(small_run):
    dataset, active = small_run
    degenerate = ActiveRun(with_model(active.run, gate_forced_long_term), "forced gate")
    at = model_page(dataset, degenerate)
    headline = widgets.quality_of(degenerate).headline
    badge = [e.value for e in [*at.error, *at.warning] if headline in e.value.replace("\u2060", "")]
    assert len(badge) == 1 and not [e for e in at.error if e.icon not in widgets.QUALITY_ICONS.values()]
    assert "The share of long-term interest is 0% or 100% for nearly every user (100% all long-term" in badge[0]
    assert any("Nearly every user is at 0% or at 100% here" in w.value for w in at.warning)
    assert not any("trained on another log" in i.value for i in at.info)  # the data it was trained on


def test_model_page_says_when_the_model_was_trained_on_another_log(small_run):
    _, active = small_run
    at = model_page(state.read_dataset(SMALL_LOG.replace("u00,", "u99,").encode(), "other.csv", "upload"), active)
    notes = [i.value for i in at.info if "trained on another log" in i.value]
    assert notes == [
        "The model shown (" + active.name + ") was trained on another log than the active data (other.csv), so "
        "what it shows is about that other log. To see the active data, train a model on it on the Train page."
    ]
