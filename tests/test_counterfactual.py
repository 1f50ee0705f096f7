"""What-if scenarios: add, move, remove and cut events (ltsi.scenarios), score the edited history
(ltsi.explain.what_if_history), and the Users page's editor, its saved scenarios and the report.

The edited histories are checked against ones built by hand from the log's timestamps with
`ltsi.histories` functions, and the scores against `ltsi.recommend.score_histories` of those.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_dashboard import APP, TIMEOUT, needs_demo_run, ok, with_demo

from dashboard import explaining, report
from dashboard.state import Keys
from dashboard.text import fmt_rank
from ltsi import explain as ex
from ltsi.errors import LTSIError
from ltsi.histories import History, edit_history
from ltsi.recommend import score_histories
from ltsi.scenarios import Edit, Scenario, apply_edits, describe_edits, usual_gap_seconds
from ltsi.sequences import gap_buckets


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is faster on a busy 2-core machine
    yield
    torch.set_num_threads(threads)


def by_hand(seqs, user: str, order: list[int | tuple[str, str, int]]) -> History:
    """A History from the user's events in `order`: a position, or (item id, event type, timestamp) for a new event.

    Gaps come from the timestamps exactly as the log's own (first event: the "first" bucket).
    """
    u = seqs.user_index(user)
    start = seqs.offsets[u]
    positions, items, events, seconds = [], [], [], []
    for entry in order:
        if isinstance(entry, tuple):
            item, event, t = entry
            positions.append(-1)
            items.append(seqs.items.encode([item])[0])
            events.append(seqs.event_types.encode([event])[0])
            seconds.append(t)
        else:
            positions.append(entry)
            items.append(seqs.item_ids[start + entry])
            events.append(seqs.event_ids[start + entry])
            seconds.append(seqs.timestamps[start + entry])
    first = np.zeros(len(order), dtype=bool)
    first[0] = True
    return History(
        np.array(positions), np.array(items), np.array(events), gap_buckets(np.array(seconds, dtype=np.int64), first)
    )


def same_history(a: History, b: History) -> None:
    for name in ("positions", "items", "events", "gaps"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def case(tiny_seqs):
    """The first user with at least 8 events, and their timestamps."""
    seqs, _ = tiny_seqs
    u = int(np.flatnonzero(seqs.lengths >= 8)[0])
    user = seqs.users[u]
    times = seqs.timestamps[seqs.offsets[u] : seqs.offsets[u + 1]]
    return seqs, user, times


def test_an_added_event_scores_as_the_hand_built_history(case, tiny_model):
    seqs, user, t = case
    n = len(t)
    had = set(seqs.items.decode(seqs.item_ids[seqs.offsets[seqs.user_index(user)] :][:n]))
    item = next(i for i in seqs.items.tokens[1:] if i not in had)
    edits = [Edit.insert(3, item, "cart")]
    hand = by_hand(seqs, user, [0, 1, 2, (item, "cart", (int(t[2]) + int(t[3])) // 2), *range(3, n)])
    edited = apply_edits(seqs, user, edits)
    same_history(edited, hand)

    target = seqs.items.encode([item])  # the added item itself: its score must move
    scores, ranks = score_histories(tiny_model, [edit_history(seqs, seqs.user_index(user)), hand], np.repeat(target, 2))
    w = ex.what_if_history(tiny_model, seqs, user, edited, item=item, k=5)
    assert w.item["score_before"] == pytest.approx(float(scores[0]), abs=1e-6)
    assert w.item["score_after"] == pytest.approx(float(scores[1]), abs=1e-6)
    assert (w.item["rank_before"], w.item["rank_after"]) == (float(ranks[0]), float(ranks[1]))
    assert abs(w.item["score_change"]) > 1e-4  # an added event changes what the model scores
    assert list(w.history["position"]) == [0, 1, 2, -1, *range(3, n)]


def test_an_event_added_at_either_end_is_one_usual_gap_away(case):
    seqs, user, t = case
    n, gap = len(t), usual_gap_seconds(seqs)
    assert gap > 0
    item = seqs.items.tokens[1]
    at_end = apply_edits(seqs, user, [Edit.insert(n, item, "view")])
    same_history(at_end, by_hand(seqs, user, [*range(n), (item, "view", int(t[-1]) + gap)]))
    at_start = apply_edits(seqs, user, [Edit.insert(0, item, "view")])
    same_history(at_start, by_hand(seqs, user, [(item, "view", int(t[0]) - gap), *range(n)]))


def test_move_truncate_and_remove_give_the_expected_histories(case):
    seqs, user, t = case
    n = len(t)
    u = seqs.user_index(user)
    # event #1 just before event #4: it now happens half-way between #3 and #4
    moved = apply_edits(seqs, user, [Edit.move(1, 4)])
    order = [0, 2, 3, 1, *range(4, n)]
    hand = by_hand(seqs, user, order)
    hand.gaps[:] = gap_buckets(
        np.array([t[0], t[2], t[3], (int(t[3]) + int(t[4])) // 2, *t[4:]], dtype=np.int64),
        np.arange(n) == 0,
    )
    same_history(moved, hand)
    assert list(moved.positions) == order
    # to the end: one usual gap after the last event
    last = apply_edits(seqs, user, [Edit.move(0, n)])
    assert list(last.positions) == [*range(1, n), 0]
    # cut at the time of event #5: events #0..#5 stay (a time with no zone is UTC)
    cut = pd.Timestamp(int(t[5]), unit="s").tz_localize(None)
    same_history(apply_edits(seqs, user, [Edit.truncate(cut)]), edit_history(seqs, u, 6))
    # removal is one kind of edit: the same history as edit_history's, and the same what-if as `what_if`'s
    same_history(apply_edits(seqs, user, [Edit.remove(4), Edit.remove(1)]), edit_history(seqs, u, remove=[1, 4]))
    # edits apply in order, to the history before `end`
    both = apply_edits(seqs, user, [Edit.remove(2), Edit.move(0, 5)], end=6)
    assert list(both.positions) == [1, 3, 4, 0, 5]


def test_removal_through_what_if_history_equals_what_if(case, tiny_model):
    seqs, user, _ = case
    old = ex.what_if(tiny_model, seqs, user, remove=[1, 4], k=5)
    new = ex.what_if_history(tiny_model, seqs, user, apply_edits(seqs, user, [Edit.remove(1), Edit.remove(4)]), k=5)
    assert old.item == new.item
    pd.testing.assert_frame_equal(old.after, new.after)


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ([Edit.remove(99)], "Event #99 is not in this history: choose an event from #0 to #7"),
        ([Edit.remove(2), Edit.move(2, 5)], "Event #2 is no longer in the edited history"),
        ([Edit.insert(9, "P00001")], "just before an event from #0 to #7, or at the end (#8)"),
        ([Edit.insert(3, "no such item")], "Unknown item 'no such item'"),
        ([Edit.insert(3, "P00001", "wishlist")], "Unknown event type 'wishlist'"),
        ([Edit.move(3, 3)], "cannot be moved to just before itself"),
        ([Edit.move(3, 4)], "Event #3 is already there"),
        ([Edit.move(7, 8)], "Event #7 is already there"),
        ([Edit.truncate("2000-01-01")], "Cutting the history at 2000-01-01 00:00 leaves no event"),
        ([Edit.remove(p) for p in range(8)], "The edited history is empty"),
    ],
)
def test_bad_edits_say_what_is_wrong(case, edits, message):
    seqs, user, _ = case
    with pytest.raises(LTSIError, match=re.escape(message)):
        apply_edits(seqs, user, edits, end=8)


def test_an_edit_or_scenario_missing_its_parts_is_refused():
    with pytest.raises(LTSIError, match="Unknown kind of change 'jump'"):
        Edit("jump", position=1)
    with pytest.raises(LTSIError, match="needs its item_id"):
        Edit("insert", position=1)
    with pytest.raises(LTSIError, match="needs its time"):
        Edit("truncate")
    with pytest.raises(LTSIError, match="Give the scenario a name"):
        Scenario("  ", (Edit.remove(1),))


def test_edits_in_words(case):
    seqs, user, t = case
    events = seqs.user_events(seqs.user_index(user))
    first = f"event #1 (<{events['item_id'][1]}>, {events['event'][1]}, {events['timestamp'][1]:%Y-%m-%d})"
    words = describe_edits(
        seqs,
        user,
        [Edit.remove(1), Edit.insert(8, "P00001", "cart"), Edit.move(1, 3), Edit.truncate("2025-02-03 04:05")],
        end=8,
        name=lambda i: f"<{i}>",
    )
    assert words == [
        f"Removed {first}",
        "Added <P00001> as a cart at the end",
        f"Moved {first} just before event #3",
        "Cut the history after 2025-02-03 04:05: later events are left out",
    ]


# ---------------------------------------------------------------------------------------------
# The Users page and the report (on the demo model)


@pytest.fixture(scope="module")
def demo_run():
    from dashboard import state

    return state.load_demo_run()


@needs_demo_run
def test_the_users_page_adds_an_item_and_keeps_a_saved_scenario(demo_run):
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), demo_run)
    at.switch_page("views/users.py").run()
    ok(at)
    user, hide = at.session_state["user"], at.session_state["hide_seen"]
    end = explaining.heldout(demo_run, user)["end"]
    seqs = demo_run.run.seqs
    had = set(seqs.items.decode(seqs.item_ids[seqs.offsets[seqs.user_index(user)] :][:end]))
    item = next(i for i in seqs.items.tokens[1:] if i not in had)
    wid = f"{user}_{end}"

    at.text_input(key=f"wi_find_{wid}").set_value(item).run()
    assert at.selectbox(key=f"wi_item_{wid}").value == item  # the exact id is the first match
    at.button(key=f"wi_add_{wid}").click().run()
    ok(at)

    # what the page shows is what_if_history of the hand-made edit (added at the end, as the most common event)
    common = seqs.event_types.tokens[int(np.bincount(seqs.event_ids).argmax())]
    top = explaining.explanation(demo_run, user, end, None, 10, exclude_seen=hide).recommendations["item_id"].iat[0]
    edited = apply_edits(seqs, user, [Edit.insert(end, item, common)], end)
    r = demo_run.run
    w = ex.what_if_history(r.model, seqs, user, edited, top, 10, end, r.items, hide)
    verdicts = [m.value for m in at.markdown if m.value.startswith("With these changes")]
    assert len(verdicts) == 1
    assert f"{fmt_rank(w.item['rank_before'])} → **{fmt_rank(w.item['rank_after'])}**" in verdicts[0]
    assert f"score {w.item['score_before']:.2f} → {w.item['score_after']:.2f}" in verdicts[0]
    after = next(df.value for df in at.dataframe if "new" in df.value.columns)
    assert list(after["item_id"]) == list(w.after["item_id"])
    assert any("Added" in m.value and item in m.value for m in at.markdown)  # the change in words

    at.text_input(key=f"wi_name_{wid}").set_value("with a new item").run()
    at.button(key=f"wi_save_{wid}").click().run()
    at.run()  # a rerun keeps it
    ok(at)
    saved = at.session_state[Keys.SCENARIOS][(user, end)].saved
    assert [(s.name, s.edits) for s in saved] == [("with a new item", (Edit.insert(end, item, common),))]
    assert any(e.label.startswith("with a new item") for e in at.expander)
    assert at.selectbox(key=f"wi_report_{wid}").value == "with a new item"


@needs_demo_run
def test_the_report_lists_a_scenarios_edits_and_its_rank_change(demo_run):
    seqs = demo_run.run.seqs
    tested = (u for u in seqs.users if explaining.heldout(demo_run, u) is not None)
    user = next(u for u in tested if seqs.lengths[seqs.user_index(u)] >= 6)
    end = explaining.heldout(demo_run, user)["end"]
    scenario = Scenario("recent first", (Edit.move(0, end), Edit.insert(1, seqs.items.tokens[1], "cart")))
    page = report.user_report(demo_run, user, hide_seen=False, scenario=scenario)
    words = explaining.scenario_words(demo_run, user, end, scenario.edits)
    section = page[page.index('id="scenario"') :]
    assert "Scenario: recent first" in section
    for line in words:  # every change, in words, in order
        assert f"<li>{html.escape(line, quote=True)}</li>" in section
    w = explaining.what_if_edits(demo_run, user, end, scenario.edits, None, 10, exclude_seen=False)
    assert f"{fmt_rank(w.item['rank_before'])} → {fmt_rank(w.item['rank_after'])}" in section
    assert 'id="scenario-after"' in section and 'id="scenario-before"' in section
    assert 'id="scenario"' not in report.user_report(demo_run, user, hide_seen=False)
