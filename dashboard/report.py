"""One user's HTML report: the view the analyst had on the Users page, as one self-contained, script-free file.

The report explains the item the analyst picked (default: the top recommendation) in the view they chose
(the history before the held-out test event, or the whole history), carries the what-if edits, states the
seen-items rule and shows the run's quality check and test metrics. This module gathers those from the run
and puts them in words and sections; the markup (tables, inline SVG charts, the document) is
`dashboard.report_markup`, so a report is a few hundred kilobytes, opens offline and escapes all data text.

No `st.*` here: the Export and Users pages' download buttons call `user_report` lazily, in a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from dashboard import explaining
from dashboard.exporting import all_recommendations
from dashboard.report_markup import (
    esc,
    gate_bar_svg,
    html_document,
    html_table,
    metrics_html,
    paragraphs,
    quality_html,
    section,
    timeline_svg,
)
from dashboard.text import fmt_rank, gate_words, plural, split_words
from ltsi.errors import LTSIError
from ltsi.items import item_label

if TYPE_CHECKING:
    from dashboard.state import ActiveRun
    from ltsi.explain import WhatIf
    from ltsi.scenarios import Scenario

Namer = Callable[[str], str]  # item id -> how a person reads it ("title (id)")


def history_words(n_events: int, n_history: int, n_window: int, tested: bool, evaluation: bool) -> str:
    """Which history the report explains, in words (the held-out view, or the whole history and why)."""
    if evaluation and tested:
        used = (
            f"History used: the {plural(n_history, 'event')} before the user's held-out test event (the view the "
            "model was tested on: it never saw that event)."
        )
    elif evaluation:
        used = (
            f"History used: the whole history ({plural(n_events, 'event')}). The user has fewer than 3 events, so "
            "no event was held out for testing."
        )
    else:
        used = f"History used: the whole history ({plural(n_events, 'event')}), as for a recommendation made today."
    if n_window < n_history:
        used += f" The model reads only the last {n_window} of them; older events cannot change its scores."
    return used


def seen_words(hide: bool, chosen: bool, reason: str) -> str:
    """The seen-items rule in words, and where it came from (the analyst's choice or the data's default)."""
    rule = (
        "Items the user already had are left out of the recommendations."
        if hide
        else "Items the user already had can be recommended again (a repeat purchase or re-watch)."
    )
    return f"{rule} {'Chosen on the dashboard.' if chosen else 'The default for this data: ' + reason}"


def _quality(active: ActiveRun) -> object | None:
    """`ltsi.quality.assess_run` of the run, cached under the dashboard's key; None where LTSI lacks it."""
    try:
        from ltsi.quality import assess_run
    except ImportError:  # TODO(issue 13): drop once ltsi/quality.py is committed
        return None
    return active.cached(("quality",), lambda: assess_run(active.run))


def _ranked_rows(recs: pd.DataFrame, name: Namer, marks: dict[str, str]) -> tuple[list[str], list[list[object]]]:
    """(headers, rows) of a top-K table: rank, [note], item, [category], item id, score."""
    has_category = "category" in recs
    headers = ["rank", *(["note"] if marks else []), "item", *(["category"] if has_category else []), "item id"]
    rows = []
    for rec in recs.itertuples(index=False):
        note = " · ".join(word for item, word in marks.items() if item == rec.item_id) if marks else None
        rows.append(
            [
                int(rec.rank),
                *([note] if marks else []),
                name(rec.item_id),
                *([rec.category] if has_category else []),
                rec.item_id,
                float(rec.score),
            ]
        )
    return [*headers, "score"], rows


def _what_if_section(
    active: ActiveRun,
    user: str,
    end: int | None,
    removed: tuple[int, ...],
    target: str,
    k: int,
    hide: bool,
    name: Namer,
) -> str:
    """The removed events, the explained item's rank change and the before/after top-K (the Users page's what-if)."""
    seqs = active.run.seqs
    events = seqs.user_events(seqs.user_index(user))
    gone = events.iloc[list(removed)]
    listed = html_table(
        ["#", "item", "event", "time"],
        (
            [pos, name(str(row.item_id)), row.event, f"{pd.Timestamp(row.timestamp):%Y-%m-%d %H:%M}"]
            for pos, row in zip(removed, gone.itertuples(index=False))
        ),
        table_id="removed-events",
    )
    n_history = len(events) if end is None else end
    if len(removed) >= n_history:
        return listed + "<p>Every event of this history was removed; keep at least one to see a what-if.</p>"
    w = explaining.what_if(active, user, end, removed, target, k, exclude_seen=hide)
    return listed + _comparison_html(w, target, f"Without {plural(len(removed), 'event')}", name)


