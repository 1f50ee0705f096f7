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
# The panels are stacked, one under the other: the chart sits in a narrow column, where panels side by side
# ran their titles, labels and values into each other. Pixel sizes of the stacked layout:
BAR_PX = 30  # one bar's row (room for a label on two lines)
PANEL_GAP_PX = 44  # between two panels: the lower panel's title
TOP_PX = 80  # the chart's title, then the first panel's title
BOTTOM_PX = 10
LABEL_WIDTH = 24  # a bar's label wraps at this many characters, over two lines at most
VALUE_ROOM = 1.3  # the x axis runs to this times the biggest share: each value's text fits inside the plot


def bar_label(label: object) -> str:
    """A bar's label on at most two short lines (the second shortened with …), escaped for Plotly."""
    lines = textwrap.wrap(str(label), LABEL_WIDTH) or [""]
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), LABEL_WIDTH, placeholder="…")]
    return "<br>".join(plain(line) for line in lines)


def segment_drivers_chart(drivers: pd.DataFrame, title: str = "What drives this group's recommendations") -> go.Figure:
    """One panel per group of an `ltsi.slice_drivers.segment_drivers` frame (interest, recency, event type,
    category), stacked one under the other: horizontal bars of each label's share, in the frame's order.

    Every panel has the same x axis (each panel sums to 100%, so bars compare across panels), running far
    enough past the biggest share that the values printed beside the bars stay inside the plot."""
    if drivers is None or drivers.empty:
        return empty_figure("No attributions for these users")
    groups = [g for g in GROUP_TITLES if g in set(drivers["group"])]
    groups += [g for g in dict.fromkeys(drivers["group"]) if g not in groups]
    bars = [int((drivers["group"] == g).sum()) for g in groups]
    plot_px = BAR_PX * sum(bars) + PANEL_GAP_PX * (len(groups) - 1)  # the panels and the gaps between them
    fig = make_subplots(
        rows=len(groups),
        cols=1,
        row_heights=bars,  # the same height per bar in every panel
        vertical_spacing=PANEL_GAP_PX / plot_px,
        subplot_titles=[plain(GROUP_TITLES.get(g, g)) for g in groups],
    )
    for title_note in fig.layout.annotations:  # each panel's title over the left of its bars
        title_note.update(x=0, xanchor="left", font=dict(size=13, color="#4b5563"))
    value_end = VALUE_ROOM * float(drivers["share"].max())
    for row, group in enumerate(groups, start=1):
        part = drivers[drivers["group"] == group]
        fig.add_bar(
            x=part["share"],
            y=[bar_label(label) for label in part["label"]],
            orientation="h",
            marker_color=LTSI_COLOR if group == "interest" else PALETTE[row % len(PALETTE)],
            text=[f"{v:.0%}" for v in part["share"]],
            textposition="outside",
            cliponaxis=True,  # the axis leaves room for the values; nothing is drawn outside the panel
            customdata=[plain(label) for label in part["label"]],
            hovertemplate="%{customdata}: %{x:.1%}<extra></extra>",
            showlegend=False,
            row=row,
            col=1,
        )
        fig.update_yaxes(autorange="reversed", row=row, col=1)  # the frame's first label on top
        # the values are printed on the bars: no tick labels, the grid for scale
        fig.update_xaxes(range=[0, value_end], showticklabels=False, tickformat=".0%", row=row, col=1)
    _style(
        fig,
        height=TOP_PX + plot_px + BOTTOM_PX,
        title=dict(text=title, x=0.0),
        margin=dict(l=10, r=10, t=TOP_PX, b=BOTTOM_PX),
        bargap=0.25,
    )
    return fig
