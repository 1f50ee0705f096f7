"""Plotly figure builders: data in, figure out.

Pure functions, no Streamlit and no model code, so they are tested without a browser and reused by
the HTML report. Every builder accepts an empty input and returns a figure that says so.
"""

from dashboard.figures.data import dropped_rows, event_types, events_over_time, events_per_user, item_popularity
from dashboard.figures.model import (
    COMPONENT_LABELS,
    attention_by_recency,
    attribution_by_event_type,
    gate_distribution,
    item_map,
)
from dashboard.figures.slices import segment_drivers_chart, slice_axis_label, slice_metrics_chart
from dashboard.figures.style import (
    ATTENTION_SCALE,
    ATTRIBUTION_SCALE,
    EVENT_COLORS,
    LTSI_COLOR,
    PALETTE,
    count_axis,
    empty_figure,
    event_color,
    plain,
    short_text,
)
from dashboard.figures.timeline import EVENT_SYMBOLS, event_counts_by_day, event_symbol, timeline_by_day
from dashboard.figures.training import metrics_comparison, training_curves
from dashboard.figures.users import gate_bar, gate_bar_html, heatmap_signals, user_heatmap

__all__ = [
    "ATTENTION_SCALE",
    "ATTRIBUTION_SCALE",
    "COMPONENT_LABELS",
    "EVENT_COLORS",
    "EVENT_SYMBOLS",
    "LTSI_COLOR",
    "PALETTE",
    "attention_by_recency",
    "attribution_by_event_type",
    "count_axis",
    "dropped_rows",
    "empty_figure",
    "event_color",
    "event_counts_by_day",
    "event_symbol",
    "event_types",
    "events_over_time",
    "events_per_user",
    "gate_bar",
    "gate_bar_html",
    "gate_distribution",
    "heatmap_signals",
    "item_map",
    "item_popularity",
    "metrics_comparison",
    "plain",
    "segment_drivers_chart",
    "short_text",
    "slice_axis_label",
    "slice_metrics_chart",
    "timeline_by_day",
    "training_curves",
    "user_heatmap",
]
