"""Train view: loss and validation curves, and the models' test metrics side by side."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.style import (
    PALETTE,
    _style,
    empty_figure,
    plain,
)


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
            x=[plain(x) for x in models],  # a loaded run's metrics name the models
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
