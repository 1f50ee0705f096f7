"""Figures of the Compare page: data in, figure out (no Streamlit, no model code)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.style import LTSI_COLOR, _style, empty_figure, plain, short_text

SECOND_COLOR = "#f2a541"  # the second of the pair (B), beside LTSI's blue for the first (A)


def shared_drivers_chart(drivers: pd.DataFrame, name_a: str = "A", name_b: str = "B") -> go.Figure:
    """`ltsi.compare.shared_drivers` as paired horizontal bars: one row per shared driver (grouped by kind, the
    strongest on top), one bar per user with that driver's share of the user's attribution."""
    if drivers is None or drivers.empty:
        return empty_figure("Nothing pushes up the recommendations of both users")
    rows = drivers.iloc[::-1]  # plotly draws the first category at the bottom: the strongest go on top
    labels = [f"{plain(kind)}: {plain(short_text(label, 40))}" for kind, label in zip(rows["kind"], rows["label"])]
    fig = go.Figure()
    for column, name, colour in (("share_a", name_a, LTSI_COLOR), ("share_b", name_b, SECOND_COLOR)):
        fig.add_bar(
            y=labels,
            x=rows[column].to_numpy(),
            orientation="h",
            name=plain(name),
            marker_color=colour,
            hovertemplate=f"{plain(name)}<br>%{{y}}: %{{x:.0%}} of the attribution<extra></extra>",
        )
    _style(
        fig,
        title=dict(text="What pushes up both users' recommendations"),
        barmode="group",
        height=140 + 34 * len(rows),
        xaxis=dict(title="share of the user's attribution", tickformat=".0%", rangemode="tozero"),
        yaxis=dict(type="category"),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
    )
    return fig
