"""Model view: attention by recency, the gate over users, attribution by event type, the item map."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.style import (
    BASE_LAYOUT,
    LTSI_COLOR,
    PALETTE,
    _style,
    count_axis,
    empty_figure,
    plain,
)


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
    kinds = [plain(k) for k in frame[event].astype(str)]
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


# The item map colours this many categories (the biggest); the rest share one grey: twenty colours
# cannot be told apart. PALETTE's own grey is left out so that it never looks like "other".
MAP_COLOURS = [c for c in PALETTE if c != "#8a8f99"][:8]
OTHER_COLOUR = "#c9ced6"
OTHER = "(other categories)"


def category_names(categories: pd.Series) -> pd.Series:
    """Categories as text; a missing or blank one reads '(no category)'."""
    return categories.astype("string").replace("", pd.NA).fillna("(no category)").astype(str)


def map_groups(categories: pd.Series, n_coloured: int = len(MAP_COLOURS)) -> pd.Series:
    """Each item's legend group: its category when among the `n_coloured` with the most items
    (ties by name), else OTHER."""
    named = category_names(categories)
    sizes = named.value_counts()
    ranked = sorted(sizes.index, key=lambda name: (-sizes[name], name))
    return named.where(named.isin(ranked[:n_coloured]), OTHER)


def item_map(
    frame: pd.DataFrame,
    x: str = "x",
    y: str = "y",
    color: str | None = None,
    size: str | None = "popularity",
    max_points: int = 20000,
) -> go.Figure:
    """2-D map of item embeddings, one point per item (WebGL for big catalogues), coloured by the
    item's main category (the first genre) when known, else its category: the biggest eight in
    colour, the rest grey."""
    if frame is None or frame.empty:
        return empty_figure("No item embeddings")
    if color is None:
        color = "main_category" if "main_category" in frame else "category"
    if len(frame) > max_points:
        frame = frame.nlargest(max_points, size) if size and size in frame else frame.sample(max_points, random_state=0)
    labels = frame["title"].fillna(frame["item_id"]) if "title" in frame else frame["item_id"]
    groups = map_groups(frame[color]) if color in frame else pd.Series("items", index=frame.index)
    sizes_by_group = groups.value_counts()
    order = sorted(sizes_by_group.index, key=lambda name: (name == OTHER, -sizes_by_group[name], name))
    fig = go.Figure()
    for rank, name in enumerate(order):
        part = frame[groups == name]
        sizes = 5.0
        if size and size in part:
            sizes = 4 + 10 * np.sqrt(part[size].to_numpy(float) / max(float(frame[size].max()), 1.0))
        other = name == OTHER
        fig.add_trace(
            go.Scattergl(
                x=part[x],
                y=part[y],
                mode="markers",
                name=plain(name),
                legendrank=rank,
                marker=dict(
                    size=sizes,
                    color=OTHER_COLOUR if other else MAP_COLOURS[rank % len(MAP_COLOURS)],
                    opacity=0.5 if other else 0.8,
                ),
                text=[plain(label) for label in labels.loc[part.index].astype(str)],
                customdata=category_names(part[color]).map(plain).to_numpy() if other else None,
                hovertemplate="%{text}<br>%{customdata}<extra></extra>"
                if other
                else "%{text}<br>%{fullData.name}<extra></extra>",
            )
        )
    if OTHER in sizes_by_group:  # grey points first, so the coloured ones are drawn on top
        fig.data = (fig.data[-1], *fig.data[:-1])
    # The map sits in half the page (about 460 px wide at 1,400): a title on one line ran out of the chart,
    # so the colour note goes on a second, smaller line.
    title = "Item embedding map: similar items lie close"  # the caption says how (PCA)
    top = BASE_LAYOUT["margin"]["t"]
    if OTHER in sizes_by_group:
        n_categories = category_names(frame[color]).nunique()
        note = f"the {len(order) - 1} biggest of {n_categories} categories in colour"
        title += f"<br><span style='font-size:12px'>{note}</span>"
        top += 18  # room for the second line
    _style(fig, height=400, title=dict(text=title, x=0.0), margin={**BASE_LAYOUT["margin"], "t": top})
    fig.update_xaxes(showticklabels=False, title_text="")
    fig.update_yaxes(showticklabels=False, title_text="")
    return fig
