"""Plotly figure builders: data in, figure out.

Pure functions, no Streamlit and no model code, so they are tested without a browser and reused by
the HTML report. Every builder accepts an empty input and returns a figure that says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.text import plural

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


def _short(text: str, n: int = 22) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Data view: what is in the log


def _time_bucket(span: pd.Timedelta) -> tuple[str, str]:
    """(pandas frequency, label) so that a chart of the span has tens to a few hundred bars."""
    if span <= pd.Timedelta(days=3):
        return "h", "hour"
    if span <= pd.Timedelta(days=180):
        return "D", "day"
    if span <= pd.Timedelta(days=3 * 365):
        return "W", "week"
    return "M", "month"


def events_over_time(events: pd.DataFrame) -> go.Figure:
    """Stacked bars of events per hour/day/week/month (chosen from the time span), one colour per event type."""
    if events.empty:
        return empty_figure("No events")
    ts = events["timestamp"]
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    freq, label = _time_bucket(ts.max() - ts.min())
    period = ts.dt.to_period(freq).dt.start_time
    kinds = events["event"].astype(str) if "event" in events else pd.Series("interaction", index=events.index)
    counts = pd.crosstab(period, kinds)  # (periods, event types)
    order = counts.sum().sort_values(ascending=False).index
    fig = go.Figure()
    for i, kind in enumerate(order):
        fig.add_bar(
            x=counts.index,
            y=counts[kind],
            name=str(kind),
            marker_color=event_color(kind, i),
            hovertemplate=f"%{{x|%Y-%m-%d %H:%M}}<br>{kind}: %{{y:,}}<extra></extra>",
        )
    _style(
        fig,
        barmode="stack",
        height=300,
        bargap=0.05,
        title=dict(text=f"Events per {label}", x=0.0),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
    )
    fig.update_yaxes(title_text="events", **count_axis(counts.sum(axis=1).max()))
    return fig


def events_per_user(events: pd.DataFrame) -> go.Figure:
    """Histogram of how many events each user has (clipped at the 99th percentile, marked on the last bar)."""
    if events.empty:
        return empty_figure("No events")
    counts = events.groupby("user_id", observed=True).size().to_numpy()
    cap = max(int(np.percentile(counts, 99)), 2)
    clipped = np.minimum(counts, cap)
    median = float(np.median(counts))
    width = max(1, math.ceil(cap / 60))  # whole numbers of events per bar, at most about 60 bars
    fig = go.Figure(
        go.Histogram(
            x=clipped,
            xbins=dict(start=0.5, end=cap + 0.5, size=width),
            marker_color=LTSI_COLOR,
            hovertemplate="%{x} events: %{y:,} users<extra></extra>",
        )
    )
    right_half = median >= (clipped.min() + cap) / 2  # then the label goes left of the line, inside the plot
    fig.add_vline(
        x=median,
        line_dash="dash",
        line_color="#444",
        annotation_text=f"median {median:g}",
        annotation_position="top left" if right_half else "top right",
    )
    _style(
        fig,
        height=300,
        bargap=0.05,
        title=dict(text=f"Events per user ({plural(len(counts), 'user')}; last bar = {cap}+)", x=0.0),
    )
    fig.update_xaxes(title_text="events per user", dtick=1 if cap - clipped.min() <= 12 else None)  # no 6.8 events
    fig.update_yaxes(title_text="users", **count_axis(np.bincount((clipped - 1) // width).max()))
    return fig


def item_popularity(events: pd.DataFrame, max_points: int = 2000) -> go.Figure:
    """Item popularity long tail: events per item by popularity rank, log-log when the data span enough
    (at least 20 items, and counts that vary at least tenfold); linear axes with whole-number ticks otherwise."""
    if events.empty:
        return empty_figure("No events")
    counts = np.sort(events.groupby("item_id", observed=True).size().to_numpy())[::-1]  # (N,) descending
    ranks = np.arange(1, len(counts) + 1)
    keep = np.unique(np.geomspace(1, len(counts), num=min(max_points, len(counts))).astype(int)) - 1
    top = max(1, int(round(0.2 * len(counts))))
    share = counts[:top].sum() / counts.sum()
    fig = go.Figure(
        go.Scatter(
            x=ranks[keep],
            y=counts[keep],
            mode="lines",
            line=dict(color=LTSI_COLOR, width=2),
            fill="tozeroy",
            fillcolor="rgba(47,111,222,0.12)",
            hovertemplate="rank %{x:,}: %{y:,} events<extra></extra>",
        )
    )
    if len(counts) == 1:
        title = "Item popularity: a single item gets every event"
    elif top == 1:
        title = f"Item popularity: the most popular of {plural(len(counts), 'item')} gets {share:.0%} of the events"
    else:
        title = f"Item popularity: the top 20% of {plural(len(counts), 'item')} get {share:.0%} of the events"
    _style(fig, height=300, title=dict(text=title, x=0.0))
    log_x = len(counts) >= 20
    log_y = counts[0] >= 10 * counts[-1]
    fig.update_xaxes(
        title_text="item rank (most popular first)",
        **(dict(type="log") if log_x else dict(type="linear", **count_axis(len(counts)))),
    )
    fig.update_yaxes(
        title_text="events", **(dict(type="log") if log_y else dict(type="linear", **count_axis(counts[0])))
    )
    return fig


def event_types(events: pd.DataFrame) -> go.Figure:
    """Bar chart of event types with their share of all events."""
    if events.empty:
        return empty_figure("No events")
    kinds = events["event"].astype(str) if "event" in events else pd.Series("interaction", index=events.index)
    counts = kinds.value_counts()
    shares = counts / counts.sum()
    fig = go.Figure(
        go.Bar(
            x=counts.index.astype(str),
            y=counts.to_numpy(),
            marker_color=[event_color(k, i) for i, k in enumerate(counts.index)],
            text=[f"{s:.1%}" for s in shares],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y:,} events<extra></extra>",
        )
    )
    _style(fig, height=300, title=dict(text="Event types", x=0.0))
    fig.update_yaxes(title_text="events", **count_axis(counts.max()))
    return fig


def dropped_rows(dropped: dict[str, int], rows_read: int) -> go.Figure:
    """Horizontal bars: rows dropped per reason."""
    dropped = {k: int(v) for k, v in (dropped or {}).items() if int(v) > 0}
    if not dropped:
        return empty_figure("No rows were dropped", height=120)
    reasons = sorted(dropped, key=dropped.get)
    fig = go.Figure(
        go.Bar(
            y=reasons,
            x=[dropped[r] for r in reasons],
            orientation="h",
            marker_color="#d9663a",
            text=[f"{dropped[r]:,} ({dropped[r] / max(rows_read, 1):.1%})" for r in reasons],
            customdata=[plural(dropped[r], "row") for r in reasons],
            textposition="auto",
            hovertemplate="%{y}: %{customdata}<extra></extra>",
        )
    )
    _style(fig, height=80 + 32 * len(reasons), title=dict(text="Rows dropped, per reason", x=0.0))
    fig.update_xaxes(**count_axis(max(dropped.values())))
    return fig


# ---------------------------------------------------------------------------------------------
# Train view


def _metric_columns(history: pd.DataFrame) -> list[str]:
    return [c for c in history.columns if "@" in str(c)]


def training_curves(
    history: pd.DataFrame,
    best_epoch: int | None = None,
    metric: str = "NDCG@10",
    batch_loss: pd.DataFrame | None = None,
) -> go.Figure:
    """Training loss (left) and validation metrics (right) per epoch.

    `history` has one row per epoch: an `epoch` column, loss columns (names containing "loss") and
    validation metric columns (names containing "@", e.g. "NDCG@10" or "valid_NDCG@10"); only the
    @10 metrics are drawn. `batch_loss` (columns x = epochs done, fractional, and loss) adds the
    running loss inside epochs, for live progress.
    """
    has_batches = batch_loss is not None and not batch_loss.empty
    if (history is None or history.empty or "epoch" not in history) and not has_batches:
        return empty_figure("The curves appear after the first batches", height=300)
    if history is None or "epoch" not in history:
        history = pd.DataFrame({"epoch": pd.Series(dtype=float)})
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Training loss", "Validation (full ranking)"), horizontal_spacing=0.1
    )
    if has_batches:
        fig.add_scatter(
            x=batch_loss["x"],
            y=batch_loss["loss"],
            mode="lines",
            name="loss (running)",
            line=dict(color="#f2b38f", width=1.5),
            hovertemplate="epoch %{x:.2f}<br>running loss: %{y:.4f}<extra></extra>",
            row=1,
            col=1,
        )
    loss_cols = [c for c in history.columns if "loss" in str(c).lower()]
    for i, col in enumerate(loss_cols):
        fig.add_scatter(
            x=history["epoch"],
            y=history[col],
            mode="lines+markers",
            name=str(col),
            line=dict(color=PALETTE[(i + 6) % len(PALETTE)] if i else "#d9663a"),
            hovertemplate=f"epoch %{{x}}<br>{col}: %{{y:.4f}}<extra></extra>",
            row=1,
            col=1,
        )
    shown = [c for c in _metric_columns(history) if str(c).endswith("@10")] or _metric_columns(history)
    for i, col in enumerate(shown):
        width = 3 if metric in str(col) else 1.5
        fig.add_scatter(
            x=history["epoch"],
            y=history[col],
            mode="lines+markers",
            name=str(col),
            line=dict(color=PALETTE[i % len(PALETTE)], width=width),
            hovertemplate=f"epoch %{{x}}<br>{col}: %{{y:.4f}}<extra></extra>",
            row=1,
            col=2,
        )
    if shown and history[shown].isna().all().all():
        fig.add_annotation(
            text="no validation yet (it runs at the end of each epoch)",
            xref="x2 domain",
            yref="y2 domain",
            x=0.5,
            y=0.5,
            showarrow=False,
            font=dict(color="#6b7280"),
        )
    if best_epoch:
        fig.add_vline(
            x=best_epoch,
            line_dash="dot",
            line_color="#2e9e5b",
            row=1,
            col=2,
            annotation_text="best",
            annotation_position="top left",
        )
    _style(fig, height=320, legend=dict(orientation="h", y=-0.25))
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    fig.update_xaxes(title_text="epoch", dtick=1 if len(history) <= 20 else None)
    return fig


def metrics_comparison(
    table: pd.DataFrame, metrics: Sequence[str] = ("HR@10", "NDCG@10", "MRR@10"), highlight: str = "LTSI"
) -> go.Figure:
    """Grouped bars: each model's HR/NDCG/MRR@10; the model named `highlight` is drawn first and darker."""
    if table is None or table.empty:
        return empty_figure("No results yet")
    metrics = [m for m in metrics if m in table.columns]
    models = table["model"].astype(str).tolist()
    fig = go.Figure()
    for i, m in enumerate(metrics):
        fig.add_bar(
            x=models,
            y=table[m],
            name=m,
            marker_color=PALETTE[i],
            marker_line_width=[2 if str(x).startswith(highlight) else 0 for x in models],
            text=[f"{v:.3f}" for v in table[m]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=f"%{{x}}<br>{m}: %{{y:.4f}}<extra></extra>",
        )
    _style(
        fig,
        barmode="group",
        height=340,
        title=dict(text="Test metrics (full ranking)", x=0.0),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Users view


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
        name = f"{title} ({item})" if isinstance(title, str) and title else str(item)
        when = pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M") if ts is not None and not pd.isna(ts) else ""
        category = ""
        out.append(f"#{int(pos)} · {name}<br>{event}{' · ' if when else ''}{when}{category}")
    if "category" in frame:
        out = [
            f"{line}<br>{cat}" if isinstance(cat, str) and cat else line for line, cat in zip(out, frame["category"])
        ]
    return out


def user_heatmap(
    frame: pd.DataFrame,
    signals: Sequence[tuple[str, str, str]],
    *,
    title: str = "",
    removed: Sequence[int] = (),
    max_labels: int = 30,
    axis_hint: str = "events, oldest → most recent (hover for item and time; click to select)",
) -> go.Figure:
    """The user's timeline as a heatmap: one row per signal, one column per event (oldest left).

    `frame` has one row per event with `position`, `item_id` and optionally `title`, `category`,
    `event`, `timestamp`, plus the signal columns. `signals` is a list of (row label, column, kind)
    where kind "weight" (non-negative shares, white-to-blue) or "attribution" (signed, red-white-blue
    centred on 0). Each row is its own trace on its own axes (row 1 at the top; all x axes match the
    bottom one), so each has its own colour scale; z is the column's numbers, unchanged. Transparent
    markers over the cell centres carry the same hover text and make cells clickable (Plotly heatmap
    clicks come back empty in Streamlit); their customdata is the event position. Columns in
    `removed` are greyed out (the what-if). The figure is built as one dict (plotly validates it
    once): redrawing it is a large part of a user switch.
    """
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
        finite = np.isfinite(z).any()
        if kind == "attribution":
            bound = float(np.nanmax(np.abs(z))) if finite and np.nanmax(np.abs(z)) > 0 else 1.0
            scale = dict(colorscale=ATTRIBUTION_SCALE, zmid=0.0, zmin=-bound, zmax=bound)
        else:
            # Weights sum to 1 over the events they cover: scale to the row's maximum, but never below twice
            # the uniform weight, so evenly spread weights look pale instead of all "strong".
            covered = max(int(np.count_nonzero(np.nan_to_num(z) > 0)), 1)
            zmax = max(float(np.nanmax(z)) if finite else 0.0, 2.0 / covered, 1e-12)
            scale = dict(colorscale=ATTENTION_SCALE, zmin=0.0, zmax=zmax)
        data.append(
            dict(
                type="heatmap",
                z=[z],
                x=x,
                y=[label],
                showscale=False,
                xgap=1,
                text=[text],
                hovertemplate="%{text}<extra></extra>",
                name=label,
                xaxis=xa,
                yaxis=ya,
                **scale,
            )
        )
        data.append(
            dict(
                type="scatter",
                x=x,
                y=[label] * len(x),
                mode="markers",
                customdata=x,
                text=text,
                marker=dict(size=18, opacity=0, symbol="square"),
                hoverinfo="none",
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
                name=f"{label} (click)",
                xaxis=xa,
                yaxis=ya,
            )
        )
        key = "" if r == 1 else str(r)
        layout[f"yaxis{key}"] = dict(
            domain=[max(top - row_height, 0.0), top],
            anchor=xa,
            showticklabels=False,
            ticks="",
            showgrid=False,
            zeroline=False,
            fixedrange=True,
        )
        layout[f"xaxis{key}"] = dict(
            anchor=ya,
            fixedrange=True,
            showgrid=False,
            zeroline=False,
            **({} if r == n else dict(matches=f"x{n}" if n > 1 else None, showticklabels=False)),
        )
        annotations.append(
            dict(
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
        )
    bottom = "xaxis" if n == 1 else f"xaxis{n}"
    layout[bottom].update(title=dict(text=axis_hint, font=dict(size=12)))
    labelled = len(frame) <= max_labels and "title" in frame
    if labelled:
        ticktext = [_short(t if isinstance(t, str) and t else i, 16) for t, i in zip(frame["title"], frame["item_id"])]
        layout[bottom].update(tickmode="array", tickvals=x, ticktext=ticktext, tickangle=-45, automargin=True)
        layout[bottom]["title"]["standoff"] = 14  # below the slanted labels, not through them
    shapes = [
        dict(
            type="rect",
            xref="x",
            yref="paper",
            x0=pos - 0.5,
            x1=pos + 0.5,
            y0=0,
            y1=1,
            fillcolor="#888",
            opacity=0.35,
            line_width=0,
            layer="above",
        )
        for pos in removed
    ]
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
        # room on the left for the first slanted item label, which would be cut off at the edge
        margin=dict(l=80 if labelled else 10, r=10, t=60 if title else 30, b=10),
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


# ---------------------------------------------------------------------------------------------
# Model view


def attention_by_recency(
    frame: pd.DataFrame,
    recency: str = "recency",
    columns: Sequence[tuple[str, str]] = (
        ("short-term attention", "short_attention"),
        ("long-term weight", "long_attention"),
    ),
) -> go.Figure:
    """Average attention weight by how many events back (0 = the most recent event)."""
    if frame is None or frame.empty:
        return empty_figure("No attention to show")
    fig = go.Figure()
    for i, (label, col) in enumerate(c for c in columns if c[1] in frame):
        fig.add_bar(
            x=frame[recency],
            y=frame[col],
            name=label,
            marker_color=[LTSI_COLOR, "#f2a541"][i % 2],
            hovertemplate=f"%{{x}} events back<br>{label}: %{{y:.3f}}<extra></extra>",
        )
    _style(
        fig,
        barmode="group",
        height=320,
        title=dict(text="How far back the model looks (mean weight by recency)", x=0.0),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
    )
    fig.update_xaxes(
        title_text="events back (0 = most recent)", **({"tick0": 0, "dtick": 1} if frame[recency].max() <= 10 else {})
    )  # no "1.5 events back"
    fig.update_yaxes(title_text="mean weight")
    return fig


def gate_distribution(gates: Sequence[float] | np.ndarray) -> go.Figure:
    """Histogram over users of the gate (share of long-term interest) at their last event."""
    gates = np.asarray(gates, dtype=float)
    gates = gates[np.isfinite(gates)]
    if gates.size == 0:
        return empty_figure("No gate values")
    median = float(np.median(gates))
    fig = go.Figure(
        go.Histogram(
            x=gates,
            xbins=dict(start=0, end=1.0001, size=0.025),
            marker_color=LTSI_COLOR,
            hovertemplate="long-term share %{x}: %{y:,} users<extra></extra>",
        )
    )
    fig.add_vline(x=median, line_dash="dash", line_color="#444", annotation_text=f"median {median:.0%}")
    _style(fig, height=320, bargap=0.05, title=dict(text="Share of long-term interest per user (the gate)", x=0.0))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title_text="long-term share at the last event")
    bins = np.minimum((gates * 40).astype(int), 39)  # the histogram's 0.025-wide bins
    fig.update_yaxes(title_text="users", **count_axis(np.bincount(bins).max()))
    return fig


# the columns of ltsi.insights.event_type_attribution that split a type's attribution, and their words
COMPONENT_LABELS = (
    ("item_part", "item"),
    ("event_part", "event type"),
    ("gap_part", "time gap"),
    ("transitions_part", "recent items' transitions"),
)


def attribution_by_event_type(
    frame: pd.DataFrame, event: str = "event", value: str = "attribution_share", baseline: str | None = "event_share"
) -> go.Figure:
    """Bars per event type: its share of the absolute attribution, beside its share of the events.

    A type whose attribution share is above its event share drives recommendations more than its
    frequency alone would explain. Hovering a bar shows how that type's attribution splits over the
    item, event-type and time-gap embeddings and the recent items' transitions (the columns of
    `COMPONENT_LABELS` that the frame has).
    """
    if frame is None or frame.empty:
        return empty_figure("No attributions")
    frame = frame.sort_values(value, ascending=False)
    kinds = frame[event].astype(str)
    fig = go.Figure()
    if baseline and baseline in frame:
        fig.add_bar(
            x=kinds,
            y=frame[baseline],
            name="share of events",
            marker_color="#d6d9de",
            text=[f"{v:.0%}" for v in frame[baseline]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y:.1%} of the events<extra></extra>",
        )
    # what each type's attribution is made of (ltsi.insights.event_type_attribution), when the frame says it
    parts = [(column, label) for column, label in COMPONENT_LABELS if column in frame]
    hover = "%{x}: %{y:.1%} of the attribution"
    if parts:
        hover += "<br>of which " + ", ".join(f"{label} %{{customdata[{i}]:.0%}}" for i, (_, label) in enumerate(parts))
    # one colour for the series: per-type colours would leave the legend one type's swatch for all of them
    fig.add_bar(
        x=kinds,
        y=frame[value],
        name="share of attribution",
        marker_color=LTSI_COLOR,
        text=[f"{v:.0%}" for v in frame[value]],
        textposition="outside",
        cliponaxis=False,
        customdata=frame[[column for column, _ in parts]].to_numpy() if parts else None,
        hovertemplate=hover + "<extra></extra>",
    )
    _style(
        fig,
        barmode="group",
        height=320,
        title=dict(text="Which event types drive recommendations", x=0.0),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
    )
    fig.update_yaxes(tickformat=".0%", title_text="share")
    return fig


def item_map(
    frame: pd.DataFrame,
    x: str = "x",
    y: str = "y",
    color: str = "category",
    size: str | None = "popularity",
    max_points: int = 20000,
) -> go.Figure:
    """2-D map of item embeddings, one point per item, coloured by category (WebGL for big catalogues)."""
    if frame is None or frame.empty:
        return empty_figure("No item embeddings")
    if len(frame) > max_points:
        frame = frame.nlargest(max_points, size) if size and size in frame else frame.sample(max_points, random_state=0)
    labels = frame["title"].fillna(frame["item_id"]) if "title" in frame else frame["item_id"]
    groups = (
        frame[color].astype("string").replace("", pd.NA).fillna("(no category)").astype(str)
        if color in frame
        else pd.Series("items", index=frame.index)
    )
    fig = go.Figure()
    for i, (name, part) in enumerate(frame.groupby(groups, sort=True)):
        sizes = 5.0
        if size and size in part:
            sizes = 4 + 10 * np.sqrt(part[size].to_numpy(float) / max(float(frame[size].max()), 1.0))
        fig.add_trace(
            go.Scattergl(
                x=part[x],
                y=part[y],
                mode="markers",
                name=str(name),
                marker=dict(size=sizes, color=PALETTE[i % len(PALETTE)], opacity=0.75),
                text=labels.loc[part.index].astype(str),
                hovertemplate="%{text}<br>" + str(name) + "<extra></extra>",
            )
        )
    _style(fig, height=400, title=dict(text="Item embedding map (PCA): similar items lie close", x=0.0))
    fig.update_xaxes(showticklabels=False, title_text="")
    fig.update_yaxes(showticklabels=False, title_text="")
    return fig
