"""The pieces both Users heatmaps (the window the model reads, the whole history) are built from.

One signal row = a heatmap trace with its own colour scale and legend, transparent click markers over its
cells, its y axis and its title; plus the grey band over an event removed in the what-if. All plain dicts:
a figure is built as one dict, which plotly validates once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.figures.style import ATTENTION_SCALE, ATTRIBUTION_SCALE, plain
from ltsi.items import item_label


def hover_lines(frame: pd.DataFrame) -> list[str]:
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
        out.append(f"#{int(pos)} · {plain(name)}<br>{plain(event)}{' · ' if when else ''}{when}")
    if "category" in frame:
        out = [
            f"{line}<br>{plain(cat)}" if isinstance(cat, str) and cat else line
            for line, cat in zip(out, frame["category"])
        ]
    return out


def colour_scale(z: np.ndarray, kind: str) -> dict:
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


def signal_row(z, x, label: str, kind: str, text: list[str], place: tuple[float, float], axes: tuple[str, str]) -> dict:
    """One heatmap row of a signal: its values `z` over the columns `x`, its own colour scale and legend;
    `place` = (top, height) of the row, `axes` = its (x, y) axes."""
    scale = colour_scale(z, kind)
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


def click_markers(x, label: str, text: list[str], positions, xa: str, ya: str) -> dict:
    """Transparent markers over one row's cells: hover text and clicks (customdata = event position).

    Plotly heatmap clicks come back empty in Streamlit; clicks on these markers carry the event.
    """
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


def row_axis(bottom: float, top: float, xa: str) -> dict:
    """The y axis of one signal row: its slice [bottom, top] of the figure's height, nothing drawn."""
    return dict(
        domain=[bottom, top], anchor=xa, showticklabels=False, ticks="", showgrid=False, zeroline=False, fixedrange=True
    )


def row_title(label: str, top: float) -> dict:
    """The name of a signal row, written just above the row's left end."""
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


def removed_band(x0: float, x1: float) -> dict:
    """A grey band over the column from x0 to x1, through every row: an event removed in the what-if."""
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
