"""Data view: what is in the log (events over time, per user, popularity, event types, dropped rows)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.style import (
    LTSI_COLOR,
    _style,
    count_axis,
    empty_figure,
    event_color,
    plain,
)
from dashboard.text import plural


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
            name=plain(kind),
            marker_color=event_color(kind, i),
            hovertemplate="%{x|%Y-%m-%d %H:%M}<br>%{fullData.name}: %{y:,}<extra></extra>",
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
        **(log_axis(len(counts)) if log_x else dict(type="linear", **count_axis(len(counts)))),
    )
    fig.update_yaxes(
        title_text="events", **(log_axis(counts[0]) if log_y else dict(type="linear", **count_axis(counts[0])))
    )
    return fig


def log_axis(largest: float) -> dict:
    """A log axis with ticks at the powers of ten up to `largest` (at least 10 on the axes that are drawn
    on a log scale), read as 1, 10, 100, 1k, 10k, 1M
    (plotly's own log ticks put 2 and 5 between them: "2 / 100 / 5" is hard to read)."""
    decades = max(0, math.floor(math.log10(max(float(largest), 1.0))))  # ticks past the data would not show
    values = [10**d for d in range(decades + 1)]
    return dict(type="log", tickmode="array", tickvals=values, ticktext=[short_count(v) for v in values])


def short_count(n: int) -> str:
    """1, 10, 100, 1k, 10k, 100k, 1M, 10M, 1B: a count as an axis tick."""
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= size:
            return f"{n / size:g}{suffix}"
    return f"{n:g}"


def event_types(events: pd.DataFrame) -> go.Figure:
    """Bar chart of event types with their share of all events."""
    if events.empty:
        return empty_figure("No events")
    kinds = events["event"].astype(str) if "event" in events else pd.Series("interaction", index=events.index)
    counts = kinds.value_counts()
    shares = counts / counts.sum()
    fig = go.Figure(
        go.Bar(
            x=[plain(k) for k in counts.index],
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


DROPPED_TOP = 52  # px above the bars: the chart's title
DROPPED_BAR = 34  # px per reason
DROPPED_BOTTOM = 64  # px below the bars: tick labels (~20), the gap, the axis title (~18)
DROPPED_TITLE_GAP = 12  # px between the tick labels and the axis title


def dropped_rows(dropped: dict[str, int], rows_read: int) -> go.Figure:
    """Horizontal bars: rows dropped per reason, on an axis that spans every row read, so that a bar's
    length is its share of the file (1 row of 10,000 is a sliver, not a full-width bar)."""
    dropped = {k: int(v) for k, v in (dropped or {}).items() if int(v) > 0}
    if not dropped:
        return empty_figure("No rows were dropped", height=120)
    reasons = sorted(dropped, key=dropped.get)
    fig = go.Figure(
        go.Bar(
            y=[plain(r) for r in reasons],
            x=[dropped[r] for r in reasons],
            orientation="h",
            marker_color="#d9663a",
            text=[f"{dropped[r]:,} ({share_text(dropped[r], rows_read)})" for r in reasons],
            customdata=[plural(dropped[r], "row") for r in reasons],
            textposition="auto",
            cliponaxis=False,
            hovertemplate="%{y}: %{customdata}<extra></extra>",
        )
    )
    # Room below the bars for the tick labels and, under them, the axis title: with the shared 10 px bottom
    # margin Plotly's automargin had no room to grow in so short a figure and drew the title over the ticks.
    _style(
        fig,
        height=DROPPED_TOP + DROPPED_BOTTOM + DROPPED_BAR * len(reasons),
        margin=dict(l=10, r=10, t=DROPPED_TOP, b=DROPPED_BOTTOM),
        title=dict(text="Rows dropped, per reason", x=0.0),
    )
    whole = max(int(rows_read), max(dropped.values()))  # rows read; never shorter than a bar
    fig.update_xaxes(
        title=dict(text=f"rows, of {whole:,} read", standoff=DROPPED_TITLE_GAP),
        automargin=True,
        **count_axis(whole, range=[0, whole]),
    )
    return fig


def share_text(count: int, total: int) -> str:
    """'10.0%', or '<0.1%' for a share too small to show (1 of 10,000 is not '0.0%')."""
    share = count / max(total, 1)
    return "<0.1%" if 0 < share < 0.001 else f"{share:.1%}"
