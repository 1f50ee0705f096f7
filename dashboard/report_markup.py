"""The one-user HTML report's pure markup: numbers and text in, escaped HTML / SVG out.

Tables, the inline SVG charts (gate bar, timeline: drawn here from numbers, no Plotly, no JavaScript),
the quality and metrics blocks and the document around them. Every piece of text from the data goes
through `esc`. `dashboard.report` assembles these into one user's report.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from dashboard.figures.style import ATTENTION_SCALE, LTSI_COLOR
from dashboard.text import plural, small_catalogue_note
from ltsi.items import item_label

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


def section(heading: str, body: str, section_id: str = "") -> str:
    """A titled <section> of the report (`section_id`: its id attribute, an anchor to link to)."""
    ident = f' id="{esc(section_id)}"' if section_id else ""
    return f"<section{ident}><h2>{esc(heading)}</h2>{body}</section>"


def paragraphs(lines: Iterable[str], css: str = "") -> str:
    """One escaped <p> per line, all of the CSS class `css`."""
    cls = f' class="{css}"' if css else ""
    return "".join(f"<p{cls}>{esc(line)}</p>" for line in lines)


def html_document(user: str, run_name: str, body: str, generated: datetime | None = None) -> str:
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
