"""Users view: one user's timeline heatmap (the window the model reads, or the whole history) and the gate bar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.style import (
    ATTENTION_SCALE,
    ATTRIBUTION_SCALE,
    BASE_LAYOUT,
    LTSI_COLOR,
    _style,
    empty_figure,
    event_color,
    plain,
    short_text,
)
from ltsi.items import item_label


def _hover_lines(frame: pd.DataFrame) -> list[str]:
    """'#12 · Red sneaker 7 (P00007)<br>view · 2025-01-03 14:02' for each event."""
    titles = frame["title"] if "title" in frame else pd.Series([None] * len(frame), index=frame.index)
    out = []
    for pos, item, title, event, ts in zip(
        frame["position"],
        frame["item_id"],
        titles,
        frame["event"] if "event" in frame else [""] * len(frame),
        frame["timestamp"] if "timestamp" in frame else [None] * len(frame),
    ):
        name = item_label(item, title)
        when = pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M") if ts is not None and not pd.isna(ts) else ""
        category = ""
        out.append(f"#{int(pos)} · {plain(name)}<br>{plain(event)}{' · ' if when else ''}{when}{category}")
    if "category" in frame:
        out = [
            f"{line}<br>{plain(cat)}" if isinstance(cat, str) and cat else line
            for line, cat in zip(out, frame["category"])
        ]
    return out


def heatmap_signals(target: str) -> list[tuple[str, str, str]]:
    """The rows of a user's heatmap (label, column, kind): both attentions, then the attribution to `target`."""
    return [
        ("Short-term attention (last few events)", "short_attention", "weight"),
        ("Long-term weight (every event the model reads)", "long_attention", "weight"),
        (
            f"Attribution to “{plain(short_text(target, 48))}” (blue pushes it up, red down)",
            "attribution",
            "attribution",
        ),
    ]


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
INITIAL_COLUMNS = 60  # the first view of a long timeline: the window the model reads, and at least this many
ADDITIVE_KINDS = ("weight", "attribution")  # shares and score parts: a day's value is the sum of its events'


def event_symbol(event: str, i: int = 0) -> str:
    """The marker shape of an event type (`i`: its order among the types without a fixed shape)."""
    return EVENT_SYMBOLS.get(str(event).lower(), OTHER_SYMBOLS[i % len(OTHER_SYMBOLS)])


def _colour_scale(z: np.ndarray, kind: str) -> dict:
    """colorscale / zmin / zmax [/ zmid] of a signal row; NaN (events the model does not read) is ignored."""
    finite = np.isfinite(z).any()
    if kind == "attribution":
        bound = float(np.nanmax(np.abs(z))) if finite and np.nanmax(np.abs(z)) > 0 else 1.0
        return dict(colorscale=ATTRIBUTION_SCALE, zmid=0.0, zmin=-bound, zmax=bound)
    # Weights sum to 1 over the events they cover: scale to the row's maximum, but never below twice
    # the uniform weight, so evenly spread weights look pale instead of all "strong".
    covered = max(int(np.count_nonzero(np.nan_to_num(z) > 0)), 1)
    zmax = max(float(np.nanmax(z)) if finite else 0.0, 2.0 / covered, 1e-12)
    return dict(colorscale=ATTENTION_SCALE, zmin=0.0, zmax=zmax)


def _signal_row(
    z, x, label: str, kind: str, text: list[str], place: tuple[float, float], axes: tuple[str, str]
) -> dict:
    """One heatmap row of a signal: its values `z` over the columns `x`, its own colour scale and legend;
    `place` = (top, height) of the row, `axes` = its (x, y) axes."""
    scale = _colour_scale(z, kind)
    top, height = place
    return dict(
        type="heatmap",
        z=[z],
        x=x,
        y=[label],
        showscale=True,
        colorbar=_colorbar(kind, scale, top, height),
        xgap=1,
        text=[text],
        hovertemplate="%{text}<extra></extra>",
        name=label,
        xaxis=axes[0],
        yaxis=axes[1],
        **scale,
    )


def _colorbar(kind: str, scale: dict, top: float, height: float) -> dict:
    """A colour legend beside one signal row, its ends named in words."""
    bar = dict(y=top - height / 2, yanchor="middle", len=height, thickness=10, x=1.01, xanchor="left")
    bar["tickfont"] = dict(size=10)
    if kind == "attribution":
        bound = scale["zmax"]
        ticks = dict(tickvals=[-bound, 0.0, bound], ticktext=[f"−{bound:.2g} lowers", "0", f"+{bound:.2g} raises"])
        return dict(bar, title=dict(text="score", side="right", font=dict(size=10)), **ticks)
    return dict(bar, title=dict(text="share", side="right", font=dict(size=10)), tickformat=".0%")