def _comparison_html(w: WhatIf, target: str, lead: str, name: Namer, prefix: str = "what-if") -> str:
    """The explained item's rank change in one sentence ("{lead}, X falls: #3 → #9") and the before/after top-K."""
    it = w.item
    change = it["rank_after"] - it["rank_before"]
    direction = "falls" if change > 0 else ("rises" if change < 0 else "stays")
    verdict = (
        f"{lead}, {name(target)} {direction}: {fmt_rank(it['rank_before'])} → "
        f"{fmt_rank(it['rank_after'])} (score {it['score_before']:.2f} → {it['score_after']:.2f})."
    )
    new = set(w.after["item_id"]) - set(w.before["item_id"])
    before = html_table(*_ranked_rows(w.before, name, {target: "explained"}), table_id=f"{prefix}-before")
    after = html_table(
        *_ranked_rows(w.after, name, {target: "explained", **{i: "new" for i in new if i != target}}),
        table_id=f"{prefix}-after",
    )
    rank_id = "rank-change" if prefix == "what-if" else f"{prefix}-rank-change"
    return (
        f'<p class="verdict" id="{esc(rank_id)}">{esc(verdict)}</p>'
        + f'<div class="pair"><div><h3>Before</h3>{before}</div><div><h3>After</h3>{after}</div></div>'
    )


def scenario_section(
    active: ActiveRun, user: str, end: int | None, scenario: Scenario, target: str, k: int, hide: bool, name: Namer
) -> str:
    """A saved what-if scenario: its changes in words, the explained item's rank change, the before/after top-K."""
    words = explaining.scenario_words(active, user, end, scenario.edits)
    w = explaining.what_if_edits(active, user, end, scenario.edits, target, k, exclude_seen=hide)
    changes = '<ol id="scenario-edits">' + "".join(f"<li>{esc(line)}</li>" for line in words) + "</ol>"
    lead = "With these changes" if scenario.edits else "Without changes"
    return (
        paragraphs([f"The analyst's scenario “{scenario.name}” changes the history (same view and rule), in order:"])
        + changes
        + _comparison_html(w, target, lead, name, prefix="scenario")
    )


def recommendation_sections(
    predicted: pd.DataFrame, today: pd.DataFrame, name: Namer, marks: dict[str, str], k: int, hide: bool, held_out: bool
) -> list[str]:
    """The top-K sections: the explained view's list and (held-out view) the list after the whole history, which
    is the recommendations CSV's, and saying so. `marks`: item id -> note (explained, held-out next event)."""
    csv_words = (
        f"These are this user's rows of the recommendations CSV (Export page) with {plural(k, 'item')} per user "
        f"and “Leave out items the user already had” {'on' if hide else 'off'}: the same items in the same order, "
        "ranked after the user's whole history."
    )
    if not held_out:  # the explained view is the whole history: its list is the CSV's
        listed = html_table(*_ranked_rows(today, name, marks), table_id="top-k")
        return [section("Top recommendations", listed + paragraphs([csv_words], "caption"))]
    why = (
        "This list differs from the one below: here the model did not see the held-out event, below it has seen "
        "the user's whole history."
    )
    before = html_table(*_ranked_rows(predicted, name, marks), table_id="top-k-heldout")
    after = html_table(*_ranked_rows(today, name, {}), table_id="top-k")
    return [
        section("What the model predicted before the held-out event", before + paragraphs([why], "caption")),
        section("Recommendations today (the CSV export's list)", after + paragraphs([csv_words], "caption")),
    ]


def timeline_section(rows: pd.DataFrame, target_name: str, removed: Sequence[int], name: Namer) -> str:
    """The timeline chart, the 5 events with the largest |attribution| and (folded) every event's numbers."""
    signals = [
        ("Short-term attention (last few events)", "short_attention", "weight"),
        ("Long-term weight (every event the model reads)", "long_attention", "weight"),
        (f"Attribution to “{target_name}” (blue pushes it up, red down)", "attribution", "attribution"),
    ]
    headers = ["#", "item", "event", "time", "short-term attention", "long-term weight", "attribution"]

    def table(frame: pd.DataFrame, table_id: str) -> str:
        cells = [
            [
                int(r.position),
                name(str(r.item_id)),
                r.event,
                f"{pd.Timestamp(r.timestamp):%Y-%m-%d %H:%M}",
                float(r.short_attention),
                float(r.long_attention),
                float(r.attribution),
            ]
            for r in frame.itertuples(index=False)
        ]
        return html_table(headers, cells, table_id=table_id)

    strongest = rows.reindex(rows["attribution"].abs().sort_values(ascending=False).index).head(5)
    return (
        timeline_svg(rows, signals, removed)
        + f"<h3>Events that mattered most for {esc(target_name)}</h3>"
        + table(strongest, "strongest")
        + "<details><summary>Every event the model read</summary>"
        + table(rows, "events")
        + "</details>"
    )


