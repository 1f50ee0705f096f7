"""Users view: one user's heatmap of the window the model reads (or, handed on, the whole history) and the gate bar.

The whole-history heatmap is `dashboard.figures.timeline`; the rows both are built from, `heatmap_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.heatmap_rows import click_markers, hover_lines, removed_band, row_axis, row_title, signal_row
from dashboard.figures.style import BASE_LAYOUT, LTSI_COLOR, _style, empty_figure, plain, short_text
from dashboard.figures.timeline import DAILY_ABOVE, INITIAL_COLUMNS, timeline_heatmap


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
    instead of `frame`'s, see `timeline_heatmap`.
    """
    if timeline is not None and not timeline.empty:
        return timeline_heatmap(timeline, signals, title, removed, axis_hint, daily_above, initial_columns)
    if frame is None or frame.empty:
        return empty_figure("This user has no events to show")
    signals = [s for s in signals if s[1] in frame.columns]
    n = max(len(signals), 1)
    x = frame["position"].to_numpy()
    hover = hover_lines(frame)
    spacing = 0.1
    row_height = (1 - spacing * (n - 1)) / n
    data, layout = [], {}
    annotations = []
    for r, (label, column, kind) in enumerate(signals, start=1):
        top = 1 - (r - 1) * (row_height + spacing)
        xa, ya = ("x", "y") if r == 1 else (f"x{r}", f"y{r}")
        z = frame[column].to_numpy(dtype=float)
        text = [f"{h}<br><b>{label}: {v:.3f}</b>" for h, v in zip(hover, z)]
        data.append(signal_row(z, x, label, kind, text, (top, row_height), (xa, ya)))
        data.append(click_markers(x, label, text, x, xa, ya))
        key = "" if r == 1 else str(r)
        layout[f"yaxis{key}"] = row_axis(max(top - row_height, 0.0), top, xa)
        layout[f"xaxis{key}"] = dict(
            anchor=ya,
            fixedrange=True,
            showgrid=False,
            zeroline=False,
            **({} if r == n else dict(matches=f"x{n}" if n > 1 else None, showticklabels=False)),
        )
        annotations.append(row_title(label, top))
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
    shapes = [removed_band(pos - 0.5, pos + 0.5) for pos in removed]
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
