"""Items a user already had: one rule from the data (ltsi.seen_items.seen_rule), followed by the Users page's
switch, the Export page and the CLI (`recommend`/`explain --seen`, `evaluate` with both protocols)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox
from test_dashboard import APP, SMALL_LOG, TIMEOUT, ok, trained_through_the_job, with_small
from typer.testing import CliRunner

from dashboard import explaining, state
from ltsi.cli import app
from ltsi.seen_items import REPEAT_SHARE_TO_HIDE, repeat_share, seen_rule
from ltsi.sequences import build_sequences


def log(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """An event table from (user, item) pairs, one minute apart in the order given."""
    return pd.DataFrame(
        {
            "user_id": [u for u, _ in rows],
            "item_id": [i for _, i in rows],
            "timestamp": pd.to_datetime([1_700_000_000 + 60 * n for n in range(len(rows))], unit="s", utc=True),
        }
    )


# a: x y x z y (x and y come back: 2 repeats), b: x x (1 repeat; a's x does not count for b), c: z (none)
TOY = [("a", "x"), ("a", "y"), ("a", "x"), ("a", "z"), ("a", "y"), ("b", "x"), ("b", "x"), ("c", "z")]


def test_repeat_share_counts_items_the_same_user_had_before():
    seqs = build_sequences(log(TOY))
    assert repeat_share(seqs) == pytest.approx(3 / 8)
    # one sampled user: that user's own share, the same one on every call
    one = repeat_share(seqs, max_users=1)
    assert one in (pytest.approx(2 / 5), pytest.approx(1 / 2), 0.0)
    assert repeat_share(seqs, max_users=1) == one
    assert repeat_share(seqs, max_users=3) == pytest.approx(3 / 8)  # not more users than the log has: no sample


def test_seen_rule_hides_on_a_log_without_repeats_and_keeps_on_a_repeat_heavy_one():
    ratings = build_sequences(log([(f"u{u}", f"m{(u + k) % 9}") for u in range(4) for k in range(5)]))
    rule = seen_rule(ratings)
    assert rule.hide and rule.repeat_share == 0.0
    assert rule.reason.startswith("Users rarely come back to an item here (0% of events")
    assert "hidden by default" in rule.reason

    music = build_sequences(log([(f"u{u}", f"s{k % 2}") for u in range(3) for k in range(4)]))  # 2 of 4 repeat
    rule = seen_rule(music)
    assert not rule.hide and rule.repeat_share == pytest.approx(0.5)
    assert "(50% of events repeat" in rule.reason and "kept by default" in rule.reason

    # just under and just over the threshold: 1 repeat in 20 events (5%) hides, 3 in 20 (15%) keeps
    assert REPEAT_SHARE_TO_HIDE == 0.10
    few = [("u", f"i{k}") for k in range(19)] + [("u", "i0")]
    assert seen_rule(build_sequences(log(few))).hide
    more = [("u", f"i{k}") for k in range(17)] + [("u", "i0"), ("u", "i1"), ("u", "i2")]
    assert not seen_rule(build_sequences(log(more))).hide


# ---------------------------------------------------------------------------------------------
# The Users page's switch


@pytest.fixture(scope="module")
def no_repeat_session():
    """(dataset, run) of test_dashboard's SMALL_LOG: every user has 6 different items of 8, nobody comes back."""
    dataset = state.read_dataset(SMALL_LOG.encode(), "small.csv", "upload")
    return dataset, trained_through_the_job(dataset)


def recommendations_table(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if "explained" in df.value.columns)