def user_report(
    active: ActiveRun,
    user: str,
    *,
    target_item: str | None = None,
    evaluation: bool = True,
    removed: tuple[int, ...] = (),
    hide_seen: bool | None = None,
    k: int = 10,
    scenario: Scenario | None = None,
) -> str:
    """One user's self-contained HTML report of the Users page's view (no scripts, works offline).

    `target_item`: the item explained (the one the analyst clicked; default the top recommendation);
    `evaluation`: the history before the held-out test event (else the whole history); `removed`: event
    positions removed in the what-if; `hide_seen`: leave out items already in the history (None: the data's
    default, `ltsi.seen_items.seen_rule`); `scenario`: a what-if scenario of this view (`ltsi.scenarios.Scenario`,
    e.g. saved on the Users page), reported with its changes in words. Its "recommendations today" list is the
    recommendations CSV's rows of this user for the same k and rule.
    """
    seqs, run = active.run.seqs, active.run
    titles = explaining.item_titles(active)  # cached per run

    def name(item: str) -> str:
        return item_label(item, titles.get(item))

    rule = explaining.seen_rule(active)
    hide = bool(rule.hide) if hide_seen is None else bool(hide_seen)
    held = explaining.heldout(active, user)
    end = held["end"] if (held is not None and evaluation) else None
    removed = tuple(sorted({int(p) for p in removed}))

    base = explaining.explanation(active, user, end, None, k, exclude_seen=hide)
    top = str(base.recommendations["item_id"].iat[0])
    target = str(target_item) if target_item is not None else top
    exp = base if target == top else explaining.explanation(active, user, end, target, k, exclude_seen=hide)
    rows = exp.for_target(target)
    if removed and (removed[0] < 0 or removed[-1] >= exp.n_history):  # before reading them from the log
        raise LTSIError(f"Events to remove must be positions 0 to {exp.n_history - 1} of this user's history.")
    target_row = exp.targets[exp.targets["target_item"] == target].iloc[0]
    n_events = int(seqs.lengths[seqs.user_index(user)])
    today = all_recommendations(active, k, hide, users=[user])

    picked = "the item picked on the Users page" if target_item is not None else "the top recommendation"
    target_rank = float(target_row["rank"])
    placed = (
        f"ranked {fmt_rank(target_rank)} in this view"
        if math.isfinite(target_rank)
        else "not ranked in this view: the user already had it, and such items are left out"
    )
    summary = [
        history_words(n_events, exp.n_history, exp.n_window, held is not None, evaluation),
        f"Explained item: {name(target)}, {picked}; {placed}.",
        "Seen items: " + seen_words(hide, hide_seen is not None, str(rule.reason)),
        gate_words(float(exp.gate)),
        split_words(target_row, name(target)),
    ]
    marks = {target: "explained"}
    if end is not None:
        rank = explaining.heldout_rank(active, user, exclude_seen=hide)
        where = (
            f"ranked {fmt_rank(rank)} of {plural(len(seqs.items) - 1, 'item')} "
            f"({'in' if rank <= k else 'not in'} the top {k})"
            if math.isfinite(rank)
            else "not ranked: the user already had it, and such items are left out"
        )
        summary.append(f"Held-out next event (hidden from the model): {name(held['item_id'])}, {where}.")
        marks[held["item_id"]] = "held-out next event"

    sections = recommendation_sections(exp.recommendations, today, name, marks, k, hide, held_out=end is not None)
    if removed:
        sections.append(
            section(
                "What if some events had not happened?",
                paragraphs(["The analyst removed these events in the Users page's what-if (same view and rule):"])
                + _what_if_section(active, user, end, removed, target, k, hide, name),
                "what-if",
            )
        )
    if scenario is not None:
        sections.append(
            section(
                f"Scenario: {scenario.name}",
                scenario_section(active, user, end, scenario, target, k, hide, name),
                "scenario",
            )
        )
    timeline = timeline_section(rows, name(target), removed, name)
    body = [
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in summary) + "</ul>",
        section("How far this model can be trusted", quality_html(_quality(active)), "quality"),
        section("Long-term vs. short-term interest", gate_bar_svg(float(exp.gate))),
        section("The user's timeline", timeline, "timeline"),
        *sections,
        section("Test results of this run", metrics_html(run.table("test"), len(seqs.items) - 1, len(run.split.test))),
    ]
    return html_document(user, active.name, "".join(body))
