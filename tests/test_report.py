"""The one-user HTML report (dashboard.report): the Users page's view as one small, script-free, escaped file.

On the shipped demo model: the report explains the clicked item in the chosen view, carries the what-if, lists the
same top-K as the recommendations CSV, shows the stored test metrics and the quality check; data from the log
(user ids, titles) comes out as text. The chart markup is checked on hand-made numbers.
"""

from __future__ import annotations

import dataclasses
import html
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from test_dashboard import PAYLOADS, needs_demo_run, payload_run  # noqa: F401  (payload_run is a fixture)

from dashboard import explaining, report, report_markup, state
from dashboard.exporting import all_recommendations
from dashboard.state import ActiveRun
from dashboard.text import fmt_rank
from ltsi.errors import LTSIError
from ltsi.items import item_label


class Tables(HTMLParser):
    """The text of every table with an id ({id: [[cell, ...], ...]}, header row first), the page's <h1> text and
    the names of every tag seen; entities come back as the characters they stand for."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: set[str] = set()
        self.h1 = ""
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_h1 = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "table" and dict(attrs).get("id"):
            self._table = dict(attrs)["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        self._in_h1 = self._in_h1 or tag == "h1"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_h1:
            self.h1 += data


def rows_of(page: str, table_id: str) -> pd.DataFrame:
    table = Tables(page).tables[table_id]
    return pd.DataFrame(table[1:], columns=table[0])


@pytest.fixture(scope="module")
def demo() -> ActiveRun:
    """The shipped demo run, loaded as the dashboard loads it (ltsi.runs.load_run wrapped in an ActiveRun)."""
    if not (state.DEMO_RUN / "config.json").exists():
        pytest.skip("data/demo_run is missing: python -m dashboard.make_demo_run")
    return state.load_demo_run()


@pytest.fixture(scope="module")
def user(demo: ActiveRun) -> str:
    """A tested demo user with a long history whose top recommendation is not its held-out item."""
    seqs = demo.run.seqs
    return next(
        u for u in seqs.users if seqs.lengths[seqs.user_index(u)] >= 20 and explaining.heldout_rank(demo, u) > 1
    )


def name_of(active: ActiveRun, item: str) -> str:
    titles = active.run.items.drop_duplicates("item_id").set_index("item_id")["title"]
    return item_label(item, titles.get(item))


# ---------------------------------------------------------------------------------------------
# The report of a demo user


@needs_demo_run
def test_the_report_is_small_script_free_and_says_which_history_it_used(demo, user):
    end = explaining.heldout(demo, user)["end"]
    held_out_view = report.user_report(demo, user)
    whole = report.user_report(demo, user, evaluation=False)
    n_events = int(demo.run.seqs.lengths[demo.run.seqs.user_index(user)])
    for page in (held_out_view, whole):
        assert len(page.encode()) < 1_000_000
        assert "<script" not in page.lower() and "plotly" not in page.lower()
        assert "script" not in Tables(page).tags and "svg" in Tables(page).tags  # the charts: inline SVG
    assert f"History used: the {end} events before the user&#x27;s held-out test event" in held_out_view
    assert "What the model predicted before the held-out event" in held_out_view
    assert f"History used: the whole history ({n_events} events), as for a recommendation made today" in whole
    assert "What the model predicted" not in whole and "top-k-heldout" not in Tables(whole).tables


@needs_demo_run
def test_the_report_explains_the_clicked_item_not_the_top_one(demo, user):
    end = explaining.heldout(demo, user)["end"]
    top_k = explaining.explanation(demo, user, end, None, 10, exclude_seen=False).recommendations
    clicked = str(top_k["item_id"].iat[3])
    page = report.user_report(demo, user, target_item=clicked, hide_seen=False)
    name = html.escape(name_of(demo, clicked), quote=True)
    assert f"Explained item: {name}, the item picked on the Users page; ranked #4 in this view." in page
    assert f"Events that mattered most for {name}" in page

    # every event's attribution in the report is the clicked item's, not the top recommendation's
    expected = explaining.explanation(demo, user, end, clicked, 10, exclude_seen=False).for_target(clicked)
    events = rows_of(page, "events")
    assert events["#"].astype(int).tolist() == expected["position"].tolist()
    assert events["attribution"].astype(float).to_numpy() == pytest.approx(expected["attribution"], abs=1e-3)
    top = explaining.explanation(demo, user, end, None, 10, exclude_seen=False)
    assert not np.allclose(top.for_target(top_k["item_id"].iat[0])["attribution"], expected["attribution"])
    marked = rows_of(page, "top-k-heldout")
    assert marked.loc[marked["note"] == "explained", "item id"].tolist() == [clicked]


@needs_demo_run
def test_the_report_carries_the_what_if(demo, user):
    end = explaining.heldout(demo, user)["end"]
    removed = (end - 1, end - 3)  # the most recent event and the one two before it
    page = report.user_report(demo, user, removed=removed, hide_seen=False)
    gone = rows_of(page, "removed-events")
    events = demo.run.seqs.user_events(demo.run.seqs.user_index(user))
    assert gone["#"].astype(int).tolist() == [end - 3, end - 1]
    assert gone["item"].tolist() == [name_of(demo, events["item_id"].iat[p]) for p in (end - 3, end - 1)]

    top = explaining.explanation(demo, user, end, None, 10, exclude_seen=False).recommendations["item_id"].iat[0]
    change = explaining.what_if(demo, user, end, (end - 3, end - 1), top, 10, exclude_seen=False).item
    direction = {1: "falls", -1: "rises", 0: "stays"}[int(np.sign(change["rank_change"]))]
    ranks = f"{fmt_rank(change['rank_before'])} → {fmt_rank(change['rank_after'])}"
    assert html.escape(f"Without 2 events, {name_of(demo, top)} {direction}: {ranks}", quote=True) in page
    after = rows_of(page, "what-if-after")
    w = explaining.what_if(demo, user, end, (end - 3, end - 1), top, 10, exclude_seen=False)
    assert after["item id"].tolist() == w.after["item_id"].tolist()
    new = set(w.after["item_id"]) - set(w.before["item_id"]) - {top}
    assert set(after.loc[after["note"] == "new", "item id"]) == new
    # the greyed timeline columns: one overlay per removed event
    assert page.count(": removed in the what-if</title>") == 2


@needs_demo_run
@pytest.mark.parametrize("hide_seen", [False, True])
def test_the_reports_top_k_is_the_csv_exports(demo, user, hide_seen):
    page = report.user_report(demo, user, hide_seen=hide_seen, k=5)
    listed = rows_of(page, "top-k")
    csv = all_recommendations(demo, 5, hide_seen)
    csv = csv[csv["user_id"] == user]
    assert listed["item id"].tolist() == csv["item_id"].tolist()
    assert listed["rank"].astype(int).tolist() == csv["rank"].tolist() == [1, 2, 3, 4, 5]
    assert listed["score"].astype(float).to_numpy() == pytest.approx(csv["score"].to_numpy(), abs=1e-3)
    assert f"“Leave out items the user already had” {'on' if hide_seen else 'off'}" in page
    if hide_seen:  # none of the listed items is in the user's history
        history = set(demo.run.seqs.user_events(demo.run.seqs.user_index(user))["item_id"])
        assert not history & set(listed["item id"])


@needs_demo_run
def test_without_a_choice_the_report_uses_the_datas_seen_items_rule(demo, user):
    rule = explaining.seen_rule(demo)
    page = report.user_report(demo, user)
    assert "The default for this data: " + html.escape(rule.reason, quote=True) in page
    csv = all_recommendations(demo, 10, bool(rule.hide))
    assert rows_of(page, "top-k")["item id"].tolist() == csv.loc[csv["user_id"] == user, "item_id"].tolist()


@needs_demo_run
def test_the_report_shows_the_test_metrics_and_the_quality_check(demo, user):
    page = report.user_report(demo, user, hide_seen=False)
    shown = rows_of(page, "metrics")
    stored = demo.run.table("test")
    assert shown["model"].tolist() == stored["model"].tolist()
    for column in ("HR@10", "NDCG@10", "MRR@10"):
        assert shown[column].tolist() == [f"{v:.3f}" for v in stored[column]]
    assert '<tr class="strong"><td>LTSI</td>' in page  # LTSI's row stands out
    quality = demo.cached(("quality",), lambda: pytest.fail("the report did not cache the quality check"))
    assert f'class="badge {quality.level}"' in page and html.escape(quality.headline, quote=True) in page


@needs_demo_run
def test_an_unknown_item_or_an_impossible_what_if_is_a_plain_error(demo, user):
    with pytest.raises(LTSIError):
        report.user_report(demo, user, target_item="no such item")
    end = explaining.heldout(demo, user)["end"]
    with pytest.raises(LTSIError, match="positions 0 to"):
        report.user_report(demo, user, removed=(end,))  # the held-out event is not in this view's history


# ---------------------------------------------------------------------------------------------
# Text from the data comes out as text


@needs_demo_run
def test_a_title_with_markup_is_shown_as_text(demo, user):
    end = explaining.heldout(demo, user)["end"]
    top = explaining.explanation(demo, user, end, None, 10, exclude_seen=False).recommendations["item_id"].iat[0]
    title = "<script>alert(1)</script> **bold** [phish](https://evil.example) <img src=x>"
    items = demo.run.items.copy()
    items.loc[items["item_id"] == top, "title"] = title
    hostile = ActiveRun(dataclasses.replace(demo.run, items=items), "<b>run</b>")
    page = report.user_report(hostile, user, hide_seen=False)
    assert "<script" not in page.lower() and "<img" not in page and "<b>" not in page and "<a " not in page
    assert html.escape(item_label(top, title), quote=True) in page
    assert rows_of(page, "top-k-heldout")["item"].iat[0] == item_label(top, title)  # read back as the same text


@pytest.mark.parametrize("uid", [PAYLOADS["script"], PAYLOADS["link"], PAYLOADS["image"]])
def test_a_user_id_with_markup_is_shown_as_text(payload_run, uid):  # noqa: F811
    _, active = payload_run
    page = report.user_report(active, uid, hide_seen=False)
    assert "<script" not in page.lower() and "<a " not in page and "<img" not in page
    assert Tables(page).h1 == f"Why these recommendations: user {uid}"
    assert f"<title>Why these recommendations: user {html.escape(uid, quote=True)}</title>" in page


# ---------------------------------------------------------------------------------------------
# The chart markup, on hand-made numbers


def test_colours_follow_the_scales():
    assert report_markup.mix(((0.0, "#000000"), (1.0, "#ffffff")), 0.5) == "#808080"  # 127.5 rounds to 128
    colours, bound = report_markup.cell_colors(np.array([-2.0, 0.0, 1.0, np.nan]), "attribution")
    assert bound == 2.0
    assert colours == [
        "#b2182b",
        "#f7f7f7",
        report_markup.mix(report_markup.ATTRIBUTION_STOPS, 0.75),
        report_markup.MISSING_COLOR,
    ]
    # four even weights of 0.25: scaled to twice the uniform weight (0.5), so each is half-way, not the darkest
    colours, top = report_markup.cell_colors(np.full(4, 0.25), "weight")
    assert top == 0.5 and set(colours) == {report_markup.mix([(p, c) for p, c in report_markup.ATTENTION_SCALE], 0.5)}


def test_the_gate_bar_splits_at_the_gate():
    svg = report_markup.gate_bar_svg(0.25, width=600)
    assert 'width="150.0"' in svg and 'x="150.0" y="0" width="450.0"' in svg
    assert "long-term 25%" in svg and "short-term 75%" in svg
    assert "long-term" not in report_markup.gate_bar_svg(0.1).split("</title>")[1]  # too narrow a share for its label


def test_the_timeline_draws_one_cell_per_event_and_signal_and_escapes_the_data():
    rows = pd.DataFrame(
        {
            "position": [3, 4, 5],
            "item_id": ["i1", "<i2>", "i3"],
            "title": ["A & B", "<script>x</script>", None],
            "event": ["view", "buy", "<b>"],
            "timestamp": pd.to_datetime(["2025-01-01 10:00", "2025-01-02 11:00", "2025-01-03 12:00"]),
            "short_attention": [0.2, 0.3, 0.5],
            "attribution": [-0.4, 0.1, 0.8],
        }
    )
    signals = [("Short <term>", "short_attention", "weight"), ("Attribution", "attribution", "attribution")]
    svg = report_markup.timeline_svg(rows, signals, removed=[4])
    assert svg.count("<rect") == 3 * 2 + 1  # 3 events x 2 signals, plus one grey column
    assert "<script" not in svg and "<b>" not in svg and "Short &lt;term&gt;" in svg
    assert "#4 · &lt;script&gt;x&lt;/script&gt; (&lt;i2&gt;) · buy · 2025-01-02 11:00\nShort &lt;term&gt;: 0.300" in svg
    assert "#5 · i3 · &lt;b&gt; · 2025-01-03 12:00" in svg and "A &amp; B (i1)" in svg
    assert "darkest = ±0.800" in svg  # the largest |attribution|
    assert "darkest blue = 0.667" in svg  # twice the even weight of 3 events (1/3), above the largest weight 0.5
