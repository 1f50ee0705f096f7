"""Model view, by group of users: test metrics per slice with their intervals, and what drives a slice."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.style import LTSI_COLOR, PALETTE, _style, empty_figure, plain

# baselines in quiet colours, so that LTSI stands out beside them
OTHER_COLORS = ["#f2a541", "#8a8f99", "#2e9e5b", "#c94f7c", "#7a5cc7", "#3fa7b5"]


def slice_axis_label(label: object, n_users: int, width: int = 22) -> str:
    """A slice's axis label: its name wrapped over short lines (escaped for Plotly), then its number of users."""
    lines = textwrap.wrap(str(label), width) or [""]
    users = f"{n_users:,} user" + ("" if n_users == 1 else "s")
    return "<br>".join(plain(line) for line in lines) + f"<br><i>{users}</i>"


def slice_metrics_chart(
    metrics: pd.DataFrame, metric: str = "NDCG@10", models: Sequence[str] | None = None
) -> go.Figure:
    """Grouped bars: `metric` of each model on each slice, with its 95% interval as error bars.

    `metrics` is an `ltsi.slices.slice_metrics` frame (slice, model, n_users, metric, "metric low",
    "metric high"); LTSI first in its colour, the other models beside it; each slice's axis label says
    how many users it has.
    """
    if metrics is None or metrics.empty:
        return empty_figure("No tested users in these groups")
    present = list(dict.fromkeys(metrics["model"]))
    names = present if models is None else [name for name in models if name in present]
    names = sorted(names, key=lambda name: name != "LTSI")  # stable: LTSI first, the rest as given
    order = list(dict.fromkeys(metrics["slice"]))
    sizes = metrics.drop_duplicates("slice").set_index("slice")["n_users"]
    ticks = {label: slice_axis_label(label, int(sizes[label])) for label in order}
    fig = go.Figure()
    others = iter(OTHER_COLORS * len(names))
    for name in names:
        part = metrics[metrics["model"] == name].set_index("slice").reindex(order)
        fig.add_bar(
            x=[ticks[label] for label in order],
            y=part[metric],
            name=plain(name),
            marker_color=LTSI_COLOR if name == "LTSI" else next(others),
            error_y=dict(
                type="data",
                symmetric=False,
                array=(part[f"{metric} high"] - part[metric]).clip(lower=0),
                arrayminus=(part[metric] - part[f"{metric} low"]).clip(lower=0),
                color="#444",
                thickness=1.2,
                width=3,
            ),
            customdata=part[[f"{metric} low", f"{metric} high"]].to_numpy(),
            hovertemplate=f"{plain(name)}<br>{metric} %{{y:.3f}} (95% range %{{customdata[0]:.3f}}"
            "–%{customdata[1]:.3f})<extra></extra>",
        )
    _style(
        fig,
        barmode="group",
        height=380,
        title=dict(text=f"{metric} by group of tested users (bars: 95% range)", x=0.0),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
    )
    fig.update_yaxes(title_text=metric, rangemode="tozero")
    fig.update_xaxes(title_text="")
    return fig


GROUP_TITLES = {
    "interest": "What the score comes from",
    "recency": "How recent the events are",
    "event type": "Kind of event",
    "category": "Category of the event's item",
}


def segment_drivers_chart(drivers: pd.DataFrame, title: str = "What drives this group's recommendations") -> go.Figure:
    """One panel per group of an `ltsi.slices.segment_drivers` frame (interest, recency, event type,
    category): horizontal bars of each label's share, largest first within the frame's order."""
    if drivers is None or drivers.empty:
        return empty_figure("No attributions for these users")
    groups = [g for g in GROUP_TITLES if g in set(drivers["group"])]
    groups += [g for g in dict.fromkeys(drivers["group"]) if g not in groups]
    fig = make_subplots(
        rows=1,
        cols=len(groups),
        subplot_titles=[plain(GROUP_TITLES.get(g, g)) for g in groups],
        horizontal_spacing=0.12,
    )
    for col, group in enumerate(groups, start=1):
        part = drivers[drivers["group"] == group]
        fig.add_bar(
            x=part["share"],
            y=[plain(textwrap.shorten(str(label), 28, placeholder="…")) for label in part["label"]],
            orientation="h",
            marker_color=LTSI_COLOR if group == "interest" else PALETTE[col % len(PALETTE)],
            text=[f"{v:.0%}" for v in part["share"]],
            textposition="outside",
            cliponaxis=False,
            customdata=[plain(label) for label in part["label"]],
            hovertemplate="%{customdata}: %{x:.1%}<extra></extra>",
            showlegend=False,
            row=1,
            col=col,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=col)  # the frame's first label on top
        fig.update_xaxes(tickformat=".0%", rangemode="tozero", row=1, col=col)
    _style(fig, height=340, title=dict(text=title, x=0.0), margin=dict(l=10, r=30, t=80, b=10))
    return fig
