"""One user's HTML report: the view the analyst had on the Users page, as one self-contained, script-free file.

The report explains the item the analyst picked (default: the top recommendation) in the view they chose
(the history before the held-out test event, or the whole history), carries the what-if edits, states the
seen-items rule and shows the run's quality check and test metrics. Its charts are inline SVG drawn here
from numbers (no Plotly, no JavaScript), so a report is a few hundred kilobytes and opens offline.
Every piece of text from the data goes through `html.escape`.

No `st.*` here: the Export and Users pages' download buttons call `user_report` lazily, in a worker thread.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dashboard import explaining
from dashboard.exporting import all_recommendations
from dashboard.figures.style import ATTENTION_SCALE, LTSI_COLOR
from dashboard.text import fmt_rank, gate_words, plural, small_catalogue_note, split_words
from ltsi.errors import LTSIError
from ltsi.items import item_label

if TYPE_CHECKING:
    from dashboard.state import ActiveRun
    from ltsi.explain import WhatIf
    from ltsi.scenarios import Scenario

Namer = Callable[[str], str]  # item id -> how a person reads it ("title (id)")

SHORT_TERM_COLOR = "#f2a541"  # the gate bar's short-term share, as on the Users page
# Signed attribution: red lowers the explained item's score, white is no effect, blue raises it.
ATTRIBUTION_STOPS = ((0.0, "#b2182b"), (0.5, "#f7f7f7"), (1.0, "#2166ac"))
MISSING_COLOR = "#e5e7eb"  # a cell without a number
QUALITY_WORDS = {"good": "Good", "caution": "Use with care", "bad": "Not reliable"}
METRIC_MEANINGS = {
    "HR": "share of tested users whose held-out next item is in the top {k}",
    "NDCG": "like HR@{k}, but a hit near the top counts more than one near place {k}",
    "MRR": "1 / the place of the held-out next item, averaged (0 when it is below place {k})",
}


def esc(value: object) -> str:
    """Any value as HTML text (quotes too, so it is also safe inside an attribute)."""
    return html.escape("" if value is None else str(value), quote=True)


# ---------------------------------------------------------------------------------------------
# Pure markup: numbers and text in, escaped HTML / SVG out


def cell_text(value: object) -> str:
    """A table cell's text: floats with 3 decimals, missing values empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3f}"
    return str(value)


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, table_id: str = "", strong: Sequence[bool] = ()
) -> str:
    """A plain HTML table; every header and cell is escaped. `strong[i]` bolds row i (the LTSI row)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = ' class="strong"' if i < len(strong) and strong[i] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{esc(cell_text(v))}</td>" for v in row) + "</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return f'<table class="table"{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def gate_bar_svg(gate: float, width: int = 600, height: int = 34) -> str:
    """The gate as a 100% bar: long-term share (blue) then short-term share (orange), labelled inside."""
    g = float(np.clip(gate, 0.0, 1.0)) if math.isfinite(gate) else 0.5
    split = round(g * width, 1)
    labels = []
    if g >= 0.18:
        labels.append(f'<text x="{split / 2:.1f}" y="{height / 2 + 4:.1f}" fill="white">long-term {g:.0%}</text>')
    if g <= 0.82:
        middle = split + (width - split) / 2
        labels.append(f'<text x="{middle:.1f}" y="{height / 2 + 4:.1f}" fill="#1d2430">short-term {1 - g:.0%}</text>')
    return (
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(f"share of long-term interest {g:.0%}")}" text-anchor="middle" font-size="13">'
        f"<title>{esc(f'share of long-term interest: {g:.0%}')}</title>"
        f'<rect x="0" y="0" width="{split}" height="{height}" fill="{LTSI_COLOR}"/>'
        f'<rect x="{split}" y="0" width="{width - split:.1f}" height="{height}" fill="{SHORT_TERM_COLOR}"/>'
        f"{''.join(labels)}</svg>"
    )


def mix(stops: Sequence[tuple[float, str]], t: float) -> str:
    """The colour at t in [0, 1] on a piecewise-linear scale of (position, '#rrggbb') stops."""
    t = float(np.clip(t, 0.0, 1.0))
    for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
        if t <= p1:
            f = 0.0 if p1 == p0 else (t - p0) / (p1 - p0)
            rgb = [round(int(c0[i : i + 2], 16) * (1 - f) + int(c1[i : i + 2], 16) * f) for i in (1, 3, 5)]
            return "#" + "".join(f"{v:02x}" for v in rgb)
    return stops[-1][1]


def cell_colors(values: np.ndarray, kind: str) -> tuple[list[str], float]:
    """(one colour per value, the value of the strongest colour) for a timeline row.

    kind "weight": white to dark blue up to the row's maximum, but never below twice the uniform weight,
    so evenly spread weights look pale (as the Users page's heatmap); "attribution": red-white-blue,
    symmetric around 0.
    """
    finite = np.isfinite(values)
    if kind == "attribution":
        bound = float(np.abs(values[finite]).max()) if finite.any() else 0.0
        bound = bound if bound > 0 else 1.0
        shades = [
            mix(ATTRIBUTION_STOPS, 0.5 + v / (2 * bound)) if ok else MISSING_COLOR for v, ok in zip(values, finite)
        ]
        return shades, bound
    covered = max(int(np.count_nonzero(np.nan_to_num(values) > 0)), 1)
    top = max(float(values[finite].max()) if finite.any() else 0.0, 2.0 / covered, 1e-12)
    stops = [(float(p), str(c)) for p, c in ATTENTION_SCALE]
    return [mix(stops, v / top) if ok else MISSING_COLOR for v, ok in zip(values, finite)], top


def event_lines(rows: pd.DataFrame) -> list[str]:
    """'#12 · Red sneaker 7 (P00007) · view · 2025-01-03 14:02' for each event row (plain text)."""
    titles = rows["title"] if "title" in rows else [None] * len(rows)
    events = rows["event"] if "event" in rows else [""] * len(rows)
    times = rows["timestamp"] if "timestamp" in rows else [None] * len(rows)
    lines = []
    for pos, item, title, event, ts in zip(rows["position"], rows["item_id"], titles, events, times):
        when = "" if ts is None or pd.isna(ts) else f" · {pd.Timestamp(ts):%Y-%m-%d %H:%M}"
        lines.append(f"#{int(pos)} · {item_label(item, title)} · {event}{when}")
    return lines


def timeline_svg(
    rows: pd.DataFrame, signals: Sequence[tuple[str, str, str]], removed: Sequence[int] = (), width: int = 960
) -> str:
    """The user's timeline: one row of cells per signal (label, column, kind), one column per event, oldest left.

    `rows` has one row per event with position, item_id, [title], event, timestamp and the signal columns.
    Each cell's tooltip (an SVG <title>: no script) names the event and its number; columns at the `removed`
    positions are greyed (the what-if). Returns the SVG followed by a one-line colour key.
    """
    signals = [s for s in signals if s[1] in rows]
    if rows.empty or not signals:
        return "<p>No events to show.</p>"
    n = len(rows)
    cell_w = max(4.0, min(28.0, width / n))
    label_h, cell_h, gap, axis_h = 18, 26, 10, 34
    lines = event_lines(rows)
    positions = rows["position"].to_numpy(dtype=np.int64)
    parts, keys, y = [], [], 0
    for label, column, kind in signals:
        values = rows[column].to_numpy(dtype=float)
        colors, strongest = cell_colors(values, kind)  # strongest: the darkest colour's value
        parts.append(f'<text x="0" y="{y + 13}" class="row-label">{esc(label)}</text>')
        y += label_h
        for i, (value, color, line) in enumerate(zip(values, colors, lines)):
            tip = f"{line}\n{label}: {value:.3f}"
            parts.append(
                f'<rect x="{i * cell_w:.1f}" y="{y}" width="{max(cell_w - 1, 1):.1f}" height="{cell_h}" '
                f'fill="{color}"><title>{esc(tip)}</title></rect>'
            )
        y += cell_h + gap
        keys.append(
            f"{label}: white = 0, darkest blue = {strongest:.3f}"
            if kind == "weight"
            else f"{label}: red lowers the score, blue raises it; darkest = ±{strongest:.3f}"
        )
    for i in np.flatnonzero(np.isin(positions, list(removed))):
        parts.append(
            f'<rect x="{i * cell_w:.1f}" y="{label_h}" width="{cell_w:.1f}" height="{y - gap - label_h}" '
            f'fill="#6b7280" '
            f'fill-opacity="0.45"><title>{esc(lines[i])}: removed in the what-if</title></rect>'
        )
    step = max(1, math.ceil(n / 20))  # at most about 20 position numbers under the cells
    for i in range(0, n, step):
        parts.append(
            f'<text x="{(i + 0.5) * cell_w:.1f}" y="{y + 12}" text-anchor="middle" class="tick">#{positions[i]}</text>'
        )
    parts.append(
        f'<text x="0" y="{y + 28}" class="tick">events, oldest → most recent (point at a cell for its event)</text>'
    )
    total_w, total_h = max(n * cell_w, 420.0), y + axis_h
    svg = (
        f'<svg class="chart" width="{total_w:.0f}" height="{total_h}" viewBox="0 0 {total_w:.0f} {total_h}" '
        f'role="img" aria-label="the user\'s timeline" font-size="12">{"".join(parts)}</svg>'
    )
    return svg + "<p class='caption'>" + "<br>".join(esc(k) for k in keys) + "</p>"


def quality_html(quality: object | None) -> str:
    """The run's quality badge (`ltsi.quality.assess_run`: headline, level, warnings), or a note without one."""
    if quality is None:
        return "<p>No quality check is available for this run in this version of LTSI.</p>"
    level = str(getattr(quality, "level", "caution"))
    level = level if level in QUALITY_WORDS else "caution"
    warnings = "".join(f"<li>{esc(w)}</li>" for w in getattr(quality, "warnings", ()) or ())
    return (
        f'<p><span class="badge {level}">{esc(QUALITY_WORDS[level])}</span> '
        f"{esc(getattr(quality, 'headline', ''))}</p>" + (f"<ul>{warnings}</ul>" if warnings else "")
    )


def metrics_html(table: pd.DataFrame | None, n_items: int, n_tested: int) -> str:
    """The run's stored test metrics, one row per model (LTSI in bold), with what each measure means."""
    if table is None or table.empty:
        return "<p>This run has no stored test metrics.</p>"
    columns = ["model", *[c for c in table.columns if c != "model"]]
    strong = [str(m) == "LTSI" for m in table["model"]]
    rows = table[columns].itertuples(index=False, name=None)
    meanings = []
    for column in columns[1:]:
        kind, _, k = str(column).partition("@")
        if kind in METRIC_MEANINGS and k == "10":  # the @20 columns mean the same with 20
            meanings.append(f"{column}: {METRIC_MEANINGS[kind].format(k=k)}.")
    note = small_catalogue_note(n_items)
    lines = [
        f"Measured on the held-out test event of {plural(n_tested, 'tested user')}: each model ranks every item "
        "of the catalogue after the events before it; higher is better. Rows “LTSI (no …)” are LTSI trained "
        "without one of its parts; the other rows are simple baselines.",
        *meanings,
        *([note] if note else []),
    ]
    return html_table(columns, rows, table_id="metrics", strong=strong) + "".join(
        f"<p class='caption'>{esc(line)}</p>" for line in lines
    )


# ---------------------------------------------------------------------------------------------
# The report


def _item_namer(items: pd.DataFrame | None) -> Namer:
    """item id -> 'title (id)' or the id, from the run's item table."""
    titles = {}
    if items is not None and "title" in items:
        titles = items.drop_duplicates("item_id").set_index("item_id")["title"].to_dict()
    return lambda item: item_label(item, titles.get(item))


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


def _section(heading: str, body: str, section_id: str = "") -> str:
    ident = f' id="{esc(section_id)}"' if section_id else ""
    return f"<section{ident}><h2>{esc(heading)}</h2>{body}</section>"


def _paragraphs(lines: Iterable[str], css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return "".join(f"<p{cls}>{esc(line)}</p>" for line in lines)


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
        _paragraphs([f"The analyst's scenario “{scenario.name}” changes the history (same view and rule), in order:"])
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
        return [_section("Top recommendations", listed + _paragraphs([csv_words], "caption"))]
    why = (
        "This list differs from the one below: here the model did not see the held-out event, below it has seen "
        "the user's whole history."
    )
    before = html_table(*_ranked_rows(predicted, name, marks), table_id="top-k-heldout")
    after = html_table(*_ranked_rows(today, name, {}), table_id="top-k")
    return [
        _section("What the model predicted before the held-out event", before + _paragraphs([why], "caption")),
        _section("Recommendations today (the CSV export's list)", after + _paragraphs([csv_words], "caption")),
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
    default, `ltsi.sequences.seen_rule`); `scenario`: a what-if scenario of this view (`ltsi.scenarios.Scenario`,
    e.g. saved on the Users page), reported with its changes in words. Its "recommendations today" list is the
    recommendations CSV's rows of this user for the same k and rule.
    """
    seqs, run = active.run.seqs, active.run
    name = _item_namer(run.items)
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
            _section(
                "What if some events had not happened?",
                _paragraphs(["The analyst removed these events in the Users page's what-if (same view and rule):"])
                + _what_if_section(active, user, end, removed, target, k, hide, name),
                "what-if",
            )
        )
    if scenario is not None:
        sections.append(
            _section(
                f"Scenario: {scenario.name}",
                scenario_section(active, user, end, scenario, target, k, hide, name),
                "scenario",
            )
        )
    timeline = timeline_section(rows, name(target), removed, name)
    body = [
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in summary) + "</ul>",
        _section("How far this model can be trusted", quality_html(_quality(active)), "quality"),
        _section("Long-term vs. short-term interest", gate_bar_svg(float(exp.gate))),
        _section("The user's timeline", timeline, "timeline"),
        *sections,
        _section("Test results of this run", metrics_html(run.table("test"), len(seqs.items) - 1, len(run.split.test))),
    ]
    return _page(user, active.name, "".join(body))


def _page(user: str, run_name: str, body: str, generated: datetime | None = None) -> str:
    """The HTML document around `body`: styles inline; a policy that forbids scripts and any network fetch."""
    generated = generated or datetime.now(timezone.utc)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Why these recommendations: user {esc(user)}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430; max-width: 1100px;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }}
h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; }}
h3 {{ font-size: 1rem; }} .meta {{ color: #6b7280; font-size: .9rem; }}
.caption {{ color: #4b5563; font-size: .9rem; }} .verdict {{ font-weight: 600; }}
.table {{ border-collapse: collapse; font-size: .9rem; margin: .4rem 0; }}
.table th, .table td {{ padding: .3rem .7rem; border-bottom: 1px solid #e5e7eb; text-align: left; }}
.table th {{ background: #f3f6fb; }} .table tr.strong td {{ font-weight: 600; }}
.chart {{ max-width: 100%; height: auto; display: block; }} .row-label {{ fill: #374151; font-size: 13px; }}
.tick {{ fill: #6b7280; font-size: 11px; }} .pair {{ display: flex; gap: 2rem; flex-wrap: wrap; }}
.badge {{ display: inline-block; padding: .1rem .6rem; border-radius: 1rem; font-weight: 600; color: white; }}
.badge.good {{ background: #2e9e5b; }} .badge.caution {{ background: #c77d12; }} .badge.bad {{ background: #c0392b; }}
</style></head><body>
<h1>Why these recommendations: user {esc(user)}</h1>
<p class="meta">Model: {esc(run_name)} · generated {generated:%Y-%m-%d %H:%M} UTC by the LTSI dashboard</p>
{body}
<p class="meta">How to read it: the short-term attention shows which of the last few events the model looked at; the
long-term weights show which events of the whole history shaped the lasting interest; the attribution shows how much
each event pushed the explained item's score up (blue) or down (red): through its item, event type and time gap, and,
for each of the last few events of a model with a counts part, through its transition term (how often its item was
directly followed by the explained item in training). The gate is the share of long-term interest.</p>
</body></html>
"""