def test_the_users_page_switch_defaults_from_the_data_and_hides_history_items(no_repeat_session):
    _, active = no_repeat_session
    at = with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), no_repeat_session)
    ok(at.switch_page("views/users.py").run())
    user = at.session_state["user"]
    seqs = active.run.seqs
    end = explaining.heldout(active, user)["end"]  # the evaluation view: the model sees the first `end` events
    u = seqs.user_index(user)
    history = set(seqs.items.decode(seqs.item_ids[seqs.offsets[u] : seqs.offsets[u] + end]))
    assert len(history) == 5

    switch = at.toggle(key="hide_seen")
    assert switch.value is True  # no user comes back to an item in this log
    assert any("Users rarely come back to an item here (0% of events" in c.value for c in at.caption)
    hidden = recommendations_table(at)
    assert set(hidden["item_id"]).isdisjoint(history) and len(hidden) == 8 - 5  # only the 3 items not yet had

    switch.set_value(False).run()
    ok(at)
    shown = recommendations_table(at)
    assert len(shown) == 8 and history <= set(shown["item_id"])  # the whole catalogue, history items included
    assert set(shown.loc[shown["already had"] == "yes", "item_id"]) == history
    # the held-out item is never in the history here, so it is ranked in both views
    assert any(m.value.startswith("Held-out next event") and "ranked #" in m.value for m in at.markdown)


@pytest.fixture(scope="module")
def repeat_session():
    """(dataset, run) of 20 users who cycle over 3 items: 3 of each user's 6 events repeat an earlier item."""
    rows = "".join(f"u{u:02d},i{(u + k) % 3},{1_700_000_000 + 60 * k}\n" for u in range(20) for k in range(6))
    dataset = state.read_dataset(("user,item,ts\n" + rows).encode(), "repeats.csv", "upload")
    return dataset, trained_through_the_job(dataset)


def test_the_switch_is_off_by_default_where_users_come_back(repeat_session):
    _, active = repeat_session
    assert explaining.seen_rule(active).repeat_share == pytest.approx(0.5)
    at = with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), repeat_session)
    ok(at.switch_page("views/users.py").run())
    assert at.toggle(key="hide_seen").value is False
    assert any("Users come back to items here (50% of events" in c.value for c in at.caption)
    assert "already had" in recommendations_table(at).columns


def test_a_held_out_item_the_user_already_had_is_hidden_not_ranked(repeat_session):
    _, active = repeat_session
    user = "u00"  # events i0 i1 i2 i0 i1 | held out: i2, had at event 2
    assert explaining.heldout(active, user)["item_id"] == "i2"
    assert explaining.heldout_rank(active, user) <= 3
    assert explaining.heldout_rank(active, user, exclude_seen=True) == float("inf")


# ---------------------------------------------------------------------------------------------
# CLI


@pytest.fixture(scope="module")
def no_repeat_run(tmp_path_factory):
    """A run folder trained for one epoch on 30 users x 8 different items each (of 40): nobody comes back."""
    folder = tmp_path_factory.mktemp("seen")
    rows = "".join(f"u{u:02d},i{(3 * u + 5 * k) % 40},{1_700_000_000 + 60 * k}\n" for u in range(30) for k in range(8))
    (folder / "events.csv").write_text("user,item,ts\n" + rows)
    command = ["train", str(folder / "events.csv"), "--out", str(folder / "run"), "--epochs", "1", "--dim", "8"]
    result = CliRunner().invoke(app, [*command, "--quiet"])
    assert result.exit_code == 0, result.output
    return folder / "run", {f"i{(3 * 2 + 5 * k) % 40}" for k in range(8)}  # the run and user u02's items