def user_heatmap(
    frame: pd.DataFrame,
    signals: Sequence[tuple[str, str, str]],
    *,
    title: str = "",
    removed: Sequence[int] = (),
    max_labels: int = 30,
    axis_hint: str = "events, oldest → most recent (hover for item and time; click to select)",
    timeline: pd.DataFrame | None = None,
    daily_above: int = DAILY_ABOVE,
    initial_columns: int = INITIAL_COLUMNS,
) -> go.Figure:
    """The user's timeline as a heatmap: one row per signal, one column per event (oldest left).

    `frame` has one row per event with `position`, `item_id` and optionally `title`, `category`,
    `event`, `timestamp`, plus the signal columns. `signals` is a list of (row label, column, kind)
    where kind "weight" (non-negative shares, white-to-blue) or "attribution" (signed, red-white-blue
    centred on 0). Each row is its own trace on its own axes (row 1 at the top; all x axes match the
    bottom one), so each has its own colour scale and colour legend; z is the column's numbers,
    unchanged. Transparent markers over the cell centres carry the same hover text and make cells
    clickable (Plotly heatmap clicks come back empty in Streamlit); their customdata is the event
    position. Columns in `removed` are greyed out (the what-if). The figure is built as one dict
    (plotly validates it once): redrawing it is a large part of a user switch.

    `timeline` (the whole history, `Explanation.timeline_for`, with `in_window`): draw every event
    instead of `frame`'s, see `_timeline_heatmap`.
    """
    if timeline is not None and not timeline.empty:
        return _timeline_heatmap(timeline, signals, title, removed, axis_hint, daily_above, initial_columns)
    if frame is None or frame.empty:
        return empty_figure("This user has no events to show")
    signals = [s for s in signals if s[1] in frame.columns]
    n = max(len(signals), 1)
    x = frame["position"].to_numpy()
    hover = _hover_lines(frame)
    spacing = 0.1
    row_height = (1 - spacing * (n - 1)) / n
    data, layout = [], {}
    annotations = []
    for r, (label, column, kind) in enumerate(signals, start=1):
        top = 1 - (r - 1) * (row_height + spacing)
        xa, ya = ("x", "y") if r == 1 else (f"x{r}", f"y{r}")
        z = frame[column].to_numpy(dtype=float)
        text = [f"{h}<br><b>{label}: {v:.3f}</b>" for h, v in zip(hover, z)]
        data.append(_signal_row(z, x, label, kind, text, (top, row_height), (xa, ya)))
        data.append(_click_markers(x, label, text, x, xa, ya))
        key = "" if r == 1 else str(r)
        layout[f"yaxis{key}"] = _row_axis(max(top - row_height, 0.0), top, xa)
        layout[f"xaxis{key}"] = dict(
            anchor=ya,
            fixedrange=True,
            showgrid=False,
            zeroline=False,
            **({} if r == n else dict(matches=f"x{n}" if n > 1 else None, showticklabels=False)),
        )
        annotations.append(_row_title(label, top))
    bottom = "xaxis" if n == 1 else f"xaxis{n}"
    layout[bottom].update(title=dict(text=axis_hint, font=dict(size=12)))
    labelled = len(frame) <= max_labels and "title" in frame
    if labelled:
        ticktext = [
            plain(short_text(t if isinstance(t, str) and t else i, 16))
            for t, i in zip(frame["title"], frame["item_id"])
        ]
        layout[bottom].update(tickmode="array", tickvals=x, ticktext=ticktext, tickangle=-45, automargin=True)
        layout[bottom]["title"]["standoff"] = 14  # below the slanted labels, not through them
    shapes = [_removed_band(pos - 0.5, pos + 0.5) for pos in removed]
    height = 90 + 95 * n + (110 if len(frame) <= max_labels else 30)
    layout.update(
        BASE_LAYOUT,
        height=height,
        hovermode="closest",
        showlegend=False,
        clickmode="event+select",
        dragmode=False,
        annotations=annotations,
        shapes=shapes,
        title=dict(text=title, x=0.0),
        # room on the left for the first slanted item label, which would be cut off at the edge; on the
        # right for the colour legends
        margin=dict(l=80 if labelled else 10, r=110, t=60 if title else 30, b=10),
    )
    return go.Figure(data=data, layout=layout)


