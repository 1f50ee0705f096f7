"""The figures' shared look: colours, layout template, empty and count-axis helpers."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

# Event types the demo logs use get fixed, meaningful colours; anything else cycles through PALETTE.
EVENT_COLORS = {
    "view": "#9db4d8",
    "click": "#6c8fc7",
    "cart": "#f2a541",
    "purchase": "#2e9e5b",
    "interaction": "#5b7db8",
    "rating": "#5b7db8",
}
PALETTE = [
    "#2f6fde",
    "#f2a541",
    "#2e9e5b",
    "#c94f7c",
    "#7a5cc7",
    "#3fa7b5",
    "#d9663a",
    "#8a8f99",
    "#b5a33f",
    "#5e8f3a",
    "#a34d4d",
    "#4d6fa3",
]
LTSI_COLOR = "#2f6fde"
_GRID = dict(gridcolor="#e8edf5", linecolor="#e8edf5", zerolinecolor="#e8edf5", automargin=True)
# A small white template (plotly's named ones cost ~75 ms to apply per figure, a third of a user switch).
LIGHT_TEMPLATE = go.layout.Template(
    layout=dict(
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=PALETTE,
        font=dict(color="#1d2430"),
        xaxis=_GRID,
        yaxis=_GRID,
        hoverlabel=dict(align="left"),
    )
)
BASE_LAYOUT = dict(
    template=LIGHT_TEMPLATE,
    margin=dict(l=10, r=10, t=52, b=10),
    font=dict(size=13),
    title=dict(x=0.0, xanchor="left", font=dict(size=15)),
)
ATTENTION_SCALE = [[0.0, "#f7fbff"], [0.35, "#9ecae1"], [1.0, "#08519c"]]
ATTRIBUTION_SCALE = "RdBu"  # red = pushes the score down, blue = pushes it up (reversed below)


def _style(fig: go.Figure, **layout) -> go.Figure:
    """The shared look, then the figure's own layout (a `title` dict is merged, not replaced)."""
    merged = {**BASE_LAYOUT, **layout}
    legend = layout.get("legend")
    if isinstance(legend, dict) and legend.get("yanchor") == "bottom" and "margin" not in layout:
        merged["margin"] = {**BASE_LAYOUT["margin"], "t": 84}  # title above, legend between title and plot
    if isinstance(layout.get("title"), dict):
        merged["title"] = {**BASE_LAYOUT["title"], **layout["title"]}
    fig.update_layout(**merged)
    return fig


def event_color(event: str, i: int = 0) -> str:
    return EVENT_COLORS.get(str(event).lower(), PALETTE[i % len(PALETTE)])


def empty_figure(message: str, height: int = 240) -> go.Figure:
    """A blank figure that says why it is blank."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=14, color="#6b7280")
    )
    _style(fig, height=height, xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig


def count_axis(largest: float, **extra) -> dict:
    """Axis settings for counts (events, users, rows): from zero, and whole-number ticks when the counts are
    small (plotly would otherwise put ticks at 0.5, 1.5, … on an axis up to 3)."""
    axis = dict(rangemode="tozero", **extra)
    if np.isfinite(largest) and largest <= 10:
        axis.update(tick0=0, dtick=1)
    return axis


def plain(text: object) -> str:
    """Text from the data (ids, titles, categories, event types) for a Plotly label, legend or hover: Plotly
    renders some HTML tags there (<a href>, <b>, <br>, <span style>), so < > & are escaped; it shows the
    entities as the characters they stand for."""
    return html.escape(str(text), quote=False)


def short_text(text: str, n: int = 22) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"