def test_cli_recommend_with_seen_auto_leaves_out_history_items_and_says_why(no_repeat_run):
    run, had = no_repeat_run
    result = CliRunner().invoke(app, ["recommend", str(run), "--user", "u02", "--k", "10", "--json"])
    assert result.exit_code == 0, result.output
    recommended = {row["item_id"] for row in json.loads(result.stdout)}
    assert len(recommended) == 10 and recommended.isdisjoint(had)
    assert result.stderr.startswith("Users rarely come back to an item here (0% of events")
    assert "--seen hide or --seen show" in result.stderr and result.stderr.count("\n") == 1

    shown = CliRunner().invoke(app, ["recommend", str(run), "--user", "u02", "--k", "40", "--seen", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    assert had <= {row["item_id"] for row in json.loads(shown.stdout)}  # all 40 items: the history is back
    assert "can be recommended again (as asked)" in shown.stderr

    clash = CliRunner().invoke(app, ["recommend", str(run), "--user", "u02", "--seen", "show", "--exclude-seen"])
    assert clash.exit_code == 2 and "contradict" in clash.stderr and clash.stdout == ""
    bad = CliRunner().invoke(app, ["recommend", str(run), "--user", "u02", "--seen", "maybe"])
    assert bad.exit_code == 2 and "--seen must be auto, hide or show, not 'maybe'" in bad.stderr


def test_cli_explain_follows_the_rule_and_evaluate_reports_both_protocols(no_repeat_run):
    run, had = no_repeat_run
    result = CliRunner().invoke(app, ["explain", str(run), "--user", "u02", "--steps", "4", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)  # the reason is inside the JSON, not beside it
    assert data["seen_items"]["hidden"] is True and "rarely come back" in data["seen_items"]["why"]
    assert data["targets"][0]["target_item"] not in had  # the explained top item is one the user has not had

    table = CliRunner().invoke(app, ["evaluate", str(run), "--json"])
    assert table.exit_code == 0, table.output
    rows = {(r["model"], r["history items"]): r for r in json.loads(table.stdout)}
    assert {("LTSI", "ranked"), ("LTSI", "hidden")} <= set(rows)
    # hiding items the user already had can only move the held-out item up (it is never one of them here)
    assert rows["LTSI", "hidden"]["HR@10"] >= rows["LTSI", "ranked"]["HR@10"]
    hidden_only = CliRunner().invoke(app, ["evaluate", str(run), "--exclude-seen", "--json"])
    assert {r["history items"] for r in json.loads(hidden_only.stdout)} == {"hidden"}


def typed_into_selectbox(self) -> WidgetState:
    """What the browser sends for a selectbox: the chosen option's label, or the typed text (a new option).

    AppTest only knows the first (it looks the value up among the options), so the search box's typed text
    is sent as the frontend of `accept_new_options=True` sends it.
    """
    state = WidgetState()
    state.id = self.id
    label = self.format_func(self.value)
    state.string_value = label if label in self.options else str(self.value)
    return state


def test_many_users_have_one_search_box(no_repeat_session, monkeypatch):
    from dashboard import widgets

    monkeypatch.setattr(widgets, "MAX_SELECTBOX_USERS", 5)  # SMALL_LOG's 20 users count as many
    monkeypatch.setattr(Selectbox, "_widget_state", property(typed_into_selectbox))
    at = with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), no_repeat_session)
    ok(at.switch_page("views/users.py").run())
    assert not [t for t in at.text_input if "user" in t.label.lower()]  # one box: the picker takes typed text
    at.selectbox(key="user_pick").set_value("U1").run()  # part of an id, in any case: u10..u19 match
    ok(at)
    assert at.session_state["user"] == "u10"
    assert any(c.value == "10 users with “U1” in the id." for c in at.caption)
    assert {"u10 · 6 events", "u19 · 6 events"} <= set(at.selectbox(key="user_pick").options)
    at.selectbox(key="user_pick").set_value("nobody").run()  # no match: stay on the shown user
    ok(at)
    assert at.session_state["user"] == "u10" and any("0 users with “nobody”" in c.value for c in at.caption)


def test_the_export_page_follows_the_same_switch(no_repeat_session):
    from dashboard import exporting

    _, active = no_repeat_session
    at = with_small(AppTest.from_file(APP, default_timeout=TIMEOUT), no_repeat_session)
    ok(at.switch_page("views/export.py").run())
    assert at.toggle(key="hide_seen").value is True  # the log's rule: nobody comes back to an item
    caption = next(c.value for c in at.caption if "Columns: user_id, rank" in c.value)
    assert caption.startswith("20 users × 2 rows") and "Users rarely come back to an item here" in caption
    assert len(exporting.all_recommendations(active, 10, True)) == 20 * 2  # 8 items, 6 had by each user

    ok(at.switch_page("views/users.py").run())
    at.toggle(key="hide_seen").set_value(False).run()
    ok(at.switch_page("views/export.py").run())
    assert at.toggle(key="hide_seen").value is False  # one switch per session: the Users page's choice stays
    caption = next(c.value for c in at.caption if "Columns: user_id, rank" in c.value)
    assert caption.startswith("20 users × 8 rows")