def _click_markers(x, label: str, text: list[str], positions, xa: str, ya: str) -> dict:
    """Transparent markers over one row's cells: hover text and clicks (customdata = event position)."""
    return dict(
        type="scatter",
        x=x,
        y=[label] * len(x),
        mode="markers",
        customdata=positions,
        text=text,
        marker=dict(size=18, opacity=0, symbol="square"),
        hoverinfo="none",
        hovertemplate="%{text}<extra></extra>",
        showlegend=False,
        name=f"{label} (click)",
        xaxis=xa,
        yaxis=ya,
    )


def _row_axis(bottom: float, top: float, xa: str) -> dict:
    return dict(
        domain=[bottom, top], anchor=xa, showticklabels=False, ticks="", showgrid=False, zeroline=False, fixedrange=True
    )


def _row_title(label: str, top: float) -> dict:
    return dict(
        text=label,
        x=0.0,
        xanchor="left",
        xref="paper",
        y=top,
        yanchor="bottom",
        yref="paper",
        showarrow=False,
        font=dict(size=13, color="#374151"),
    )


def _removed_band(x0: float, x1: float) -> dict:
    return dict(
        type="rect",
        xref="x",
        yref="paper",
        x0=x0,
        x1=x1,
        y0=0,
        y1=1,
        fillcolor="#888",
        opacity=0.35,
        line_width=0,
        layer="above",
    )


# ---------------------------------------------------------------------------------------------
# The whole history


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
    titles = timeline["title"] if "title" in timeline else timeline["item_id"]
    labels = [
        f"#{int(p)} · {plain(short_text(t if isinstance(t, str) and t else i, 18))}"
        for p, t, i in zip(positions, titles, timeline["item_id"])
    ]
    hover = _hover_lines(timeline)
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


def _timeline_heatmap(
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
        data.append(_signal_row(z, columns.labels, label, kind, text, (top, row_height), (xa, ya)))
        data.append(_click_markers(columns.labels, label, text, columns.positions, xa, ya))
        layout[f"yaxis{r}"] = _row_axis(max(top - row_height, 0.0), top, xa)
        layout[f"xaxis{r}"] = _matched_x(bottom) if r <= n else {}
        annotations.append(_row_title(label, top))
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
        shapes.append(_removed_band(c - 0.5, c + 0.5))
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


def gate_bar_html(gate: float) -> str:
    """The same 100% bar as `gate_bar`, as a small HTML snippet (numbers only, nothing user-supplied)."""
    g = float(np.clip(gate, 0.0, 1.0))
    cell = (
        "display:flex;align-items:center;justify-content:center;height:36px;font-size:13px;"
        "white-space:nowrap;overflow:hidden;"
    )
    return (
        f'<div style="display:flex;width:100%;border-radius:6px;overflow:hidden;margin:4px 0 6px 0" '
        f'title="share of long-term interest: {g:.0%}">'
        f'<div style="{cell}width:{g:.1%};background:{LTSI_COLOR};color:white">'
        f"{f'long-term {g:.0%}' if g >= 0.18 else ''}</div>"
        f'<div style="{cell}width:{1 - g:.1%};background:#f2a541;color:#1d2430">'
        f"{f'short-term {1 - g:.0%}' if g <= 0.82 else ''}</div>"
        "</div>"
    )


def gate_bar(gate: float) -> go.Figure:
    """One 100% bar: long-term share g (blue) and short-term share 1 - g (orange)."""
    g = float(np.clip(gate, 0.0, 1.0))
    fig = go.Figure()
    fig.add_bar(
        y=[""],
        x=[g],
        orientation="h",
        name="long-term interest",
        marker_color=LTSI_COLOR,
        text=[f"long-term {g:.0%}"],
        textposition="inside",
        insidetextanchor="middle",
        hovertemplate="long-term interest: %{x:.0%}<extra></extra>",
    )
    fig.add_bar(
        y=[""],
        x=[1 - g],
        orientation="h",
        name="short-term interest",
        marker_color="#f2a541",
        text=[f"short-term {1 - g:.0%}"],
        textposition="inside",
        insidetextanchor="middle",
        hovertemplate="short-term interest: %{x:.0%}<extra></extra>",
    )
    _style(fig, barmode="stack", height=70, showlegend=False)
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0))
    fig.update_xaxes(range=[0, 1], visible=False, fixedrange=True)
    fig.update_yaxes(visible=False, fixedrange=True)
    return fig
