"""Items view: who gets an item (by history length), what drives it, its events over time."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.style import LTSI_COLOR, _style, count_axis, empty_figure, event_color, plain, short_text


def reach_by_history_length(frame: pd.DataFrame, k: int = 10) -> go.Figure:
    """Bars per history-length group: the share of its users that get the item in their top k
    (`ltsi.item_analysis.reach_by_history_length`); the hover says how many users that is."""
    if frame is None or frame.empty or int(frame["users"].sum()) == 0:
        return empty_figure("No users to group")
    fig = go.Figure(
        go.Bar(
            x=[plain(g) for g in frame["group"]],
            y=frame["share"],
            marker_color=LTSI_COLOR,
            text=[f"{v:.0%}" for v in frame["share"]],
            textposition="outside",
            cliponaxis=False,
            customdata=frame[["getting", "users"]].to_numpy(),
            hovertemplate="%{x}: %{customdata[0]:,} of %{customdata[1]:,} users (%{y:.1%})<extra></extra>",
        )
    )
    _style(fig, height=300, title=dict(text=f"Share of users who get it in their top {k}, by history length"))
    fig.update_xaxes(title_text="users with")
    fig.update_yaxes(tickformat=".0%", title_text="share of those users", rangemode="tozero")
    return fig


def item_drivers(frame: pd.DataFrame, n: int = 10) -> go.Figure:
    """Horizontal bars: the `n` past items with the biggest share of the upward pushes on the item's score
    (`ltsi.item_analysis.item_drivers`), biggest on top."""
    if frame is None or frame.empty:
        return empty_figure("No past item pushes this item's score up")
    top = frame.nlargest(n, "share").iloc[::-1]  # plotly draws the first bar at the bottom
    titles = top["title"] if "title" in top else pd.Series([None] * len(top), index=top.index)
    labels = [
        plain(short_text(f"{t} ({i})" if isinstance(t, str) and t else i, 34)) for i, t in zip(top["item_id"], titles)
    ]
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=top["share"],
            orientation="h",
            marker_color=LTSI_COLOR,
            text=[f"{v:.0%}" for v in top["share"]],
            textposition="outside",
            cliponaxis=False,
            customdata=top[["users"]].to_numpy(),
            hovertemplate="%{y}: %{x:.1%} of the pushes, in %{customdata[0]:,} users<extra></extra>",
        )
    )
    _style(fig, height=max(240, 60 + 28 * len(top)), title=dict(text="Past items that push it up most"))
    fig.update_xaxes(tickformat=".0%", title_text="share of all upward pushes", rangemode="tozero")
    return fig


def popularity_over_time(frame: pd.DataFrame, period: str = "week") -> go.Figure:
    """Stacked bars: the item's events per period by event type (`ltsi.item_analysis.popularity_over_time`)."""
    if frame is None or frame.empty or int(frame["events"].sum()) == 0:
        return empty_figure("No events of this item")
    fig = go.Figure()
    for i, (event, part) in enumerate(frame.groupby("event", sort=True)):
        fig.add_bar(
            x=part["start"],
            y=part["events"],
            name=plain(event),
            marker_color=event_color(event, i),
            hovertemplate=f"{period} of %{{x|%Y-%m-%d}}: %{{y:,}} {plain(event)}<extra></extra>",
        )
    largest = frame.groupby("start")["events"].sum().max()
    _style(
        fig,
        barmode="stack",
        bargap=0.1,
        height=300,
        title=dict(text=f"Its events per {period} in the log"),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
    )
    fig.update_yaxes(title_text="events", **count_axis(largest))
    return fig
