"""The whole history of one user as a heatmap: an event-type lane, one row per signal, a range slider.

Long histories get one column per day instead of one per event (`timeline_by_day`). The window-only
heatmap (`dashboard.figures.users.user_heatmap`) hands a whole timeline to `timeline_heatmap`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.heatmap_rows import click_markers, hover_lines, removed_band, row_axis, row_title, signal_row
from dashboard.figures.style import BASE_LAYOUT, event_color, plain, short_text

# Demo-log event types get fixed marker shapes, so a purchase never looks like a view; other types cycle.
EVENT_SYMBOLS = {
    "view": "circle",
    "click": "circle-open",
    "cart": "diamond",
    "purchase": "star",
    "interaction": "square",
    "rating": "square",
}
OTHER_SYMBOLS = ["triangle-up", "cross", "x", "hexagon", "triangle-down", "pentagon", "hourglass", "bowtie"]
DAILY_ABOVE = 2000  # longer histories get one column per day: thousands of columns are unreadable and slow
MAX_TICK_LABELS = 24  # item names under the timeline at once: about 35 px apart in a 900 px wide chart
INITIAL_COLUMNS = 60  # the first view of a long timeline: the window the model reads, and at least this many
ADDITIVE_KINDS = ("weight", "attribution")  # shares and score parts: a day's value is the sum of its events'


def event_symbol(event: str, i: int = 0) -> str:
    """The marker shape of an event type (`i`: its order among the types without a fixed shape)."""
    return EVENT_SYMBOLS.get(str(event).lower(), OTHER_SYMBOLS[i % len(OTHER_SYMBOLS)])


def timeline_by_day(timeline: pd.DataFrame, sums: Sequence[str] = (), means: Sequence[str] = ()) -> pd.DataFrame:
    """One row per calendar day (UTC) that has events, oldest first.

    Columns: day (midnight UTC), first_position, last_position, n_events, in_window (any of the day's
    events is read by the model), then each column of `sums` summed and each of `means` averaged over
    the day's events that have a value. A day without any value stays NaN (blank, not 0): the model
    did not read that day.
    """
    day = pd.to_datetime(timeline["timestamp"], utc=True).dt.floor("D").rename("day")
    groups = timeline.groupby(day, sort=True)
    out = pd.DataFrame(
        {
            "first_position": groups["position"].min(),
            "last_position": groups["position"].max(),
            "n_events": groups.size(),
            "in_window": groups["in_window"].any(),
        }
    )
    for column in sums:
        out[column] = groups[column].sum(min_count=1)
    for column in means:
        out[column] = groups[column].mean()
    return out.reset_index()


def event_counts_by_day(timeline: pd.DataFrame) -> pd.DataFrame:
    """Events per calendar day (UTC, index, oldest first) and event type (columns, in order of first use)."""
    day = pd.to_datetime(timeline["timestamp"], utc=True).dt.floor("D").rename("day")
    event = timeline["event"].astype(str)
    counts = pd.crosstab(day, event)
    return counts[list(dict.fromkeys(event))]


@dataclass
class _Columns:
    """What the timeline heatmap draws per column: one event, or one day of a long history."""

    labels: list[str]  # x categories, unique, already plain()
    hover: list[str]  # hover lines, already plain()
    positions: np.ndarray  # (C,) the event a click selects: the column's (last) event position
    first_positions: np.ndarray  # (C,) the column's first event position (to place removed events)
    in_window: np.ndarray  # (C,) bool, the model reads (some of) the column's events
    values: dict[str, np.ndarray]  # signal column -> (C,) values, NaN outside the window
    lanes: list[tuple[str, np.ndarray, list[str]]]  # event type -> columns with that type, their hover
    unit: str  # "event" or "day"


def _event_columns(timeline: pd.DataFrame, signals: Sequence[tuple[str, str, str]]) -> _Columns:
    """One column per event, labelled '#12 · Red sneaker' (unique: a category axis merges equal names)."""
    positions = timeline["position"].to_numpy()
    items = timeline["item_id"].astype(str)
    names = timeline["title"].where(timeline["title"].astype(str) != "", items) if "title" in timeline else items
    names = names.fillna(items).astype(str)
    # two items with one title (ML-100k's two "Cape Fear" films): their ids tell them apart
    distinct = pd.DataFrame({"name": names, "item": items}).drop_duplicates()
    shared = names.isin(distinct["name"][distinct["name"].duplicated()])
    labels = [
        f"#{int(p)} · {plain(short_text(n, 18))}" + (f" ({plain(i)})" if twin else "")
        for p, n, i, twin in zip(positions, names, items, shared)
    ]
    hover = hover_lines(timeline)
    events = timeline["event"].astype(str).to_numpy() if "event" in timeline else np.full(len(timeline), "")
    lanes = []
    for event in dict.fromkeys(events):
        idx = np.flatnonzero(events == event)
        lanes.append((event, idx, [hover[i] for i in idx]))
    return _Columns(
        labels=labels,
        hover=hover,
        positions=positions,
        first_positions=positions,
        in_window=timeline["in_window"].to_numpy(dtype=bool),
        values={column: timeline[column].to_numpy(dtype=float) for _, column, _ in signals},
        lanes=lanes,
        unit="event",
    )


def _day_columns(timeline: pd.DataFrame, signals: Sequence[tuple[str, str, str]]) -> _Columns:
    """One column per day with events; see `timeline_by_day` (additive signals summed, others averaged)."""
    sums = [column for _, column, kind in signals if kind in ADDITIVE_KINDS]
    means = [column for _, column, kind in signals if kind not in ADDITIVE_KINDS]
    days = timeline_by_day(timeline, sums, means)
    counts = event_counts_by_day(timeline)  # (C, event types), same days in the same order
    labels = days["day"].dt.strftime("%Y-%m-%d").tolist()
    in_types = [", ".join(f"{int(c)} {plain(e)}" for e, c in row.items() if c) for _, row in counts.iterrows()]
    hover = [
        f"{label} · {int(n)} events ({kinds})<br>#{int(a)} to #{int(b)}"
        for label, n, kinds, a, b in zip(
            labels, days["n_events"], in_types, days["first_position"], days["last_position"]
        )
    ]
    lanes = []
    for event in counts.columns:
        idx = np.flatnonzero(counts[event].to_numpy() > 0)
        lanes.append((event, idx, [f"{labels[i]} · {int(counts[event].iat[i])} {plain(event)}" for i in idx]))
    return _Columns(
        labels=labels,
        hover=hover,
        positions=days["last_position"].to_numpy(),
        first_positions=days["first_position"].to_numpy(),
        in_window=days["in_window"].to_numpy(dtype=bool),
        values={column: days[column].to_numpy(dtype=float) for _, column, _ in signals},
        lanes=lanes,
        unit="day",
    )


def _signal_text(hover: list[str], label: str, z: np.ndarray, unit: str) -> list[str]:
    """Hover per cell: the event (or day) and the value, or that the model did not read it."""
    outside = f"the model does not read this {unit}"
    return [
        f"{h}<br><b>{label}: {v:.3f}</b>" if np.isfinite(v) else f"{h}<br>{label}: {outside}" for h, v in zip(hover, z)
    ]


def _lane_traces(columns: _Columns, xa: str, ya: str) -> list[dict]:
    """One marker trace per event type on its own lane, each with its own shape and colour."""
    traces, unfixed = [], 0
    for i, (event, idx, hover) in enumerate(columns.lanes):
        symbol = event_symbol(event, unfixed)
        unfixed += str(event).lower() not in EVENT_SYMBOLS
        traces.append(
            dict(
                type="scatter",
                x=[columns.labels[j] for j in idx],
                y=[plain(event)] * len(idx),
                mode="markers",
                customdata=columns.positions[idx],
                text=hover,
                marker=dict(symbol=symbol, size=9, color=event_color(event, i), line=dict(width=1, color="#1d2430")),
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
                name=plain(event),
                xaxis=xa,
                yaxis=ya,
            )
        )
    return traces


def _window_band(columns: _Columns, n_read: int) -> tuple[dict, dict]:
    """The shaded band over the columns the model reads, and its honest name above it."""
    inside = np.flatnonzero(columns.in_window)
    name = f"what the model reads: last {n_read} event{'s' if n_read != 1 else ''}"
    band = dict(
        type="rect",
        name=name,
        xref="x",
        yref="paper",
        x0=float(inside[0]) - 0.5,
        x1=float(inside[-1]) + 0.5,
        y0=0,
        y1=1,
        fillcolor="rgba(250, 204, 21, 0.10)",
        line=dict(color="#b45309", width=2),
        layer="above",
    )
    note = dict(
        text=name,
        x=float(inside[-1]) + 0.5,  # the window ends the timeline: right-aligned, the name stays in the plot
        xref="x",
        xanchor="right",
        y=1.0,
        yref="paper",
        yanchor="bottom",
        showarrow=False,
        font=dict(size=12, color="#b45309"),
    )
    return band, note


def timeline_heatmap(
    timeline: pd.DataFrame,
    signals: Sequence[tuple[str, str, str]],
    title: str,
    removed: Sequence[int],
    axis_hint: str,
    daily_above: int,
    initial_columns: int,
) -> go.Figure:
    """The whole history: an event-type lane on top, one heatmap row per signal, a range slider below.

    Item labels: the x axis is a category axis with one unique name per column ('#12 · Red sneaker').
    Plotly thins out category tick labels to what fits and shows more as the analyst zooms in, so
    names appear by themselves once the visible range is small enough to read them; array ticks
    (tickvals/ticktext) would draw all thousand names on top of each other when zoomed out. The
    first view is the window the model reads (at least `initial_columns` columns); the range slider
    under the axis zooms and scrolls. Histories longer than `daily_above` events get one column per
    day (`timeline_by_day`). Events the model does not read are NaN: drawn blank, not as zero.
    """
    signals = [s for s in signals if s[1] in timeline.columns]
    daily = len(timeline) > daily_above and "timestamp" in timeline
    columns = _day_columns(timeline, signals) if daily else _event_columns(timeline, signals)
    n_columns, n = len(columns.labels), len(signals)
    lane_share = min(0.08 + 0.05 * len(columns.lanes), 0.35)  # a thin lane per event type
    spacing = 0.08
    row_height = (1 - lane_share - spacing * n) / max(n, 1)
    bottom = f"x{n + 1}" if n else "x"  # the axis with the labels and the range slider
    data = _lane_traces(columns, "x", "y")
    layout = {
        "yaxis": dict(
            domain=[1 - lane_share, 1.0],
            anchor="x",
            type="category",
            fixedrange=True,
            showgrid=False,
            tickfont=dict(size=11),
        ),
        "xaxis": _matched_x(bottom),
    }
    annotations = []
    for r, (label, column, kind) in enumerate(signals, start=2):
        top = 1 - lane_share - spacing - (r - 2) * (row_height + spacing)
        xa, ya = f"x{r}", f"y{r}"
        z = columns.values[column]
        text = _signal_text(columns.hover, label, z, columns.unit)
        data.append(signal_row(z, columns.labels, label, kind, text, (top, row_height), (xa, ya)))
        data.append(click_markers(columns.labels, label, text, columns.positions, xa, ya))
        layout[f"yaxis{r}"] = row_axis(max(top - row_height, 0.0), top, xa)
        layout[f"xaxis{r}"] = _matched_x(bottom) if r <= n else {}
        annotations.append(row_title(label, top))
    first_read = int(np.flatnonzero(columns.in_window)[0]) if columns.in_window.any() else n_columns - 1
    start = max(min(first_read, n_columns - initial_columns), 0)
    unit_hint = "days, oldest → most recent (one column per day)" if daily else axis_hint
    layout["xaxis" + bottom[1:]] = dict(
        anchor="y" + bottom[1:],
        type="category",
        # oldest first, whatever trace (event-type lane) names a column first
        categoryorder="array",
        categoryarray=columns.labels,
        range=[start - 0.5, n_columns - 0.5],
        # the whole timeline in the slider (left to itself it also makes room for annotations and shapes)
        rangeslider=dict(visible=True, thickness=0.07, autorange=False, range=[-0.5, n_columns - 0.5]),
        showgrid=False,
        zeroline=False,
        tickangle=-45,
        tickfont=dict(size=10),
        # at most this many names in the visible range (more as the analyst zooms in): left to itself Plotly drew
        # every one of 60 slanted names, on top of each other, in the dashboard's column
        nticks=MAX_TICK_LABELS,
        automargin=True,
        title=dict(text=f"{unit_hint}; drag the strip below to see older {columns.unit}s", font=dict(size=12)),
    )
    shapes, notes = [], []
    if columns.in_window.any():
        band, note = _window_band(columns, int(timeline["in_window"].sum()))
        shapes.append(band)
        notes.append(note)
    for pos in removed:
        c = int(np.searchsorted(columns.first_positions, pos, side="right")) - 1  # the column holding `pos`
        shapes.append(removed_band(c - 0.5, c + 0.5))
    layout.update(
        BASE_LAYOUT,
        height=150 + 95 * n + 22 * len(columns.lanes) + 140,
        hovermode="closest",
        showlegend=False,
        clickmode="event+select",
        dragmode=False,  # clicks select events; the range slider does the zooming
        annotations=annotations + notes,
        shapes=shapes,
        title=dict(text=title, x=0.0),
        margin=dict(l=10, r=120, t=70 if title else 40, b=10),
    )
    return go.Figure(data=data, layout=layout)


def _matched_x(bottom: str) -> dict:
    """An upper row's x axis: follows the bottom one (zoom included), no tick labels of its own."""
    return dict(matches=bottom, type="category", showticklabels=False, showgrid=False, zeroline=False)
