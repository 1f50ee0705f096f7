"""Issue 13's page-level promises in AppTest: the quality badge on the Users and Export pages, no interest
suggestions from a degenerate model, and a long user's whole timeline on the Users page."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, TIMEOUT, needs_demo_run
from test_quality import gate_forced_long_term, with_model

from dashboard import state, widgets
from dashboard.state import ActiveRun

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def page(path: str, dataset, active: ActiveRun) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset"], at.session_state["run"] = dataset, active
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def demo():
    return state.load_demo("ecommerce"), state.load_demo_run()


@needs_demo_run
@pytest.mark.parametrize("path", ["views/users.py", "views/export.py", "views/model.py"])
def test_the_badge_says_how_the_model_compares_on_every_page_that_shows_it(demo, path):
    at = page(path, *demo)
    headline = widgets.quality_of(demo[1]).headline
    assert headline.startswith("LTSI beats the best simple baseline")
    shown = [s.value.replace("\u2060", "") for s in at.success]  # (md_escape keeps "@10" from turning into a link)
    assert any(headline in s for s in shown), shown


@needs_demo_run
def test_a_degenerate_model_is_flagged_on_the_users_page_and_offers_no_interest_suggestions(demo):
    dataset, active = demo
    healthy = page("views/users.py", dataset, active)
    labels = [b.label for b in healthy.button if b.key and b.key.startswith("pick_")]
    assert widgets.quality_of(active).separates_interest
    assert any(label.startswith("Short-term burst") for label in labels)  # the control: offered when it separates

    forced = ActiveRun(with_model(active.run, gate_forced_long_term), "forced gate")
    at = page("views/users.py", dataset, forced)
    headline = widgets.quality_of(forced).headline
    badge = [e.value for e in [*at.error, *at.warning] if headline in e.value.replace("\u2060", "")]
    assert badge and "long-term interest is 0% or 100% for nearly every user" in badge[0]
    labels = [b.label for b in at.button if b.key and b.key.startswith("pick_")]
    assert labels and not any(label.startswith(("Short-term burst", "Long-term taste")) for label in labels)


def test_a_500_event_user_is_drawn_whole_with_a_legend_per_row_and_the_window_band(tmp_path):
    rows = "".join(
        f"long,i{(k * 7) % 40},{1_700_000_000 + 3600 * k},{'buy' if k % 9 == 0 else 'view'}\n" for k in range(500)
    )
    rows += "".join(f"u{u},i{(u + k) % 40},{1_700_000_000 + 60 * k},view\n" for u in range(30) for k in range(8))
    dataset = state.read_dataset(("user,item,ts,event\n" + rows).encode(), "long.csv", "upload")
    from test_dashboard import trained_through_the_job

    active = trained_through_the_job(dataset, max_len=20)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset"], at.session_state["run"] = dataset, active
    at.session_state[state.Keys.USER] = "long"
    at.switch_page("views/users.py").run()
    assert not at.exception, [e.value for e in at.exception]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    spec = next(s for s in specs if any(t.get("type") == "heatmap" for t in s["data"]))
    heatmaps = [t for t in spec["data"] if t.get("type") == "heatmap"]
    assert heatmaps and all(len(t["x"]) == 499 for t in heatmaps)  # every event before the held-out one
    assert all(t.get("colorbar", {}).get("title") for t in heatmaps)  # one legend per signal row
    markers = {t["name"] for t in spec["data"] if t.get("type") == "scatter" and t.get("mode") == "markers"}
    assert {"buy", "view"} <= markers  # a purchase does not look like a view
    layout = json.dumps(spec["layout"])
    assert "what the model reads: last 20 events" in layout and '"rangeslider"' in layout
